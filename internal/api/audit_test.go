package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/docs"
	"github.com/healthcare-prediction/api/internal/scoring"
)

const auditKey = "key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg"

// auditAPI is the container's API with keys, behind proxies in 10.0.0.0/16
// and fd00::/64 (the ALB's subnets).
func auditAPI(t testing.TB, keys KeyStore, limit RateLimit, logs io.Writer, stripBasePath bool, trusted ...string) http.Handler {
	t.Helper()
	var prefixes []netip.Prefix
	for _, s := range trusted {
		prefixes = append(prefixes, netip.MustParsePrefix(s))
	}
	return New(Options{
		Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
		Catalog:        scoring.NewCatalog(),
		Build:          Build{Version: "test"},
		Lifecycle:      NewLifecycle(),
		Keys:           keys,
		RateLimit:      limit,
		TrustedProxies: prefixes,
		Routes:         All,
		StripBasePath:  stripBasePath,
		Docs:           docs.New(),
	})
}

// The audit line's source is the TCP peer, or X-Forwarded-For only from a
// trusted hop: read from the right, past the trusted proxies, the first
// untrusted address. Anything a client writes further left is ignored.
func TestAuditSourceIP(t *testing.T) {
	tests := []struct {
		name   string
		peer   string
		xff    []string // X-Forwarded-For headers, in order
		wantIP string
	}{
		{"untrusted peer, no header", "203.0.113.9:50000", nil, "203.0.113.9"},
		{"untrusted peer forges X-Forwarded-For", "203.0.113.9:50000", []string{"198.51.100.7"}, "203.0.113.9"},
		{"untrusted IPv6 peer forges X-Forwarded-For", "[2001:db8::1]:443", []string{"10.0.0.9"}, "2001:db8::1"},
		{"trusted peer: the address the ALB saw", "10.0.1.5:4000", []string{"203.0.113.50"}, "203.0.113.50"},
		{"trusted peer: the client's own entries are skipped", "10.0.1.5:4000", []string{"198.51.100.7, 203.0.113.50"}, "203.0.113.50"},
		{"trusted peer: several trusted hops", "10.0.1.5:4000", []string{"6.6.6.6, 203.0.113.50, 10.0.2.2,10.0.3.3"}, "203.0.113.50"},
		{"trusted peer: headers read last first", "10.0.1.5:4000", []string{"6.6.6.6", "203.0.113.50"}, "203.0.113.50"},
		{"trusted peer: garbage left of the source is never read", "10.0.1.5:4000", []string{"<script>x</script>, 203.0.113.50"}, "203.0.113.50"},
		{"trusted peer: no header", "10.0.1.5:4000", nil, "10.0.1.5"},
		{"trusted IPv6 peer", "[fd00::7]:4000", []string{"2001:db8::42"}, "2001:db8::42"},
		{"trusted IPv4-mapped peer", "[::ffff:10.0.1.5]:4000", []string{"203.0.113.50"}, "203.0.113.50"},
		{"trusted peer: every hop trusted", "10.0.1.5:4000", []string{"10.0.9.9"}, "10.0.9.9"},
		{"trusted peer: a hop that is no address", "10.0.1.5:4000", []string{"unknown"}, ""},
		{"trusted peer: a zone is free text", "10.0.1.5:4000", []string{"fe80::1%<script>"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := auditAPI(t, staticKeys(t), RateLimit{}, &logs, false, "10.0.0.0/16", "fd00::/64")
			r := httptest.NewRequest("GET", "/models", nil)
			r.RemoteAddr = tt.peer
			r.Header.Set("X-API-Key", auditKey)
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			line := accessLogLine(t, logs.String())
			if line["source_ip"] != tt.wantIP {
				t.Errorf("source_ip = %v, want %q", line["source_ip"], tt.wantIP)
			}
			if strings.Contains(logs.String(), "script") {
				t.Errorf("the log carries client text: %s", logs.String())
			}
		})
	}
	// Without trusted proxies (a laptop, plain Docker), the header is never
	// read.
	var logs bytes.Buffer
	h := auditAPI(t, staticKeys(t), RateLimit{}, &logs, false)
	r := httptest.NewRequest("GET", "/models", nil)
	r.RemoteAddr = "10.0.1.5:4000"
	r.Header.Set("X-API-Key", auditKey)
	r.Header.Set("X-Forwarded-For", "203.0.113.50")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got := accessLogLine(t, logs.String())["source_ip"]; got != "10.0.1.5" {
		t.Errorf("no trusted proxies: source_ip = %v, want the peer", got)
	}
}

// An audit line says who (key id), from where (source address), with what
// (user agent class), what (route) and how it ended (status, outcome),
// under the server's request id, with the client's id kept apart; raw
// client text never reaches it.
func TestAuditLineFields(t *testing.T) {
	const ua = "python-requests/2.31.0 (secret-build; patient=John)"
	tests := []struct {
		name        string
		keys        KeyStore
		limit       RateLimit
		method      string
		path, body  string
		key         string
		calls       int // the last one is logged and checked
		wantStatus  int
		wantOutcome string
		wantKeyID   string
		wantRoute   string
	}{
		{"ok", nil, RateLimit{}, "POST", "/predict", pceBody, auditKey, 1, 200, "ok", "clinic-a", "/predict"},
		{"client error", nil, RateLimit{}, "POST", "/predict", `{"model":"ascvd-pce"}`, auditKey, 1, 422, "client_error", "clinic-a", "/predict"},
		{"unauthorized", nil, RateLimit{}, "GET", "/models/news2", "", "wrong-key-0123456789", 1, 401, "unauthorized", "", "/models/{id}"},
		{"rate limited", nil, RateLimit{Rate: 0.001, Burst: 1}, "GET", "/models", "", auditKey, 2, 429, "rate_limited", "clinic-a", "/models"},
		{"not ready", unavailableKeys{}, RateLimit{}, "GET", "/models", "", auditKey, 1, 503, "not_ready", "", "/models"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := tt.keys
			if keys == nil {
				keys = staticKeys(t)
			}
			var logs bytes.Buffer
			h := auditAPI(t, keys, tt.limit, &logs, false, "10.0.0.0/16")
			var w *httptest.ResponseRecorder
			for range tt.calls {
				logs.Reset()
				r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
				r.RemoteAddr = "10.0.1.5:4000"
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-API-Key", tt.key)
				r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.50")
				r.Header.Set("X-Request-Id", "ticket-4711")
				r.Header.Set("User-Agent", ua)
				w = httptest.NewRecorder()
				h.ServeHTTP(w, r)
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			line := accessLogLine(t, logs.String())
			want := map[string]any{
				"audit": true, "key_id": tt.wantKeyID, "route": tt.wantRoute, "status": float64(tt.wantStatus),
				"outcome": tt.wantOutcome, "source_ip": "203.0.113.50", "user_agent_class": "python",
				"client_request_id": "ticket-4711", "request_id": w.Header().Get("X-Request-Id"),
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %v, want %v", k, line[k], v)
				}
			}
			if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(w.Header().Get("X-Request-Id")) {
				t.Errorf("X-Request-Id %q is not the server's", w.Header().Get("X-Request-Id"))
			}
			for _, s := range []string{"secret-build", "John", "6.6.6.6", auditKey, "wrong-key"} {
				if strings.Contains(logs.String(), s) {
					t.Errorf("the audit line carries %q: %s", s, logs.String())
				}
			}
		})
	}
}

// On Lambda the source is API Gateway's sourceIp from the event (payload
// 1.0 requestContext.identity, 2.0 requestContext.http), never a header:
// not X-Forwarded-For, even with every address trusted, and not the
// api-proxy context headers a client can forge.
func TestLambdaAuditSourceIP(t *testing.T) {
	events := map[string]string{ // event -> its requestContext's sourceIp
		"rest-get-model.json":                 "192.168.196.186",
		"http-get-model.json":                 "1.2.3.4",
		"rest-post-predict.json":              "192.168.196.186",
		"http-post-predict.json":              "1.2.3.4",
		"rest-forged-context-headers.json":    "192.168.196.186",
		"rest-forged-context-multivalue.json": "192.168.196.186",
		"http-forged-context.json":            "1.2.3.4",
	}
	for event, wantIP := range events {
		t.Run(event, func(t *testing.T) {
			var logs bytes.Buffer
			h := auditAPI(t, staticKeys(t), RateLimit{}, &logs, true, "0.0.0.0/0", "::/0")
			e := editEvent(t, readEvent(t, event), func(e map[string]any) {
				if strings.Contains(event, "forged") { // their route is /health: make it a protected one
					if rc, ok := e["requestContext"].(map[string]any); ok {
						if h, ok := rc["http"].(map[string]any); ok {
							h["path"] = "/models/news2"
						}
					}
					if _, ok := e["rawPath"]; ok {
						e["rawPath"] = "/models/news2"
					} else {
						e["path"] = "/models/news2"
					}
				}
				setEventHeader(e, "X-API-Key", auditKey)
				setEventHeader(e, "X-Forwarded-For", "6.6.6.6")
				setEventHeader(e, "User-Agent", "curl/8.5.0")
			})
			resp := invokeLambda(t, lambdaContext(t, gwLambdaRequestID), h, e)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			line := accessLogLine(t, logs.String())
			if line["source_ip"] != wantIP || line["audit"] != true || line["key_id"] != "clinic-a" || line["user_agent_class"] != "curl" {
				t.Errorf("source_ip %v, audit %v, key_id %v, user_agent_class %v; want %s from the event, true, clinic-a, curl",
					line["source_ip"], line["audit"], line["key_id"], line["user_agent_class"], wantIP)
			}
			if line["request_id"] != gwLambdaRequestID || line["aws_request_id"] != gwLambdaRequestID {
				t.Errorf("request_id %v, aws_request_id %v; want the invocation id", line["request_id"], line["aws_request_id"])
			}
		})
	}
}

func TestUserAgentClass(t *testing.T) {
	for ua, want := range map[string]string{
		"":                                  "none",
		"curl/8.5.0":                        "curl",
		"python-requests/2.31.0":            "python",
		"Python-urllib/3.12":                "python",
		"python-httpx/0.27.0":               "python",
		"Python/3.12 aiohttp/3.9":           "python",
		"Go-http-client/1.1":                "go",
		"Go-http-client/2.0":                "go",
		"Java/17.0.2":                       "java",
		"Apache-HttpClient/5.2.1 (Java/17)": "java",
		"okhttp/4.12.0":                     "java",
		"node-fetch/1.0":                    "node",
		"node":                              "node",
		"axios/1.6.8":                       "node",
		"undici":                            "node",
		"PostmanRuntime/7.37.0":             "postman",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15": "browser",
		"Wget/1.21.4": "other",
		"my-script":   "other",
		"CURL/1":      "curl",
	} {
		if got := userAgentClass(ua); got != want {
			t.Errorf("userAgentClass(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestOutcome(t *testing.T) {
	for status, want := range map[int]string{
		200: "ok", 204: "ok", 304: "ok", 400: "client_error", 401: "unauthorized", 404: "client_error",
		413: "client_error", 422: "client_error", 429: "rate_limited", 500: "server_error", 503: "not_ready",
	} {
		if got := outcome(status); got != want {
			t.Errorf("outcome(%d) = %q, want %q", status, got, want)
		}
	}
}
