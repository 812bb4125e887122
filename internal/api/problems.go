package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/token"
)

// problemTypeBase prefixes every problem type: stable URIs that clients can
// switch on (README.md lists them).
const problemTypeBase = "urn:healthcare-api:problem:"

// kind is one kind of error: its status, stable type and title.
type kind struct {
	status int
	slug   string
	title  string
}

// The error kinds, the one table from error to HTTP status.
var (
	kindMalformed        = kind{http.StatusBadRequest, "malformed-json", "Malformed JSON"}
	kindDuplicateKey     = kind{http.StatusBadRequest, "duplicate-key", "Duplicate JSON key"}
	kindUnknownField     = kind{http.StatusBadRequest, "unknown-field", "Unknown field"}
	kindBadEvent         = kind{http.StatusBadRequest, "bad-event", "Not an API Gateway request"} // Lambda: see LambdaHandler
	kindUnauthorized     = kind{http.StatusUnauthorized, "unauthorized", "Missing or invalid credentials"}
	kindNotFound         = kind{http.StatusNotFound, "not-found", "Not found"}
	kindUnknownModel     = kind{http.StatusNotFound, "unknown-model", "Unknown model"}
	kindMethodNotAllowed = kind{http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"}
	kindTooLarge         = kind{http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large"}
	kindRateLimited      = kind{http.StatusTooManyRequests, "rate-limited", "Too many requests"}
	kindMediaType        = kind{http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"}
	kindValidation       = kind{http.StatusUnprocessableEntity, "validation", "Invalid inputs"}
	kindInternal         = kind{http.StatusInternalServerError, "internal", "Internal error"}
	kindNotReady         = kind{http.StatusServiceUnavailable, "not-ready", "Not ready"}
	// CDS Hooks (shared/CDS_HOOKS.md).
	kindBadHookRequest   = kind{http.StatusBadRequest, "invalid-hook-request", "Invalid CDS Hooks request"}
	kindUnknownService   = kind{http.StatusNotFound, "unknown-cds-service", "Unknown CDS service"}
	kindPrefetchRequired = kind{http.StatusPreconditionFailed, "prefetch-required", "Required FHIR data unavailable"}
)

// problemKinds lists every kind, for the OpenAPI document and the README.
var problemKinds = []kind{kindMalformed, kindDuplicateKey, kindUnknownField, kindBadEvent, kindUnauthorized, kindNotFound,
	kindUnknownModel, kindMethodNotAllowed, kindTooLarge, kindRateLimited, kindMediaType, kindValidation, kindInternal, kindNotReady,
	kindBadHookRequest, kindUnknownService, kindPrefetchRequired}

// problem is an error answered as a problem document. Its detail never
// holds a value the client sent, but may echo a name the client sent (an
// unknown field, a duplicate key), which can look like a value.
type problem struct {
	kind   kind
	detail string
	errors []scoring.FieldError
	// Headers some kinds carry.
	allow           string // Allow, for 405
	wwwAuthenticate string // WWW-Authenticate, for 401
	retryAfter      int    // Retry-After in seconds, for 429 and 503
}

// Error is the kind only: what a log line would carry must not echo the
// client's names (see detail).
func (p *problem) Error() string { return p.kind.slug + ": " + p.kind.title }

func newProblem(k kind, detail string) *problem { return &problem{kind: k, detail: detail} }

// problemBody is an RFC 9457 problem document.
type problemBody struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail"`
	Errors    []scoring.FieldError `json:"errors,omitempty"`
	RequestID string               `json:"request_id,omitempty"`
}

// handle adapts a handler that returns its error, so that writeError is the
// one place where errors become statuses.
func handle(logger *slog.Logger, f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			writeError(logger, w, r, err)
		}
	})
}

// writeError writes err as a problem. Unknown errors are a generic 500:
// their text goes to the log with the request id, never to the client.
func writeError(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	var p *problem
	var invalid *scoring.ValidationError
	var tooLarge *http.MaxBytesError
	var cds *cdshooks.Error
	switch {
	case errors.As(err, &p):
	case errors.As(err, &cds):
		p = cdsProblem(cds)
	case errors.As(err, &invalid):
		p = validationProblem(invalid)
	case errors.As(err, &tooLarge):
		p = newProblem(kindTooLarge, "the request body is larger than the limit")
	default:
		logger.ErrorContext(r.Context(), "unexpected error", "request_id", requestIDFrom(r.Context()), "error", err.Error())
		p = newProblem(kindInternal, "an unexpected error occurred; quote the request id when reporting it")
	}
	writeProblem(w, r, p)
}

// validationProblem is the 422 of a model's validation errors.
func validationProblem(invalid *scoring.ValidationError) *problem {
	p := newProblem(kindValidation, "one or more inputs are invalid; see errors")
	for _, fe := range invalid.Errors {
		p.errors = append(p.errors, scoring.FieldError{Field: "inputs." + token.Printable(fe.Field), Message: fe.Message})
	}
	return p
}

// body is the problem document of p; requestID is omitted when empty.
func (p *problem) body(requestID string) problemBody {
	return problemBody{
		Type:      problemTypeBase + p.kind.slug,
		Title:     p.kind.title,
		Status:    p.kind.status,
		Detail:    p.detail,
		Errors:    p.errors,
		RequestID: requestID,
	}
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *problem) {
	if p.allow != "" {
		w.Header().Set("Allow", p.allow)
	}
	if p.wwwAuthenticate != "" {
		w.Header().Set("WWW-Authenticate", p.wwwAuthenticate)
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.kind.status)
	_ = json.NewEncoder(w).Encode(p.body(requestIDFrom(r.Context())))
}

func notFound() func(http.ResponseWriter, *http.Request) error {
	return func(http.ResponseWriter, *http.Request) error {
		return newProblem(kindNotFound, "no such route; GET / lists the endpoints")
	}
}

func methodNotAllowed(allow string) func(http.ResponseWriter, *http.Request) error {
	return func(http.ResponseWriter, *http.Request) error {
		p := newProblem(kindMethodNotAllowed, "this route accepts "+allow)
		p.allow = allow
		return p
	}
}
