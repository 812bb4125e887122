package ci

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/docs"
)

// fakeAPI answers like the real service for what smoke-test.sh checks,
// under a stage prefix like API Gateway's (/dev).
type fakeAPI struct {
	key, status string
	value       float64
	gotBody     map[string]any
	// Faults of the CDS Hooks and /docs routes; the zero value is healthy.
	noServices, cdsOpen, noCSP, truncated bool
	bundle                                []byte // GET /docs/swagger-ui-bundle.js
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/dev/health":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"`+f.status+`","version":"test"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/dev/predict":
		if r.Header.Get("X-API-Key") != f.key {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"status":401,"title":"Unauthorized"}`)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&f.gotBody); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"model":  map[string]any{"id": "ascvd-pce"},
			"result": map[string]any{"value": f.value, "unit": "%", "category": "low"},
		})
	case r.Method == http.MethodGet && r.URL.Path == "/dev/cds-services":
		w.Header().Set("Content-Type", "application/json")
		if f.noServices {
			_, _ = io.WriteString(w, `{"services":[]}`)
			return
		}
		_, _ = io.WriteString(w, `{"services":[{"id":"ascvd-pce","hook":"patient-view","title":"ASCVD"}]}`)
	case r.Method == http.MethodPost && r.URL.Path == "/dev/cds-services/ascvd-pce":
		if r.Header.Get("Authorization") == "" && r.Header.Get("X-API-Key") == "" && !f.cdsOpen {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"status":401,"title":"Unauthorized"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"cards":[]}`)
	case r.Method == http.MethodGet && r.URL.Path == "/dev/docs":
		if !f.noCSP {
			w.Header().Set("Content-Security-Policy", docs.ContentSecurityPolicy)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><title>docs</title>")
	case r.Method == http.MethodGet && r.URL.Path == "/dev/docs/swagger-ui-bundle.js":
		b := f.bundle
		if f.truncated {
			b = b[:len(b)/2]
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

// TestSmokeScript runs ci/smoke-test.sh, as deploy.yml does, against a fake
// API: it passes on a healthy service with the published result and fails
// on a wrong key, a wrong number, a degraded health, or no key at all.
func TestSmokeScript(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (scripts/deps.sh test installs it; the GitHub runner has it): %v", tool, err)
		}
	}
	script := filepath.Join(repoRoot(t), "ci", "smoke-test.sh")
	bundle := swaggerBundle(t)
	cases := []struct {
		name     string
		api      fakeAPI
		key      string
		wantExit int
		wantErr  string // in the output when it fails
	}{
		{"healthy", fakeAPI{key: "k1", status: "ok", value: 2.0536}, "k1", 0, ""},
		{"wrong key", fakeAPI{key: "k1", status: "ok", value: 2.0536}, "k2", 1, "POST /predict failed"},
		{"wrong result", fakeAPI{key: "k1", status: "ok", value: 7.5}, "k1", 1, "want ascvd-pce about 2.1 %"},
		{"degraded", fakeAPI{key: "k1", status: "degraded", value: 2.0536}, "k1", 1, "status is degraded"},
		{"no key", fakeAPI{key: "k1", status: "ok", value: 2.0536}, "", 2, "SMOKE_API_KEY is not set"},
		{"no CDS services", fakeAPI{key: "k1", status: "ok", value: 2.0536, noServices: true}, "k1", 1, "GET /cds-services: no services"},
		{"CDS call open without credentials", fakeAPI{key: "k1", status: "ok", value: 2.0536, cdsOpen: true}, "k1", 1, "got 200 application/json, want 401"},
		{"docs without CSP", fakeAPI{key: "k1", status: "ok", value: 2.0536, noCSP: true}, "k1", 1, "no Content-Security-Policy"},
		{"bundle cut short", fakeAPI{key: "k1", status: "ok", value: 2.0536, truncated: true}, "k1", 1, "bytes, not the 1732839 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.api.bundle = bundle
			srv := httptest.NewServer(&tc.api)
			cmd := exec.Command("bash", script, srv.URL+"/dev/")
			cmd.Env = append(os.Environ(), "SMOKE_API_KEY="+tc.key, "SMOKE_RETRIES=0")
			out, err := cmd.CombinedOutput()
			srv.Close() // waits for the handlers: gotBody is safe to read after it
			exit := 0
			if ee, ok := err.(*exec.ExitError); ok {
				exit = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if exit != tc.wantExit {
				t.Fatalf("exit %d, want %d\n%s", exit, tc.wantExit, out)
			}
			if !strings.Contains(string(out), tc.wantErr) {
				t.Errorf("output lacks %q:\n%s", tc.wantErr, out)
			}
			if tc.key != "" && strings.Contains(string(out), tc.key) {
				t.Errorf("the output shows the API key:\n%s", out)
			}
			if tc.wantExit == 0 && tc.api.gotBody["model"] != "ascvd-pce" {
				t.Errorf("predict body model = %v, want ascvd-pce", tc.api.gotBody["model"])
			}
		})
	}
}

// With SMOKE_CONNECT_TO (the EKS deploy before DNS points at the ALB) the
// script connects to the given address but keeps the URL's name for SNI,
// the Host header and the certificate check: it passes when the server's
// certificate covers that name and fails when it does not.
func TestSmokeScriptConnectTo(t *testing.T) {
	script := filepath.Join(repoRoot(t), "ci", "smoke-test.sh")
	api := &fakeAPI{key: "k1", status: "ok", value: 2.0536, bundle: swaggerBundle(t)}
	srv := httptest.NewTLSServer(api) // its certificate covers example.com
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Both names are redirected to the loopback server: nothing leaves it.
	for name, wantOK := range map[string]bool{"example.com": true, "risk-api.clinic.org": false} {
		cmd := exec.Command("bash", script, "https://"+name+"/dev/")
		cmd.Env = append(os.Environ(), "SMOKE_API_KEY=k1", "SMOKE_RETRIES=0", "CURL_CA_BUNDLE="+ca,
			"SMOKE_CONNECT_TO="+name+":443:"+u.Host)
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		if (err == nil) != wantOK {
			t.Errorf("https://%s through %s: passed = %v, want %v (TLS verified against the URL's name)\n%s", name, u.Host, err == nil, wantOK, out)
		}
	}
}

// swaggerBundle is the Swagger UI bundle the service embeds, which the
// smoke test compares the deployed one with.
func swaggerBundle(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "internal", "docs", "swagger-ui", "swagger-ui-bundle.js"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
