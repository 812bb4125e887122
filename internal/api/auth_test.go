package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/secrets"
)

// unavailableKeys is a key store that never loaded: Secrets Manager down
// at a cold start.
type unavailableKeys struct{}

func (unavailableKeys) AuthenticateContext(context.Context, string) (string, error) {
	return "", secrets.ErrUnavailable
}
func (unavailableKeys) Ready() bool    { return false }
func (unavailableKeys) Status() string { return "unavailable" }

func newAuthAPI(t testing.TB, keys KeyStore, limit RateLimit, logs io.Writer) http.Handler {
	t.Helper()
	return auditAPI(t, keys, limit, logs, false)
}

func staticKeys(t testing.TB) *secrets.Cache {
	t.Helper()
	keys, err := secrets.Static("clinic-a:key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg,clinic-b:key-b-HIbcwGYaHU89mngVE1twwuoDzTpWRX6ity6UQOYs")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// requestFor builds a request of the route with a body that succeeds.
func requestFor(rt route) *http.Request {
	path := strings.NewReplacer("{id}", "news2", "{file}", "init.js").Replace(rt.publicPath())
	body := ""
	switch {
	case rt.path == "/cds-services/{id}":
		path, body = "/cds-services/cha2ds2-vasc", cdsCallBody
	case rt.path == "/cds-services/{id}/feedback":
		path, body = "/cds-services/cha2ds2-vasc/feedback", cdsFeedbackBody
	case rt.method == "POST":
		body = pceBody
	}
	r := httptest.NewRequest(rt.method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// TestEveryRouteAuth walks the route table: a route added without being
// marked public or protected here fails the test.
func TestEveryRouteAuth(t *testing.T) {
	wantProtected := map[string]bool{
		"GET /{$}": false, "GET /models": true, "GET /models/{id}": true, "GET /openapi.json": false,
		"GET /health": false, "GET /health/live": false, "GET /health/ready": false,
		"POST /predict": true, "GET /predict": false, "GET /docs": false, "GET /docs/{file}": false,
		// Without CDS_HOOKS_CLIENTS the CDS calls take the API's keys.
		"GET /cds-services": false, "POST /cds-services/{id}": true, "POST /cds-services/{id}/feedback": true,
		// CORS preflights carry no credentials (Fetch standard): always public.
		"OPTIONS /cds-services": false, "OPTIONS /cds-services/{id}": false, "OPTIONS /cds-services/{id}/feedback": false,
	}
	h := newAuthAPI(t, staticKeys(t), RateLimit{}, io.Discard)
	table := routes(Options{Catalog: scoring.NewCatalog(), Lifecycle: NewLifecycle()})
	for _, rt := range table {
		name := rt.method + " " + rt.path
		protected, known := wantProtected[name]
		if !known {
			t.Errorf("route %s has no authentication case in this test", name)
			continue
		}
		delete(wantProtected, name)
		wantOK := http.StatusOK
		switch {
		case name == "GET /predict":
			wantOK = http.StatusMethodNotAllowed
		case rt.method == "OPTIONS":
			wantOK = http.StatusNoContent
		}
		t.Run(name, func(t *testing.T) {
			cases := []struct {
				name   string
				header func(*http.Request)
				want   int
			}{
				{"no key", func(*http.Request) {}, http.StatusUnauthorized},
				{"wrong key", func(r *http.Request) { r.Header.Set("X-API-Key", "key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkh") }, http.StatusUnauthorized},
				{"empty bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, http.StatusUnauthorized},
				{"basic auth", func(r *http.Request) { r.SetBasicAuth("clinic-a", "key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg") }, http.StatusUnauthorized},
				{"X-API-Key a", func(r *http.Request) { r.Header.Set("X-API-Key", "key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg") }, wantOK},
				{"Bearer b", func(r *http.Request) {
					r.Header.Set("Authorization", "Bearer key-b-HIbcwGYaHU89mngVE1twwuoDzTpWRX6ity6UQOYs")
				}, wantOK},
				{"bearer lower-case", func(r *http.Request) {
					r.Header.Set("Authorization", "bearer key-b-HIbcwGYaHU89mngVE1twwuoDzTpWRX6ity6UQOYs")
				}, wantOK},
			}
			for _, c := range cases {
				r := requestFor(rt)
				c.header(r)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				want := c.want
				if !protected {
					want = wantOK
				}
				if w.Code != want {
					t.Errorf("%s: status %d, want %d: %s", c.name, w.Code, want, w.Body)
				}
				if w.Code == http.StatusUnauthorized {
					if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
						t.Errorf("%s: WWW-Authenticate = %q", c.name, got)
					}
					var p problemBody
					if json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Type != problemTypeBase+"unauthorized" {
						t.Errorf("%s: body %s, want an unauthorized problem", c.name, w.Body)
					}
				}
			}
		})
	}
	for name := range wantProtected {
		t.Errorf("test case %s names no route", name)
	}
}

func TestKeysUnavailableFailClosed(t *testing.T) {
	h := newAuthAPI(t, unavailableKeys{}, RateLimit{}, io.Discard)
	r := requestFor(route{method: "POST", path: "/predict"})
	r.Header.Set("X-API-Key", "anything")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("predict with keys unavailable = %d (Retry-After %q), want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	for path, want := range map[string]int{"/health/ready": 503, "/health": 503, "/health/live": 200, "/": 200} {
		if w := do(h, "GET", path, "", ""); w.Code != want {
			t.Errorf("%s with keys unavailable = %d, want %d", path, w.Code, want)
		}
	}
	// The key state is for the probe path, not the public /health.
	if w := do(h, "GET", "/health/ready", "", ""); !strings.Contains(w.Body.String(), `"api_keys":"unavailable"`) {
		t.Errorf("/health/ready does not report the key state: %s", w.Body)
	}
	if w := do(h, "GET", "/health", "", ""); strings.Contains(w.Body.String(), "api_keys") {
		t.Errorf("public /health reveals the key state: %s", w.Body)
	}
}

// Public /health says nothing of the API keys, whether a deployment has
// them (and in which state) or has none (HealthFunction, AUTH_DISABLED):
// that /health is open to the world.
func TestHealthRevealsNoKeyState(t *testing.T) {
	for name, keys := range map[string]KeyStore{"no keys": nil, "keys": staticKeys(t), "unavailable": unavailableKeys{}} {
		t.Run(name, func(t *testing.T) {
			h := newAuthAPI(t, keys, RateLimit{}, io.Discard)
			w := do(h, "GET", "/health", "", "")
			for _, word := range []string{"api_keys", "disabled", "unavailable", "revoked", "stale", "key"} {
				if strings.Contains(w.Body.String(), word) {
					t.Errorf("/health body mentions %q: %s", word, w.Body)
				}
			}
			ready := do(h, "GET", "/health/ready", "", "")
			if got := strings.Contains(ready.Body.String(), `"api_keys"`); got != (keys != nil) {
				t.Errorf("/health/ready reports api_keys: %v, want %v: %s", got, keys != nil, ready.Body)
			}
		})
	}
}

// A key's rate is its rate across the whole API: every protected route
// spends from the same bucket, and each key has its own.
func TestRateLimitPerKeyAcrossRoutes(t *testing.T) {
	const keyA, keyB = "key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg", "key-b-HIbcwGYaHU89mngVE1twwuoDzTpWRX6ity6UQOYs"
	h := newAuthAPI(t, staticKeys(t), RateLimit{Rate: 0.001, Burst: 3}, io.Discard)
	call := func(rt route, key string) *httptest.ResponseRecorder {
		r := requestFor(rt)
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	models := route{method: "GET", path: "/models"}
	model := route{method: "GET", path: "/models/{id}"}
	predict := route{method: "POST", path: "/predict"}
	for i := range 3 {
		if w := call(models, keyA); w.Code != 200 {
			t.Fatalf("GET /models %d within the burst = %d", i+1, w.Code)
		}
	}
	for _, rt := range []route{predict, model, models} {
		w := call(rt, keyA)
		// 1000 s until the next token at 0.001/s.
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1000" {
			t.Errorf("%s %s after the burst was spent on /models = %d, Retry-After %q; want 429 and 1000",
				rt.method, rt.path, w.Code, w.Header().Get("Retry-After"))
		}
	}
	if w := call(predict, keyB); w.Code != 200 {
		t.Errorf("another key's bucket is separate: POST /predict = %d", w.Code)
	}
}

func TestLimiterRefills(t *testing.T) {
	l := newLimiter(RateLimit{Rate: 10, Burst: 2})
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := range 2 {
		if wait := l.take("a"); wait != 0 {
			t.Fatalf("take %d waits %v", i, wait)
		}
	}
	for range 3 { // a refused take spends nothing
		if wait := l.take("a"); wait != 100*time.Millisecond {
			t.Errorf("empty bucket at 10/s waits %v, want 100ms", wait)
		}
	}
	now = now.Add(100 * time.Millisecond)
	if wait := l.take("a"); wait != 0 {
		t.Errorf("after 100ms one token is back; waits %v", wait)
	}
	if newLimiter(RateLimit{}).take("a") != 0 {
		t.Error("no rate, yet a wait")
	}
}

// Retry-After is the limiter's wait rounded up to whole seconds, never 0.
func TestRetryAfterRoundsUp(t *testing.T) {
	for _, tt := range []struct {
		limit RateLimit
		want  string
	}{
		{RateLimit{Rate: 0.4, Burst: 1}, "3"}, // 2.5 s
		{RateLimit{Rate: 2, Burst: 1}, "1"},   // 0.5 s: wide enough that a loaded machine never refills between the two calls
	} {
		h := newAuthAPI(t, staticKeys(t), tt.limit, io.Discard)
		var w *httptest.ResponseRecorder
		for range 2 {
			r := requestFor(route{method: "GET", path: "/models"})
			r.Header.Set("X-API-Key", "key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg")
			w = httptest.NewRecorder()
			h.ServeHTTP(w, r)
		}
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tt.want {
			t.Errorf("rate %v: second call = %d, Retry-After %q; want 429 and %s", tt.limit.Rate, w.Code, w.Header().Get("Retry-After"), tt.want)
		}
	}
}

// Buckets of keys gone quiet are dropped once full, so many keys do not
// grow the map without bound; a key that returns starts with a full burst,
// as it would have had.
func TestLimiterEvictsIdleKeys(t *testing.T) {
	l := newLimiter(RateLimit{Rate: 10, Burst: 10}) // refills in 1 s: idle after 2 s
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 10 {
		l.take("returning")
	}
	// 100 000 keys, one every millisecond: only those of the last two idle
	// periods (4 s, 4000 keys) may be held.
	const bound = 2*2000 + 1
	largest := 0
	for i := range 100_000 {
		now = now.Add(time.Millisecond)
		if wait := l.take("key-" + strconv.Itoa(i)); wait != 0 {
			t.Fatalf("a new key waits %v", wait)
		}
		largest = max(largest, l.size())
	}
	if largest > bound {
		t.Errorf("the limiter held %d buckets, want at most %d", largest, bound)
	}
	if _, ok := l.buckets["returning"]; ok {
		t.Error("the idle bucket was never dropped")
	}
	for i := range 10 {
		if wait := l.take("returning"); wait != 0 {
			t.Fatalf("a returning key's take %d waits %v: its burst was lost", i+1, wait)
		}
	}
}

func TestAuditLog(t *testing.T) {
	var logs bytes.Buffer
	h := newAuthAPI(t, staticKeys(t), RateLimit{}, &logs)
	body := `{"model":"ckd-epi-2021","inputs":{"creatinine":1.23456,"age":67.123457,"sex":"female"}}`
	for _, key := range []string{"key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg", "wrong-key-xyz"} {
		r := httptest.NewRequest("POST", "/predict", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-API-Key", key)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/health", nil))

	// One line per request: a protected call's access line is its audit
	// record, so three requests write three lines.
	lines := bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d log lines for 3 requests, want 3:\n%s", len(lines), logs.String())
	}
	var audits []map[string]any
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["audit"] == true {
			audits = append(audits, m)
		}
	}
	if len(audits) != 2 {
		t.Fatalf("%d audit lines, want one per call to a protected route (2):\n%s", len(audits), logs.String())
	}
	want := []map[string]any{
		{"key_id": "clinic-a", "route": "/predict", "model": "ckd-epi-2021", "status": float64(200)},
		{"key_id": "", "route": "/predict", "status": float64(401)},
	}
	for i, w := range want {
		for k, v := range w {
			if audits[i][k] != v {
				t.Errorf("audit %d: %s = %v, want %v", i, k, audits[i][k], v)
			}
		}
		for _, k := range []string{"time", "request_id", "duration_us"} {
			if _, ok := audits[i][k]; !ok {
				t.Errorf("audit %d has no %s", i, k)
			}
		}
	}
	for _, s := range []string{"1.23456", "67.123457", "female", "key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg", "wrong-key-xyz", "G2", "G3"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs contain %q", s)
		}
	}
}

// cdsCallBody is a complete patient-view call to cha2ds2-vasc: the patient
// and an empty Condition searchset (every history item absent: false).
const cdsCallBody = `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
"context":{"patientId":"p1","userId":"Practitioner/u1"},
"prefetch":{"patient":{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-03-01"},
"conditions":{"resourceType":"Bundle","type":"searchset","total":0}}}`

const cdsFeedbackBody = `{"feedback":[{"card":"9368d37b-283f-44a0-93ea-547cebab93ed","outcome":"accepted",
"outcomeTimestamp":"2026-12-05T10:00:00Z"}]}`
