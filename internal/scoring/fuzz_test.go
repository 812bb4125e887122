package scoring

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"testing"
)

// pointsRange is the valid range of each points score: the sum of its
// items' maxima in SPEC.md (NEWS2 Chart 1: 3+3+2+3+3+3+3 = 20; qSOFA 3;
// CHA2DS2-VASc 9; FINDRISC 26; CURB-65 5) or the OPTN bounds (MELD 6-40).
var pointsRange = map[string][2]float64{
	"news2":        {0, 20},
	"qsofa":        {0, 3},
	"cha2ds2-vasc": {0, 9},
	"findrisc":     {0, 26},
	"curb-65":      {0, 5},
	"meld-na":      {6, 40},
	"meld-3.0":     {6, 40},
}

// FuzzPredict feeds any JSON object to any model. Predict must not panic,
// and either refuses the inputs with a *ValidationError naming at least one
// field, or returns finite values in range: risks 0-100 %, points whole
// and within the score's range, a category the model lists. Seeds (valid
// and invalid inputs for every model) are in testdata/fuzz/FuzzPredict; a
// plain go test runs only those.
func FuzzPredict(f *testing.F) {
	models := NewCatalog().Models()
	f.Fuzz(func(t *testing.T, index uint8, inputs string) {
		m := models[int(index)%len(models)]
		var raw map[string]json.RawMessage
		if json.Unmarshal([]byte(inputs), &raw) != nil {
			return // the API refuses non-objects before a model sees them
		}
		p, err := m.Predict(raw)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("%s: error %#v, want a *ValidationError with fields", m.ID, err)
			}
			for _, fe := range ve.Errors {
				// Field may be "" only for an input named "" (unknown input).
				if fe.Message == "" || fe.Field == "" && raw[""] == nil {
					t.Fatalf("%s: incomplete field error %+v", m.ID, fe)
				}
			}
			if p != nil {
				t.Fatalf("%s: prediction %+v with an error", m.ID, p)
			}
			return
		}
		checkPrediction(t, m, p)
	})
}

func checkPrediction(t *testing.T, m *Model, p *Prediction) {
	t.Helper()
	x := p.Result.Value
	if math.IsNaN(x) || math.IsInf(x, 0) {
		t.Fatalf("%s: result %v", m.ID, x)
	}
	if p.Result.Unit != m.Result.Unit {
		t.Fatalf("%s: unit %q, want %q", m.ID, p.Result.Unit, m.Result.Unit)
	}
	switch r, ok := pointsRange[m.ID]; {
	case ok:
		if x != math.Trunc(x) || x < r[0] || x > r[1] {
			t.Fatalf("%s: score %v, want a whole number in %v-%v", m.ID, x, r[0], r[1])
		}
	case m.Result.Unit == "%":
		if x < 0 || x > 100 {
			t.Fatalf("%s: risk %v%%", m.ID, x)
		}
	default: // eGFR
		if x <= 0 {
			t.Fatalf("%s: result %v", m.ID, x)
		}
	}
	if len(m.Result.Categories) > 0 && !slices.Contains(m.Result.Categories, p.Result.Category) {
		t.Fatalf("%s: category %q not in %v", m.ID, p.Result.Category, m.Result.Categories)
	}
	if len(m.Result.Categories) == 0 && p.Result.Category != "" {
		t.Fatalf("%s: category %q, want none", m.ID, p.Result.Category)
	}
	if len(p.Outcomes) != len(m.Outcomes) {
		t.Fatalf("%s: outcomes %+v, want %d", m.ID, p.Outcomes, len(m.Outcomes))
	}
	for i, o := range p.Outcomes {
		if o.ID != m.Outcomes[i].ID || math.IsNaN(o.Value) || math.IsInf(o.Value, 0) || o.Value < 0 {
			t.Fatalf("%s: outcome %+v", m.ID, o)
		}
		if (o.Unit == "%" || o.Unit == "%/a") && o.Value > 100 {
			t.Fatalf("%s: outcome %+v above 100", m.ID, o)
		}
	}
	for _, c := range p.Contributions {
		if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			t.Fatalf("%s: contribution %+v", m.ID, c)
		}
	}
	if p.Variant != "" && !slices.Contains(m.Variants, p.Variant) || p.Variant == "" && len(m.Variants) > 0 {
		t.Fatalf("%s: variant %q, want one of %q", m.ID, p.Variant, m.Variants)
	}
}
