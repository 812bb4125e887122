package cdshooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/testutil"
)

// switchReplay is a shared replay store that answers like the DynamoDB
// table until broken is set, then fails as a PutItem does behind a wrong
// endpoint URL, policy, IAM role, security group or NetworkPolicy.
type switchReplay struct {
	broken atomic.Bool
	mu     sync.Mutex
	seen   map[string]bool
}

func (s *switchReplay) Claim(_ context.Context, key string, _ time.Time) (bool, error) {
	if s.broken.Load() {
		return false, errors.New("operation error DynamoDB: PutItem: AccessDeniedException")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[key] {
		return false, nil
	}
	s.seen[key] = true
	return true, nil
}

// A replay store that cannot answer refuses the token (401, fail closed)
// and counts it twice: as jwt_refused, as every refusal (the JWT alerts'
// shares and the Lambda canary gate read it), and as replay_failed, which
// nothing else moves: a replayed jti the store did answer, or a call
// without a token, is jwt_refused only. Both sinks record it: Prometheus
// (the container) and EMF (Lambda), the latter also per function version.
func TestReplayFailureCounted(t *testing.T) {
	store := &switchReplay{seen: map[string]bool{}}
	emf := &testutil.Buffer{}
	e := newEHRWith(t, func(o *api.Options) {
		o.CDSHooks.Replay = store
		o.Metrics = metrics.Tee{o.Metrics, metrics.NewEMF(emf, "prod", metrics.Function{Name: "cdshooks", Version: "7"},
			func(err error) { t.Errorf("EMF: %v", err) })}
	})
	const path = "/cds-services/cha2ds2-vasc"
	body := hookBody(e.prefetch(map[string]string{"patient": "Patient/{{context.patientId}}",
		"conditions": "Condition?patient={{context.patientId}}"}), "")
	call := func(name, auth string, want int) {
		t.Helper()
		status, b, _ := e.do("POST", path, auth, body)
		var p struct{ Type string }
		if status != want || (want == 401 && (json.Unmarshal(b, &p) != nil || p.Type != "urn:healthcare-api:problem:unauthorized")) {
			t.Errorf("%s: %d %s; want %d", name, status, b, want)
		}
	}
	replayed := "Bearer " + e.es.Token(t, baseURL+path, nil)
	call("first use of a token", replayed, 200)
	call("the same token again: a replay", replayed, 401)
	call("no token", "", 401)
	store.broken.Store(true)
	call("a good token, the store failing", "Bearer "+e.es.Token(t, baseURL+path, nil), 401)

	rec := httptest.NewRecorder()
	e.prom.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for event, want := range map[metrics.CDSEvent]string{metrics.CDSJWTRefused: "3", metrics.CDSReplayFailed: "1", metrics.CDSCall: "1"} {
		line := `healthcare_api_cds_hook_events_total{cds_service="cha2ds2-vasc",environment="test",event="` + string(event) + `"} ` + want + "\n"
		if !strings.Contains(rec.Body.String(), line) {
			t.Errorf("/metrics lacks %s", strings.TrimSpace(line))
		}
	}

	// EMF: one document per event; the replay failure's carries the
	// dimension sets a CloudWatch alarm can select it by.
	events := map[string]int{}
	var failed map[string]any
	for line := range strings.Lines(emf.String()) {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		ev, _ := doc[metrics.DimEvent].(string)
		events[ev]++
		if ev == string(metrics.CDSReplayFailed) {
			failed = doc
		}
	}
	if events["jwt_refused"] != 3 || events["replay_failed"] != 1 {
		t.Errorf("EMF documents by event %v, want jwt_refused 3, replay_failed 1", events)
	}
	if failed == nil {
		t.Fatalf("no EMF document for replay_failed:\n%s", emf.String())
	}
	if failed["CDSHookEvents"] != float64(1) || failed[metrics.DimCDSService] != "cha2ds2-vasc" || failed[metrics.DimEnvironment] != "prod" ||
		failed[metrics.DimService] != metrics.Service || failed[metrics.DimFunctionVersion] != "7" {
		t.Errorf("replay_failed document: %v", failed)
	}
	var sets [][]string
	for _, d := range failed["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
		for _, set := range d.(map[string]any)["Dimensions"].([]any) {
			var s []string
			for _, name := range set.([]any) {
				s = append(s, name.(string))
			}
			sets = append(sets, s)
		}
	}
	for _, want := range metrics.CDSHookEvents.AllDimensions() {
		if !slices.ContainsFunc(sets, func(s []string) bool { return slices.Equal(s, want) }) {
			t.Errorf("replay_failed is not published under %v (sets %v)", want, sets)
		}
	}
}
