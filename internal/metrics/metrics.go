// Package metrics records the service's one metric vocabulary (DESIGN.md)
// to interchangeable sinks: CloudWatch Embedded Metric Format on Lambda,
// Prometheus and CloudWatch PutMetricData in the container. Nothing here
// ever sees a request body or an input value.
package metrics

import (
	"context"
	"time"
)

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "HealthcareAPI"

// Service is the value of the Service dimension.
const Service = "healthcare-prediction-api"

// Dimension names. All have few values: route patterns, model ids,
// function names.
const (
	DimService      = "Service"
	DimOperation    = "Operation"
	DimModel        = "Model"
	DimFunctionName = "FunctionName"
)

// Metric describes one metric of the vocabulary.
type Metric struct {
	Name       string
	Unit       string     // a CloudWatch unit
	Dimensions [][]string // the dimension sets it is published under
}

// The vocabulary. Alarms and dashboards may name only these.
var (
	Requests     = Metric{"Requests", "Count", [][]string{{DimService, DimOperation}, {DimService}}}
	ClientErrors = Metric{"ClientErrors", "Count", [][]string{{DimService, DimOperation}, {DimService}}}
	ServerErrors = Metric{"ServerErrors", "Count", [][]string{{DimService, DimOperation}, {DimService}}}
	Latency      = Metric{"Latency", "Milliseconds", [][]string{{DimService, DimOperation}, {DimService}}}
	Predictions  = Metric{"Predictions", "Count", [][]string{{DimService, DimModel}, {DimService}}}
	ColdStart    = Metric{"ColdStart", "Count", [][]string{{DimService, DimFunctionName}}}
	// KeyRefreshFailures counts failed refreshes of the API keys while the
	// last good ones are still served.
	KeyRefreshFailures = Metric{"KeyRefreshFailures", "Count", [][]string{{DimService}}}
)

// Vocabulary lists every metric the service emits.
func Vocabulary() []Metric {
	return []Metric{Requests, ClientErrors, ServerErrors, Latency, Predictions, ColdStart, KeyRefreshFailures}
}

// Request is what one finished request contributes to the metrics.
type Request struct {
	Operation string        // route pattern, e.g. "POST /predict"
	Model     string        // model id when the request computed a prediction
	Status    int           // HTTP status
	Duration  time.Duration // time in the handler
	RequestID string        // a property, never a dimension
}

// Predicted reports whether the request computed a prediction: it moves
// the Predictions metric.
func (r Request) Predicted() bool { return r.Model != "" && r.Status < 300 }

// Recorder is the one recording interface of the service.
type Recorder interface {
	// Request records one finished request.
	Request(ctx context.Context, r Request)
	// KeyRefreshFailed records a failed refresh of the API keys.
	KeyRefreshFailed(ctx context.Context)
}

// Discard records nothing.
type Discard struct{}

// Request implements Recorder.
func (Discard) Request(context.Context, Request) {}

// KeyRefreshFailed implements Recorder.
func (Discard) KeyRefreshFailed(context.Context) {}

// KeyRefreshObservations is what a failed refresh of the API keys records.
func KeyRefreshObservations() []Observation {
	return []Observation{{KeyRefreshFailures, 1, map[string]string{DimService: Service}}}
}

// Observation is one value of one metric with its dimension values: what a
// sink stores once a Request has been turned into the vocabulary.
type Observation struct {
	Metric     Metric
	Value      float64
	Dimensions map[string]string // values for every dimension the metric uses
}

// Observations turns a request into the vocabulary: the single place that
// decides which metrics a request moves.
func Observations(r Request) []Observation {
	op := map[string]string{DimService: Service, DimOperation: r.Operation}
	obs := []Observation{
		{Requests, 1, op},
		{ClientErrors, b2f(r.Status >= 400 && r.Status < 500), op},
		{ServerErrors, b2f(r.Status >= 500), op},
		{Latency, float64(r.Duration.Microseconds()) / 1000, op},
	}
	if r.Predicted() {
		obs = append(obs, Observation{Predictions, 1, map[string]string{DimService: Service, DimModel: r.Model}})
	}
	return obs
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Tee records to several recorders, e.g. Prometheus and CloudWatch.
type Tee []Recorder

// Request implements Recorder.
func (t Tee) Request(ctx context.Context, r Request) {
	for _, rec := range t {
		rec.Request(ctx, r)
	}
}

// KeyRefreshFailed implements Recorder.
func (t Tee) KeyRefreshFailed(ctx context.Context) {
	for _, rec := range t {
		rec.KeyRefreshFailed(ctx)
	}
}
