package cdshooks

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/token"
)

// maxFeedback bounds the items of one feedback request.
const maxFeedback = 100

// FeedbackSummary is what a feedback request reported, for the audit: the
// counts of outcomes, never a card's content or a user's comment.
type FeedbackSummary struct {
	Accepted   int
	Overridden int
}

// Feedback reads a CDS Hooks 2.0 feedback request to service id
// ({"feedback": [{"card", "outcome", "outcomeTimestamp", ...}]}), counts
// each outcome and returns the counts. body is one strict JSON object.
func (s *Service) Feedback(ctx context.Context, id string, body []byte) (FeedbackSummary, error) {
	var sum FeedbackSummary
	if _, ok := s.services[id]; !ok {
		return sum, refuse(KindUnknownService, "no CDS service has this id; GET /cds-services lists them")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return sum, badField("body", "must be a JSON object")
	}
	for name := range top {
		if name != "feedback" {
			return sum, badField(token.Printable(name), "is not a field of a CDS Hooks 2.0 feedback request")
		}
	}
	var items []map[string]json.RawMessage
	if raw, ok := top["feedback"]; !ok || json.Unmarshal(raw, &items) != nil || len(items) == 0 {
		return sum, badField("feedback", "is required: a non-empty list of card outcomes")
	}
	if len(items) > maxFeedback {
		return sum, badField("feedback", "holds more than "+strconv.Itoa(maxFeedback)+" items")
	}
	for i, it := range items {
		field := "feedback[" + strconv.Itoa(i) + "]."
		if it == nil {
			return sum, badField(field[:len(field)-1], "must be an object")
		}
		for name := range it {
			switch name {
			case "card", "outcome", "acceptedSuggestions", "overrideReason", "outcomeTimestamp":
			default:
				return sum, badField(field+token.Printable(name), "is not a field of a feedback item")
			}
		}
		var cardID, outcome, ts string
		if err := str(it, "card", &cardID, true); err != nil {
			return sum, prefixed(err, field)
		}
		if !isUUID(cardID) {
			return sum, badField(field+"card", "must be the uuid of a card")
		}
		if err := str(it, "outcomeTimestamp", &ts, true); err != nil {
			return sum, prefixed(err, field)
		}
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			return sum, badField(field+"outcomeTimestamp", "must be an ISO 8601 instant with a time zone")
		}
		if err := str(it, "outcome", &outcome, true); err != nil {
			return sum, prefixed(err, field)
		}
		switch outcome {
		case "accepted":
			sum.Accepted++
		case "overridden":
			sum.Overridden++
		default:
			return sum, badField(field+"outcome", "must be accepted or overridden")
		}
		if raw, ok := it["overrideReason"]; ok {
			var r map[string]json.RawMessage
			if json.Unmarshal(raw, &r) != nil {
				return sum, badField(field+"overrideReason", "must be an object")
			}
		}
		if raw, ok := it["acceptedSuggestions"]; ok {
			var a []map[string]json.RawMessage
			if json.Unmarshal(raw, &a) != nil {
				return sum, badField(field+"acceptedSuggestions", "must be a list of objects")
			}
		}
	}
	for range sum.Accepted + sum.Overridden {
		s.o.Metrics.CDSHook(ctx, id, metrics.CDSFeedback)
	}
	return sum, nil
}
