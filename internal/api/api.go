// Package api is the HTTP surface of the service: routes, strict request
// decoding, RFC 9457 problem responses and middleware. The same handler
// serves Lambda (through the api-proxy adapter) and the container server.
// GET /openapi.json serves the document package openapi builds from the
// route table and the problem kinds.
package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/scoring"
)

// Group selects which routes a handler serves: each Lambda function serves
// its own group, the container serves them all.
type Group uint8

// Route groups, one per Lambda function.
const (
	Info     Group = 1 << iota // GET /, /models, /models/{id}, /openapi.json, /docs
	Health                     // /health, /health/live, /health/ready
	Predict                    // /predict
	CDSHooks                   // /cds-services, /cds-services/{id}, /cds-services/{id}/feedback
	All      = Info | Health | Predict | CDSHooks
)

// Build identifies the running code.
type Build struct {
	Version string
	Commit  string
}

// Lifecycle is the process state that health checks report. The container
// server calls Drain on SIGTERM so the load balancer stops sending traffic
// before the listener closes.
type Lifecycle struct {
	started  time.Time
	draining atomic.Bool
}

// NewLifecycle starts the uptime clock.
func NewLifecycle() *Lifecycle { return &Lifecycle{started: time.Now()} }

// Drain marks the process as shutting down: /health/ready turns 503.
func (l *Lifecycle) Drain() { l.draining.Store(true) }

// Draining reports whether Drain was called.
func (l *Lifecycle) Draining() bool { return l.draining.Load() }

// Docs is the documentation page of GET /docs (package docs): the handler
// of each of its files by name under /docs/, "" being the page itself. It
// is passed in rather than imported so that a binary without it (the
// Predict function) does not carry the page's assets.
type Docs interface {
	File(name string) (http.Handler, bool)
}

// Options are the dependencies of the API. Every field is required except
// Metrics (nil records nothing), Docs (nil serves no /docs) and
// StripBasePath.
type Options struct {
	Logger    *slog.Logger
	Metrics   metrics.Recorder
	Catalog   *scoring.Catalog
	Build     Build
	Lifecycle *Lifecycle
	Routes    Group
	// Keys checks API keys on protected routes; nil turns authentication
	// off (the mains refuse that under Lambda and Kubernetes unless told).
	Keys KeyStore
	// Docs serves GET /docs and its files; nil leaves those routes out.
	Docs Docs
	// RateLimit limits each API key's requests; zero means no limit.
	RateLimit RateLimit
	// TrustedProxies are the peers whose X-Forwarded-For the audit believes
	// (the ALB's subnets); empty means the TCP peer is the source. Lambda
	// takes the source from API Gateway's event instead.
	TrustedProxies []netip.Prefix
	// CDSHooks configures the CDS Hooks services: the trusted clients
	// (none: the calls take Keys like /predict), the public base URL and
	// whether http is allowed for their JWKS and FHIR servers.
	CDSHooks cdshooks.Config
	// StripBasePath lets a request whose path carries an API Gateway stage
	// or custom-domain base path ("/Prod/predict") reach its route. Only
	// Lambda needs it; the container serves bare paths.
	StripBasePath bool

	cds  *cdshooks.Service        // built by New from CDSHooks
	refs func() map[string][]byte // built by New: each model's encoded reference (modelRefs)
}

// New builds the handler: the routes of o.Routes behind the middleware.
func New(o Options) http.Handler {
	if o.Metrics == nil {
		o.Metrics = metrics.Discard{}
	}
	o.refs = sync.OnceValue(func() map[string][]byte { return modelRefs(o.Catalog) }) // at the first prediction, not at start-up
	if o.Routes&CDSHooks != 0 {
		o.cds = newCDSHooks(o) // only where served: the other functions' cold starts skip it
	}
	mux := http.NewServeMux()
	// One limiter for the whole API: a key's rate is not multiplied by the
	// number of protected routes.
	addRoutes(mux, o, newLimiter(o.RateLimit))
	var h http.Handler = mux
	if o.StripBasePath {
		h = stripBasePath(mux)
	}
	return requestID(observe(o.Logger, o.Metrics, o.TrustedProxies, recoverPanics(o.Logger, refuseBadEvents(h))))
}
