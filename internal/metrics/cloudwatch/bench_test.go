package cloudwatch

import (
	"context"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/metrics"
)

// BenchmarkRequest is what one request costs the container's CloudWatch
// sink: aggregation into memory, no network.
func BenchmarkRequest(b *testing.B) {
	c := New(nil, Options{Environment: "prod"})
	ctx := context.Background()
	r := metrics.Request{Operation: "POST /predict", Model: "news2", Status: 200, Duration: 3 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		c.Request(ctx, r)
	}
}
