package fhir

import (
	"math"
	"strings"
	"testing"
)

// eGFR: the recorded CKD-EPI 2021 value (98979-8), else computed by the
// catalog's ckd-epi-2021 model from creatinine, age and sex. Worked value:
// a man of 50 with creatinine 1.0 mg/dL, 142 x (1.0/0.9)^-1.200 x
// 0.9938^50 = 91.69 mL/min/1.73 m2 (Inker 2021; the NKF calculator shows 92).
func TestEGFR(t *testing.T) {
	pat := patient("male", "1976-06-01") // 50 on the day of the call
	creat := func(id string, daysAgo int, v float64, unit string) string {
		return quantityObs(id, "2160-0", day(daysAgo), v, unit)
	}
	egfr := func(id string, daysAgo int, v float64) string {
		return quantityObs(id, "98979-8", day(daysAgo), v, "mL/min/{1.73_m2}")
	}
	tests := []struct {
		name   string
		obs    []string
		want   float64 // < 0: missing
		source string
		from   []string
	}{
		{"recorded only", []string{egfr("e", 10, 74)}, 74, "Observation/e", nil},
		{"recorded with the same day's creatinine", []string{egfr("e", 10, 74), creat("c", 10, 1.0, "mg/dL")}, 74, "Observation/e", nil},
		{"derived from creatinine", []string{creat("c", 10, 1.0, "mg/dL")}, 91.69147860983327, "derived:ckd-epi-2021", []string{"Observation/c", "Patient/p1"}},
		{"derived from creatinine in umol/L", []string{creat("c", 10, 88.4, "umol/L")}, 91.69147860983327, "derived:ckd-epi-2021", []string{"Observation/c", "Patient/p1"}},
		{"creatinine newer than the recorded eGFR", []string{egfr("e", 100, 40), creat("c", 10, 1.0, "mg/dL")}, 91.69147860983327, "derived:ckd-epi-2021", []string{"Observation/c", "Patient/p1"}},
		{"recorded eGFR too old, creatinine fresh", []string{egfr("e", 400, 74), creat("c", 10, 1.0, "mg/dL")}, 91.69147860983327, "derived:ckd-epi-2021", []string{"Observation/c", "Patient/p1"}},
		{"recorded eGFR in an unknown unit, creatinine fresh", []string{quantityObs("e", "98979-8", day(1), 74, "mL/min"), creat("c", 10, 1.0, "mg/dL")}, 91.69147860983327, "derived:ckd-epi-2021", []string{"Observation/c", "Patient/p1"}},
		{"recorded eGFR reported as >90, same day's creatinine", []string{obsWith("e", "98979-8", map[string]string{"effectiveDateTime": `"` + day(10) + `"`,
			"valueQuantity": `{"value":90,"comparator":">","unit":"mL/min/{1.73_m2}","system":"http://unitsofmeasure.org","code":"mL/min/{1.73_m2}"}`}),
			creat("c", 10, 1.0, "mg/dL")}, 91.69147860983327, "derived:ckd-epi-2021", []string{"Observation/c", "Patient/p1"}},
		{"creatinine newer but out of range: the recorded eGFR stands", []string{egfr("e", 100, 40), creat("c", 10, 45, "mg/dL")}, 40, "Observation/e", nil},
		{"both too old", []string{egfr("e", 400, 74), creat("c", 400, 1.0, "mg/dL")}, -1, "", nil},
		{"creatinine out of the model's range", []string{creat("c", 10, 45, "mg/dL")}, -1, "", nil},
		{"neither", nil, -1, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, gap := mapOne(t, "prevent-10y", "egfr", map[string]string{KeyPatient: pat, KeyObservations: bundle(tt.obs...)})
			if tt.want < 0 {
				if gap == nil {
					t.Fatalf("mapped %+v, want missing", in)
				}
				if gap.Reason == "" || strings.HasPrefix(gap.Reason, "eGFR") {
					t.Errorf("reason %q: want why, without the input's name", gap.Reason)
				}
				return
			}
			if gap != nil {
				t.Fatalf("missing: %s", gap.Reason)
			}
			if math.Abs(in.Value.(float64)-tt.want) > 1e-9 || in.Source != tt.source || strings.Join(in.From, " ") != strings.Join(tt.from, " ") {
				t.Errorf("got %v from %s %v, want %v from %s %v", in.Value, in.Source, in.From, tt.want, tt.source, tt.from)
			}
			if in.Unit != "mL/min/{1.73_m2}" {
				t.Errorf("unit %q", in.Unit)
			}
		})
	}
	// Computing needs age (18 and over for CKD-EPI) and sex.
	for name, p := range map[string]string{
		"no sex":      patient("unknown", "1976-06-01"),
		"under 18":    patient("male", "2010-06-01"),
		"no birthday": patient("male", "1976"),
	} {
		_, gap := mapOne(t, "prevent-10y", "egfr", map[string]string{KeyPatient: p, KeyObservations: bundle(creat("c", 10, 1.0, "mg/dL"))})
		if gap == nil {
			t.Errorf("%s: eGFR derived", name)
		}
	}
}

// BMI: the recorded value (39156-5), else weight (29463-7) / height
// (8302-2)², each within its own maximum age.
func TestBMI(t *testing.T) {
	tests := []struct {
		name string
		obs  []string
		want float64 // < 0: missing
		src  string
	}{
		{"recorded", []string{quantityObs("b", "39156-5", day(20), 27.1, "kg/m2")}, 27.1, "Observation/b"},
		{"kg and cm", []string{quantityObs("w", "29463-7", day(20), 80, "kg"), quantityObs("h", "8302-2", day(300), 175, "cm")}, 80 / (1.75 * 1.75), "derived:bmi"},
		{"lb and in", []string{quantityObs("w", "29463-7", day(20), 176.37, "[lb_av]"), quantityObs("h", "8302-2", day(300), 68.9, "[in_i]")}, 176.37 * 0.45359237 / math.Pow(68.9*0.0254, 2), "derived:bmi"},
		{"g and m", []string{quantityObs("w", "29463-7", day(20), 80000, "g"), quantityObs("h", "8302-2", day(300), 1.75, "m")}, 80 / (1.75 * 1.75), "derived:bmi"},
		{"weight newer than recorded BMI", []string{quantityObs("b", "39156-5", day(200), 30, "kg/m2"), quantityObs("w", "29463-7", day(20), 80, "kg"), quantityObs("h", "8302-2", day(300), 175, "cm")}, 80 / (1.75 * 1.75), "derived:bmi"},
		{"recorded BMI newer than weight", []string{quantityObs("b", "39156-5", day(10), 30, "kg/m2"), quantityObs("w", "29463-7", day(20), 80, "kg"), quantityObs("h", "8302-2", day(300), 175, "cm")}, 30, "Observation/b"},
		{"weight newer than recorded BMI but no height: the recorded BMI stands", []string{quantityObs("b", "39156-5", day(200), 30, "kg/m2"), quantityObs("w", "29463-7", day(20), 80, "kg")}, 30, "Observation/b"},
		{"height 6 years old", []string{quantityObs("w", "29463-7", day(20), 80, "kg"), quantityObs("h", "8302-2", day(6*366), 175, "cm")}, -1, ""},
		{"weight 13 months old", []string{quantityObs("w", "29463-7", day(400), 80, "kg"), quantityObs("h", "8302-2", day(30), 175, "cm")}, -1, ""},
		{"weight in an unknown unit", []string{quantityObs("w", "29463-7", day(20), 12, "[stone_av]"), quantityObs("h", "8302-2", day(30), 175, "cm")}, -1, ""},
		{"no height", []string{quantityObs("w", "29463-7", day(20), 80, "kg")}, -1, ""},
		{"zero height", []string{quantityObs("w", "29463-7", day(20), 80, "kg"), quantityObs("h", "8302-2", day(30), 0, "cm")}, -1, ""},
	}
	for _, tt := range tests {
		in, gap := mapOne(t, "prevent-10y", "bmi", map[string]string{KeyObservations: bundle(tt.obs...)})
		if tt.want < 0 {
			if gap == nil {
				t.Errorf("%s: mapped %+v, want missing", tt.name, in)
			}
			continue
		}
		if gap != nil || math.Abs(in.Value.(float64)-tt.want) > 1e-9 || in.Source != tt.src {
			t.Errorf("%s: %+v %+v, want %v from %s", tt.name, in, gap, tt.want, tt.src)
		}
		if tt.src == "derived:bmi" && (strings.Join(in.From, " ") != "Observation/w Observation/h" || in.Date.Format("2006-01-02") != day(300)) {
			t.Errorf("%s: derived from %v on %v, want w and h, dated as the older (height)", tt.name, in.From, in.Date)
		}
	}
}
