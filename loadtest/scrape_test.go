package loadtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The service labels every series with its environment, Go's too: Gauge
// reads a single-series metric with or without labels.
func TestGauge(t *testing.T) {
	for _, exposition := range []string{
		"# TYPE go_goroutines gauge\ngo_goroutines 12\n",
		"# TYPE go_goroutines gauge\ngo_goroutines{environment=\"local\"} 12\n",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, exposition) }))
		got, err := Gauge(srv.URL, "go_goroutines")
		srv.Close()
		if err != nil || got != 12 {
			t.Errorf("Gauge of %q = %v, %v; want 12", exposition, got, err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "go_goroutines_total 3\n") }))
	defer srv.Close()
	if _, err := Gauge(srv.URL, "go_goroutines"); err == nil {
		t.Error("Gauge took go_goroutines_total for go_goroutines")
	}
}
