package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/scoring"
)

// newTestAPI builds the API as the container does, logging into logs.
func newTestAPI(t testing.TB, logs io.Writer) (http.Handler, *Lifecycle) {
	t.Helper()
	l := NewLifecycle()
	h := New(Options{
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
		Catalog:   scoring.NewCatalog(),
		Build:     Build{Version: "test"},
		Lifecycle: l,
		Routes:    All,
	})
	return h, l
}

// pceBody is the Goff 2014 Table A worked example (white man, 55 years).
const pceBody = `{"model":"ascvd-pce","inputs":{"age":55,"sex":"male","race":"white","total_cholesterol":213,` +
	`"hdl_cholesterol":50,"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}}`

func do(h http.Handler, method, path, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRoutes(t *testing.T) {
	h, _ := newTestAPI(t, io.Discard)
	const problemJSON = "application/problem+json"
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantStatus  int
		wantType    string // Content-Type
		wantProblem string // problem type slug, for errors
		wantAllow   string
	}{
		{"index", "GET", "/", "", "", 200, "application/json", "", ""},
		{"health", "GET", "/health", "", "", 200, "application/json", "", ""},
		{"live", "GET", "/health/live", "", "", 200, "application/json", "", ""},
		{"ready", "GET", "/health/ready", "", "", 200, "application/json", "", ""},
		{"models", "GET", "/models", "", "", 200, "application/json", "", ""},
		{"model", "GET", "/models/news2", "", "", 200, "application/json", "", ""},
		{"openapi", "GET", "/openapi.json", "", "", 200, "application/json", "", ""},
		{"predict", "POST", "/predict", "application/json", pceBody, 200, "application/json", "", ""},
		{"predict with charset", "POST", "/predict", "application/json; charset=utf-8", pceBody, 200, "application/json", "", ""},
		{"head health", "HEAD", "/health", "", "", 200, "application/json", "", ""},

		{"unknown model id", "GET", "/models/framingham", "", "", 404, problemJSON, "unknown-model", ""},
		{"unknown route", "GET", "/nope", "", "", 404, problemJSON, "not-found", ""},
		{"GET predict", "GET", "/predict", "", "", 405, problemJSON, "method-not-allowed", "POST"},
		{"GET predict with values in query", "GET", "/predict?age=55", "", "", 405, problemJSON, "method-not-allowed", "POST"},
		{"PUT predict", "PUT", "/predict", "application/json", pceBody, 405, problemJSON, "method-not-allowed", "GET, HEAD, POST"},
		{"POST health", "POST", "/health", "application/json", "{}", 405, problemJSON, "method-not-allowed", "GET, HEAD"},
		{"DELETE model", "DELETE", "/models/news2", "", "", 405, problemJSON, "method-not-allowed", "GET, HEAD"},

		{"no content type", "POST", "/predict", "", pceBody, 415, problemJSON, "unsupported-media-type", ""},
		{"text/plain", "POST", "/predict", "text/plain", pceBody, 415, problemJSON, "unsupported-media-type", ""},
		{"form", "POST", "/predict", "application/x-www-form-urlencoded", "model=news2", 415, problemJSON, "unsupported-media-type", ""},
		{"latin-1", "POST", "/predict", "application/json; charset=iso-8859-1", pceBody, 415, problemJSON, "unsupported-media-type", ""},

		{"empty body", "POST", "/predict", "application/json", "", 400, problemJSON, "malformed-json", ""},
		{"syntax error", "POST", "/predict", "application/json", `{"model":`, 400, problemJSON, "malformed-json", ""},
		{"trailing data", "POST", "/predict", "application/json", pceBody + `{}`, 400, problemJSON, "malformed-json", ""},
		{"trailing garbage", "POST", "/predict", "application/json", pceBody + `x`, 400, problemJSON, "malformed-json", ""},
		{"array body", "POST", "/predict", "application/json", `[1]`, 400, problemJSON, "malformed-json", ""},
		{"NaN", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":{"respiratory_rate":NaN}}`, 400, problemJSON, "malformed-json", ""},
		{"Infinity", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":{"respiratory_rate":Infinity}}`, 400, problemJSON, "malformed-json", ""},
		{"hex float", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":{"respiratory_rate":0x1p4}}`, 400, problemJSON, "malformed-json", ""},
		{"underscore digits", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":{"respiratory_rate":1_000}}`, 400, problemJSON, "malformed-json", ""},
		{"duplicate top-level key", "POST", "/predict", "application/json", `{"model":"qsofa","model":"news2","inputs":{}}`, 400, problemJSON, "duplicate-key", ""},
		{"duplicate input key", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":{"gcs":15,"gcs":3}}`, 400, problemJSON, "duplicate-key", ""},
		{"unknown top-level field", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":{},"debug":true}`, 400, problemJSON, "unknown-field", ""},
		{"field name in other case", "POST", "/predict", "application/json", `{"Model":"qsofa","inputs":{}}`, 400, problemJSON, "unknown-field", ""},
		{"too deep", "POST", "/predict", "application/json", strings.Repeat("[", 100) + strings.Repeat("]", 100), 400, problemJSON, "malformed-json", ""},
		{"too large", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":{"x":"` + strings.Repeat("a", maxBodyBytes) + `"}}`, 413, problemJSON, "body-too-large", ""},

		{"unknown model", "POST", "/predict", "application/json", `{"model":"apache-ii","inputs":{}}`, 404, problemJSON, "unknown-model", ""},
		{"missing model and inputs", "POST", "/predict", "application/json", `{}`, 422, problemJSON, "validation", ""},
		{"model not a string", "POST", "/predict", "application/json", `{"model":1,"inputs":{}}`, 422, problemJSON, "validation", ""},
		{"inputs not an object", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":[]}`, 422, problemJSON, "validation", ""},
		{"invalid inputs", "POST", "/predict", "application/json", `{"model":"qsofa","inputs":{"respiratory_rate":500}}`, 422, problemJSON, "validation", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(h, tt.method, tt.path, tt.contentType, tt.body)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if got := w.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if got := w.Header().Get("X-Request-Id"); got == "" {
				t.Error("no X-Request-Id")
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if tt.method == "HEAD" {
				return
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if tt.wantProblem == "" {
				return
			}
			if got, want := body["type"], problemTypeBase+tt.wantProblem; got != want {
				t.Errorf("type = %v, want %v", got, want)
			}
			if got := body["status"]; got != float64(tt.wantStatus) {
				t.Errorf("problem status = %v, want %d", got, tt.wantStatus)
			}
			for _, k := range []string{"title", "detail", "request_id"} {
				if s, _ := body[k].(string); s == "" {
					t.Errorf("problem has no %s: %v", k, body)
				}
			}
		})
	}
}

func TestPredictResponse(t *testing.T) {
	h, _ := newTestAPI(t, io.Discard)
	w := do(h, "POST", "/predict", "application/json", pceBody)
	var got struct {
		Model struct {
			ID, Version, Title, Citation string
		}
		Result        scoring.Result
		Contributions []scoring.Contribution
		Warnings      []string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Model.ID != "ascvd-pce" || got.Model.Version == "" || got.Model.Title == "" || got.Model.Citation == "" {
		t.Errorf("model = %+v, want id, version, title and citation", got.Model)
	}
	// Goff 2014 worked example, white man: 5.38% computed exactly
	// (DGruen89/estimateCVRisk test "Paper example is correct").
	if got.Result.Unit != "%" || got.Result.Value < 5.375 || got.Result.Value > 5.385 || got.Result.Category != "borderline" {
		t.Errorf("result = %+v, want 5.38 %% borderline", got.Result)
	}
	if len(got.Contributions) == 0 || got.Warnings == nil {
		t.Errorf("contributions %v and warnings %v must be present", got.Contributions, got.Warnings)
	}
}

func TestValidationListsEveryField(t *testing.T) {
	h, _ := newTestAPI(t, io.Discard)
	body := `{"model":"qsofa","inputs":{"respiratory_rate":987.654,"systolic_bp":"high","gcs":14.5,"Altered":true}}`
	w := do(h, "POST", "/predict", "application/json", body)
	if w.Code != 422 {
		t.Fatalf("status = %d, want 422", w.Code)
	}
	var p problemBody
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"inputs.respiratory_rate": true, "inputs.systolic_bp": true, "inputs.gcs": true, "inputs.Altered": true}
	for _, e := range p.Errors {
		delete(want, e.Field)
	}
	if len(want) > 0 {
		t.Errorf("errors %+v miss %v", p.Errors, want)
	}
	for _, v := range []string{"987", "high", "14.5"} {
		if strings.Contains(w.Body.String(), v) {
			t.Errorf("response echoes the value %q: %s", v, w.Body)
		}
	}
}

func TestUnprintableNamesAreNotEchoed(t *testing.T) {
	h, _ := newTestAPI(t, io.Discard)
	for _, body := range []string{
		`{"model":"qsofa","inputs":{"patient John Smith":1}}`,
		`{"model":"qsofa","inputs":{},"patient John Smith":1}`,
		`{"model":"qsofa","inputs":{"patient John Smith":1,"patient John Smith":2}}`,
	} {
		w := do(h, "POST", "/predict", "application/json", body)
		if w.Code < 400 || w.Code >= 500 {
			t.Errorf("%s: status %d, want 4xx", body, w.Code)
		}
		if strings.Contains(w.Body.String(), "John") {
			t.Errorf("%s: response echoes free text: %s", body, w.Body)
		}
	}
}

// Every request gets an id of the server's; a client's well-formed
// X-Request-Id is logged apart as client_request_id and never returned as
// ours.
func TestRequestID(t *testing.T) {
	var logs bytes.Buffer
	h, _ := newTestAPI(t, &logs)
	tests := []struct {
		incoming string
		kept     bool
	}{
		{"abc-123", true},
		{"1f6c2b9e-0d3e-4c7a-9d6a-3c1b2a4f5e6d", true},
		{"", false},
		{"has space", false},
		{"line\nbreak", false},
		{strings.Repeat("a", 129), false},
		{strings.Repeat("Z", 128), true},
		{"a.b_c:d-e", true},
		{"a/b", false},
		{"é", false},
		{`a"b`, false},
	}
	pattern := regexp.MustCompile(requestIDPattern) // what the OpenAPI document promises
	for _, tt := range tests {
		if pattern.MatchString(tt.incoming) != tt.kept {
			t.Errorf("%q: the OpenAPI pattern disagrees with the test's expectation", tt.incoming)
		}
		logs.Reset()
		r := httptest.NewRequest("GET", "/health", nil)
		r.Header["X-Request-Id"] = []string{tt.incoming}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("X-Request-Id")
		if got == tt.incoming || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
			t.Errorf("incoming %q: X-Request-Id %q, want a fresh 32-hex id of the server's", tt.incoming, got)
		}
		var line map[string]any
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatalf("log line: %v: %s", err, logs.String())
		}
		if line["request_id"] != got {
			t.Errorf("incoming %q: request_id %v, want the response's %q", tt.incoming, line["request_id"], got)
		}
		clientID, logged := line["client_request_id"]
		if tt.kept && clientID != tt.incoming {
			t.Errorf("incoming %q: client_request_id %v, want it kept", tt.incoming, clientID)
		}
		if !tt.kept && logged {
			t.Errorf("incoming %q: client_request_id %v logged, want none", tt.incoming, clientID)
		}
	}
}

func TestAccessLogHasNoPatientData(t *testing.T) {
	var logs bytes.Buffer
	h, _ := newTestAPI(t, &logs)
	body := `{"model":"ckd-epi-2021","inputs":{"creatinine":1.2345,"age":67.891,"sex":"female"}}`
	w := do(h, "POST", "/predict?name=Jane", "application/json", body)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	do(h, "POST", "/predict", "application/json", `{"model":"ckd-epi-2021","inputs":{"creatinine":1.2345,"age":"67.891"}}`)
	do(h, "GET", "/models/secret-patient-name", "", "")
	var line map[string]any
	if err := json.Unmarshal(bytes.SplitN(logs.Bytes(), []byte("\n"), 2)[0], &line); err != nil {
		t.Fatalf("log line is not JSON: %v\n%s", err, logs.String())
	}
	for k, want := range map[string]any{"msg": "request", "method": "POST", "route": "/predict", "status": float64(200), "model": "ckd-epi-2021"} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %v", k, line[k], want)
		}
	}
	for _, k := range []string{"duration_us", "request_id"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log has no %s: %v", k, line)
		}
	}
	for _, v := range []string{"1.2345", "67.891", "Jane", "female", "secret-patient-name"} {
		if strings.Contains(logs.String(), v) {
			t.Errorf("log contains %q:\n%s", v, logs.String())
		}
	}
}

func TestDrainingTurnsReadinessOff(t *testing.T) {
	h, l := newTestAPI(t, io.Discard)
	l.Drain()
	for path, want := range map[string]int{"/health/ready": 503, "/health": 503, "/health/live": 200} {
		if w := do(h, "GET", path, "", ""); w.Code != want {
			t.Errorf("%s while draining = %d, want %d", path, w.Code, want)
		}
	}
	if w := do(h, "POST", "/predict", "application/json", pceBody); w.Code != 200 {
		t.Errorf("in-flight work must still be served while draining: %d", w.Code)
	}
}

func TestPanicIsAGeneric500(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("value 987.654 leaked") })
	h := requestID(observe(logger, metrics.Discard{}, nil, recoverPanics(logger, boom)))
	w := do(h, "GET", "/", "", "")
	if w.Code != 500 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q, want a 500 problem", w.Code, w.Header().Get("Content-Type"))
	}
	// The whole value: "987" alone turns up in timestamps and request ids.
	if strings.Contains(w.Body.String(), "987.654") || strings.Contains(logs.String(), "987.654") {
		t.Errorf("panic value leaked:\nbody %s\nlogs %s", w.Body, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"panic"`) {
		t.Errorf("no panic log line: %s", logs.String())
	}
}

// A static document that cannot be built (its builder panics, or holds a
// value encoding/json refuses) is a 500 problem on every request, not an
// empty 200: staticJSON builds the body before it writes the status. One
// that can be built is built once.
func TestStaticJSONBuiltBeforeStatus(t *testing.T) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for name, v := range map[string]func() any{
		"builder panics": func() any { panic("no document") },
		"not encodable":  func() any { return map[string]float64{"x": math.NaN()} },
	} {
		t.Run(name, func(t *testing.T) {
			h := requestID(recoverPanics(logger, staticJSON(v)))
			for i := range 2 {
				w := do(h, "GET", "/", "", "")
				if w.Code != 500 || w.Header().Get("Content-Type") != "application/problem+json" {
					t.Errorf("request %d: %d %q %q; want a 500 problem", i+1, w.Code, w.Header().Get("Content-Type"), w.Body)
				}
			}
		})
	}
	builds := 0
	h := staticJSON(func() any { builds++; return map[string]int{"builds": builds} })
	for range 3 {
		if w := do(h, "GET", "/", "", ""); w.Code != 200 || w.Body.String() != `{"builds":1}`+"\n" {
			t.Errorf("%d %q; want 200 and the first build", w.Code, w.Body)
		}
	}
}

// explode takes its values on the stack (arrays are never passed in
// registers), where a goroutine dump prints them.
//
//go:noinline
func explode(systolicBP [2]float64) { panic(fmt.Sprint("at ", systolicBP[0] > 0)) }

// TestPanicStackHoldsNoArguments panics in a function that takes clinical
// values: a goroutine dump prints argument words in hex, so the logged
// stack must name functions and lines only.
func TestPanicStackHoldsNoArguments(t *testing.T) {
	const sbp = 143.987651
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { explode([2]float64{sbp, sbp}) })
	do(requestID(recoverPanics(logger, boom)), "GET", "/", "", "")
	if !strings.Contains(logs.String(), "explode") {
		t.Fatalf("the stack does not name the panicking function: %s", logs.String())
	}
	if bits := strconv.FormatUint(math.Float64bits(sbp), 16); strings.Contains(logs.String(), bits) {
		t.Errorf("the stack holds the argument's bits %s: %s", bits, logs.String())
	}
}

func TestStripBasePath(t *testing.T) {
	l := NewLifecycle()
	h := New(Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Catalog: scoring.NewCatalog(),
		Build: Build{Version: "test"}, Lifecycle: l, Routes: All, StripBasePath: true})
	for path, want := range map[string]int{
		"/Prod/health":          200,
		"/v1/api/models/news2":  200,
		"/Prod/":                200,
		"/health":               200,
		"/Prod/nothing":         404,
		"/Prod/models/unknown":  404,
		"/Prod/health/ready/x":  404,
		"/Prod/predict":         405,
		"/a/b/c/d/e/health/liv": 404,
	} {
		if w := do(h, "GET", path, "", ""); w.Code != want {
			t.Errorf("GET %s = %d, want %d", path, w.Code, want)
		}
	}
}

func TestGroups(t *testing.T) {
	for _, tt := range []struct {
		group   Group
		serves  string
		refuses string
	}{
		{Info, "/models", "/health"},
		{Health, "/health/live", "/models"},
		{Predict, "/predict", "/"},
	} {
		h := New(Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Catalog: scoring.NewCatalog(),
			Build: Build{Version: "test"}, Lifecycle: NewLifecycle(), Routes: tt.group})
		if w := do(h, "GET", tt.serves, "", ""); w.Code == 404 {
			t.Errorf("group %d: %s = 404, want served", tt.group, tt.serves)
		}
		if w := do(h, "GET", tt.refuses, "", ""); w.Code != 404 {
			t.Errorf("group %d: %s = %d, want 404", tt.group, tt.refuses, w.Code)
		}
	}
}

func BenchmarkPredictHandler(b *testing.B) {
	h, _ := newTestAPI(b, io.Discard)
	body := []byte(pceBody)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/predict", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkPredictHandlerWithKey is BenchmarkPredictHandler through the
// key check and the per-key rate limiter (never reached).
func BenchmarkPredictHandlerWithKey(b *testing.B) {
	h := newAuthAPI(b, staticKeys(b), RateLimit{Rate: 1e6, Burst: 1e6}, io.Discard)
	body := []byte(pceBody)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/predict", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-API-Key", "key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
