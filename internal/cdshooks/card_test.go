package cdshooks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// The indicator follows the category (CDS_HOOKS.md "Cards"): the lowest
// band info, the highest critical, the ones between warning.
func TestIndicator(t *testing.T) {
	c := scoring.NewCatalog()
	tests := []struct{ model, category, want string }{
		{"ascvd-pce", "low", "info"}, {"ascvd-pce", "borderline", "warning"}, {"ascvd-pce", "intermediate", "warning"}, {"ascvd-pce", "high", "critical"},
		{"cha2ds2-vasc", "low", "info"}, {"cha2ds2-vasc", "moderate", "warning"}, {"cha2ds2-vasc", "high", "critical"},
		{"ckd-epi-2021", "G1", "info"}, {"ckd-epi-2021", "G3a", "warning"}, {"ckd-epi-2021", "G5", "critical"},
		{"meld-na", "", "info"}, {"prevent-30y", "", "info"},
	}
	for _, tt := range tests {
		m, _ := c.Model(tt.model)
		if got := indicator(m, tt.category); got != tt.want {
			t.Errorf("indicator(%s, %q) = %s, want %s", tt.model, tt.category, got, tt.want)
		}
	}
}

// Every service's summary, computed or not, stays under 140 characters
// (CDS Hooks 2.0: summary "SHOULD be under 140 characters").
func TestSummaryLength(t *testing.T) {
	s := New(Options{Catalog: scoring.NewCatalog()})
	if len(s.order) < 7 {
		t.Fatalf("%d services, want at least the contract's 7", len(s.order))
	}
	for _, sv := range s.order {
		m := sv.model
		var gaps []gap
		for _, in := range m.Inputs {
			gaps = append(gaps, gap{name: in.Name, reason: "not found"})
		}
		for _, sum := range []string{
			summary(m, "100.0", "intermediate"),
			s.notComputed(card{}, m, gaps, &mapped{}).Summary,
		} {
			if n := utf8.RuneCountInString(sum); n >= 140 || n == 0 {
				t.Errorf("%s: summary of %d characters: %q", m.ID, n, sum)
			}
		}
	}
}

// A model that refuses the mapped inputs (a value out of its range) gives
// a not-computed card naming the input, never an error.
func TestOutOfRangeCard(t *testing.T) {
	c := scoring.NewCatalog()
	m, _ := c.Model("ascvd-pce")
	s := New(Options{Catalog: c})
	s.o.Predict = func(string, map[string]json.RawMessage) ([]byte, error) {
		return nil, &scoring.ValidationError{Errors: []scoring.FieldError{{Field: "age", Message: "must be between 40 and 79 years"}}}
	}
	card, err := s.card(&service{model: m}, &mapped{})
	if err != nil || card.Extension != nil || card.Indicator != "info" || !strings.Contains(card.Summary, "age") {
		t.Errorf("card = %+v, %v; want a not-computed info card naming age", card, err)
	}
	s.o.Predict = func(string, map[string]json.RawMessage) ([]byte, error) { return nil, errors.New("boom") }
	if _, err := s.card(&service{model: m}, &mapped{}); err == nil {
		t.Error("an unexpected prediction error became a card")
	}
}
