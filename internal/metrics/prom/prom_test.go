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
	p := New("v", "c")
	p.KeyRefreshFailed(context.Background())
	p.KeyRefreshFailed(context.Background())
	if body := scrape(t, p); !strings.Contains(body, "healthcare_api_key_refresh_failures_total 2") {
		t.Errorf("exposition lacks the counter at 2:\n%s", body)
	}
}

// A request moves the request counter and histogram by route pattern,
// method and status class, and predictions by model only on success.
func TestRequest(t *testing.T) {
	p := New("v1.2.3", "abc")
	ctx := context.Background()
	p.Request(ctx, metrics.Request{Operation: "POST /predict", Model: "news2", Status: 200, Duration: 3 * time.Millisecond})
	p.Request(ctx, metrics.Request{Operation: "POST /predict", Model: "news2", Status: 422, Duration: time.Millisecond})
	p.Request(ctx, metrics.Request{Operation: "GET /health", Status: 200, Duration: time.Millisecond})
	body := scrape(t, p)
	for _, want := range []string{
		`healthcare_api_requests_total{method="POST",route="/predict",status_class="2xx"} 1`,
		`healthcare_api_requests_total{method="POST",route="/predict",status_class="4xx"} 1`,
		`healthcare_api_requests_total{method="GET",route="/health",status_class="2xx"} 1`,
		`healthcare_api_request_duration_seconds_count{method="POST",route="/predict",status_class="2xx"} 1`,
		`healthcare_api_predictions_total{model="news2"} 1`,
		`healthcare_api_build_info{commit="abc",version="v1.2.3"} 1`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}
