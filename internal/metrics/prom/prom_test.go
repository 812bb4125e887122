package prom

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/scoring"
)

func scrape(t *testing.T, p *Recorder) string {
	t.Helper()
	w := httptest.NewRecorder()
	p.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	return string(body)
}

func TestKeyRefreshFailed(t *testing.T) {
	p := New("dev", "v", "c")
	p.KeyRefreshFailed(context.Background())
	p.KeyRefreshFailed(context.Background())
	if body := scrape(t, p); !strings.Contains(body, `healthcare_api_key_refresh_failures_total{environment="dev"} 2`) {
		t.Errorf("exposition lacks the counter at 2:\n%s", body)
	}
}

// A request moves the request counter and histogram by route pattern,
// method and status class, and predictions by model only on success.
func TestRequest(t *testing.T) {
	p := New("prod", "v1.2.3", "abc")
	ctx := context.Background()
	p.Request(ctx, metrics.Request{Operation: "POST /predict", Model: "news2", Status: 200, Duration: 3 * time.Millisecond})
	p.Request(ctx, metrics.Request{Operation: "POST /predict", Model: "news2", Status: 422, Duration: time.Millisecond})
	p.Request(ctx, metrics.Request{Operation: "GET /health", Status: 200, Duration: time.Millisecond})
	body := scrape(t, p)
	for _, want := range []string{
		`healthcare_api_requests_total{environment="prod",method="POST",route="/predict",status_class="2xx"} 1`,
		`healthcare_api_requests_total{environment="prod",method="POST",route="/predict",status_class="4xx"} 1`,
		`healthcare_api_requests_total{environment="prod",method="GET",route="/health",status_class="2xx"} 1`,
		`healthcare_api_request_duration_seconds_count{environment="prod",method="POST",route="/predict",status_class="2xx"} 1`,
		`healthcare_api_predictions_total{environment="prod",model="news2"} 1`,
		`healthcare_api_build_info{commit="abc",environment="prod",version="v1.2.3"} 1`,
		`healthcare_api_in_flight_requests{environment="prod"} 0`,
		`go_goroutines{environment="prod"}`,
		`process_resident_memory_bytes{environment="prod"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

// Every series on /metrics carries the configured environment, so no rule
// or panel can mix one deployment's traffic into another's; an empty
// environment is a local run's.
func TestEverySeriesHasEnvironment(t *testing.T) {
	for _, c := range []struct{ env, want string }{{"staging", "staging"}, {"", metrics.LocalEnvironment}} {
		p := New(c.env, "v", "c")
		ctx := context.Background()
		p.Request(ctx, metrics.Request{Operation: "POST /predict", Model: "news2", Status: 200})
		p.Request(ctx, metrics.Request{Operation: "GET /health", Status: 503})
		p.KeyRefreshFailed(ctx)
		series := 0
		for line := range strings.Lines(scrape(t, p)) {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			series++
			if !strings.Contains(line, `environment="`+c.want+`"`) {
				t.Errorf("env %q: series without environment=%q: %s", c.env, c.want, line)
			}
		}
		if series < 20 {
			t.Errorf("env %q: only %d series scraped", c.env, series)
		}
	}
}

// A CDS Hooks event is counted by service and event: both bounded labels.
func TestCDSHook(t *testing.T) {
	p := New("dev", "v", "c")
	p.CDSHook(context.Background(), "ascvd-pce", metrics.CDSComputed)
	p.CDSHook(context.Background(), "ascvd-pce", metrics.CDSComputed)
	p.CDSHook(context.Background(), "cha2ds2-vasc", metrics.CDSJWTRefused)
	body := scrape(t, p)
	for _, want := range []string{
		`healthcare_api_cds_hook_events_total{cds_service="ascvd-pce",environment="dev",event="computed"} 2`,
		`healthcare_api_cds_hook_events_total{cds_service="cha2ds2-vasc",environment="dev",event="jwt_refused"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

// A freshly started recorder exposes every CDS Hooks counter at 0: each
// service the catalog offers (cdshooks.ServiceIDs) times each event, under
// exactly the labels an event later moves, so the alerts' increase() sees
// a pod's first events (Prometheus instrumentation practices, "Avoid
// missing metrics"). The key refresh counter has no labels and is at 0
// without help.
func TestInitCDSHooks(t *testing.T) {
	services := cdshooks.ServiceIDs(scoring.NewCatalog())
	if !slices.Contains(services, "ascvd-pce") {
		t.Fatalf("the catalog offers CDS services %v, without ascvd-pce", services)
	}
	p := New("prod", "v", "c")
	p.InitCDSHooks(services)
	body := scrape(t, p)
	zero := cdsSeries(t, body)
	if want := len(services) * len(metrics.CDSEvents()); len(zero) != want {
		t.Errorf("%d CDS Hooks series before any event, want %d (%d services × %d events)", len(zero), want, len(services), len(metrics.CDSEvents()))
	}
	for _, s := range services {
		for _, e := range metrics.CDSEvents() {
			key := fmt.Sprintf(`{cds_service=%q,environment="prod",event=%q}`, s, e)
			if v, ok := zero[key]; !ok || v != "0" {
				t.Errorf("healthcare_api_cds_hook_events_total%s = %q (exposed: %v), want 0", key, v, ok)
			}
		}
	}
	// replay_failed pages (monitoring/README.md): a pod whose replay store
	// fails from its start must have it at 0 before the first failure.
	if v := zero[`{cds_service="ascvd-pce",environment="prod",event="replay_failed"}`]; v != "0" {
		t.Errorf("ascvd-pce replay_failed = %q before any event, want 0", v)
	}
	if !strings.Contains(body, `healthcare_api_key_refresh_failures_total{environment="prod"} 0`) {
		t.Error("the key refresh failure counter is not exposed at 0")
	}

	// An event moves its zero series; it adds none.
	p.CDSHook(context.Background(), "ascvd-pce", metrics.CDSJWTRefused)
	after := cdsSeries(t, scrape(t, p))
	if len(after) != len(zero) {
		t.Errorf("%d series after one event, %d before: the event was recorded under other labels", len(after), len(zero))
	}
	if v := after[`{cds_service="ascvd-pce",environment="prod",event="jwt_refused"}`]; v != "1" {
		t.Errorf("ascvd-pce jwt_refused = %q after one refusal, want 1", v)
	}
}

// cdsSeries maps the labels of each healthcare_api_cds_hook_events_total
// sample in the exposition text body to its value.
func cdsSeries(t *testing.T, body string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for line := range strings.Lines(body) {
		labels, ok := strings.CutPrefix(strings.TrimSpace(line), "healthcare_api_cds_hook_events_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(labels, "} ")
		if !ok {
			t.Fatalf("cannot read exposition line %q", line)
		}
		out["{"+labels+"}"] = value
	}
	return out
}
