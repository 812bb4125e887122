package monitoring

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/healthcare-prediction/api/internal/cdshooks/cdshookstest"
)

// cdsBaseURL is the test server's CDS_HOOKS_BASE_URL: only the JWTs' aud
// names it, nothing is sent there.
const cdsBaseURL = "https://api.test.invalid"

// cdsClient is a trusted CDS client (an EHR) of the test server: its key
// signs the JWTs, its JWKS is served on loopback.
type cdsClient struct {
	jwksURL string
	signer  cdshookstest.Signer
}

func newCDSClient(t *testing.T) *cdsClient {
	t.Helper()
	signer := cdshookstest.NewSigner(t, "https://ehr.test.invalid", jose.ES384, "monitoring-test")
	return &cdsClient{jwksURL: cdshookstest.JWKS(t, signer).URL + "/jwks", signer: signer}
}

// env trusts the client (over http: its JWKS is an httptest server).
func (c *cdsClient) env() []string {
	clients, _ := json.Marshal([]map[string]string{{"iss": c.signer.Issuer, "jwks_url": c.jwksURL}})
	return []string{"CDS_HOOKS_CLIENTS=" + string(clients), "CDS_HOOKS_BASE_URL=" + cdsBaseURL, "CDS_HOOKS_ALLOW_HTTP=true"}
}

// token is a CDS Hooks 2.0 client JWT for service id.
func (c *cdsClient) token(t *testing.T, id string) string {
	t.Helper()
	return c.signer.Token(t, cdsBaseURL+"/cds-services/"+id, nil)
}

// sendCDSTraffic makes the two CDS Hooks events the alerts select: a call
// without a JWT (401, jwt_refused) and a trusted call without its prefetch
// and without a FHIR server (412, prefetch_missing).
func (c *cdsClient) sendCDSTraffic(t *testing.T, hc *http.Client, base string) {
	t.Helper()
	call := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/example","patientId":"example"}}`
	for _, r := range []struct {
		name, auth string
		want       int
	}{
		{"no JWT", "", http.StatusUnauthorized},
		{"trusted, no prefetch", "Bearer " + c.token(t, "ascvd-pce"), http.StatusPreconditionFailed},
	} {
		if got, body := send(t.Context(), t, hc, http.MethodPost, base+"/cds-services/ascvd-pce", call, r.auth); got != r.want {
			t.Fatalf("POST /cds-services/ascvd-pce (%s) = %d, want %d: %s", r.name, got, r.want, body)
		}
	}
}

// TestReadinessWithoutJWKS: the pod's readiness never waits for an EHR.
// With the client's JWKS URL unreachable (a closed loopback port, as a
// NetworkPolicy without the EHR's egress leaves it), the server starts and
// is ready, /predict works, and a CDS call with a well-signed JWT fails
// closed: 401, counted as jwt_refused (its series from 0 to 1), and still
// ready afterwards.
func TestReadinessWithoutJWKS(t *testing.T) {
	cds := newCDSClient(t)
	cds.jwksURL = "http://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/jwks"
	s := startServerFor(t, cds)
	hc := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + s.addr
	do := func(method, path, body, auth string) int {
		t.Helper()
		status, _ := send(t.Context(), t, hc, method, base+path, body, auth)
		return status
	}
	if got := do("GET", "/health/ready", "", ""); got != http.StatusOK {
		t.Fatalf("GET /health/ready = %d before any CDS call, want 200", got)
	}
	call := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/example","patientId":"example"}}`
	start := time.Now()
	if got := do("POST", "/cds-services/ascvd-pce", call, "Bearer "+cds.token(t, "ascvd-pce")); got != http.StatusUnauthorized {
		t.Errorf("POST /cds-services/ascvd-pce with its JWKS unreachable = %d, want 401 (fail closed)", got)
	}
	// Refused at once (connection refused), and never later than the JWKS
	// fetch timeout (2 s): a call never hangs on an unreachable EHR.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the refusal took %v, want at most the JWKS fetch timeout (2s)", took)
	}
	if got := do("GET", "/health/ready", "", ""); got != http.StatusOK {
		t.Errorf("GET /health/ready = %d after a refused CDS call, want 200", got)
	}
	if got := do("POST", "/predict", predictBody, ""); got != http.StatusOK {
		t.Errorf("POST /predict = %d, want 200", got)
	}
	// The series exists at 0 from the start: the refusal moves it to 1.
	_, exposition := send(t.Context(), t, hc, http.MethodGet, base+"/metrics", "", "")
	const refused = `healthcare_api_cds_hook_events_total{cds_service="ascvd-pce",environment="` + testEnvironment + `",event="jwt_refused"} 1` + "\n"
	if !strings.Contains(exposition, refused) {
		t.Errorf("the refused call is not counted as jwt_refused: /metrics lacks %s", strings.TrimSpace(refused))
	}
}

// TestReplayStoreUnreachable: the server whose jti replay table cannot be
// reached (AWS_ENDPOINT_URL_DYNAMODB a closed loopback port, as a wrong
// VPC endpoint URL or a NetworkPolicy without its egress leaves it) stays
// ready, refuses a well-signed CDS call with 401 (fail closed) within the
// store's call timeout, and counts the refusal as replay_failed, which
// pages (HealthcareAPICDSHooksReplayStoreFailing), as well as jwt_refused.
func TestReplayStoreUnreachable(t *testing.T) {
	cds := newCDSClient(t)
	s := startServerFor(t, cds, "CDS_HOOKS_REPLAY_TABLE=healthcare-api-replay",
		"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:"+strconv.Itoa(freePort(t)),
		"AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	hc := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + s.addr
	metric := func(event string) string {
		t.Helper()
		_, raw := send(t.Context(), t, hc, http.MethodGet, base+"/metrics", "", "")
		prefix := `healthcare_api_cds_hook_events_total{cds_service="ascvd-pce",environment="` + testEnvironment + `",event="` + event + `"} `
		for line := range strings.Lines(raw) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				return v
			}
		}
		return "absent"
	}
	if got := metric("replay_failed"); got != "0" {
		t.Fatalf("replay_failed before any call = %s, want 0 (created at start)", got)
	}
	call := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/example","patientId":"example"}}`
	auth := "Bearer " + cds.token(t, "ascvd-pce")
	start := time.Now()
	status, body := send(t.Context(), t, hc, http.MethodPost, base+"/cds-services/ascvd-pce", call, auth)
	if status != http.StatusUnauthorized || !strings.Contains(body, "could not be checked against replays") {
		t.Errorf("a signed call with the replay table unreachable: %d %s; want 401, the jti could not be checked", status, body)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("the refusal took %v, want at most the replay store's call timeout (3s)", took)
	}
	for event, want := range map[string]string{"replay_failed": "1", "jwt_refused": "1", "call": "0"} {
		if got := metric(event); got != want {
			t.Errorf("%s = %s after the refusal, want %s", event, got, want)
		}
	}
	if got, _ := send(t.Context(), t, hc, http.MethodGet, base+"/health/ready", "", ""); got != http.StatusOK {
		t.Errorf("GET /health/ready = %d with the replay table unreachable, want 200 (the pods refuse per call)", got)
	}
}
