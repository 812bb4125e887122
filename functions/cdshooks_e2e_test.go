//go:build unix

package functions_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/healthcare-prediction/api/internal/cdshooks/cdshookstest"
	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/replay"
)

// TestCdsHooksUnderEmulator runs the cdshooks function's bootstrap under
// aws-lambda-rie, trusting one CDS client whose JWKS a loopback server
// publishes, and calls it with a REST API (payload 1.0) and an HTTP API
// (payload 2.0) event: each a patient-view call with a real ES384 client
// JWT, answered with one computed card; a replayed token is refused, also
// by a second execution environment: both record jti values in one
// DynamoDB table (moto_server), as deployed. A third, whose table does not
// exist, refuses a good token and writes the EMF event replay_failed.
func TestCdsHooksUnderEmulator(t *testing.T) {
	paths, err := build()
	if err != nil {
		t.Fatal(err)
	}
	const issuer, base = "https://ehr.example.test", "https://cds.example.test/prod"
	ehr := cdshookstest.NewSigner(t, issuer, jose.ES384, "k1")
	clients := fmt.Sprintf(`[{"iss":%q,"jwks_url":%q,"fhir_servers":[]}]`, issuer, cdshookstest.JWKS(t, ehr).URL)
	moto := mototest.Start(t)
	moto.CreateTable("e2e-replay", replay.KeyAttribute, replay.ExpiresAttribute)
	env := []string{"CDS_HOOKS_CLIENTS=" + clients, "CDS_HOOKS_BASE_URL=" + base, "CDS_HOOKS_ALLOW_HTTP=true",
		"CDS_HOOKS_CORS_ORIGINS=https://sandbox.cds-hooks.org",
		// The calls take client JWTs; no API key source is needed for them.
		"AUTH_DISABLED=true",
		"CDS_HOOKS_REPLAY_TABLE=e2e-replay", "AWS_ENDPOINT_URL=" + moto.URL, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"}
	e := startEmulator(t, paths["rie"], paths["cdshooks"], "cdshooks", env...)
	other := startEmulator(t, paths["rie"], paths["cdshooks"], "cdshooks", env...)

	token := func() string {
		return ehr.Token(t, base+"/cds-services/cha2ds2-vasc", nil)
	}
	body := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"patientId":"p1"},` +
		`"prefetch":{"patient":{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-03-01"},` +
		`"conditions":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},` +
		`"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},` +
		`"code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]}}}]}}}`

	// The REST event as API Gateway sends it for the stage "prod", the
	// HTTP API event for $default; the path parameter is the service id.
	rest := func(auth string) string {
		return writeEvent(t, "rest-post-predict.json", func(ev map[string]any) {
			ev["resource"], ev["path"] = "/cds-services/{id}", "/cds-services/cha2ds2-vasc"
			ev["pathParameters"] = map[string]any{"id": "cha2ds2-vasc"}
			rc := ev["requestContext"].(map[string]any)
			rc["resourcePath"], rc["path"] = "/cds-services/{id}", "/prod/cds-services/cha2ds2-vasc"
			ev["headers"].(map[string]any)["Authorization"] = "Bearer " + auth
			ev["multiValueHeaders"].(map[string]any)["Authorization"] = []any{"Bearer " + auth}
			ev["body"] = body
		})
	}
	httpAPI := func(auth string) string {
		return writeEvent(t, "http-post-predict.json", func(ev map[string]any) {
			ev["routeKey"], ev["rawPath"] = "POST /cds-services/{id}", "/cds-services/cha2ds2-vasc"
			ev["pathParameters"] = map[string]any{"id": "cha2ds2-vasc"}
			rc := ev["requestContext"].(map[string]any)
			rc["routeKey"] = "POST /cds-services/{id}"
			rc["http"].(map[string]any)["path"] = "/cds-services/cha2ds2-vasc"
			h := ev["headers"].(map[string]any)
			h["authorization"] = "Bearer " + auth
			delete(h, "content-length")
			ev["body"] = body
		})
	}
	replayed := token()
	for _, c := range []struct {
		name, event string
		on          *emulator
		want        int
	}{
		{"REST 1.0", rest(replayed), e, 200},
		{"HTTP API 2.0", httpAPI(token()), e, 200},
		{"REST 1.0 replayed token", rest(replayed), e, 401},
		{"HTTP API 2.0 no token", httpAPI(""), e, 401},
		{"replayed token, other execution environment", httpAPI(replayed), other, 401},
		{"fresh token, other execution environment", rest(token()), other, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := c.on.invokeFile(t, c.event, "", "")
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.want, resp.Body)
			}
			if c.want != 200 {
				if !strings.Contains(resp.Body, "urn:healthcare-api:problem:unauthorized") {
					t.Errorf("body %s, want an unauthorized problem", resp.Body)
				}
				return
			}
			var cards struct {
				Cards []struct {
					Summary, Indicator string
					Extension          map[string]json.RawMessage
				}
			}
			if err := json.Unmarshal([]byte(resp.Body), &cards); err != nil || len(cards.Cards) != 1 {
				t.Fatalf("want one card: %s", resp.Body)
			}
			// Female 76 with hypertension: CHA2DS2-VASc 2 (age 75+) + 1 (sex) + 1 (hypertension) = 4.
			var p struct{ Result struct{ Value float64 } }
			if err := json.Unmarshal(cards.Cards[0].Extension["healthcare-prediction.prediction"], &p); err != nil || p.Result.Value != 4 {
				t.Errorf("prediction %s, want CHA2DS2-VASc 4", cards.Cards[0].Extension["healthcare-prediction.prediction"])
			}
		})
	}
	// A browser's CORS preflight through API Gateway (the OPTIONS event SAM
	// routes to this function) reaches the preflight route under the stage.
	preflight := writeEvent(t, "rest-post-predict.json", func(ev map[string]any) {
		ev["httpMethod"], ev["resource"], ev["path"] = "OPTIONS", "/cds-services/{id}", "/cds-services/cha2ds2-vasc"
		ev["pathParameters"] = map[string]any{"id": "cha2ds2-vasc"}
		rc := ev["requestContext"].(map[string]any)
		rc["httpMethod"], rc["resourcePath"], rc["path"] = "OPTIONS", "/cds-services/{id}", "/prod/cds-services/cha2ds2-vasc"
		hdr := map[string]string{"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization,content-type"}
		for k, v := range hdr {
			ev["headers"].(map[string]any)[k] = v
			ev["multiValueHeaders"].(map[string]any)[k] = []any{v}
		}
		ev["body"] = nil
	})
	if resp := e.invokeFile(t, preflight, "", ""); resp.StatusCode != 204 || resp.header("Access-Control-Allow-Origin") != "https://sandbox.cds-hooks.org" ||
		resp.header("Access-Control-Allow-Methods") != "POST" || resp.header("Access-Control-Allow-Headers") != "Authorization, Content-Type" {
		t.Errorf("preflight under the emulator: %d %v", resp.StatusCode, resp.Headers)
	}
	out := e.waitFor(func(out string) bool { return strings.Count(out, `"route":"/cds-services/{id}"`) >= 5 })
	if strings.Contains(out, `"p1"`) || strings.Contains(out, replayed) {
		t.Errorf("the function's output holds the patient id or the token:\n%s", out)
	}

	// A table the function cannot use (here: none of that name) refuses a
	// good token, and the EMF output counts it as replay_failed, the event
	// that pages, besides jwt_refused.
	brokenEnv := slices.Clone(env)
	for i, kv := range brokenEnv {
		if strings.HasPrefix(kv, "CDS_HOOKS_REPLAY_TABLE=") {
			brokenEnv[i] = "CDS_HOOKS_REPLAY_TABLE=e2e-no-such-table"
		}
	}
	broken := startEmulator(t, paths["rie"], paths["cdshooks"], "cdshooks", brokenEnv...)
	if resp := broken.invokeFile(t, rest(token()), "", ""); resp.StatusCode != 401 || !strings.Contains(resp.Body, "could not be checked against replays") {
		t.Fatalf("a good token with the table missing: %d %s; want 401, the jti could not be checked", resp.StatusCode, resp.Body)
	}
	events := map[string]int{}
	for line := range strings.Lines(broken.waitFor(func(out string) bool { return strings.Contains(out, `"Event":"replay_failed"`) })) {
		var doc struct {
			CDSHookEvents     float64
			CDSService, Event string
		}
		if json.Unmarshal([]byte(line), &doc) == nil && doc.CDSHookEvents == 1 && doc.CDSService == "cha2ds2-vasc" {
			events[doc.Event]++
		}
	}
	if events["replay_failed"] != 1 || events["jwt_refused"] != 1 {
		t.Errorf("EMF CDSHookEvents documents by event %v, want replay_failed 1 and jwt_refused 1:\n%s", events, broken.output.String())
	}
}

// writeEvent writes a copy of an event of internal/api/testdata/events,
// changed by edit, to a temporary file and returns its path.
func writeEvent(t *testing.T, name string, edit func(map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	edit(ev)
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
