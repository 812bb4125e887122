package openapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// predictExample is one runnable POST /predict example of the OpenAPI
// document: a request example, and a response example under the same name
// and the status the service answers. Values come from the published
// worked examples the scoring tests assert (internal/scoring/*_test.go
// cite each source in full).
type predictExample struct {
	name    string // example key in the request and in the response
	summary string // what Swagger UI's example picker shows
	source  string // where the published value comes from
	model   string
	inputs  string // JSON object
	status  int    // 200, or 422 for an example of a validation problem
	// published is the source's result, as printed, and decimals how many
	// decimals it prints: the service's unrounded value rounds to it.
	published float64
	decimals  int
}

// predictExamples are the README's worked examples and one per model from
// its published test cases, then a validation problem.
var predictExamples = []predictExample{
	{name: "ascvd-pce-goff-2014", model: "ascvd-pce", status: 200, published: 5.38, decimals: 2,
		summary: "ASCVD (PCE): Goff 2014 worked example, white man of 55 → 5.38 %",
		source:  "Goff et al. 2014, Appendix 7 Table A (full-precision value as asserted by DGruen89/estimateCVRisk); the README's first example.",
		inputs: `{"age":55,"sex":"male","race":"white","total_cholesterol":213,"hdl_cholesterol":50,` +
			`"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}`},
	{name: "news2-readme", model: "news2", status: 200, published: 6, decimals: 0,
		summary: "NEWS2: RR 22, SpO2 95 %, BP 105, pulse 105, 101.3 °F → 6, medium",
		source:  "RCP NEWS2 (2017) Chart 1: respiratory rate 21-24 scores 2, SpO2 94-95 % 1, systolic 101-110 1, pulse 91-110 1, 38.1-39.0 °C 1; Chart 2: 5-6 is medium. The README's second example.",
		inputs: `{"respiratory_rate":22,"spo2":95,"on_oxygen":false,"systolic_bp":105,"pulse":105,"consciousness":"alert",` +
			`"temperature":{"value":101.3,"unit":"[degF]"}}`},
	{name: "prevent-10y-khan-s12-female", model: "prevent-10y", status: 200, published: 14.68, decimals: 2,
		summary: "PREVENT 10-year: Khan 2024 Table S12, woman of 50 → total CVD 14.68 %",
		source:  "Khan et al. 2024 supplement Table S12, base model (as asserted by bcjaeger/PooledCohort).",
		inputs: `{"age":50,"sex":"female","total_cholesterol":200,"hdl_cholesterol":45,"systolic_bp":160,"on_bp_treatment":true,` +
			`"on_statin":false,"diabetes":true,"current_smoker":false,"bmi":35,"egfr":90}`},
	{name: "prevent-30y-khan-s12-female", model: "prevent-30y", status: 200, published: 53.0, decimals: 1,
		summary: "PREVENT 30-year: Table S12 profile, woman of 50 → total CVD 53.0 %",
		source:  "martingmayer/preventr tests, \"Base model works, female\" (Khan 2024 Table S12 profile).",
		inputs: `{"age":50,"sex":"female","total_cholesterol":200,"hdl_cholesterol":45,"systolic_bp":160,"on_bp_treatment":true,` +
			`"on_statin":false,"diabetes":true,"current_smoker":false,"bmi":35,"egfr":90}`},
	{name: "framingham-dagostino-woman-61", model: "framingham-cvd", status: 200, published: 10.48, decimals: 2,
		summary: "Framingham general CVD: D'Agostino 2008 worked example, woman of 61 → 10.48 %",
		source:  "D'Agostino et al. 2008 worked example (formula value as asserted by DGruen89/estimateCVRisk).",
		inputs: `{"age":61,"sex":"female","total_cholesterol":180,"hdl_cholesterol":47,"systolic_bp":124,"on_bp_treatment":false,` +
			`"diabetes":false,"current_smoker":true}`},
	{name: "qsofa-rr26-sbp98", model: "qsofa", status: 200, published: 2, decimals: 0,
		summary: "qSOFA: RR 26, systolic 98, GCS 15 → 2, positive",
		source:  "Seymour et al. 2016 criteria (RR ≥ 22, systolic ≤ 100, altered mentation); worked example of rhavekost/clinical-toolkit.",
		inputs:  `{"respiratory_rate":26,"systolic_bp":98,"gcs":15}`},
	{name: "cha2ds2-vasc-man-62-stroke", model: "cha2ds2-vasc", status: 200, published: 2, decimals: 0,
		summary: "CHA2DS2-VASc: man of 62 with a prior ischaemic stroke → 2, high",
		source:  "Lip et al. 2010 points (stroke/TIA 2); MedCalc-Bench-Verified one-shot example.",
		inputs:  `{"age":62,"sex":"male","chf":false,"hypertension":false,"diabetes":false,"stroke_tia_thromboembolism":true,"vascular_disease":false}`},
	{name: "ckd-epi-nkf-male-55", model: "ckd-epi-2021", status: 200, published: 80, decimals: 0,
		summary: "eGFR (CKD-EPI 2021): creatinine 1.09 mg/dL, man of 55 → 80 mL/min/1.73 m²",
		source:  "National Kidney Foundation CKD-EPI 2021 calculator, as asserted by pharmaverse/admiral (Test 01.01).",
		inputs:  `{"creatinine":1.09,"age":55,"sex":"male"}`},
	{name: "meld-na-ameld-unos", model: "meld-na", status: 200, published: 28, decimals: 0,
		summary: "MELD(Na): creatinine 1.9, bilirubin 4.2, INR 1.2, sodium 125 → 28",
		source:  "ampel-leipzig/ameld tests, \"meld_na\" (type unos, rounded): UNOS 2016 MELD(Na).",
		inputs:  `{"bilirubin":4.2,"creatinine":1.9,"inr":1.2,"sodium":125,"dialysis_twice_past_week":false}`},
	{name: "meld-3.0-reference-female", model: "meld-3.0", status: 200, published: 7, decimals: 0,
		summary: "MELD 3.0: reference profile (all at their bounds), female → 7",
		source:  "Kim et al. 2021 equation: every term at its lower bound leaves the female term (1.33) and the constant: 6.43 + 1.33 → 7 after rounding.",
		inputs:  `{"bilirubin":1,"creatinine":1,"inr":1,"sodium":137,"albumin":3.5,"sex":"female","dialysis_twice_past_week":false}`},
	{name: "findrisc-21", model: "findrisc", status: 200, published: 21, decimals: 0,
		summary: "FINDRISC: 55 years, BMI 30.1, inactive, no daily vegetables, BP medication, high glucose, parent with diabetes → 21, very high",
		source:  "Lindström & Tuomilehto 2003 FINDRISC form: age 55-64 3, BMI > 30 3, waist (man < 94 cm) 0, inactive 2, vegetables 1, BP medication 2, high glucose 5, first-degree family 5.",
		inputs: `{"age":55,"bmi":30.1,"waist":80,"sex":"male","physically_active":false,"daily_vegetables":false,` +
			`"ever_bp_medication":true,"high_glucose_history":true,"family_history_diabetes":"first_degree"}`},
	{name: "curb-65-score-3", model: "curb-65", status: 200, published: 3, decimals: 0,
		summary: "CURB-65: confusion, urea 8 mmol/L, RR 30 → 3, high (30-day mortality 17 %)",
		source:  "Lim et al. 2003 (Thorax 58:377): one point each for confusion, urea > 7 mmol/L, RR ≥ 30; derivation cohort mortality for 3 is 17 %.",
		inputs:  `{"confusion":true,"urea":8,"respiratory_rate":30,"systolic_bp":120,"diastolic_bp":80,"age":50}`},
	{name: "ascvd-pce-cholesterol-out-of-range", model: "ascvd-pce", status: 422,
		summary: "422: total cholesterol 9 mmol/L (348 mg/dL) is outside the PCE's 130-320 mg/dL",
		source:  "The ACC/AHA estimator's ranges (Goff 2014); a value outside the validated range is refused, never extrapolated. The range applies after conversion, so the document's schema cannot see it.",
		inputs: `{"age":55,"sex":"male","race":"white","total_cholesterol":{"value":9,"unit":"mmol/L"},"hdl_cholesterol":50,` +
			`"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}`},
}

// body is the example's request body.
func (e predictExample) body() json.RawMessage {
	return json.RawMessage(`{"model":"` + e.model + `","inputs":` + e.inputs + `}`)
}

// predictRequestExamples are the request examples of POST /predict.
func predictRequestExamples() object {
	out := object{}
	for _, e := range predictExamples {
		description := e.source
		if e.status == http.StatusOK {
			description += " Published: " + strconv.FormatFloat(e.published, 'f', e.decimals, 64) + "."
		}
		out[e.name] = object{"summary": e.summary, "description": description, "value": e.body()}
	}
	return out
}

// predictResponseExamples are the response examples of POST /predict by
// status: what the service answers each request example, computed by the
// models themselves when the document is built (so the page shows the
// unrounded value the service returns).
func predictResponseExamples(s Service) map[int]object {
	out := map[int]object{}
	for _, e := range predictExamples {
		m, ok := s.Catalog.Model(e.model)
		if !ok {
			continue // a catalog without the model: the document lists no such example response
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(e.inputs), &raw); err != nil {
			panic(err) // a literal above
		}
		if out[e.status] == nil {
			out[e.status] = object{}
		}
		out[e.status][e.name] = object{"summary": e.summary, "value": s.Predict(m, raw)}
	}
	return out
}

// problemExamples are an example body of each problem type, as the service
// writes them (the details are those of the code paths that answer the
// requests of package api's TestOpenAPIProblemExamplesAnswered), in the
// document's components; responses refer to those of their types.
func problemExamples(s Service) object {
	detail := map[string]string{
		"malformed-json":         "the body is not well-formed JSON",
		"duplicate-key":          "the key model appears more than once in one object",
		"unknown-field":          "unknown field Inputs; the body takes only model and inputs",
		"bad-event":              "the Lambda event is not an API Gateway proxy request this function can serve; invoke it through API Gateway, or with an event like those in events/",
		"unauthorized":           "send an API key in X-API-Key or Authorization: Bearer",
		"not-found":              "no such route; GET / lists the endpoints",
		"unknown-model":          "no model has this id; known ids: " + strings.Join(s.Catalog.IDs(), ", "),
		"method-not-allowed":     "this route accepts GET, HEAD",
		"body-too-large":         "the request body is larger than the limit",
		"rate-limited":           "this API key has exceeded its request rate; retry after the time in Retry-After",
		"unsupported-media-type": "send the body as application/json",
		"validation":             "one or more inputs are invalid; see errors",
		"internal":               "an unexpected error occurred; quote the request id when reporting it",
		"not-ready":              "API keys cannot be checked right now; retry shortly",
		// CDS Hooks, as package cdshooks writes them. invalid-hook-request
		// names its field in errors; prefetch-required is the call to
		// cha2ds2-vasc without prefetch or fhirServer (its other details:
		// the FHIR server did not answer, or answered no resource).
		"invalid-hook-request": "the hook request is invalid; see errors",
		"unknown-cds-service":  "no CDS service has this id; GET /cds-services lists them",
		"prefetch-required": "required prefetch keys are absent (conditions, patient) and the request carries no FHIR server " +
			"this client may be fetched from with fhirAuthorization",
	}
	// The field errors of the problems that have them: a missing input and
	// one out of range; a call for a hook other than patient-view (an EHR
	// that registered a service for another hook).
	errors := map[string][]scoring.FieldError{
		"validation": {
			{Field: "inputs.age", Message: "must be between 40 and 79 years"},
			{Field: "inputs.systolic_bp", Message: "is required"},
		},
		"invalid-hook-request": {{Field: "hook", Message: "must be patient-view: the only hook these services answer"}},
	}
	out := object{}
	for _, p := range s.Problems {
		out[problemExampleName(p)] = object{
			"summary": p.Title,
			"value":   s.ProblemBody(p, detail[p.Slug], errors[p.Slug], "4f1c2a9e0b7d4c3e8a6f5b2d1c0e9a87"),
		}
	}
	return out
}

func problemExampleName(p Problem) string { return "problem-" + p.Slug }
