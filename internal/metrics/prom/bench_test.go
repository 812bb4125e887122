package prom

import (
	"context"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/metrics"
)

// BenchmarkRequest is the per-request cost of the sink once a label set
// has been seen: what every request of the container pays.
func BenchmarkRequest(b *testing.B) {
	p := New("prod", "v", "c")
	ctx := context.Background()
	r := metrics.Request{Operation: "POST /predict", Model: "news2", Status: 200, Duration: 3 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		p.Request(ctx, r)
	}
}

// BenchmarkRequestParallel is the same from every core at once.
func BenchmarkRequestParallel(b *testing.B) {
	p := New("prod", "v", "c")
	r := metrics.Request{Operation: "POST /predict", Model: "news2", Status: 200, Duration: 3 * time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			p.Request(ctx, r)
		}
	})
}
