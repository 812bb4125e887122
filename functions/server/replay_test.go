package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/healthcare-prediction/api/internal/cdshooks/cdshookstest"
	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/replay"
)

// Two replicas sharing CDS_HOOKS_REPLAY_TABLE (moto_server, reached with
// the SDK's credentials chain as in the cluster): a client JWT accepted by
// one is refused by the other, a fresh one is accepted by either, and
// with DynamoDB gone every token is refused (fail closed).
func TestReplicasShareTheJtiTable(t *testing.T) {
	moto := mototest.Start(t)
	moto.CreateTable("replicas-replay", replay.KeyAttribute, replay.ExpiresAttribute)
	const issuer, base, path = "https://ehr.example.test", "http://cds.example.test", "/cds-services/cha2ds2-vasc"
	ehr := cdshookstest.NewSigner(t, issuer, jose.ES384, "k1")
	env := append(moto.Environ(), "CDS_HOOKS_CLIENTS="+fmt.Sprintf(`[{"iss":%q,"jwks_url":%q,"fhir_servers":[]}]`, issuer, cdshookstest.JWKS(t, ehr).URL),
		"CDS_HOOKS_BASE_URL="+base, "CDS_HOOKS_ALLOW_HTTP=true", "CDS_HOOKS_REPLAY_TABLE=replicas-replay")
	a, b := start(t, binary, env...), start(t, binary, env...)

	token := func() string {
		return ehr.Token(t, base+path, nil)
	}
	body := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"patientId":"p1"},` +
		`"prefetch":{"patient":{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-03-01"},` +
		`"conditions":{"resourceType":"Bundle","type":"searchset","entry":[]}}}`
	call := func(s *server, tok string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url(path), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	first := token()
	for _, c := range []struct {
		name string
		on   *server
		tok  string
		want int
	}{
		{"first use", a, first, 200},
		{"replayed on the other replica", b, first, 401},
		{"replayed on the same replica", a, first, 401},
		{"fresh token on the other replica", b, token(), 200},
	} {
		if got := call(c.on, c.tok); got != c.want {
			t.Errorf("%s: status %d, want %d\nlogs of the replica:\n%s", c.name, got, c.want, c.on.logs)
		}
	}
	moto.Kill()
	if got := call(a, token()); got != 401 {
		t.Errorf("fresh token with DynamoDB unreachable: status %d, want 401 (fail closed)", got)
	}
}
