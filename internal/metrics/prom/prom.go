package prom

import (
	"github.com/healthcare-prediction/api/internal/metrics"

	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Recorder records the vocabulary on its own registry (never the global
// one) for the container's /metrics. Names mirror the CloudWatch ones:
// Requests → healthcare_api_requests_total (ClientErrors and ServerErrors
// are its status_class 4xx and 5xx), Latency →
// healthcare_api_request_duration_seconds, Predictions →
// healthcare_api_predictions_total, CDSHookEvents →
// healthcare_api_cds_hook_events_total. Labels are route patterns, methods,
// status classes and model ids: all bounded. Every series it exposes, the
// Go and process collectors' included, carries the constant label
// environment (dev, staging, prod): rules and dashboards select one
// deployment by it, and go_* or process_* series of one environment can be
// told from another's the same way.
type Recorder struct {
	registry    *prometheus.Registry
	labelled    prometheus.Registerer // registry, adding the environment label
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	predictions *prometheus.CounterVec
	inFlight    prometheus.Gauge
	keyFailures prometheus.Counter
	cdsEvents   *prometheus.CounterVec

	// series caches the children of requests, duration and predictions
	// per label set, so a request hashes no labels: the label sets are
	// bounded (route patterns, methods, status classes, catalog models).
	mu     sync.RWMutex
	series map[seriesKey]requestSeries
}

type seriesKey struct {
	operation string
	class     int
	model     string // a predicted model's id (from the catalog), or ""
}

type requestSeries struct {
	requests    prometheus.Counter
	duration    prometheus.Observer
	predictions prometheus.Counter // nil unless the key has a model
}

// New registers the service's metrics, build info and the Go and
// process collectors, all labelled environment=env (metrics.LocalEnvironment
// when empty), for the build version and commit.
func New(env, version, commit string) *Recorder {
	p := &Recorder{
		registry: prometheus.NewRegistry(),
		series:   map[seriesKey]requestSeries{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "healthcare_api_requests_total",
			Help: "Requests answered, by route pattern, method and status class.",
		}, []string{"route", "method", "status_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "healthcare_api_request_duration_seconds",
			Help: "Time from request to response in the handler, by route pattern, method and status class.",
			// Around the targets: health < 100 ms, predictions < 500 ms.
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"route", "method", "status_class"}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "healthcare_api_predictions_total",
			Help: "Predictions computed, by model id.",
		}, []string{"model"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "healthcare_api_in_flight_requests",
			Help: "Requests being served now.",
		}),
		keyFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "healthcare_api_key_refresh_failures_total",
			Help: "Failed refreshes of the API keys (the last good keys are still served).",
		}),
		cdsEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "healthcare_api_cds_hook_events_total",
			Help: "CDS Hooks events (call, computed, not_computed, fetch, fetch_failed, prefetch_missing, jwt_refused, feedback, replay_failed), by service (a model id).",
		}, []string{"cds_service", "event"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "healthcare_api_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit},
	})
	build.Set(1)
	// The label is added to every metric at scrape time, so it costs a
	// request nothing, and no collector registered here can forget it.
	p.labelled = prometheus.WrapRegistererWith(prometheus.Labels{"environment": metrics.EnvironmentOrLocal(env)}, p.registry)
	p.labelled.MustRegister(p.requests, p.duration, p.predictions, p.inFlight, p.keyFailures, p.cdsEvents, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return p
}

// Request implements Recorder.
func (p *Recorder) Request(_ context.Context, r metrics.Request) {
	k := seriesKey{operation: r.Operation, class: r.Status / 100}
	if r.Predicted() {
		k.model = r.Model
	}
	s := p.requestSeries(k)
	s.requests.Inc()
	s.duration.Observe(r.Duration.Seconds())
	if s.predictions != nil {
		s.predictions.Inc()
	}
}

func (p *Recorder) requestSeries(k seriesKey) requestSeries {
	p.mu.RLock()
	s, ok := p.series[k]
	p.mu.RUnlock()
	if ok {
		return s
	}
	method, route, _ := strings.Cut(k.operation, " ")
	class := strconv.Itoa(k.class) + "xx"
	s = requestSeries{requests: p.requests.WithLabelValues(route, method, class), duration: p.duration.WithLabelValues(route, method, class)}
	if k.model != "" {
		s.predictions = p.predictions.WithLabelValues(k.model)
	}
	p.mu.Lock()
	p.series[k] = s
	p.mu.Unlock()
	return s
}

// KeyRefreshFailed implements Recorder.
func (p *Recorder) KeyRefreshFailed(context.Context) { p.keyFailures.Inc() }

// CDSHook implements Recorder. Both labels are bounded: service is a
// catalog model id, e a fixed word.
func (p *Recorder) CDSHook(_ context.Context, service string, e metrics.CDSEvent) {
	p.cdsEvents.WithLabelValues(service, string(e)).Inc()
}

// InitCDSHooks creates the event counter of every CDS Hooks service in
// services (cdshooks.ServiceIDs) and every metrics.CDSEvents() at 0, with
// the labels CDSHook records them under, as Prometheus' instrumentation
// practices ask ("Avoid missing metrics": export a 0 for any time series
// you know may exist in advance). A series that appeared at its first
// event would start at 1 or more, and increase() sees no growth in a
// first sample: a pod's first refusals would count 0.
func (p *Recorder) InitCDSHooks(services []string) {
	for _, service := range services {
		for _, e := range metrics.CDSEvents() {
			p.cdsEvents.WithLabelValues(service, string(e))
		}
	}
}

// InFlight wraps h so the in-flight gauge counts its requests.
func (p *Recorder) InFlight(h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerInFlight(p.inFlight, h)
}

// Handler serves the exposition of this registry; its own error counter
// carries the environment too.
func (p *Recorder) Handler() http.Handler {
	return promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{Registry: p.labelled})
}
