package scoring

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
)

func TestToCanonical(t *testing.T) {
	tests := []struct {
		input, unit string
		x, want     float64
		ok          bool
	}{
		{"total_cholesterol", "mg/dL", 200, 200, true},
		{"total_cholesterol", "mmol/L", 5.172, 200, true},
		{"creatinine", "umol/L", 88.4, 1, true},
		{"creatinine", "µmol/L", 176.8, 2, true},
		{"systolic_bp", "mmHg", 120, 120, true},
		{"albumin", "g/L", 35, 3.5, true},
		{"creatinine", "mmol/L", 1, 0, false},   // a unit the catalog does not take
		{"sex", "1", 1, 0, false},               // no units
		{"no_such_input", "mg/dL", 1, 0, false}, // unknown input
	}
	for _, tt := range tests {
		got, ok := ToCanonical(tt.input, tt.x, tt.unit)
		if ok != tt.ok || (ok && math.Abs(got-tt.want) > 1e-9) {
			t.Errorf("ToCanonical(%q, %v, %q) = %v, %v; want %v, %v", tt.input, tt.x, tt.unit, got, ok, tt.want, tt.ok)
		}
	}
}

// ToCanonical (the FHIR mapping's conversion) and the parser of
// {"value", "unit"} inputs (POST /predict) agree, bit for bit, on every
// accepted unit of every input of every model, and both refuse a unit the
// input does not accept.
func TestToCanonicalAgreesWithParser(t *testing.T) {
	units := 0
	for _, m := range NewCatalog().Models() {
		for i := range m.Inputs {
			in := &m.Inputs[i]
			if len(in.AcceptedUnits) == 0 {
				continue
			}
			for _, u := range append(slices.Clone(in.AcceptedUnits), "[ft_i]") {
				accepted := slices.Contains(in.AcceptedUnits, u)
				units++
				for _, x := range []float64{0.5, 7, 120.25} {
					raw, err := json.Marshal(map[string]any{"value": x, "unit": u})
					if err != nil {
						t.Fatal(err)
					}
					parsed, fe := in.parseQuantity(raw)
					converted, ok := ToCanonical(in.Name, x, u)
					if (fe == nil) != accepted || ok != accepted || parsed != converted {
						t.Errorf("%s %s, %v %s: parser %v (%v), ToCanonical %v (%v); accepted: %v",
							m.ID, in.Name, x, u, parsed, fe, converted, ok, accepted)
					}
				}
			}
		}
	}
	if units < 100 {
		t.Errorf("%d units checked; the catalog lost its inputs?", units)
	}
}
