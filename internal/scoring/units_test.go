package scoring

import (
	"math"
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
