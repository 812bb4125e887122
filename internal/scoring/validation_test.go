package scoring

import (
	"errors"
	"strings"
	"testing"
)

// received is a value no allowed-values text contains, so finding it in an
// error means the error echoed what the client sent (FieldError: "never
// what was received: these texts may reach logs").
const received = "987.654"

func TestValidationReportsEveryErrorAtOnce(t *testing.T) {
	inputs := `{
		"age": 987.654,
		"sex": 987.654,
		"race": "987.654",
		"total_cholesterol": {"value": 987.654, "unit": "g/L"},
		"hdl_cholesterol": "987.654",
		"on_bp_treatment": "987.654",
		"diabetes": 1e400,
		"current_smoker": true,
		"favourite_colour": 987.654
	}`
	_, err := predict(t, "ascvd-pce", inputs)
	want := []FieldError{
		{"age", "must be between 40 and 79 years"},
		{"sex", "must be one of: female, male"},
		{"race", "must be one of: white, african_american, other"},
		{"total_cholesterol.unit", "must be one of: mg/dL, mmol/L"},
		{"hdl_cholesterol", "must be a number in mg/dL, or an object with value and unit"},
		{"systolic_bp", "is required"},
		{"on_bp_treatment", "must be true or false"},
		{"diabetes", "must be true or false"},
		{"favourite_colour", "is not an input of model ascvd-pce"},
	}
	got := fieldErrors(err)
	if len(got) != len(want) {
		t.Fatalf("errors = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("error %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if !strings.Contains(err.Error(), "age") || strings.Contains(err.Error(), received) {
		t.Errorf("Error() = %q, want field names only", err.Error())
	}
}

func TestValidationErrorKinds(t *testing.T) {
	const pce = `{"age":55,"sex":"female","race":"white","total_cholesterol":213,"hdl_cholesterol":50,"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}`
	const qsofaGCS = `{"respiratory_rate":16,"systolic_bp":120,"gcs":15}`
	tests := []struct {
		name, model, inputs string
		want                FieldError
	}{
		{"missing required", "ascvd-pce", without(t, pce, "sex"), FieldError{"sex", "is required"}},
		{"unknown input", "ascvd-pce", with(t, pce, "on_statin", true), FieldError{"on_statin", "is not an input of model ascvd-pce"}},
		{"number as string", "ascvd-pce", with(t, pce, "age", received), FieldError{"age", "must be a number in years, or an object with value and unit"}},
		{"number as bool", "ascvd-pce", with(t, pce, "systolic_bp", true), FieldError{"systolic_bp", "must be a number in mm[Hg], or an object with value and unit"}},
		{"number as null", "ascvd-pce", with(t, pce, "systolic_bp", nil), FieldError{"systolic_bp", "must be a number in mm[Hg], or an object with value and unit"}},
		{"bool as string", "ascvd-pce", with(t, pce, "diabetes", "true"), FieldError{"diabetes", "must be true or false"}},
		{"bool as number", "ascvd-pce", with(t, pce, "diabetes", 1), FieldError{"diabetes", "must be true or false"}},
		{"enum wrong value", "ascvd-pce", with(t, pce, "sex", "Female"), FieldError{"sex", "must be one of: female, male"}},
		{"enum as number", "ascvd-pce", with(t, pce, "race", 987.654), FieldError{"race", "must be one of: white, african_american, other"}},
		{"unknown unit", "ascvd-pce", with(t, pce, "hdl_cholesterol", map[string]any{"value": 987.654, "unit": "mg/L"}), FieldError{"hdl_cholesterol.unit", "must be one of: mg/dL, mmol/L"}},
		{"unit missing", "ascvd-pce", with(t, pce, "hdl_cholesterol", map[string]any{"value": 987.654}), FieldError{"hdl_cholesterol.unit", "must be one of: mg/dL, mmol/L"}},
		{"value missing", "ascvd-pce", with(t, pce, "hdl_cholesterol", map[string]any{"unit": "mg/dL"}), FieldError{"hdl_cholesterol.value", "must be a finite number"}},
		{"value as string", "ascvd-pce", with(t, pce, "hdl_cholesterol", map[string]any{"value": received, "unit": "mg/dL"}), FieldError{"hdl_cholesterol.value", "must be a finite number"}},
		{"object extra field", "ascvd-pce", with(t, pce, "hdl_cholesterol", map[string]any{"value": 50, "unit": "mg/dL", "note": received}), FieldError{"hdl_cholesterol", "takes only the fields value and unit"}},
		{"below range", "ascvd-pce", with(t, pce, "age", -987.654), FieldError{"age", "must be between 40 and 79 years"}},
		{"just below range", "ascvd-pce", with(t, pce, "age", 39.99), FieldError{"age", "must be between 40 and 79 years"}},
		{"above range", "ascvd-pce", with(t, pce, "systolic_bp", 987.654), FieldError{"systolic_bp", "must be between 90 and 200 mm[Hg]"}},
		{"above range after unit conversion", "ascvd-pce", with(t, pce, "total_cholesterol", map[string]any{"value": 987.654, "unit": "mmol/L"}), FieldError{"total_cholesterol", "must be between 130 and 320 mg/dL"}},
		{"unitless range", "qsofa", with(t, qsofaGCS, "gcs", 2), FieldError{"gcs", "must be between 3 and 15"}},
		{"non-integer gcs", "qsofa", with(t, qsofaGCS, "gcs", 14.5), FieldError{"gcs", "must be a whole number"}},
		{"non-integer spo2 scale", "news2", `{"respiratory_rate":16,"spo2":97,"spo2_scale":1.5,"on_oxygen":false,"systolic_bp":120,"pulse":75,"consciousness":"alert","temperature":37}`, FieldError{"spo2_scale", "must be a whole number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := predict(t, tt.model, tt.inputs)
			got := fieldErrors(err)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("errors = %+v (err %v), want [%+v]", got, err, tt.want)
			}
		})
	}
}

// Numbers beyond float64 (1e400) and JSON that is not a number are refused
// as wrong type, never turned into Inf or NaN.
func TestValidationHugeNumbers(t *testing.T) {
	for _, raw := range []string{`1e400`, `-1e400`, `{"value": 1e400, "unit": "mg/dL"}`, `"NaN"`, `"Infinity"`} {
		inputs := strings.Replace(`{"creatinine":X,"age":50,"sex":"male"}`, "X", raw, 1)
		_, err := predict(t, "ckd-epi-2021", inputs)
		fe := fieldErrors(err)
		if len(fe) != 1 || !strings.HasPrefix(fe[0].Field, "creatinine") {
			t.Errorf("creatinine %s: errors = %+v, want one creatinine error", raw, fe)
		}
	}
}

// No message or field may contain the received value (FieldError doc):
// every model gets every input as the distinctive value, as a number, a
// string and a value/unit object.
func TestValidationNeverEchoesValues(t *testing.T) {
	variants := []string{`987.654`, `"987.654"`, `{"value":987.654,"unit":"987.654"}`, `{"value":987.654,"unit":"mg/dL"}`, `{"value":"987.654"}`, `[987.654]`}
	for _, m := range NewCatalog().Models() {
		for _, v := range variants {
			var b strings.Builder
			b.WriteString(`{`)
			for i, in := range m.Inputs {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(`"` + in.Name + `":` + v)
			}
			b.WriteString(`}`)
			_, err := predict(t, m.ID, b.String())
			fe := fieldErrors(err)
			if len(fe) == 0 {
				t.Errorf("%s %s: no error", m.ID, v)
			}
			for _, e := range fe {
				if strings.Contains(e.Field, received) || strings.Contains(e.Message, received) {
					t.Errorf("%s: error %+v echoes the received value", m.ID, e)
				}
			}
			if err != nil && strings.Contains(err.Error(), received) {
				t.Errorf("%s: Error() %q echoes the received value", m.ID, err.Error())
			}
		}
	}
}

// An unknown input's name is the client's own text, and may be a value;
// Error() (what a log line would carry) only counts such inputs.
func TestValidationErrorNamesNoUnknownInput(t *testing.T) {
	_, err := predict(t, "qsofa", `{"respiratory_rate":24,"systolic_bp":95,"altered_mentation":true,"987.654":1}`)
	fe := fieldErrors(err)
	if len(fe) != 1 || fe[0].Field != received {
		t.Fatalf("field errors %+v, want one for the unknown input %q", fe, received)
	}
	if got, want := err.Error(), "invalid inputs: 1 unknown input(s)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestValidationCrossField(t *testing.T) {
	tests := []struct {
		name, model, inputs string
		want                []FieldError
	}{
		// qSOFA: altered_mentation or gcs, exactly one (MODELS.md).
		{"qsofa both", "qsofa", `{"respiratory_rate":16,"systolic_bp":120,"altered_mentation":true,"gcs":15}`,
			[]FieldError{{"gcs", "give altered_mentation or gcs, not both"}}},
		{"qsofa neither", "qsofa", `{"respiratory_rate":16,"systolic_bp":120}`,
			[]FieldError{{"altered_mentation", "is required unless gcs is given"}}},
		// Conflicts are checked only once each input is valid on its own.
		{"qsofa both with a bad input", "qsofa", `{"respiratory_rate":-1,"systolic_bp":120,"altered_mentation":true,"gcs":15}`,
			[]FieldError{{"respiratory_rate", "must be between 0 and 80 /min"}}},
		// CURB-65: urea or bun, exactly one (MODELS.md).
		{"curb-65 both", "curb-65", `{"confusion":false,"urea":5,"bun":14,"respiratory_rate":16,"systolic_bp":120,"diastolic_bp":80,"age":50}`,
			[]FieldError{{"bun", "give urea or bun, not both"}}},
		{"curb-65 neither", "curb-65", `{"confusion":false,"respiratory_rate":16,"systolic_bp":120,"diastolic_bp":80,"age":50}`,
			[]FieldError{{"urea", "is required unless bun is given"}}},
		// NEWS2 SpO2 scale must be 1 or 2 (range 1-2, whole number).
		{"news2 scale 3", "news2", `{"respiratory_rate":16,"spo2":97,"spo2_scale":3,"on_oxygen":false,"systolic_bp":120,"pulse":75,"consciousness":"alert","temperature":37}`,
			[]FieldError{{"spo2_scale", "must be between 1 and 2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := predict(t, tt.model, tt.inputs)
			got := fieldErrors(err)
			if len(got) != len(tt.want) {
				t.Fatalf("errors = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("error %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// Accepted units give the same result as the canonical unit. Conversions
// (SPEC.md, Units; MODELS.md): cholesterol mg/dL x 0.02586 = mmol/L,
// creatinine mg/dL x 88.4 = µmol/L, bilirubin mg/dL x 17.1 = µmol/L,
// albumin g/dL x 10 = g/L, °F = °C x 9/5 + 32, inch = 2.54 cm.
func TestUnitConversions(t *testing.T) {
	q := func(x float64, unit string) map[string]any { return map[string]any{"value": x, "unit": unit} }
	const (
		pce    = `{"age":55,"sex":"male","race":"white","total_cholesterol":213,"hdl_cholesterol":50,"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}`
		prev   = `{"age":50,"sex":"female","total_cholesterol":200,"hdl_cholesterol":45,"systolic_bp":160,"on_bp_treatment":true,"on_statin":false,"diabetes":true,"current_smoker":false,"bmi":35,"egfr":90}`
		ckd    = `{"creatinine":1.0,"age":50,"sex":"female"}`
		meldNa = `{"bilirubin":2.0,"creatinine":1.5,"inr":1.5,"sodium":131,"dialysis_twice_past_week":false}`
		meld3  = `{"bilirubin":2.0,"creatinine":1.5,"inr":1.5,"sodium":131,"albumin":3.0,"sex":"female","dialysis_twice_past_week":false}`
		news2  = `{"respiratory_rate":16,"spo2":97,"on_oxygen":false,"systolic_bp":120,"pulse":75,"consciousness":"alert","temperature":38.0}`
		find   = `{"age":50,"bmi":27,"waist":96.52,"sex":"male","physically_active":true,"daily_vegetables":true,"ever_bp_medication":false,"high_glucose_history":false,"family_history_diabetes":"none"}`
	)
	tests := []struct {
		name, model, canonical, other string
	}{
		{"cholesterol mmol/L pce", "ascvd-pce", pce, with(t, pce, "total_cholesterol", q(213*0.02586, "mmol/L"), "hdl_cholesterol", q(50*0.02586, "mmol/L"))},
		{"cholesterol mmol/L prevent", "prevent-10y", prev, with(t, prev, "total_cholesterol", q(200*0.02586, "mmol/L"), "hdl_cholesterol", q(45*0.02586, "mmol/L"))},
		{"cholesterol mg/dL object", "ascvd-pce", pce, with(t, pce, "total_cholesterol", q(213, "mg/dL"))},
		{"age object in a", "ascvd-pce", pce, with(t, pce, "age", q(55, "a"))},
		{"blood pressure mmHg alias", "ascvd-pce", pce, with(t, pce, "systolic_bp", q(120, "mmHg"))},
		{"blood pressure mm[Hg]", "ascvd-pce", pce, with(t, pce, "systolic_bp", q(120, "mm[Hg]"))},
		{"creatinine umol/L", "ckd-epi-2021", ckd, with(t, ckd, "creatinine", q(88.4, "umol/L"))},
		{"creatinine µmol/L alias", "ckd-epi-2021", ckd, with(t, ckd, "creatinine", q(88.4, "µmol/L"))},
		{"bilirubin and creatinine umol/L meld-na", "meld-na", meldNa, with(t, meldNa, "bilirubin", q(2*17.1, "umol/L"), "creatinine", q(1.5*88.4, "umol/L"))},
		{"sodium mEq/L alias", "meld-na", meldNa, with(t, meldNa, "sodium", q(131, "mEq/L"))},
		{"albumin g/L", "meld-3.0", meld3, with(t, meld3, "albumin", q(30, "g/L"))},
		{"bilirubin umol/L meld-3.0", "meld-3.0", meld3, with(t, meld3, "bilirubin", q(2*17.1, "umol/L"))},
		{"temperature [degF] 100.4", "news2", news2, with(t, news2, "temperature", q(100.4, "[degF]"))},
		{"temperature °F alias", "news2", news2, with(t, news2, "temperature", q(100.4, "°F"))},
		{"temperature °C alias", "news2", news2, with(t, news2, "temperature", q(38.0, "°C"))},
		{"waist [in_i]", "findrisc", find, with(t, find, "waist", q(38, "[in_i]"))},
		{"waist in alias", "findrisc", find, with(t, find, "waist", q(38, "in"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameResult(t, tt.model, tt.canonical, tt.other)
		})
	}

	// Temperature band edges survive the conversion: 38.1 °C = 100.58 °F
	// scores 1, 38.0 °C = 100.4 °F scores 0 (NEWS2 Chart 1).
	for _, tt := range []struct {
		f    float64
		want float64
	}{{100.4, 0}, {100.58, 1}, {96.8, 1}, {96.98, 0}, {95, 3}, {95.18, 1}} {
		p := mustPredict(t, "news2", with(t, news2, "temperature", q(tt.f, "[degF]")))
		if got := contribution(t, p, "temperature"); got != tt.want {
			t.Errorf("%v °F: temperature points = %v, want %v", tt.f, got, tt.want)
		}
	}
}

// Predict's error is always a *ValidationError.
func TestValidationErrorType(t *testing.T) {
	_, err := predict(t, "qsofa", `{}`)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) == 0 {
		t.Fatalf("err = %#v, want a *ValidationError", err)
	}
}
