package scoring

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// Properties that hold for every valid input, checked over grids of the
// valid domain. Where a published equation is not monotone, the test says
// so, shows where, and asserts what is true instead.

// eval runs model m on inputs given as a name -> value map.
func eval(t *testing.T, m *Model, in map[string]any) *Prediction {
	t.Helper()
	raw := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		raw[k] = b
	}
	p, err := m.Predict(raw)
	if err != nil {
		t.Fatalf("%s %v: %v", m.ID, in, err)
	}
	return p
}

func model(t *testing.T, id string) *Model {
	t.Helper()
	m, ok := testCatalog.Model(id)
	if !ok {
		t.Fatalf("no model %q", id)
	}
	return m
}

func clone(in map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(in)+len(kv)/2)
	for k, v := range in {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// grid returns every combination of the given values, one map each.
func grid(axes map[string][]any) []map[string]any {
	out := []map[string]any{{}}
	for name, values := range axes {
		var next []map[string]any
		for _, m := range out {
			for _, v := range values {
				next = append(next, clone(m, name, v))
			}
		}
		out = next
	}
	return out
}

var yesNo = []any{false, true}

// checkRisk asserts a risk in percent is finite and within [0, 100], for
// the result and every outcome in %.
func checkRisk(t *testing.T, id string, in map[string]any, p *Prediction) {
	t.Helper()
	vals := []float64{p.Result.Value}
	for _, o := range p.Outcomes {
		if o.Unit == "%" {
			vals = append(vals, o.Value)
		}
	}
	for _, x := range vals {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x > 100 {
			t.Errorf("%s %v: risk %v outside [0, 100]", id, in, x)
		}
	}
}

// pceAgeSlope is d(individual sum)/d(ln age) of Goff Table A (SPEC.md §1),
// transcribed here independently of pce.go: only the age terms and their
// interactions matter.
func pceAgeSlope(female, black bool, lnAge, lnTC, lnHDL, lnSBP float64, treated, smoker bool) float64 {
	s := 0.0
	if smoker {
		s = 1
	}
	switch {
	case female && black:
		if treated {
			return 17.114 + 4.475*lnHDL - 6.432*lnSBP
		}
		return 17.114 + 4.475*lnHDL - 6.087*lnSBP
	case female:
		return -29.799 + 2*4.884*lnAge - 3.114*lnTC + 3.149*lnHDL - 1.665*s
	case black:
		return 2.469
	}
	return 12.344 - 2.664*lnTC + 1.769*lnHDL - 1.795*s
}

// The PCE is non-decreasing in age only where the age slope of its
// individual sum is >= 0. Table A's interactions make it negative for
// white women with high total and low HDL cholesterol (ln age x ln TC
// -3.114) and for African-American women with low HDL and high SBP (ln age
// x ln SBP -6.432/-6.087): there the published equation gives a lower risk
// at an older age. The test asserts the direction the slope's sign gives,
// step by step (for white women the slope is linear in ln age, so equal
// signs at both ends of a step hold across it), and that both directions
// occur on the grid. White and African-American men are non-decreasing
// everywhere (their slope is at least 0.48 on the valid domain).
//
// SBP: the SBP slope is positive for every group on 40-79 years (smallest:
// African-American women at 79, 29.291 - 6.432 ln 79 = 1.19 treated, 27.820
// - 6.087 ln 79 = 1.22 untreated), so risk is non-decreasing in SBP with
// treatment status fixed.
func TestPCEMonotonicity(t *testing.T) {
	m := model(t, "ascvd-pce")
	profiles := grid(map[string][]any{
		"sex": {"female", "male"}, "race": {"white", "african_american"},
		"total_cholesterol": {130, 200, 320}, "hdl_cholesterol": {20, 50, 100}, "systolic_bp": {90, 140, 200},
		"on_bp_treatment": yesNo, "current_smoker": yesNo, "diabetes": yesNo,
	})
	decreasing, increasing := 0, 0
	for _, prof := range profiles {
		female, black := prof["sex"] == "female", prof["race"] == "african_american"
		lnTC := math.Log(float64(prof["total_cholesterol"].(int)))
		lnHDL := math.Log(float64(prof["hdl_cholesterol"].(int)))
		lnSBP := math.Log(float64(prof["systolic_bp"].(int)))
		treated, smoker := prof["on_bp_treatment"].(bool), prof["current_smoker"].(bool)
		prev := eval(t, m, clone(prof, "age", 40))
		for age := 41; age <= 79; age++ {
			p := eval(t, m, clone(prof, "age", age))
			checkRisk(t, m.ID, prof, p)
			s0 := pceAgeSlope(female, black, math.Log(float64(age-1)), lnTC, lnHDL, lnSBP, treated, smoker)
			s1 := pceAgeSlope(female, black, math.Log(float64(age)), lnTC, lnHDL, lnSBP, treated, smoker)
			switch {
			case s0 >= 0 && s1 >= 0:
				increasing++
				if p.Result.Value < prev.Result.Value-tiny {
					t.Errorf("%v: risk falls from %v at %d to %v at %d although the age slope is positive", prof, prev.Result.Value, age-1, p.Result.Value, age)
				}
			case s0 <= 0 && s1 <= 0:
				decreasing++
				if p.Result.Value > prev.Result.Value+tiny {
					t.Errorf("%v: risk rises from %v at %d to %v at %d although the age slope is negative", prof, prev.Result.Value, age-1, p.Result.Value, age)
				}
			}
			prev = p
		}
		if !female {
			if s := pceAgeSlope(female, black, math.Log(40), lnTC, lnHDL, lnSBP, treated, smoker); s < 0 {
				t.Errorf("men %v: age slope %v, want >= 0", prof, s)
			}
		}
	}
	if decreasing == 0 || increasing == 0 {
		t.Errorf("steps: %d increasing, %d decreasing; the grid should show both", increasing, decreasing)
	}

	sbpProfiles := grid(map[string][]any{
		"sex": {"female", "male"}, "race": {"white", "african_american"},
		"total_cholesterol": {130, 320}, "hdl_cholesterol": {20, 100}, "age": {40, 60, 79},
		"on_bp_treatment": yesNo, "current_smoker": yesNo, "diabetes": yesNo,
	})
	for _, prof := range sbpProfiles {
		prev := eval(t, m, clone(prof, "systolic_bp", 90))
		for sbp := 95; sbp <= 200; sbp += 5 {
			p := eval(t, m, clone(prof, "systolic_bp", sbp))
			if p.Result.Value < prev.Result.Value-tiny {
				t.Errorf("%v: risk falls from %v to %v as SBP rises to %d", prof, prev.Result.Value, p.Result.Value, sbp)
			}
			prev = p
		}
	}
}

// PREVENT (Khan 2024; SPEC.md §2) is not monotone in SBP: its SBP<110 term
// has a negative coefficient in all twelve outcome models, so risk falls as
// SBP rises from 90 to 110 (a J-shape), and rises from 110 on. Above 110
// the slope is β(SBP>=110) + β(antiHTN x SBP) + β(age x SBP)·(age-55)/10,
// smallest for treated men's 10-year heart failure at 79: 0.3634 - 0.0498
// - 0.1289 x 2.4 = 0.004 > 0, so non-decreasing there.
//
// Nor is it monotone in age over the whole domain: the age interactions
// (with non-HDL, HDL, SBP, diabetes, smoking, BMI and eGFR<60) can outweigh
// the age coefficient. For a woman with diabetes who smokes, eGFR 15, SBP
// 180, total cholesterol 320 and HDL 20, the 10-year total-CVD age slope is
// 0.794 - 0.082 x 4.26 + 0.031 x (-2.61) - 0.095 x 2.5 - 0.271 - 0.079 -
// 0.164 x 3 = -0.71 per decade: her risk falls with age. On the subdomain
// without diabetes or smoking, eGFR >= 60, BMI <= 30, SBP 110-140, total
// 150-240 and HDL 40-80 mg/dL, every outcome's age slope is at least 0.2
// per decade (bounding each interaction by hand from the SPEC.md tables), so
// risk is non-decreasing in age there.
func TestPREVENTMonotonicity(t *testing.T) {
	for _, id := range []string{"prevent-10y", "prevent-30y"} {
		m := model(t, id)
		maxAge := 79
		if id == "prevent-30y" {
			maxAge = 59
		}
		outcomesOf := func(p *Prediction) []float64 {
			return []float64{p.Result.Value, outcome(t, p, "total_cvd"), outcome(t, p, "ascvd"), outcome(t, p, "heart_failure")}
		}

		t.Run(id+" sbp", func(t *testing.T) {
			profiles := grid(map[string][]any{
				"sex": {"female", "male"}, "age": {30, 55, maxAge},
				"total_cholesterol": {130, 320}, "hdl_cholesterol": {20, 100}, "bmi": {18.5, 39.9}, "egfr": {15, 140},
				"on_bp_treatment": yesNo, "on_statin": yesNo, "current_smoker": yesNo, "diabetes": yesNo,
			})
			for _, prof := range profiles {
				prev := outcomesOf(eval(t, m, clone(prof, "systolic_bp", 90)))
				for sbp := 95; sbp <= 180; sbp += 5 {
					p := eval(t, m, clone(prof, "systolic_bp", sbp))
					checkRisk(t, id, prof, p)
					cur := outcomesOf(p)
					for i := range cur {
						if sbp <= 110 && cur[i] > prev[i]+tiny {
							t.Errorf("%v: outcome %d rises from %v to %v at SBP %d (<= 110 must not rise)", prof, i, prev[i], cur[i], sbp)
						}
						if sbp > 110 && cur[i] < prev[i]-tiny {
							t.Errorf("%v: outcome %d falls from %v to %v at SBP %d (> 110 must not fall)", prof, i, prev[i], cur[i], sbp)
						}
					}
					prev = cur
				}
			}
		})

		t.Run(id+" age", func(t *testing.T) {
			profiles := grid(map[string][]any{
				"sex": {"female", "male"}, "systolic_bp": {110, 140},
				"total_cholesterol": {150, 240}, "hdl_cholesterol": {40, 80}, "bmi": {18.5, 30}, "egfr": {60, 140},
				"on_bp_treatment": yesNo, "on_statin": yesNo, "current_smoker": {false}, "diabetes": {false},
			})
			for _, prof := range profiles {
				prev := outcomesOf(eval(t, m, clone(prof, "age", 30)))
				for age := 31; age <= maxAge; age++ {
					p := eval(t, m, clone(prof, "age", age))
					cur := outcomesOf(p)
					for i := range cur {
						if cur[i] < prev[i]-tiny {
							t.Errorf("%v: outcome %d falls from %v to %v at age %d", prof, i, prev[i], cur[i], age)
						}
					}
					prev = cur
				}
			}
		})
	}

	// The counterexample above: 10-year risks fall with age.
	m := model(t, "prevent-10y")
	corner := map[string]any{"sex": "female", "total_cholesterol": 320, "hdl_cholesterol": 20, "systolic_bp": 180,
		"on_bp_treatment": false, "on_statin": false, "diabetes": true, "current_smoker": true, "bmi": 39.9, "egfr": 15}
	young, old := eval(t, m, clone(corner, "age", 40)), eval(t, m, clone(corner, "age", 79))
	for _, id := range []string{"total_cvd", "ascvd", "heart_failure"} {
		if y, o := outcome(t, young, id), outcome(t, old, id); !(o < y) {
			t.Errorf("%s: %v at 79, %v at 40; the published slope is negative for this profile", id, o, y)
		}
	}
}

// Framingham general CVD (D'Agostino 2008; SPEC.md §3) has positive
// coefficients for ln age and ln SBP and no interactions, so risk is
// non-decreasing in both everywhere.
func TestFraminghamMonotonicity(t *testing.T) {
	m := model(t, "framingham-cvd")
	profiles := grid(map[string][]any{
		"sex": {"female", "male"}, "total_cholesterol": {130, 200, 320}, "hdl_cholesterol": {20, 50, 100},
		"on_bp_treatment": yesNo, "current_smoker": yesNo, "diabetes": yesNo,
	})
	for _, prof := range profiles {
		for _, sbp := range []int{90, 140, 200} {
			prev := eval(t, m, clone(prof, "systolic_bp", sbp, "age", 30))
			for age := 31; age <= 74; age++ {
				p := eval(t, m, clone(prof, "systolic_bp", sbp, "age", age))
				checkRisk(t, m.ID, prof, p)
				if p.Result.Value < prev.Result.Value-tiny {
					t.Errorf("%v sbp %d: risk falls to %v at age %d", prof, sbp, p.Result.Value, age)
				}
				prev = p
			}
		}
		for _, age := range []int{30, 50, 74} {
			prev := eval(t, m, clone(prof, "age", age, "systolic_bp", 90))
			for sbp := 95; sbp <= 200; sbp += 5 {
				p := eval(t, m, clone(prof, "age", age, "systolic_bp", sbp))
				if p.Result.Value < prev.Result.Value-tiny {
					t.Errorf("%v age %d: risk falls to %v at SBP %d", prof, age, p.Result.Value, sbp)
				}
				prev = p
			}
		}
	}
}

// eGFR is positive and finite and falls with creatinine and with age over
// the accepted ranges (CKD-EPI 2021: negative exponents of Scr/κ, 0.9938^age).
func TestCKDEPIProperties(t *testing.T) {
	m := model(t, "ckd-epi-2021")
	for _, sex := range []string{"female", "male"} {
		for _, age := range []float64{18, 40, 70, 120} {
			prev := math.Inf(1)
			for cr := 0.1; cr <= 30; cr *= 1.1 {
				p := eval(t, m, map[string]any{"creatinine": cr, "age": age, "sex": sex})
				x := p.Result.Value
				if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
					t.Fatalf("%s %v %v: eGFR %v", sex, age, cr, x)
				}
				if x > prev {
					t.Errorf("%s age %v: eGFR rises to %v at creatinine %v", sex, age, x, cr)
				}
				prev = x
			}
		}
	}
}

// The MELD scores are whole numbers in 6-40 (OPTN) for every combination of
// boundary lab values, and rise with bilirubin, INR and creatinine.
func TestMELDProperties(t *testing.T) {
	for _, id := range []string{"meld-na", "meld-3.0"} {
		m := model(t, id)
		axes := map[string][]any{
			"bilirubin": {0.1, 1, 3, 80}, "creatinine": {0.1, 1, 2, 30}, "inr": {0.5, 1, 2, 20},
			"sodium": {100, 125, 131, 180}, "dialysis_twice_past_week": yesNo,
		}
		if id == "meld-3.0" {
			axes["albumin"] = []any{0.5, 2.5, 7}
			axes["sex"] = []any{"female", "male"}
		}
		for _, in := range grid(axes) {
			p := eval(t, m, in)
			x := p.Result.Value
			if x != math.Trunc(x) || x < 6 || x > 40 {
				t.Errorf("%s %v: score %v, want a whole number in 6-40", id, in, x)
			}
			for _, o := range p.Outcomes {
				if math.IsNaN(o.Value) || math.IsInf(o.Value, 0) || o.Value < 0 || (o.Unit == "%" && o.Value > 100) {
					t.Errorf("%s %v: outcome %s = %v", id, in, o.ID, o.Value)
				}
			}
		}
		base := map[string]any{"bilirubin": 2, "creatinine": 1.5, "inr": 1.5, "sodium": 131, "dialysis_twice_past_week": false}
		if id == "meld-3.0" {
			base = clone(base, "albumin", 3.0, "sex", "male")
		}
		for _, lab := range []string{"bilirubin", "creatinine", "inr"} {
			prev := 0.0
			for x := 1.0; x <= 3; x += 0.1 {
				got := eval(t, m, clone(base, lab, x)).Result.Value
				if got < prev {
					t.Errorf("%s: score falls to %v at %s %v", id, got, lab, x)
				}
				prev = got
			}
		}
	}
}

// Same input, same output: repeated calls, and Compute reusing one
// Prediction, give identical results.
func TestDeterminism(t *testing.T) {
	for _, m := range NewCatalog().Models() {
		raw := validSeed(m.ID)
		var in map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &in); err != nil {
			t.Fatal(err)
		}
		a, err := m.Predict(in)
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		b, _ := m.Predict(in)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: %+v then %+v", m.ID, a, b)
		}
		v, _ := m.Parse(in)
		p := &Prediction{}
		for range 3 {
			m.Compute(&v, p)
		}
		if !reflect.DeepEqual(a, p) {
			t.Errorf("%s: Compute after reuse %+v, Predict %+v", m.ID, p, a)
		}
	}
}

// validSeed is one valid input set per model.
func validSeed(id string) string {
	switch id {
	case "ascvd-pce":
		return `{"age":55,"sex":"female","race":"white","total_cholesterol":213,"hdl_cholesterol":50,"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}`
	case "prevent-10y", "prevent-30y":
		return `{"age":50,"sex":"female","total_cholesterol":200,"hdl_cholesterol":45,"systolic_bp":160,"on_bp_treatment":true,"on_statin":false,"diabetes":true,"current_smoker":false,"bmi":35,"egfr":90}`
	case "framingham-cvd":
		return `{"age":61,"sex":"female","total_cholesterol":180,"hdl_cholesterol":47,"systolic_bp":124,"on_bp_treatment":false,"diabetes":false,"current_smoker":true}`
	case "news2":
		return `{"respiratory_rate":22,"spo2":94,"on_oxygen":true,"systolic_bp":105,"pulse":95,"consciousness":"alert","temperature":38.5}`
	case "qsofa":
		return `{"respiratory_rate":24,"systolic_bp":98,"gcs":14}`
	case "cha2ds2-vasc":
		return `{"age":70,"sex":"female","chf":false,"hypertension":true,"diabetes":true,"stroke_tia_thromboembolism":false,"vascular_disease":false}`
	case "ckd-epi-2021":
		return `{"creatinine":1.09,"age":55,"sex":"male"}`
	case "meld-na":
		return `{"bilirubin":4.2,"creatinine":1.9,"inr":1.2,"sodium":125,"dialysis_twice_past_week":false}`
	case "meld-3.0":
		return `{"bilirubin":6,"creatinine":1.5,"inr":1.5,"sodium":131,"albumin":2.2,"sex":"female","dialysis_twice_past_week":false}`
	case "findrisc":
		return `{"age":58,"bmi":31,"waist":95,"sex":"male","physically_active":false,"daily_vegetables":true,"ever_bp_medication":true,"high_glucose_history":false,"family_history_diabetes":"second_degree"}`
	case "curb-65":
		return `{"confusion":true,"urea":8,"respiratory_rate":24,"systolic_bp":110,"diastolic_bp":70,"age":70}`
	}
	panic("no seed for " + id)
}

// Every catalog entry carries what MODELS.md promises: id, version, title,
// citation, population, inputs with units and ranges, the result, and the
// DOI SPEC.md gives.
func TestCatalogEntries(t *testing.T) {
	// DOIs as SPEC.md cites them; NEWS2 is a report with an ISBN.
	wantDOI := map[string]string{
		"ascvd-pce":      "10.1161/01.cir.0000437741.48606.98",
		"prevent-10y":    "10.1161/CIRCULATIONAHA.123.067626",
		"prevent-30y":    "10.1161/CIRCULATIONAHA.123.067626",
		"framingham-cvd": "10.1161/CIRCULATIONAHA.107.699579",
		"qsofa":          "10.1001/jama.2016.0288",
		"cha2ds2-vasc":   "10.1378/chest.09-1584",
		"ckd-epi-2021":   "10.1056/NEJMoa2102953",
		"meld-3.0":       "10.1053/j.gastro.2021.08.050",
		"findrisc":       "10.2337/diacare.26.3.725",
		"curb-65":        "10.1136/thorax.58.5.377",
	}
	wantIDs := []string{"ascvd-pce", "cha2ds2-vasc", "ckd-epi-2021", "curb-65", "findrisc", "framingham-cvd",
		"meld-3.0", "meld-na", "news2", "prevent-10y", "prevent-30y", "qsofa"}
	c := NewCatalog()
	if got := c.IDs(); !reflect.DeepEqual(got, wantIDs) {
		t.Errorf("IDs() = %v, want %v", got, wantIDs)
	}
	for _, m := range c.Models() {
		if m.Version == "" || m.Title == "" || m.Citation == "" || m.Population == "" {
			t.Errorf("%s: version %q, title %q, citation %q, population %q: none may be empty", m.ID, m.Version, m.Title, m.Citation, m.Population)
		}
		if want, ok := wantDOI[m.ID]; ok && m.DOI != want {
			t.Errorf("%s: DOI %q, want %q", m.ID, m.DOI, want)
		}
		if m.ID == "news2" && !strings.Contains(m.Citation, "ISBN") {
			t.Errorf("news2: citation %q, want the report's ISBN", m.Citation)
		}
		if m.Result.Label == "" || m.Result.Unit == "" {
			t.Errorf("%s: result %+v needs a label and unit", m.ID, m.Result)
		}
		if len(m.Inputs) == 0 {
			t.Errorf("%s: no inputs", m.ID)
		}
		for _, in := range m.Inputs {
			if in.Description == "" {
				t.Errorf("%s.%s: no description", m.ID, in.Name)
			}
			switch in.Type {
			case kindNumber:
				if in.Unit == "" || len(in.AcceptedUnits) == 0 || in.AcceptedUnits[0] != in.Unit {
					t.Errorf("%s.%s: unit %q, accepted %v: want a canonical unit listed first", m.ID, in.Name, in.Unit, in.AcceptedUnits)
				}
				fallthrough
			case kindInteger:
				if in.Minimum == nil || in.Maximum == nil || *in.Minimum >= *in.Maximum {
					t.Errorf("%s.%s: range %v-%v", m.ID, in.Name, in.Minimum, in.Maximum)
				}
			case kindEnum:
				if len(in.Values) < 2 {
					t.Errorf("%s.%s: values %v", m.ID, in.Name, in.Values)
				}
			case kindBoolean:
			default:
				t.Errorf("%s.%s: type %q", m.ID, in.Name, in.Type)
			}
		}
		for _, o := range m.Outcomes {
			if o.ID == "" || o.Label == "" || o.Unit == "" {
				t.Errorf("%s: outcome %+v incomplete", m.ID, o)
			}
		}
		if _, err := json.Marshal(m); err != nil {
			t.Errorf("%s: %v", m.ID, err)
		}
	}
}
