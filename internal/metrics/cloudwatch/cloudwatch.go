package cloudwatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwsdk "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/healthcare-prediction/api/internal/metrics"
)

// Limits of PutMetricData (CloudWatch API reference) and of this sink.
const (
	cwMaxDatumsPerCall  = 1000 // metric datums per request
	cwMaxValuesPerDatum = 150  // Values/Counts entries per datum
	// cwMaxRequestBytes is the budget for one request's estimated size.
	// The API takes at most 1 MB per request; estimateDatumSize is an upper
	// bound of a datum's encoded size (in query form encoding, the longest
	// of the protocols), and the rest of 1 MB is left for the envelope.
	cwMaxRequestBytes = 990_000
	// cwMaxDimensionValue is the longest dimension value CloudWatch takes.
	// A longer one (or an empty one) would fail the whole request.
	cwMaxDimensionValue = 1024
	// cwMaxValuesPerSeries bounds the distinct values one series buffers
	// (ten datums). Past it, values are rounded to two significant digits,
	// of which there are at most 90 per decade, so memory stays bounded.
	cwMaxValuesPerSeries = 10 * cwMaxValuesPerDatum

	cwDefaultFlushInterval = 60 * time.Second
	cwDefaultMaxSeries     = 1000
	// DefaultFlushTimeout bounds each flush, the last one at shutdown
	// included: the Kubernetes grace period counts it (k8s tests).
	DefaultFlushTimeout = 15 * time.Second
	// cwCallTimeout bounds one PutMetricData call, retries included.
	cwCallTimeout = 10 * time.Second
	// cwMaxAttempts is one try and one retry: a metric point that misses a
	// minute is worth less than a flush that does not pile up behind the
	// next one.
	cwMaxAttempts = 2
)

// PutMetricDataAPI is the one CloudWatch call the CloudWatch sink makes;
// *cwsdk.Client implements it, tests pass a fake.
type PutMetricDataAPI interface {
	PutMetricData(ctx context.Context, in *cwsdk.PutMetricDataInput, optFns ...func(*cwsdk.Options)) (*cwsdk.PutMetricDataOutput, error)
}

// Options configures a CloudWatch sink. The zero value is usable.
type Options struct {
	// Environment is the value of the Environment dimension of every
	// datum: the deployment (dev, staging, prod); metrics.LocalEnvironment
	// when empty.
	Environment string
	// FlushInterval is how often Run publishes; 60s (the standard
	// resolution) when zero.
	FlushInterval time.Duration
	// MaxSeries bounds the distinct metric+dimension series buffered
	// between flushes; 1000 when zero. Observations of new series past it
	// are dropped and counted.
	MaxSeries int
	// FlushTimeout bounds one flush, and so how long Run takes to return
	// after its context ends; 15s when zero. Each call within a flush is
	// also bounded by 10s.
	FlushTimeout time.Duration
	// Logger hears about failed flushes and dropped observations (counts
	// only); nothing is logged when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Recorder is a metrics.Recorder for the container that publishes the metric
// vocabulary to CloudWatch with PutMetricData: the same namespace, names,
// units and dimension sets as the EMF sink on Lambda, so the alarms and
// dashboards of template.yaml read both.
//
// Request only aggregates into memory; Run publishes. The server starts Run
// in a goroutine, cancels its context after http.Server.Shutdown has
// drained in-flight requests, and waits for Run to return: that last flush
// is what carries the final minute of metrics.
//
// Each series (a metric under one dimension set, with its dimension values)
// is aggregated as Values/Counts, not as a StatisticSet: CloudWatch computes
// percentiles only from raw values or Values/Counts, and the Latency alarm
// uses p95. Values are rounded to three significant digits (at most 0.5%
// off), which keeps the distinct values per series few (a datum holds up to
// 150; more are split across datums of the same series).
type Recorder struct {
	client        PutMetricDataAPI
	env           string
	flushInterval time.Duration
	flushTimeout  time.Duration
	maxSeries     int
	logger        *slog.Logger
	now           func() time.Time

	mu       sync.Mutex
	buf      map[string]*cwSeries
	start    time.Time // start of the period buf covers
	fullDrop uint64    // observations refused this period because buf was full

	flushMu sync.Mutex // one flush at a time
	dropped atomic.Uint64
}

// cwSeries is one metric under one dimension set, with its values and how
// often each occurred.
type cwSeries struct {
	metric metrics.Metric
	dims   []types.Dimension
	counts map[float64]float64
}

// New returns a sink that publishes through client. Call Run to
// publish.
func New(client PutMetricDataAPI, opts Options) *Recorder {
	c := &Recorder{
		client:        client,
		env:           metrics.EnvironmentOrLocal(opts.Environment),
		flushInterval: cmp.Or(opts.FlushInterval, cwDefaultFlushInterval),
		flushTimeout:  cmp.Or(opts.FlushTimeout, DefaultFlushTimeout),
		maxSeries:     cmp.Or(opts.MaxSeries, cwDefaultMaxSeries),
		logger:        opts.Logger,
		now:           opts.Now,
		buf:           map[string]*cwSeries{},
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.start = c.now()
	return c
}

// NewFromConfig builds the CloudWatch client from cfg (the standard SDK
// configuration: AWS_REGION, the credentials chain, AWS_ENDPOINT_URL or
// AWS_ENDPOINT_URL_CLOUDWATCH for a local endpoint) and returns a sink
// publishing through it.
func NewFromConfig(cfg aws.Config, opts Options) (*Recorder, error) {
	if cfg.Region == "" {
		return nil, errors.New("cloudwatch: no AWS region configured (set AWS_REGION)")
	}
	client := cwsdk.NewFromConfig(cfg, func(o *cwsdk.Options) {
		// Speak AWS JSON 1.0 instead of the client's default RPC-v2 CBOR.
		// CloudWatch serves all three of CBOR, JSON 1.0 and query; JSON 1.0
		// is what moto (our local stand-in for tests and `make run`) also
		// speaks, unlike CBOR, and its requests are about half the size
		// of query's form encoding. CBOR would save a little more on the
		// wire, which does not matter at one request a minute.
		o.Protocol = awsjson.New10(schemas.GraniteServiceVersion20100801)
		o.RetryMaxAttempts = cwMaxAttempts
		// No gzip: requests stay well under the 1 MB budget uncompressed
		// at one flush a minute, and moto_server 5.2 decompresses a
		// gzipped body twice and answers 500.
		o.DisableRequestCompression = true
	})
	return New(client, opts), nil
}

// Request implements Recorder. It never touches the network: it adds the
// request's observations to the buffer under a mutex.
func (c *Recorder) Request(_ context.Context, r metrics.Request) {
	c.record(metrics.Observations(c.env, r))
}

// KeyRefreshFailed implements Recorder.
func (c *Recorder) KeyRefreshFailed(context.Context) { c.record(metrics.KeyRefreshObservations(c.env)) }

// CDSHook implements Recorder.
func (c *Recorder) CDSHook(_ context.Context, service string, e metrics.CDSEvent) {
	c.record(metrics.CDSObservations(c.env, service, e))
}

func (c *Recorder) record(obs []metrics.Observation) {
	var key strings.Builder
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range obs {
		if math.IsNaN(o.Value) || math.IsInf(o.Value, 0) {
			continue // CloudWatch rejects them; they would mean a bug upstream
		}
		for _, set := range o.Metric.Dimensions {
			key.Reset()
			key.WriteString(o.Metric.Name)
			valid := true
			for _, name := range set {
				v := o.Dimensions[name]
				if v == "" || len(v) > cwMaxDimensionValue {
					valid = false
					break
				}
				key.WriteByte(0)
				key.WriteString(name)
				key.WriteByte(0)
				key.WriteString(v)
			}
			if !valid {
				c.fullDrop++
				c.dropped.Add(1)
				continue
			}
			s, ok := c.buf[key.String()]
			if !ok {
				if len(c.buf) >= c.maxSeries {
					c.fullDrop++
					c.dropped.Add(1)
					continue
				}
				s = &cwSeries{metric: o.Metric, counts: map[float64]float64{}}
				for _, name := range set {
					s.dims = append(s.dims, types.Dimension{Name: aws.String(name), Value: aws.String(o.Dimensions[name])})
				}
				c.buf[key.String()] = s
			}
			v := roundSignificant(o.Value, 3)
			if _, ok := s.counts[v]; !ok && len(s.counts) >= cwMaxValuesPerSeries {
				v = roundSignificant(o.Value, 2)
			}
			s.counts[v]++
		}
	}
}

// roundSignificant rounds v to digits significant decimal digits.
func roundSignificant(v float64, digits int) float64 {
	if v == 0 {
		return 0
	}
	exp := digits - 1 - int(math.Floor(math.Log10(math.Abs(v))))
	if exp >= 0 {
		scale := math.Pow10(exp)
		return math.Round(v*scale) / scale
	}
	scale := math.Pow10(-exp)
	return math.Round(v/scale) * scale
}

// Dropped is how many observations (one metric value under one dimension
// set) never reached CloudWatch: refused because the buffer held MaxSeries
// series or a dimension value was empty, or lost with a failed call.
func (c *Recorder) Dropped() uint64 { return c.dropped.Load() }

// Run publishes every FlushInterval until ctx ends, then flushes once more,
// bounded by FlushTimeout, and returns. A flush in progress when ctx ends is
// cut short (its data counted as dropped).
func (c *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(c.flushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.flushTimeout)
			_ = c.Flush(final) // failures are logged and counted
			cancel()
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, c.flushTimeout)
			_ = c.Flush(fctx)
			cancel()
		}
	}
}

// Flush publishes what the buffer holds now, stamped with the start of the
// period it covers, and empties it. Failed calls are not retried beyond the
// client's own retry: their observations are counted in Dropped, and one
// line with counts and the error class is logged. The returned error is the
// first failure.
func (c *Recorder) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()

	c.mu.Lock()
	buf, start, fullDrop := c.buf, c.start, c.fullDrop
	c.buf, c.start, c.fullDrop = make(map[string]*cwSeries, len(buf)), c.now(), 0
	c.mu.Unlock()

	if fullDrop > 0 {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "cloudwatch metrics dropped",
			slog.Uint64("observations", fullDrop), slog.Int("max_series", c.maxSeries))
	}
	if len(buf) == 0 {
		return nil
	}

	var (
		firstErr                error
		failedCalls, calls      int
		failedDatums, failedObs int
	)
	batches := cwBatches(cwDatums(buf, start))
	for i, b := range batches {
		calls++
		cctx, cancel := context.WithTimeout(ctx, cwCallTimeout)
		_, err := c.client.PutMetricData(cctx, &cwsdk.PutMetricDataInput{
			Namespace:  aws.String(metrics.Namespace),
			MetricData: b.datums,
		})
		cancel()
		if err == nil {
			continue
		}
		failedCalls++
		failedDatums += len(b.datums)
		failedObs += b.observations
		if firstErr == nil {
			firstErr = err
		}
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) {
			// The endpoint did not answer (down, hung, timed out): the
			// rest of this flush would wait the same way.
			for _, rest := range batches[i+1:] {
				failedDatums += len(rest.datums)
				failedObs += rest.observations
			}
			break
		}
	}
	if firstErr == nil {
		return nil
	}
	c.dropped.Add(uint64(failedObs))
	c.logger.LogAttrs(ctx, slog.LevelWarn, "cloudwatch put metric data failed",
		slog.String("error_class", errorClass(firstErr)),
		slog.Int("calls", calls),
		slog.Int("failed_calls", failedCalls),
		slog.Int("dropped_datums", failedDatums),
		slog.Int("dropped_observations", failedObs))
	return fmt.Errorf("cloudwatch: put metric data: %s", errorClass(firstErr))
}

// errorClass names an error without its text, which can echo what was sent.
func errorClass(err error) string {
	var apiErr smithy.APIError
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return "timeout"
		}
		return "network"
	default:
		return "other"
	}
}

// cwDatum is one datum and how many observations its Counts add up to.
type cwDatum struct {
	datum        types.MetricDatum
	observations int
	size         int
}

// cwDatums turns the buffer into datums of at most 150 values, in a stable
// order (by series, then value).
func cwDatums(buf map[string]*cwSeries, start time.Time) []cwDatum {
	keys := make([]string, 0, len(buf))
	for k := range buf {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []cwDatum
	for _, k := range keys {
		s := buf[k]
		values := make([]float64, 0, len(s.counts))
		for v := range s.counts {
			values = append(values, v)
		}
		slices.Sort(values)
		for chunk := range slices.Chunk(values, cwMaxValuesPerDatum) {
			d := types.MetricDatum{
				MetricName:        aws.String(s.metric.Name),
				Unit:              types.StandardUnit(s.metric.Unit),
				Dimensions:        s.dims,
				Timestamp:         aws.Time(start),
				StorageResolution: aws.Int32(60),
				Values:            chunk,
				Counts:            make([]float64, len(chunk)),
			}
			n := 0
			for i, v := range chunk {
				d.Counts[i] = s.counts[v]
				n += int(s.counts[v])
			}
			out = append(out, cwDatum{datum: d, observations: n, size: estimateDatumSize(d)})
		}
	}
	return out
}

// cwBatch is the datums of one PutMetricData call.
type cwBatch struct {
	datums       []types.MetricDatum
	observations int
}

// cwBatches packs datums into calls of at most 1,000 datums and an
// estimated cwMaxRequestBytes.
func cwBatches(datums []cwDatum) []cwBatch {
	var out []cwBatch
	var cur cwBatch
	size := 0
	for _, d := range datums {
		if len(cur.datums) > 0 && (len(cur.datums) == cwMaxDatumsPerCall || size+d.size > cwMaxRequestBytes) {
			out = append(out, cur)
			cur, size = cwBatch{}, 0
		}
		cur.datums = append(cur.datums, d.datum)
		cur.observations += d.observations
		size += d.size
	}
	if len(cur.datums) > 0 {
		out = append(out, cur)
	}
	return out
}

// estimateDatumSize is an upper bound of a datum's encoded size in JSON
// 1.0 or in query form encoding, whichever is longer (query, by far): the
// member prefixes ("&MetricData.member.1000.Values.member.150="), numbers
// as they encode, and strings at three times their length (percent
// escaping).
func estimateDatumSize(d types.MetricDatum) int {
	const (
		overhead = 320 // the fixed fields' names, timestamp, unit, resolution
		perDim   = 128 // the two member prefixes of a dimension
		perValue = 2 * 48
	)
	n := overhead + 3*len(aws.ToString(d.MetricName)) + 3*len(d.Unit)
	for _, dim := range d.Dimensions {
		n += perDim + 3*len(aws.ToString(dim.Name)) + 3*len(aws.ToString(dim.Value))
	}
	for i, v := range d.Values {
		n += perValue + numberLen(v) + numberLen(d.Counts[i])
	}
	return n
}

// numberLen is the length of v as the SDK encodes it (as encoding/json
// does: plain decimals, exponents only for very small or large values).
func numberLen(v float64) int {
	var buf [32]byte
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return len(strconv.AppendFloat(buf[:0], v, format, -1, 64))
}
