package loadtest

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1.5, 0.5}, 1},
	} {
		if got := Median(append([]float64(nil), tc.xs...)); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestSummarizeCountsFailures(t *testing.T) {
	s := summarize([]time.Duration{time.Millisecond, 2 * time.Millisecond}, map[string]int{"timeout": 2, "status 500": 1}, time.Second)
	if s.Failed != 3 || s.Requests != 5 {
		t.Errorf("Failed %d, Requests %d; want 3, 5", s.Failed, s.Requests)
	}
}
