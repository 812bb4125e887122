package cloudwatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	cwsdk "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/testutil"
)

// ---------------------------------------------------------------------------
// A real moto_server (TOOLS.md) on a free loopback port, one per test.

// startCWMoto starts moto_server and points the standard SDK
// configuration at it for the rest of the test.
func startCWMoto(t *testing.T) *mototest.Server {
	t.Helper()
	srv := mototest.Start(t)
	srv.Env(t)
	return srv
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// newCWFromEnv builds the sink as the server does, from the standard SDK
// configuration (which startCWMoto points at moto), and returns the SDK
// client inside it for reading back.
func newCWFromEnv(t *testing.T, opts Options) (*Recorder, *cwsdk.Client) {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewFromConfig(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	client, ok := c.client.(*cwsdk.Client)
	if !ok {
		t.Fatalf("client is %T, want *cwsdk.Client", c.client)
	}
	return c, client
}

// ---------------------------------------------------------------------------
// A fake client that records what it is sent.

type cwFake struct {
	mu    sync.Mutex
	calls []*cwsdk.PutMetricDataInput
	err   func(call int) error // nil: every call succeeds
}

func (f *cwFake) PutMetricData(_ context.Context, in *cwsdk.PutMetricDataInput, _ ...func(*cwsdk.Options)) (*cwsdk.PutMetricDataOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	if f.err != nil {
		if err := f.err(len(f.calls)); err != nil {
			return nil, err
		}
	}
	return &cwsdk.PutMetricDataOutput{}, nil
}

// cwSpy records the inputs it passes on.
type cwSpy struct {
	next  PutMetricDataAPI
	calls []*cwsdk.PutMetricDataInput
}

func (s *cwSpy) PutMetricData(ctx context.Context, in *cwsdk.PutMetricDataInput, optFns ...func(*cwsdk.Options)) (*cwsdk.PutMetricDataOutput, error) {
	s.calls = append(s.calls, in)
	return s.next.PutMetricData(ctx, in, optFns...)
}

func (f *cwFake) inputs() []*cwsdk.PutMetricDataInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// cwKey names a series as "Name{Dim=Value,...}" with dimensions sorted.
func cwKey(name string, dims []types.Dimension) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = aws.ToString(d.Name) + "=" + aws.ToString(d.Value)
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// cwTotals adds up, per series, the counts of each value sent.
func cwTotals(calls []*cwsdk.PutMetricDataInput) map[string]map[float64]float64 {
	out := map[string]map[float64]float64{}
	for _, in := range calls {
		for _, d := range in.MetricData {
			k := cwKey(aws.ToString(d.MetricName), d.Dimensions)
			if out[k] == nil {
				out[k] = map[float64]float64{}
			}
			for i, v := range d.Values {
				out[k][v] += d.Counts[i]
			}
		}
	}
	return out
}

// cwRequests is a small day of traffic: several operations, a model, 4xx
// and 5xx.
var cwRequests = []metrics.Request{
	{Operation: "GET /models", Status: 200, Duration: 1500 * time.Microsecond, RequestID: "r1"},
	{Operation: "GET /models", Status: 200, Duration: 2500 * time.Microsecond, RequestID: "r2"},
	{Operation: "GET /models", Status: 401, Duration: 12345 * time.Microsecond, RequestID: "r3"},
	{Operation: "POST /predict", Model: "ascvd-pce", Status: 200, Duration: 3 * time.Millisecond, RequestID: "r4"},
	{Operation: "POST /predict", Model: "ascvd-pce", Status: 200, Duration: 5 * time.Millisecond, RequestID: "r5"},
	{Operation: "POST /predict", Model: "news2", Status: 422, Duration: 700 * time.Microsecond, RequestID: "r6"},
	{Operation: "POST /predict", Model: "qsofa", Status: 500, Duration: 40 * time.Millisecond, RequestID: "r7"},
	{Operation: "GET /health", Status: 200, Duration: 100 * time.Microsecond, RequestID: "r8"},
}

// ---------------------------------------------------------------------------
// Against moto: what is recorded is what CloudWatch holds.

func TestCloudWatchPublishesVocabularyToMoto(t *testing.T) {
	startCWMoto(t)
	c, client := newCWFromEnv(t, Options{Environment: "prod"})
	for _, r := range cwRequests {
		c.Request(t.Context(), r)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := c.Dropped(); got != 0 {
		t.Errorf("Dropped() = %d, want 0", got)
	}
	// Another deployment's 5xx lands in the same namespace: it must not move
	// prod's numbers (read below with Environment=prod).
	dev, _ := newCWFromEnv(t, Options{Environment: "dev"})
	dev.Request(t.Context(), metrics.Request{Operation: "POST /predict", Status: 500, Duration: time.Millisecond})
	if err := dev.Flush(t.Context()); err != nil {
		t.Fatalf("Flush dev: %v", err)
	}

	// Every metric under every dimension set of its metric, nothing else.
	want := []string{}
	for _, op := range []string{"GET /health", "GET /models", "POST /predict"} {
		for _, name := range []string{"ClientErrors", "Latency", "Requests", "ServerErrors"} {
			want = append(want, name+"{Environment=prod,Operation="+op+",Service="+metrics.Service+"}")
		}
	}
	for _, name := range []string{"ClientErrors", "Latency", "Requests", "ServerErrors", "Predictions"} {
		want = append(want, name+"{Environment=prod,Service="+metrics.Service+"}")
	}
	want = append(want, "Predictions{Environment=prod,Model=ascvd-pce,Service="+metrics.Service+"}")
	// dev's one request, under the same sets with its own environment.
	for _, name := range []string{"ClientErrors", "Latency", "Requests", "ServerErrors"} {
		want = append(want, name+"{Environment=dev,Operation=POST /predict,Service="+metrics.Service+"}",
			name+"{Environment=dev,Service="+metrics.Service+"}")
	}
	slices.Sort(want)

	var got []string
	p := cwsdk.NewListMetricsPaginator(client, &cwsdk.ListMetricsInput{Namespace: aws.String(metrics.Namespace)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListMetrics: %v", err)
		}
		for _, m := range page.Metrics {
			if ns := aws.ToString(m.Namespace); ns != metrics.Namespace {
				t.Errorf("namespace %q, want %q", ns, metrics.Namespace)
			}
			got = append(got, cwKey(aws.ToString(m.MetricName), m.Dimensions))
		}
	}
	// moto lists a series once per stored value (it keeps Values/Counts
	// as single points); CloudWatch lists it once.
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(got, want) {
		t.Errorf("ListMetrics:\n got %q\nwant %q", got, want)
	}

	type stats struct{ sum, count, min, max float64 }
	read := func(t *testing.T, name string, dims map[string]string) stats {
		t.Helper()
		in := &cwsdk.GetMetricStatisticsInput{
			Namespace:  aws.String(metrics.Namespace),
			MetricName: aws.String(name),
			StartTime:  aws.Time(time.Now().Add(-10 * time.Minute)),
			EndTime:    aws.Time(time.Now().Add(10 * time.Minute)),
			Period:     aws.Int32(3600),
			Statistics: []types.Statistic{types.StatisticSum, types.StatisticSampleCount, types.StatisticMinimum, types.StatisticMaximum},
		}
		for k, v := range dims {
			in.Dimensions = append(in.Dimensions, types.Dimension{Name: aws.String(k), Value: aws.String(v)})
		}
		out, err := client.GetMetricStatistics(t.Context(), in)
		if err != nil {
			t.Fatalf("GetMetricStatistics %s: %v", name, err)
		}
		s := stats{min: math.Inf(1), max: math.Inf(-1)}
		for _, dp := range out.Datapoints {
			s.sum += aws.ToFloat64(dp.Sum)
			s.count += aws.ToFloat64(dp.SampleCount)
			s.min = min(s.min, aws.ToFloat64(dp.Minimum))
			s.max = max(s.max, aws.ToFloat64(dp.Maximum))
		}
		return s
	}
	op := func(o string) map[string]string {
		return map[string]string{metrics.DimService: metrics.Service, metrics.DimEnvironment: "prod", metrics.DimOperation: o}
	}
	prod := map[string]string{metrics.DimService: metrics.Service, metrics.DimEnvironment: "prod"}
	tests := []struct {
		name   string
		metric string
		dims   map[string]string
		want   stats
	}{
		{"models requests", "Requests", op("GET /models"), stats{sum: 3, count: 3, min: 1, max: 1}},
		{"models client errors", "ClientErrors", op("GET /models"), stats{sum: 1, count: 3, min: 0, max: 1}},
		{"models server errors", "ServerErrors", op("GET /models"), stats{sum: 0, count: 3, min: 0, max: 0}},
		{"models latency", "Latency", op("GET /models"), stats{sum: 1.5 + 2.5 + 12.3, count: 3, min: 1.5, max: 12.3}},
		{"predict requests", "Requests", op("POST /predict"), stats{sum: 4, count: 4, min: 1, max: 1}},
		{"predict client errors", "ClientErrors", op("POST /predict"), stats{sum: 1, count: 4, min: 0, max: 1}},
		{"predict server errors", "ServerErrors", op("POST /predict"), stats{sum: 1, count: 4, min: 0, max: 1}},
		{"predict latency", "Latency", op("POST /predict"), stats{sum: 3 + 5 + 0.7 + 40, count: 4, min: 0.7, max: 40}},
		{"health latency", "Latency", op("GET /health"), stats{sum: 0.1, count: 1, min: 0.1, max: 0.1}},
		// Only successful predictions count.
		{"ascvd predictions", "Predictions", map[string]string{metrics.DimService: metrics.Service, metrics.DimEnvironment: "prod", metrics.DimModel: "ascvd-pce"}, stats{sum: 2, count: 2, min: 1, max: 1}},
		{"news2 predictions", "Predictions", map[string]string{metrics.DimService: metrics.Service, metrics.DimEnvironment: "prod", metrics.DimModel: "news2"}, stats{min: math.Inf(1), max: math.Inf(-1)}},
		// moto matches dimensions as a subset (real CloudWatch matches them
		// exactly), so {Service, Environment} alone also reads the
		// {Service, Environment, Operation} series: twice the totals.
		{"service requests", "Requests", prod, stats{sum: 2 * 8, count: 2 * 8, min: 1, max: 1}},
		{"service server errors", "ServerErrors", prod, stats{sum: 2 * 1, count: 2 * 8, min: 0, max: 1}},
		// dev's 5xx is dev's alone.
		{"dev server errors", "ServerErrors", map[string]string{metrics.DimService: metrics.Service, metrics.DimEnvironment: "dev"}, stats{sum: 2 * 1, count: 2 * 1, min: 1, max: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := read(t, tt.metric, tt.dims)
			if math.Abs(got.sum-tt.want.sum) > 1e-9 || got.count != tt.want.count || got.min != tt.want.min || got.max != tt.want.max {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Batching within PutMetricData's limits.

// cwBigTraffic records traffic on ops distinct operations and latencies
// distinct latency values on one of them; it returns what it recorded per
// series.
func cwBigTraffic(c *Recorder, ops, latencies int) map[string]map[float64]float64 {
	want := map[string]map[float64]float64{}
	record := func(r metrics.Request) {
		c.Request(context.Background(), r)
		for _, o := range metrics.Observations(c.env, r) {
			for _, set := range o.Metric.Dimensions {
				var dims []types.Dimension
				for _, name := range set {
					dims = append(dims, types.Dimension{Name: aws.String(name), Value: aws.String(o.Dimensions[name])})
				}
				k := cwKey(o.Metric.Name, dims)
				if want[k] == nil {
					want[k] = map[float64]float64{}
				}
				want[k][roundSignificant(o.Value, 3)]++
			}
		}
	}
	for i := range ops {
		record(metrics.Request{Operation: fmt.Sprintf("GET /op/%04d", i), Status: 200, Duration: time.Millisecond})
	}
	for i := range latencies {
		// 1.00 ms, 1.01 ms, ...: distinct at three significant digits.
		record(metrics.Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 200, Duration: time.Duration(1000+10*i) * time.Microsecond})
	}
	return want
}

// checkCWLimits fails unless every call is within PutMetricData's limits.
func checkCWLimits(t *testing.T, calls []*cwsdk.PutMetricDataInput) {
	t.Helper()
	for i, in := range calls {
		if n := len(in.MetricData); n == 0 || n > 1000 {
			t.Errorf("call %d: %d datums, want 1..1000", i, n)
		}
		body, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) > 1_000_000 {
			t.Errorf("call %d: %d bytes of JSON, want at most 1 MB", i, len(body))
		}
		est := 0
		for j, d := range in.MetricData {
			if n := len(d.Values); n == 0 || n > 150 {
				t.Errorf("call %d datum %d: %d values, want 1..150", i, j, n)
			}
			if len(d.Counts) != len(d.Values) {
				t.Errorf("call %d datum %d: %d counts for %d values", i, j, len(d.Counts), len(d.Values))
			}
			if d.Value != nil || d.StatisticValues != nil {
				t.Errorf("call %d datum %d: Value or StatisticValues set beside Values", i, j)
			}
			if len(d.Dimensions) == 0 || len(d.Dimensions) > 30 {
				t.Errorf("call %d datum %d: %d dimensions", i, j, len(d.Dimensions))
			}
			b, _ := json.Marshal(d)
			if e := estimateDatumSize(d); e < len(b) {
				t.Errorf("call %d datum %d: size estimate %d below its JSON size %d", i, j, e, len(b))
			}
			est += estimateDatumSize(d)
		}
		if est > cwMaxRequestBytes {
			t.Errorf("call %d: estimated %d bytes, budget %d", i, est, cwMaxRequestBytes)
		}
	}
}

func TestCloudWatchBatchesWithinLimits(t *testing.T) {
	f := &cwFake{}
	c := New(f, Options{MaxSeries: 10_000})
	want := cwBigTraffic(c, 1200, 1000)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls := f.inputs()
	datums := 0
	for _, in := range calls {
		datums += len(in.MetricData)
	}
	// 1,201 operations × 4 metrics + 4 service-wide + 2 predictions series;
	// 1,000 latency values need 7 datums in each of 2 Latency series.
	wantDatums := 1201*4 + 4 + 2 + 2*(7-1)
	if datums != wantDatums {
		t.Errorf("%d datums in %d calls, want %d", datums, len(calls), wantDatums)
	}
	if len(calls) < 5 {
		t.Errorf("%d calls, want at least 5 (1,000 datums per call)", len(calls))
	}
	checkCWLimits(t, calls)
	got := cwTotals(calls)
	if len(got) != len(want) {
		t.Errorf("%d series sent, want %d", len(got), len(want))
	}
	for k, w := range want {
		for v, n := range w {
			if got[k][v] != n {
				t.Errorf("%s value %g: count %g, want %g", k, v, got[k][v], n)
			}
		}
	}
	for _, in := range calls {
		if aws.ToString(in.Namespace) != metrics.Namespace {
			t.Errorf("namespace %q", aws.ToString(in.Namespace))
		}
	}
}

// Datums full of values hit the 1 MB budget long before 1,000 datums.
func TestCloudWatchBatchesBySize(t *testing.T) {
	f := &cwFake{}
	c := New(f, Options{})
	for op := range 100 {
		for i := range 300 {
			c.Request(t.Context(), metrics.Request{Operation: fmt.Sprintf("GET /op/%d", op), Status: 200,
				Duration: time.Duration(1000+10*i) * time.Microsecond}) // 300 distinct values
		}
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls := f.inputs()
	checkCWLimits(t, calls)
	datums := 0
	for _, in := range calls {
		datums += len(in.MetricData)
	}
	if len(calls) < 2 || datums > 1000 {
		t.Errorf("%d datums in %d calls: want fewer than 1,000 datums split by size", datums, len(calls))
	}
}

func TestCloudWatchLargeFlushAcceptedByMoto(t *testing.T) {
	startCWMoto(t)
	c, client := newCWFromEnv(t, Options{MaxSeries: 10_000})
	spy := &cwSpy{next: c.client}
	c.client = spy
	want := cwBigTraffic(c, 1200, 1000)
	start := time.Now()
	if err := c.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	t.Logf("flushed %d series to moto in %d calls, %v", len(want), len(spy.calls), time.Since(start).Round(time.Millisecond))
	if len(spy.calls) < 5 {
		t.Errorf("%d calls, want at least 5", len(spy.calls))
	}
	checkCWLimits(t, spy.calls)
	if got := c.Dropped(); got != 0 {
		t.Errorf("Dropped() = %d, want 0", got)
	}
	// Read back sums rather than listing: moto's ListMetrics takes
	// minutes over thousands of series. moto matches dimensions as a
	// subset, so {Service} reads every Requests series: both dimension
	// sets of 2,200 requests.
	for _, tt := range []struct {
		metric     string
		dims       []types.Dimension
		sum, count float64
		minV, maxV float64
	}{
		{"Requests", []types.Dimension{{Name: aws.String(metrics.DimService), Value: aws.String(metrics.Service)}}, 2 * 2200, 2 * 2200, 1, 1},
		{"Latency", []types.Dimension{{Name: aws.String(metrics.DimService), Value: aws.String(metrics.Service)}, {Name: aws.String(metrics.DimOperation), Value: aws.String("POST /predict")}}, 0, 1000, 1, 11},
		{"Requests", []types.Dimension{{Name: aws.String(metrics.DimService), Value: aws.String(metrics.Service)}, {Name: aws.String(metrics.DimOperation), Value: aws.String("GET /op/1199")}}, 1, 1, 1, 1},
	} {
		out, err := client.GetMetricStatistics(t.Context(), &cwsdk.GetMetricStatisticsInput{
			Namespace:  aws.String(metrics.Namespace),
			MetricName: aws.String(tt.metric),
			Dimensions: tt.dims,
			StartTime:  aws.Time(time.Now().Add(-10 * time.Minute)),
			EndTime:    aws.Time(time.Now().Add(10 * time.Minute)),
			Period:     aws.Int32(3600),
			Statistics: []types.Statistic{types.StatisticSum, types.StatisticSampleCount, types.StatisticMinimum, types.StatisticMaximum},
		})
		if err != nil {
			t.Fatalf("GetMetricStatistics: %v", err)
		}
		if len(out.Datapoints) != 1 {
			t.Fatalf("%s %s: %d datapoints, want 1", tt.metric, cwKey(tt.metric, tt.dims), len(out.Datapoints))
		}
		dp := out.Datapoints[0]
		if tt.sum != 0 && aws.ToFloat64(dp.Sum) != tt.sum || aws.ToFloat64(dp.SampleCount) != tt.count ||
			aws.ToFloat64(dp.Minimum) != tt.minV || aws.ToFloat64(dp.Maximum) != tt.maxV {
			t.Errorf("%s: sum %g count %g min %g max %g, want sum %g count %g min %g max %g", cwKey(tt.metric, tt.dims),
				aws.ToFloat64(dp.Sum), aws.ToFloat64(dp.SampleCount), aws.ToFloat64(dp.Minimum), aws.ToFloat64(dp.Maximum),
				tt.sum, tt.count, tt.minV, tt.maxV)
		}
	}
}

// ---------------------------------------------------------------------------
// Buffer bounds and failures, with a fake.

func TestCloudWatchMaxSeriesDropsNewSeries(t *testing.T) {
	f := &cwFake{}
	c := New(f, Options{MaxSeries: 10})
	// The first request makes 8 series; the second's 4 operation series
	// would make 12: two fit, two are dropped; its service-wide
	// observations join existing series.
	c.Request(t.Context(), metrics.Request{Operation: "GET /a", Status: 200, Duration: time.Millisecond})
	c.Request(t.Context(), metrics.Request{Operation: "GET /b", Status: 200, Duration: time.Millisecond})
	if got := c.Dropped(); got != 2 {
		t.Errorf("Dropped() = %d, want 2", got)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(cwTotals(f.inputs())); got != 10 {
		t.Errorf("%d series sent, want 10", got)
	}
	// After a flush the buffer has room again.
	c.Request(t.Context(), metrics.Request{Operation: "GET /b", Status: 200, Duration: time.Millisecond})
	if got := c.Dropped(); got != 2 {
		t.Errorf("Dropped() = %d after flush, want still 2", got)
	}
}

func TestCloudWatchSeriesValuesBounded(t *testing.T) {
	c := New(&cwFake{}, Options{})
	for i := range 50_000 {
		c.Request(t.Context(), metrics.Request{Operation: "GET /x", Status: 200, Duration: time.Duration(i) * time.Microsecond})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.buf {
		if len(s.counts) > cwMaxValuesPerSeries+2*90 {
			t.Errorf("series %q holds %d distinct values", k, len(s.counts))
		}
	}
}

func TestCloudWatchFlushFailures(t *testing.T) {
	apiErr := &smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "echoes GET /op/0001"}
	tests := []struct {
		name      string
		err       func(call int) error
		wantCalls int // 0: as many as a flush without failures makes
		wantClass string
	}{
		// The service answered: later calls may still succeed.
		{"api error on first call", func(call int) error {
			if call == 1 {
				return apiErr
			}
			return nil
		}, 0, "InvalidParameterValue"},
		// No answer: the rest of the flush is given up, not retried.
		{"timeout", func(int) error { return fmt.Errorf("send: %w", context.DeadlineExceeded) }, 1, "timeout"},
		{"refused", func(int) error {
			return &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		}, 1, "network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCalls := tt.wantCalls
			if wantCalls == 0 {
				f := &cwFake{}
				c := New(f, Options{MaxSeries: 10_000})
				cwBigTraffic(c, 1200, 0)
				if err := c.Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
				wantCalls = len(f.inputs())
				if wantCalls < 2 {
					t.Fatalf("baseline flush made %d calls, want several", wantCalls)
				}
			}
			var logs bytes.Buffer
			f := &cwFake{err: tt.err}
			c := New(f, Options{MaxSeries: 10_000, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			cwBigTraffic(c, 1200, 0) // 4,806 datums: 5 calls
			err := c.Flush(t.Context())
			if err == nil {
				t.Fatal("Flush succeeded")
			}
			if got := len(f.inputs()); got != wantCalls {
				t.Errorf("%d calls, want %d", got, wantCalls)
			}
			var wantDropped uint64
			for i, in := range f.inputs() {
				if tt.err(i+1) == nil {
					continue
				}
				for _, d := range in.MetricData {
					for _, n := range d.Counts {
						wantDropped += uint64(n)
					}
				}
			}
			if tt.wantCalls == 1 { // everything was given up
				wantDropped = 1200 * 4 * 2
			}
			if got := c.Dropped(); got != wantDropped {
				t.Errorf("Dropped() = %d, want %d", got, wantDropped)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1:\n%s", len(lines), logs.String())
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
				t.Fatal(err)
			}
			if line["error_class"] != tt.wantClass {
				t.Errorf("error_class = %v, want %s", line["error_class"], tt.wantClass)
			}
			if strings.Contains(logs.String(), "/op/") || strings.Contains(err.Error(), "/op/") {
				t.Errorf("log or error carries a dimension value or error text: %s / %v", logs.String(), err)
			}
			// Nothing is kept for a retry: the next flush sends nothing.
			f.err = nil
			before := len(f.inputs())
			if err := c.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := len(f.inputs()) - before; got != 0 {
				t.Errorf("second flush made %d calls, want 0", got)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Outage: moto killed (connection refused) or stopped (requests hang).

func TestCloudWatchOutage(t *testing.T) {
	for _, tt := range []struct {
		name   string
		outage func(*mototest.Server)
	}{
		{"down", (*mototest.Server).Kill},
		{"hung", (*mototest.Server).Pause},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := startCWMoto(t)
			var logs testutil.Buffer
			const maxSeries = 100
			// Long enough that a Request waiting on a hung call would show.
			const flushTimeout = 2 * time.Second
			c, _ := newCWFromEnv(t, Options{
				FlushInterval: 20 * time.Millisecond,
				FlushTimeout:  flushTimeout,
				MaxSeries:     maxSeries,
				Logger:        slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan struct{})
			go func() { defer close(done); c.Run(ctx) }()

			tt.outage(m)
			const n = 10_000
			took := make([]time.Duration, 0, n)
			var maxBuffered int
			for i := range n {
				r := metrics.Request{Operation: fmt.Sprintf("GET /op/%d", i%500), Model: "ascvd-pce", Status: 200 + i%400,
					Duration: time.Duration(i) * time.Microsecond}
				start := time.Now()
				c.Request(ctx, r)
				took = append(took, time.Since(start))
				if i%100 == 0 {
					c.mu.Lock()
					maxBuffered = max(maxBuffered, len(c.buf))
					c.mu.Unlock()
				}
			}
			slices.Sort(took)
			p99, worst := took[n*99/100], took[n-1]
			t.Logf("%d Request calls during the outage: median %v, p99 %v, max %v", n, took[n/2], p99, worst)
			// The bound on the maximum is loose because other processes share
			// the test machine's cores (spikes of tens of ms show up with no
			// sink at all); a Request that waited on the network would take
			// the whole flush timeout.
			if p99 > 5*time.Millisecond || worst > flushTimeout/2 {
				t.Errorf("Request p99 %v (want under 5ms), max %v (want under %v)", p99, worst, flushTimeout/2)
			}
			if maxBuffered > maxSeries {
				t.Errorf("buffer held %d series, MaxSeries is %d", maxBuffered, maxSeries)
			}
			if c.Dropped() == 0 {
				t.Error("Dropped() = 0 after 10k requests over 500 operations with MaxSeries 100")
			}

			// Wait for a failed flush to be counted, then give the final
			// flush something to send.
			for deadline := time.Now().Add(3 * flushTimeout); !strings.Contains(logs.String(), "cloudwatch put metric data failed"); {
				if time.Now().After(deadline) {
					t.Fatalf("no failed flush logged within %v:\n%s", 3*flushTimeout, tail(logs.String(), 2000))
				}
				time.Sleep(20 * time.Millisecond)
			}
			for i := range 10 {
				c.Request(ctx, metrics.Request{Operation: "GET /models", Status: 200, Duration: time.Duration(i) * time.Millisecond})
			}
			before := c.Dropped()
			cancel()
			start := time.Now()
			select {
			case <-done:
			case <-time.After(flushTimeout + 5*time.Second):
				t.Fatalf("Run did not return within %v of cancel", flushTimeout+5*time.Second)
			}
			stopped := time.Since(start)
			t.Logf("Run returned %v after cancel; Dropped() %d", stopped.Round(time.Millisecond), c.Dropped())
			if stopped > flushTimeout+time.Second {
				t.Errorf("Run returned %v after cancel, want within FlushTimeout %v", stopped, flushTimeout)
			}
			if c.Dropped() < before+20 {
				t.Errorf("Dropped() = %d after the final flush failed, want at least %d", c.Dropped(), before+20)
			}
			if strings.Contains(logs.String(), "/op/") {
				t.Errorf("log carries dimension values:\n%s", tail(logs.String(), 2000))
			}

			// Only the final flush, deterministically: it tries, gives up
			// at its timeout at the latest, and counts what it lost.
			const finalTimeout = time.Second
			c2, _ := newCWFromEnv(t, Options{FlushInterval: time.Hour, FlushTimeout: finalTimeout})
			ctx2, cancel2 := context.WithCancel(t.Context())
			done2 := make(chan struct{})
			go func() { defer close(done2); c2.Run(ctx2) }()
			c2.Request(ctx2, metrics.Request{Operation: "GET /models", Status: 200, Duration: time.Millisecond})
			cancel2()
			start = time.Now()
			<-done2
			stopped = time.Since(start)
			t.Logf("final flush alone: Run returned %v after cancel", stopped.Round(time.Millisecond))
			if stopped > finalTimeout+time.Second {
				t.Errorf("Run returned %v after cancel, want within FlushTimeout %v", stopped, finalTimeout)
			}
			if tt.name == "hung" && stopped < finalTimeout/2 {
				t.Errorf("Run returned %v after cancel against a hung endpoint: did the final flush try?", stopped)
			}
			if got := c2.Dropped(); got != 8 {
				t.Errorf("Dropped() = %d after the final flush failed, want 8", got)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Shutdown: the final flush reaches CloudWatch.

func TestCloudWatchFinalFlushAtShutdown(t *testing.T) {
	startCWMoto(t)
	c, client := newCWFromEnv(t, Options{FlushInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	for range 7 {
		c.Request(t.Context(), metrics.Request{Operation: "POST /predict", Model: "meld", Status: 200, Duration: time.Millisecond})
	}
	cancel()
	<-done
	out, err := client.GetMetricStatistics(t.Context(), &cwsdk.GetMetricStatisticsInput{
		Namespace:  aws.String(metrics.Namespace),
		MetricName: aws.String(metrics.Predictions.Name),
		Dimensions: []types.Dimension{{Name: aws.String(metrics.DimService), Value: aws.String(metrics.Service)}, {Name: aws.String(metrics.DimModel), Value: aws.String("meld")}},
		StartTime:  aws.Time(time.Now().Add(-10 * time.Minute)),
		EndTime:    aws.Time(time.Now().Add(10 * time.Minute)),
		Period:     aws.Int32(3600),
		Statistics: []types.Statistic{types.StatisticSum},
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, dp := range out.Datapoints {
		sum += aws.ToFloat64(dp.Sum)
	}
	if sum != 7 {
		t.Errorf("Predictions{Model=meld} sum = %g after shutdown, want 7", sum)
	}
}

// ---------------------------------------------------------------------------
// Patient data: only vocabulary names, dimension values and numbers leave.

func TestCloudWatchSendsOnlyVocabulary(t *testing.T) {
	f := &cwFake{}
	c := New(f, Options{Environment: "staging"})
	for _, r := range cwRequests {
		r.RequestID = "req-must-not-leave-" + r.RequestID
		c.Request(t.Context(), r)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{metrics.Namespace: true, metrics.Service: true, "staging": true}
	for _, m := range metrics.Vocabulary() {
		allowed[m.Name], allowed[m.Unit] = true, true
		for _, set := range m.Dimensions {
			for _, d := range set {
				allowed[d] = true
			}
		}
	}
	for _, r := range cwRequests {
		allowed[r.Operation] = true
		if r.Model != "" {
			allowed[r.Model] = true
		}
	}
	byName := map[string]metrics.Metric{}
	for _, m := range metrics.Vocabulary() {
		byName[m.Name] = m
	}

	calls := f.inputs()
	if len(calls) == 0 {
		t.Fatal("nothing sent")
	}
	for _, in := range calls {
		for _, d := range in.MetricData {
			m, ok := byName[aws.ToString(d.MetricName)]
			if !ok {
				t.Errorf("metric %q is not in the vocabulary", aws.ToString(d.MetricName))
				continue
			}
			if string(d.Unit) != m.Unit {
				t.Errorf("%s: unit %q, want %q", m.Name, d.Unit, m.Unit)
			}
			var names []string
			env := ""
			for _, dim := range d.Dimensions {
				names = append(names, aws.ToString(dim.Name))
				if aws.ToString(dim.Name) == metrics.DimEnvironment {
					env = aws.ToString(dim.Value)
				}
			}
			if env != "staging" {
				t.Errorf("%s %q: Environment = %q, want staging", m.Name, names, env)
			}
			if !slices.ContainsFunc(m.Dimensions, func(set []string) bool { return slices.Equal(set, names) }) {
				t.Errorf("%s: dimensions %q are not one of its sets %q", m.Name, names, m.Dimensions)
			}
			for _, v := range d.Values {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s: value %v", m.Name, v)
				}
			}
		}
		// Every string in the request, wherever it is, must be allowed.
		body, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		walkCWStrings(doc, "", func(path, s string) {
			if strings.HasSuffix(path, ".Timestamp") {
				return
			}
			if !allowed[s] {
				t.Errorf("unexpected string %q at %s", s, path)
			}
		})
		if bytes.Contains(body, []byte("req-must-not-leave")) {
			t.Error("a request id was sent")
		}
	}
}

func walkCWStrings(v any, path string, fn func(path, s string)) {
	switch v := v.(type) {
	case string:
		fn(path, v)
	case []any:
		for i, e := range v {
			walkCWStrings(e, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case map[string]any:
		for k, e := range v {
			walkCWStrings(e, path+"."+k, fn)
		}
	}
}

// ---------------------------------------------------------------------------
// Small parts.

func TestCloudWatchRoundSignificant(t *testing.T) {
	tests := []struct {
		in, want float64
	}{
		{0, 0},
		{1, 1},
		{0.1, 0.1},
		{0.001, 0.001},
		{1.5, 1.5},
		{12.345, 12.3},
		{12.35, 12.4},
		{123.456, 123},
		{1234.5, 1230},
		{99_999, 100_000},
		{0.0123456, 0.0123},
	}
	for _, tt := range tests {
		if got := roundSignificant(tt.in, 3); got != tt.want {
			t.Errorf("roundSignificant(%v, 3) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCloudWatchTimestampIsPeriodStart(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	f := &cwFake{}
	c := New(f, Options{Now: clock})
	c.Request(t.Context(), cwRequests[0])
	periodStart := now
	now = now.Add(time.Minute)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Request(t.Context(), cwRequests[0])
	now = now.Add(time.Minute)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls := f.inputs()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	for i, want := range []time.Time{periodStart, periodStart.Add(time.Minute)} {
		for _, d := range calls[i].MetricData {
			if got := aws.ToTime(d.Timestamp); !got.Equal(want) {
				t.Errorf("flush %d: timestamp %v, want %v", i, got, want)
			}
			if aws.ToInt32(d.StorageResolution) != 60 {
				t.Errorf("storage resolution %d", aws.ToInt32(d.StorageResolution))
			}
		}
	}
}

func TestCloudWatchEmptyDimensionValueDropped(t *testing.T) {
	f := &cwFake{}
	c := New(f, Options{})
	// CloudWatch rejects an empty dimension value, and with it the whole
	// call: such series are dropped, the service-wide ones kept.
	c.Request(t.Context(), metrics.Request{Operation: "", Status: 200, Duration: time.Millisecond})
	if got := c.Dropped(); got != 4 {
		t.Errorf("Dropped() = %d, want 4", got)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(cwTotals(f.inputs())); got != 4 {
		t.Errorf("%d series sent, want 4", got)
	}
}

func TestCloudWatchNeedsRegion(t *testing.T) {
	if _, err := NewFromConfig(aws.Config{}, Options{}); err == nil {
		t.Error("no error without a region")
	}
}

// Every datum names the environment: the configured one, or a local run's
// when none is configured; a key refresh's too.
func TestCloudWatchEnvironmentOnEveryDatum(t *testing.T) {
	for _, c := range []struct{ env, want string }{{"prod", "prod"}, {"", metrics.LocalEnvironment}} {
		f := &cwFake{}
		rec := New(f, Options{Environment: c.env})
		for _, r := range cwRequests {
			rec.Request(t.Context(), r)
		}
		rec.KeyRefreshFailed(t.Context())
		if err := rec.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		n := 0
		for k := range cwTotals(f.inputs()) {
			n++
			if !strings.Contains(k, "Environment="+c.want+",") {
				t.Errorf("env %q: series %s lacks Environment=%s", c.env, k, c.want)
			}
		}
		if n == 0 {
			t.Fatal("nothing sent")
		}
	}
}
