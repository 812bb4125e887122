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
// a not-computed card naming the input, never an error; a prediction that
// cannot be encoded is an error, never a card.
func TestOutOfRangeCard(t *testing.T) {
	c := scoring.NewCatalog()
	m, _ := c.Model("ascvd-pce")
	s := New(Options{Catalog: c, Encode: func(*scoring.Model, *scoring.Prediction) ([]byte, error) { return nil, errors.New("boom") }})
	withAge := func(age string) *mapped {
		var in map[string]json.RawMessage
		if err := json.Unmarshal([]byte(`{"age":`+age+`,"sex":"male","race":"white","total_cholesterol":213,"hdl_cholesterol":50,`+
			`"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}`), &in); err != nil {
			t.Fatal(err)
		}
		return &mapped{inputs: in}
	}
	card, err := s.card(&service{model: m}, withAge("30"))
	if err != nil || card.Extension != nil || card.Indicator != "info" || !strings.Contains(card.Summary, "age") {
		t.Errorf("card = %+v, %v; want a not-computed info card naming age", card, err)
	}
	if _, err := s.card(&service{model: m}, withAge("55")); err == nil {
		t.Error("an encoding error became a card")
	}
}

// A value, a source or a note with '|' or a line break stays in its
// Markdown table cell or list item.
func TestMDCell(t *testing.T) {
	for in, want := range map[string]string{
		"Observation/1":      "Observation/1",
		"a|b":                `a\|b`,
		"line\nbreak\r\nend": "line break  end",
	} {
		if got := mdCell(in); got != want {
			t.Errorf("mdCell(%q) = %q, want %q", in, got, want)
		}
	}
}
