package metrics

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkEMFRequest is what one request costs a Lambda function: its
// observations encoded as one EMF document.
func BenchmarkEMFRequest(b *testing.B) {
	e := NewEMF(io.Discard, "prod", Function{Name: "predict", Version: "7"}, nil)
	ctx := context.Background()
	r := Request{Operation: "POST /predict", Model: "news2", Status: 200, Duration: 3 * time.Millisecond, RequestID: "r"}
	b.ReportAllocs()
	for b.Loop() {
		e.Request(ctx, r)
	}
}
