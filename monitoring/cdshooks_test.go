package monitoring

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// cdsBaseURL is the test server's CDS_HOOKS_BASE_URL: only the JWTs' aud
// names it, nothing is sent there.
const cdsBaseURL = "https://api.test.invalid"

// cdsClient is a trusted CDS client (an EHR) of the test server: its key
// signs the JWTs, its JWKS is served on loopback.
type cdsClient struct {
	issuer string
	jwks   *httptest.Server
	signer jose.Signer
}

func newCDSClient(t *testing.T) *cdsClient {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const kid = "monitoring-test"
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.ES384), Use: "sig"}}}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(jwks.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	return &cdsClient{issuer: "https://ehr.test.invalid", jwks: jwks, signer: signer}
}

// env trusts the client (over http: its JWKS is an httptest server).
func (c *cdsClient) env() []string {
	clients, _ := json.Marshal([]map[string]string{{"iss": c.issuer, "jwks_url": c.jwks.URL + "/jwks"}})
	return []string{"CDS_HOOKS_CLIENTS=" + string(clients), "CDS_HOOKS_BASE_URL=" + cdsBaseURL, "CDS_HOOKS_ALLOW_HTTP=true"}
}

// token is a CDS Hooks 2.0 client JWT for service id.
func (c *cdsClient) token(t *testing.T, id string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.Signed(c.signer).Claims(jwt.Claims{
		Issuer:   c.issuer,
		Subject:  "monitoring-test",
		Audience: jwt.Audience{cdsBaseURL + "/cds-services/" + id},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(4 * time.Minute)),
		ID:       rand.Text(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
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
		req, err := http.NewRequest(http.MethodPost, base+"/cds-services/ascvd-pce", strings.NewReader(call))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if r.auth != "" {
			req.Header.Set("Authorization", r.auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != r.want {
			t.Fatalf("POST /cds-services/ascvd-pce (%s) = %d, want %d: %s", r.name, resp.StatusCode, r.want, body)
		}
	}
}
