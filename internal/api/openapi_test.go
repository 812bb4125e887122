package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/pb33f/libopenapi-validator/schema_validation"

	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/cdshooks/cdshookstest"
	"github.com/healthcare-prediction/api/internal/docs"
	"github.com/healthcare-prediction/api/internal/openapi/openapitest"
	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/secrets"
)

// These tests hold the service's answers to the OpenAPI document it serves
// (package openapi tests the document itself): every exchange validates
// against it in strict mode, and what it refuses the service refuses.

// openAPIOptions are the options of the handler under test: every route.
// openAPITestKey is the API key every documented exchange sends.
const openAPITestKey = "openapi-test-FtnIpSFFnXlCTicPlsKEzVezJppUwo53epRrtCEY"

func openAPIOptions() Options {
	keys, err := secrets.Static("openapi-test:" + openAPITestKey)
	if err != nil {
		panic(err)
	}
	return Options{
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Catalog:   scoring.NewCatalog(),
		Build:     Build{Version: "test"},
		Lifecycle: NewLifecycle(),
		Keys:      keys,
		Routes:    All,
		Docs:      docs.New(),
	}
}

// validPredictions holds one valid set of inputs per model, some with
// {value, unit} inputs in a non-canonical unit.
var validPredictions = map[string]string{
	"ascvd-pce": `{"age":55,"sex":"female","race":"white","total_cholesterol":213,"hdl_cholesterol":50,` +
		`"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}`,
	"prevent-10y": `{"age":50,"sex":"female","total_cholesterol":{"value":5.2,"unit":"mmol/L"},"hdl_cholesterol":45,` +
		`"systolic_bp":130,"on_bp_treatment":false,"on_statin":false,"diabetes":false,"current_smoker":false,"bmi":28,"egfr":90}`,
	"prevent-30y": `{"age":45,"sex":"male","total_cholesterol":200,"hdl_cholesterol":45,"systolic_bp":{"value":130,"unit":"mmHg"},` +
		`"on_bp_treatment":true,"on_statin":false,"diabetes":true,"current_smoker":false,"bmi":31,"egfr":75,` +
		`"uacr":{"value":3.4,"unit":"mg/mmol{creat}"},"hba1c":{"value":53,"unit":"mmol/mol"},"sdi_decile":7}`,
	"framingham-cvd": `{"age":60,"sex":"male","total_cholesterol":200,"hdl_cholesterol":45,"systolic_bp":140,` +
		`"on_bp_treatment":true,"diabetes":false,"current_smoker":true}`,
	"news2": `{"respiratory_rate":18,"spo2":96,"on_oxygen":false,"systolic_bp":120,"pulse":80,` +
		`"consciousness":"alert","temperature":{"value":98.6,"unit":"[degF]"}}`,
	"qsofa":        `{"respiratory_rate":24,"systolic_bp":95,"gcs":14}`,
	"cha2ds2-vasc": `{"age":72,"sex":"female","chf":false,"hypertension":true,"diabetes":false,"stroke_tia_thromboembolism":false,"vascular_disease":false}`,
	"ckd-epi-2021": `{"creatinine":{"value":80,"unit":"umol/L"},"age":50,"sex":"male"}`,
	"meld-na":      `{"bilirubin":2,"creatinine":1.5,"inr":1.6,"sodium":132,"dialysis_twice_past_week":false}`,
	"meld-3.0":     `{"bilirubin":2,"creatinine":1.5,"inr":1.6,"sodium":132,"albumin":{"value":30,"unit":"g/L"},"sex":"female","dialysis_twice_past_week":false}`,
	"findrisc": `{"age":50,"bmi":27,"waist":{"value":36,"unit":"in"},"sex":"male","physically_active":true,"daily_vegetables":true,` +
		`"ever_bp_medication":false,"high_glucose_history":false,"family_history_diabetes":"none"}`,
	"curb-65": `{"confusion":false,"bun":25,"respiratory_rate":22,"systolic_bp":110,"diastolic_bp":70,"age":70}`,
}

func predictBody(model, inputs string) string {
	return `{"model":"` + model + `","inputs":` + inputs + `}`
}

// exchange is one request through the real handler.
type exchange struct {
	name        string
	method      string
	path        string
	contentType string
	body        string
	wantStatus  int
	// requestOutsideContract marks a request that the document itself
	// rejects (unknown model id, wrong media type, malformed JSON, ...):
	// only the response is validated, and the request must fail.
	requestOutsideContract bool
	// freeForm marks a body the document describes only as an object, or
	// as maps of free names (CDS Hooks prefetch keys holding FHIR
	// resources): validated without strict mode.
	freeForm bool
	// anonymous sends no API key to a protected route.
	anonymous bool
}

func (e exchange) request() *http.Request {
	r := httptest.NewRequest(e.method, e.path, strings.NewReader(e.body))
	if e.contentType != "" {
		r.Header.Set("Content-Type", e.contentType)
	}
	// Strict mode refuses the key header on public routes.
	protected := strings.HasPrefix(e.path, "/models") || (e.method == "POST" && (e.path == "/predict" || strings.HasPrefix(e.path, "/cds-services/")))
	if protected && !e.anonymous {
		r.Header.Set("X-API-Key", openAPITestKey)
	}
	return r
}

func TestOpenAPIResponsesMatch(t *testing.T) {
	o := openAPIOptions()
	h := New(o)
	spec := openapitest.Fetch(t, h)

	drained := openAPIOptions()
	drained.Lifecycle.Drain()
	hDrained := New(drained)

	exchanges := []exchange{
		{name: "index", method: "GET", path: "/", wantStatus: 200},
		{name: "catalog", method: "GET", path: "/models", wantStatus: 200},
		{name: "document", method: "GET", path: "/openapi.json", wantStatus: 200, freeForm: true},
		{name: "health", method: "GET", path: "/health", wantStatus: 200},
		{name: "live", method: "GET", path: "/health/live", wantStatus: 200},
		{name: "ready", method: "GET", path: "/health/ready", wantStatus: 200},
		{name: "docs page", method: "GET", path: "/docs", wantStatus: 200},
		{name: "docs script", method: "GET", path: "/docs/init.js", wantStatus: 200},
		{name: "docs style sheet", method: "GET", path: "/docs/swagger-ui.css", wantStatus: 200},
		{name: "docs licence", method: "GET", path: "/docs/LICENSE", wantStatus: 200},
		{name: "no such docs file", method: "GET", path: "/docs/nope.js", wantStatus: 404},
		{name: "unknown model id", method: "GET", path: "/models/nope", wantStatus: 404, requestOutsideContract: true},
		{name: "GET /predict", method: "GET", path: "/predict", wantStatus: 405},
		{name: "out of range after unit conversion", method: "POST", path: "/predict", contentType: "application/json",
			body:       predictBody("news2", strings.Replace(validPredictions["news2"], `98.6`, `200`, 1)),
			wantStatus: 422},
		{name: "neither gcs nor altered_mentation", method: "POST", path: "/predict", contentType: "application/json",
			body: predictBody("qsofa", `{"respiratory_rate":24,"systolic_bp":95}`), wantStatus: 422},
		{name: "out of range", method: "POST", path: "/predict", contentType: "application/json",
			body:       predictBody("ascvd-pce", strings.Replace(validPredictions["ascvd-pce"], `"age":55`, `"age":20`, 1)),
			wantStatus: 422, requestOutsideContract: true},
		{name: "missing inputs", method: "POST", path: "/predict", contentType: "application/json",
			body: `{"model":"qsofa"}`, wantStatus: 422, requestOutsideContract: true},
		{name: "duplicate key", method: "POST", path: "/predict", contentType: "application/json",
			body: `{"model":"qsofa","model":"qsofa","inputs":` + validPredictions["qsofa"] + `}`, wantStatus: 400},
		{name: "malformed JSON", method: "POST", path: "/predict", contentType: "application/json",
			body: `{"model":"qsofa",`, wantStatus: 400, requestOutsideContract: true},
		{name: "unknown field", method: "POST", path: "/predict", contentType: "application/json",
			body: `{"model":"qsofa","Inputs":{}}`, wantStatus: 400, requestOutsideContract: true},
		{name: "unknown model", method: "POST", path: "/predict", contentType: "application/json",
			body: predictBody("nope", `{}`), wantStatus: 404, requestOutsideContract: true},
		{name: "wrong media type", method: "POST", path: "/predict", contentType: "text/plain",
			body: predictBody("qsofa", validPredictions["qsofa"]), wantStatus: 415, requestOutsideContract: true},
		{name: "too large", method: "POST", path: "/predict", contentType: "application/json",
			body: predictBody("qsofa", validPredictions["qsofa"]) + strings.Repeat(" ", maxBodyBytes), wantStatus: 413},
		{name: "no API key", method: "GET", path: "/models", anonymous: true, wantStatus: 401, requestOutsideContract: true},
		{name: "cds discovery", method: "GET", path: "/cds-services", wantStatus: 200, freeForm: true},
		{name: "cds call", method: "POST", path: "/cds-services/cha2ds2-vasc", contentType: "application/json", body: cdsCallBody, wantStatus: 200, freeForm: true},
		{name: "cds call not computed", method: "POST", path: "/cds-services/cha2ds2-vasc", contentType: "application/json",
			body: strings.Replace(cdsCallBody, `"birthDate":"1950-03-01"`, `"birthDate":"2050-03-01"`, 1), wantStatus: 200, freeForm: true},
		{name: "cds call, prefetch absent", method: "POST", path: "/cds-services/cha2ds2-vasc", contentType: "application/json",
			body: `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"patientId":"p1"}}`, wantStatus: 412, freeForm: true},
		{name: "cds call, other hook", method: "POST", path: "/cds-services/cha2ds2-vasc", contentType: "application/json",
			body: strings.Replace(cdsCallBody, `"patient-view"`, `"order-sign"`, 1), wantStatus: 400, requestOutsideContract: true},
		{name: "cds feedback", method: "POST", path: "/cds-services/cha2ds2-vasc/feedback", contentType: "application/json", body: cdsFeedbackBody, wantStatus: 200, freeForm: true},
	}
	for _, id := range o.Catalog.IDs() {
		exchanges = append(exchanges,
			exchange{name: "model " + id, method: "GET", path: "/models/" + id, wantStatus: 200},
			exchange{name: "predict " + id, method: "POST", path: "/predict", contentType: "application/json",
				body: predictBody(id, validPredictions[id]), wantStatus: 200})
	}

	check := func(t *testing.T, h http.Handler, e exchange) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, e.request())
		if rec.Code != e.wantStatus {
			t.Fatalf("status %d, want %d; body %.400s", rec.Code, e.wantStatus, rec.Body)
		}
		if e.requestOutsideContract {
			if ok, _ := spec.Validator.ValidateHttpRequest(e.request()); ok {
				t.Errorf("the document accepts the request, but the service answers %d", rec.Code)
			}
			if ok, errs := spec.Validator.ValidateHttpResponse(e.request(), rec.Result()); !ok {
				t.Errorf("response does not match the document:\n%s\nbody: %.400s", openapitest.Errors(errs), rec.Body)
			}
			return
		}
		v := spec.Validator
		if e.freeForm {
			v = spec.Lax
		}
		ok, errs := v.ValidateHttpRequestResponse(e.request(), rec.Result())
		if !ok {
			t.Errorf("request or response does not match the document:\n%s\nbody: %.400s", openapitest.Errors(errs), rec.Body)
		}
	}
	for _, e := range exchanges {
		t.Run(e.name, func(t *testing.T) { check(t, h, e) })
	}
	for _, path := range []string{"/health", "/health/ready"} {
		t.Run("draining "+path, func(t *testing.T) {
			check(t, hDrained, exchange{method: "GET", path: path, wantStatus: 503})
		})
	}
	noKeys := openAPIOptions()
	noKeys.Keys = unavailableKeys{}
	t.Run("keys unavailable", func(t *testing.T) {
		check(t, New(noKeys), exchange{method: "POST", path: "/predict", contentType: "application/json",
			body: predictBody("qsofa", validPredictions["qsofa"]), wantStatus: 503})
	})
	limited := openAPIOptions()
	limited.RateLimit = RateLimit{Rate: 0.001, Burst: 1}
	hLimited := New(limited)
	t.Run("rate limited", func(t *testing.T) {
		check(t, hLimited, exchange{method: "GET", path: "/models", wantStatus: 200})
		check(t, hLimited, exchange{method: "GET", path: "/models", wantStatus: 429})
	})

	// No path of the document matches an unknown route, so its 404 body is
	// checked against the Problem schema directly.
	t.Run("unknown route", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("status %d, content type %q; want a 404 problem", rec.Code, rec.Header().Get("Content-Type"))
		}
		problem := spec.Model.Model.Components.Schemas.GetOrZero("Problem").Schema()
		if ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytes(problem, rec.Body.Bytes()); !ok {
			t.Errorf("404 body does not match the Problem schema:\n%s", openapitest.Errors(errs))
		}
	})
}

// TestOpenAPIProblemExamplesAnswered sends, for each problem type, a
// request the service refuses with it and compares the answer with the
// type's example in the document, but for the request id: the examples
// show what the service writes. Not sent: internal (no request reaches it).
// The CDS Hooks calls come from a trusted client, as an EHR makes them: a
// client JWT signed by a key of the client's JWKS, served on loopback.
func TestOpenAPIProblemExamplesAnswered(t *testing.T) {
	h := New(openAPIOptions())
	spec := openapitest.Fetch(t, h)
	ehr := cdshookstest.NewSigner(t, "https://ehr.example.test", jose.ES384, "ehr-es384")
	trusted := openAPIOptions()
	trusted.CDSHooks = cdshooks.Config{BaseURL: "https://cds.example.test/prod", AllowHTTP: true,
		Clients: []cdshooks.Client{{Issuer: ehr.Issuer, JWKSURL: cdshookstest.JWKS(t, ehr).URL}}}
	hTrusted := New(trusted)
	cds := func(id, body string) func() []byte {
		return func() []byte {
			r := httptest.NewRequest("POST", "/cds-services/"+id, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+ehr.Token(t, trusted.CDSHooks.BaseURL+"/cds-services/"+id, nil))
			rec := httptest.NewRecorder()
			hTrusted.ServeHTTP(rec, r)
			return rec.Body.Bytes()
		}
	}
	// A valid call with neither prefetch nor fhirServer.
	bare := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"patientId":"p1"}}`
	limited := openAPIOptions()
	limited.RateLimit = RateLimit{Rate: 0.001, Burst: 1}
	noKeys := openAPIOptions()
	noKeys.Keys = unavailableKeys{}
	serve := func(h http.Handler, e exchange) []byte {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, e.request())
		return rec.Body.Bytes()
	}
	get := func(h http.Handler, path string) func() []byte {
		return func() []byte { return serve(h, exchange{method: "GET", path: path}) }
	}
	post := func(contentType, body string) func() []byte {
		return func() []byte {
			return serve(h, exchange{method: "POST", path: "/predict", contentType: contentType, body: body})
		}
	}
	invalid := strings.Replace(strings.Replace(validPredictions["ascvd-pce"], `"age":55`, `"age":20`, 1), `"systolic_bp":120,`, "", 1)
	answers := map[string]func() []byte{
		"malformed-json":         post("application/json", `{"model":"qsofa",`),
		"duplicate-key":          post("application/json", `{"model":"qsofa","model":"qsofa","inputs":{}}`),
		"unknown-field":          post("application/json", `{"model":"qsofa","Inputs":{}}`),
		"body-too-large":         post("application/json", predictBody("qsofa", validPredictions["qsofa"])+strings.Repeat(" ", maxBodyBytes)),
		"validation":             post("application/json", predictBody("ascvd-pce", invalid)),
		"unsupported-media-type": post("text/plain", predictBody("qsofa", validPredictions["qsofa"])),
		"bad-event": func() []byte {
			return []byte(invokeLambda(t, lambdaContext(t, gwLambdaRequestID), h, json.RawMessage(`[]`)).Body)
		},
		"unauthorized":       func() []byte { return serve(h, exchange{method: "GET", path: "/models", anonymous: true}) },
		"not-found":          get(h, "/nope"),
		"unknown-model":      get(h, "/models/nope"),
		"method-not-allowed": func() []byte { return serve(h, exchange{method: "DELETE", path: "/health"}) },
		"rate-limited": func() []byte {
			hLimited := New(limited)
			get(hLimited, "/models")()
			return get(hLimited, "/models")()
		},
		"not-ready":            get(New(noKeys), "/models"),
		"invalid-hook-request": cds("cha2ds2-vasc", strings.Replace(cdsCallBody, `"patient-view"`, `"order-sign"`, 1)),
		"unknown-cds-service":  cds("nope", bare),
		"prefetch-required":    cds("cha2ds2-vasc", bare),
	}
	notSent := []string{"internal"}
	for _, k := range problemKinds {
		answer, ok := answers[k.slug]
		if !ok {
			if !slices.Contains(notSent, k.slug) {
				t.Errorf("problem type %s: no request answers it here", k.slug)
			}
			continue
		}
		t.Run(k.slug, func(t *testing.T) {
			var got, want map[string]any
			if err := json.Unmarshal(answer(), &got); err != nil {
				t.Fatal(err)
			}
			example := spec.ExampleValue(t, openapitest.At(spec.JSON, "components", "examples", "problem-"+k.slug))
			if err := json.Unmarshal(example, &want); err != nil {
				t.Fatal(err)
			}
			delete(got, "request_id")
			delete(want, "request_id")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the service answers\n  %v\nthe document shows\n  %v", got, want)
			}
		})
	}
}

// TestOpenAPIPredictRequestPerModel shows the per-model request schemas are
// real: a valid body for every model passes, and taking away any required
// input, giving a unit the input does not accept, or naming another model
// fails, as the service's own validation does.
func TestOpenAPIPredictRequestPerModel(t *testing.T) {
	o := openAPIOptions()
	h := New(o)
	spec := openapitest.Fetch(t, h)
	if got, want := slices.Sorted(maps.Keys(validPredictions)), o.Catalog.IDs(); !slices.Equal(got, want) {
		t.Fatalf("validPredictions covers %v, the catalog has %v", got, want)
	}
	post := func(body string) *http.Request {
		r := httptest.NewRequest("POST", "/predict", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-API-Key", openAPITestKey)
		return r
	}
	serve := func(body string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, post(body))
		return rec.Code
	}
	for _, m := range o.Catalog.Models() {
		t.Run(m.ID, func(t *testing.T) {
			valid := validPredictions[m.ID]
			if ok, errs := spec.Validator.ValidateHttpRequest(post(predictBody(m.ID, valid))); !ok {
				t.Errorf("valid prediction fails request validation:\n%s", openapitest.Errors(errs))
			}
			var inputs map[string]json.RawMessage
			if err := json.Unmarshal([]byte(valid), &inputs); err != nil {
				t.Fatal(err)
			}
			invalid := map[string]string{}
			for _, in := range m.Inputs {
				if in.Required {
					without := maps.Clone(inputs)
					delete(without, in.Name)
					invalid["without "+in.Name] = predictBody(m.ID, mustJSON(t, without))
				}
				if len(in.AcceptedUnits) > 0 {
					wrongUnit := maps.Clone(inputs)
					wrongUnit[in.Name] = json.RawMessage(`{"value":1,"unit":"furlong"}`)
					invalid[in.Name+" in an unknown unit"] = predictBody(m.ID, mustJSON(t, wrongUnit))
				}
			}
			other := "qsofa"
			if m.ID == other {
				other = "news2"
			}
			invalid["inputs of "+m.ID+" for "+other] = predictBody(other, valid)
			extra := maps.Clone(inputs)
			extra["not_an_input"] = json.RawMessage(`true`)
			invalid["unknown input"] = predictBody(m.ID, mustJSON(t, extra))
			for name, body := range invalid {
				if ok, _ := spec.Validator.ValidateHttpRequest(post(body)); ok {
					t.Errorf("%s: passes request validation", name)
				}
				if got := serve(body); got != http.StatusUnprocessableEntity {
					t.Errorf("%s: the service answers %d, want 422", name, got)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The document's server resolves against the URL the document was fetched
// from (RFC 3986, as OpenAPI 3.1 §4.8.5 says), so a client reading it under
// an API Gateway stage or a custom-domain base path calls that stage; with
// "/" it called the host's root, where no route is. Through the Lambda
// adapter too: the stage stays in the event's path.
func TestOpenAPIServerUnderStagePrefix(t *testing.T) {
	for _, tt := range []struct{ docURL, path, want string }{
		{"https://abc123.execute-api.us-east-1.amazonaws.com/Prod/openapi.json", "/predict",
			"https://abc123.execute-api.us-east-1.amazonaws.com/Prod/predict"},
		{"https://api.example.com/v1/openapi.json", "/models/{id}", "https://api.example.com/v1/models/{id}"},
		{"http://localhost:3000/openapi.json", "/predict", "http://localhost:3000/predict"},
		{"http://localhost:8000/openapi.json?x=1", "/health", "http://localhost:8000/health"},
	} {
		t.Run(tt.docURL, func(t *testing.T) {
			h := lambdaAPI(Info, io.Discard)
			event := editEvent(t, readEvent(t, "rest-get-model.json"), func(e map[string]any) {
				e["path"] = mustParseURL(t, tt.docURL).Path
			})
			resp := invokeLambda(t, lambdaContext(t, gwLambdaRequestID), h, event)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s through the adapter: %d %s", tt.docURL, resp.StatusCode, resp.Body)
			}
			var doc struct {
				Servers []struct{ URL string }
				Paths   map[string]any
			}
			if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Servers) != 1 {
				t.Fatalf("servers = %+v, want one", doc.Servers)
			}
			if _, ok := doc.Paths[tt.path]; !ok {
				t.Fatalf("no path %s in the document", tt.path)
			}
			base := mustParseURL(t, tt.docURL).ResolveReference(mustParseURL(t, doc.Servers[0].URL))
			base.RawQuery = ""
			// The path is appended to the server URL, not resolved (§4.8.9.1);
			// tools drop the server URL's trailing slash first.
			if got := strings.TrimSuffix(base.String(), "/") + tt.path; got != tt.want {
				t.Errorf("server %q + %s from %s = %s, want %s", doc.Servers[0].URL, tt.path, tt.docURL, got, tt.want)
			}
		})
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
