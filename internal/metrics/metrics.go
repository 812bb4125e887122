// Package metrics records the service's one metric vocabulary (DESIGN.md)
// to interchangeable sinks: CloudWatch Embedded Metric Format on Lambda,
// Prometheus and CloudWatch PutMetricData in the container. Nothing here
// ever sees a request body or an input value.
package metrics

import (
	"context"
	"regexp"
	"slices"
	"time"
)

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "HealthcareAPI"

// Service is the value of the Service dimension.
const Service = "healthcare-prediction-api"

// Dimension names. All have few values: one environment per deployment,
// route patterns, model ids, function names and versions.
const (
	DimService     = "Service"
	DimEnvironment = "Environment"
	DimOperation   = "Operation"
	DimModel       = "Model"
	// DimFunctionName and DimFunctionVersion name a Lambda function and
	// its published version; only the EMF sink (Lambda) knows them.
	DimFunctionName    = "FunctionName"
	DimFunctionVersion = "FunctionVersion"
	// DimCDSService names a CDS Hooks service (a model id from the
	// catalog) and DimEvent what happened to it (a CDSEvent).
	DimCDSService = "CDSService"
	DimEvent      = "Event"
)

// LocalEnvironment is the environment of a process that no deployment
// named: make run, tests.
const LocalEnvironment = "local"

// EnvironmentRule is what an environment name matches: a lower-case
// letter, then up to 31 lower-case letters, digits or hyphens (dev,
// staging, prod, ...). It fits a CloudWatch dimension value and a
// Prometheus label value as is.
const EnvironmentRule = `^[a-z][a-z0-9-]{0,31}$`

var environmentRule = regexp.MustCompile(EnvironmentRule)

// ValidEnvironment reports whether env matches EnvironmentRule.
func ValidEnvironment(env string) bool { return environmentRule.MatchString(env) }

// EnvironmentOrLocal is env, or LocalEnvironment when env is empty: the
// sinks' constructors take an empty environment to mean a local run
// (CloudWatch refuses empty dimension values).
func EnvironmentOrLocal(env string) string {
	if env == "" {
		return LocalEnvironment
	}
	return env
}

// Metric describes one metric of the vocabulary.
type Metric struct {
	Name       string
	Unit       string     // a CloudWatch unit
	Dimensions [][]string // the dimension sets every sink publishes it under
	// LambdaDimensions are further dimension sets only the EMF sink (on
	// Lambda) publishes: they name the function version, which the
	// container does not have. Canary gates read them.
	LambdaDimensions [][]string
}

// AllDimensions is every dimension set the metric may be published under:
// Dimensions, then LambdaDimensions.
func (m Metric) AllDimensions() [][]string {
	return slices.Concat(m.Dimensions, m.LambdaDimensions)
}

// Dimension sets of the vocabulary. Every set names the Service and the
// Environment, so no alarm or dashboard can mix deployments.
var (
	byOperation = [][]string{{DimService, DimEnvironment, DimOperation}, {DimService, DimEnvironment}}
	byVersion   = [][]string{{DimService, DimEnvironment, DimFunctionName, DimFunctionVersion}}
)

// The vocabulary. Alarms and dashboards may name only these.
var (
	Requests     = Metric{Name: "Requests", Unit: "Count", Dimensions: byOperation, LambdaDimensions: byVersion}
	ClientErrors = Metric{Name: "ClientErrors", Unit: "Count", Dimensions: byOperation}
	ServerErrors = Metric{Name: "ServerErrors", Unit: "Count", Dimensions: byOperation, LambdaDimensions: byVersion}
	Latency      = Metric{Name: "Latency", Unit: "Milliseconds", Dimensions: byOperation}
	Predictions  = Metric{Name: "Predictions", Unit: "Count",
		Dimensions: [][]string{{DimService, DimEnvironment, DimModel}, {DimService, DimEnvironment}}}
	ColdStart = Metric{Name: "ColdStart", Unit: "Count",
		Dimensions: [][]string{{DimService, DimEnvironment, DimFunctionName}}}
	// KeyRefreshFailures counts failed refreshes of the API keys while the
	// last good ones are still served.
	KeyRefreshFailures = Metric{Name: "KeyRefreshFailures", Unit: "Count",
		Dimensions: [][]string{{DimService, DimEnvironment}}}
	// CDSHookEvents counts what happens to the CDS Hooks services: calls,
	// cards computed or not, fetches from an EHR's FHIR server, 412s, JWT
	// refusals, feedback (CDSEvent). On Lambda also per function version
	// and event, so that a canary gate sees the new version's refusals.
	CDSHookEvents = Metric{Name: "CDSHookEvents", Unit: "Count",
		Dimensions:       [][]string{{DimService, DimEnvironment, DimCDSService, DimEvent}, {DimService, DimEnvironment, DimEvent}},
		LambdaDimensions: [][]string{{DimService, DimEnvironment, DimFunctionName, DimFunctionVersion, DimEvent}}}
)

// Vocabulary lists every metric the service emits.
func Vocabulary() []Metric {
	return []Metric{Requests, ClientErrors, ServerErrors, Latency, Predictions, ColdStart, KeyRefreshFailures, CDSHookEvents}
}

// CDSEvent is one thing that happens to a CDS Hooks service: the Event
// dimension's value, a fixed word.
type CDSEvent string

// The CDS Hooks events.
const (
	CDSCall            CDSEvent = "call"             // a hook call from a trusted client
	CDSComputed        CDSEvent = "computed"         // its card carries a prediction
	CDSNotComputed     CDSEvent = "not_computed"     // its card names missing or out-of-range inputs
	CDSFetch           CDSEvent = "fetch"            // one query read from the EHR's FHIR server
	CDSFetchFailed     CDSEvent = "fetch_failed"     // a query the FHIR server did not answer usably
	CDSPrefetchMissing CDSEvent = "prefetch_missing" // 412: required data neither prefetched nor fetchable
	CDSJWTRefused      CDSEvent = "jwt_refused"      // 401: the client JWT was missing or untrusted
	CDSFeedback        CDSEvent = "feedback"         // one card outcome reported
	// CDSReplayFailed is a client JWT refused because the jti replay store
	// (the DynamoDB table) did not answer. The refusal also counts as
	// CDSJWTRefused: this event tells a broken store (every EHR call
	// refused, a page) from untrusted callers (a warning).
	CDSReplayFailed CDSEvent = "replay_failed"
)

// CDSEvents lists every CDSEvent, for dashboards and tests.
func CDSEvents() []CDSEvent {
	return []CDSEvent{CDSCall, CDSComputed, CDSNotComputed, CDSFetch, CDSFetchFailed, CDSPrefetchMissing, CDSJWTRefused, CDSFeedback, CDSReplayFailed}
}

// CDSObservations is what event e of CDS Hooks service (a catalog model
// id) records in environment env.
func CDSObservations(env, service string, e CDSEvent) []Observation {
	return []Observation{{CDSHookEvents, 1, map[string]string{DimService: Service, DimEnvironment: env, DimCDSService: service, DimEvent: string(e)}}}
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
	// CDSHook records event e of CDS Hooks service (a catalog model id;
	// a call to any other id is refused before it records anything).
	CDSHook(ctx context.Context, service string, e CDSEvent)
}

// Discard records nothing.
type Discard struct{}

// Request implements Recorder.
func (Discard) Request(context.Context, Request) {}

// KeyRefreshFailed implements Recorder.
func (Discard) KeyRefreshFailed(context.Context) {}

// CDSHook implements Recorder.
func (Discard) CDSHook(context.Context, string, CDSEvent) {}

// KeyRefreshObservations is what a failed refresh of the API keys records
// in environment env.
func KeyRefreshObservations(env string) []Observation {
	return []Observation{{KeyRefreshFailures, 1, map[string]string{DimService: Service, DimEnvironment: env}}}
}

// Observation is one value of one metric with its dimension values: what a
// sink stores once a Request has been turned into the vocabulary.
type Observation struct {
	Metric     Metric
	Value      float64
	Dimensions map[string]string // values for every dimension the metric uses
}

// Observations turns a request served in environment env into the
// vocabulary: the single place that decides which metrics a request moves.
func Observations(env string, r Request) []Observation {
	op := map[string]string{DimService: Service, DimEnvironment: env, DimOperation: r.Operation}
	obs := []Observation{
		{Requests, 1, op},
		{ClientErrors, b2f(r.Status >= 400 && r.Status < 500), op},
		{ServerErrors, b2f(r.Status >= 500), op},
		{Latency, float64(r.Duration.Microseconds()) / 1000, op},
	}
	if r.Predicted() {
		obs = append(obs, Observation{Predictions, 1, map[string]string{DimService: Service, DimEnvironment: env, DimModel: r.Model}})
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

// CDSHook implements Recorder.
func (t Tee) CDSHook(ctx context.Context, service string, e CDSEvent) {
	for _, rec := range t {
		rec.CDSHook(ctx, service, e)
	}
}
