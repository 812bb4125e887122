package prom

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/metrics"
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
