package api

import (
	"net/http"
	"slices"
	"strings"
)

// route is one operation of the public contract (shared/DESIGN.md).
type route struct {
	method  string
	path    string // ServeMux pattern path
	group   Group
	auth    access
	summary string
	handler http.Handler
}

// access says who may call a route.
type access uint8

// Who may call a route.
const (
	public    access = iota
	protected        // needs an API key (when keys are configured)
	// cdsClient needs a trusted CDS client's JWT when CDS_HOOKS_CLIENTS
	// is set, else an API key like a protected route.
	cdsClient
)

// routes lists the whole API surface. The index and the OpenAPI document
// describe the table itself, so they get a pointer to it.
func routes(o Options) []route {
	cds := o.cds // nil when only listing routes (Routes): handlers are built, never called
	var table []route
	table = []route{
		{"GET", "/{$}", Info, public, "Service name, version, endpoints and model ids", handleIndex(o.Build, o.Catalog, &table)},
		{"GET", "/models", Info, protected, "Catalog of every model", handleModels(o.Catalog)},
		{"GET", "/models/{id}", Info, protected, "One model: inputs, units, ranges, outputs, citation", handle(o.Logger, handleModel(o.Catalog))},
		{"GET", "/openapi.json", Info, public, "This OpenAPI 3.1 document", handleOpenAPI(o.Build, o.Catalog, o.refs, &table)},
		{"GET", "/docs", Info, public, "Interactive page over this document", handleDocs(o.Logger, o.Docs)},
		{"GET", "/docs/{file}", Info, public, "A file of the documentation page: script, style sheet or licence", handleDocs(o.Logger, o.Docs)},
		{"GET", "/health", Health, public, "Status, version, uptime and checks; 503 when not ready", handleHealth(o.Build, o.Lifecycle, o.Keys)},
		{"GET", "/health/live", Health, public, "Liveness: the process is up", handleLive()},
		{"GET", "/health/ready", Health, public, "Readiness: 503 while draining or not ready", handleReady(o.Lifecycle, o.Keys)},
		{"POST", "/predict", Predict, protected, "Compute one model", handle(o.Logger, handlePredict(o.Catalog, o.refs))},
		{"GET", "/predict", Predict, public, "Refused: clinical values do not belong in URLs", handle(o.Logger, handlePredictGet())},
		{"GET", "/cds-services", CDSHooks, public, "CDS Hooks discovery: one patient-view service per model", handleCDSDiscovery(cds)},
		{"POST", "/cds-services/{id}", CDSHooks, cdsClient, "CDS Hooks call: one card from the patient's FHIR data", handle(o.Logger, handleCDSCall(cds))},
		{"POST", "/cds-services/{id}/feedback", CDSHooks, cdsClient, "CDS Hooks card feedback", handle(o.Logger, handleCDSFeedback(o.Logger, cds))},
		{"OPTIONS", "/cds-services", CDSHooks, public, "CORS preflight of CDS Hooks discovery", handleCDSPreflight("GET")},
		{"OPTIONS", "/cds-services/{id}", CDSHooks, public, "CORS preflight of a CDS Hooks call", handleCDSPreflight("POST")},
		{"OPTIONS", "/cds-services/{id}/feedback", CDSHooks, public, "CORS preflight of CDS Hooks feedback", handleCDSPreflight("POST")},
	}
	return table
}

// publicPath is a route's path as clients write it.
func (rt route) publicPath() string { return strings.TrimSuffix(rt.path, "{$}") }

// addRoutes registers the routes of o.Routes, a problem-response 405 for
// every other method on their paths, and a problem-response 404 for
// everything else (ServeMux's own answers are plain text). The protected
// routes share limits.
func addRoutes(mux *http.ServeMux, o Options, limits *limiter) {
	cds := o.cds
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes(o) {
		if rt.group&o.Routes == 0 || rt.handler == nil {
			continue // not this function's, or not configured (Options.Docs)
		}
		h := rt.handler
		switch {
		case rt.auth == cdsClient && cds.TrustsClients():
			h = authenticateCDS(o.Logger, cds, limits, h)
		case rt.auth != public && o.Keys != nil:
			h = authenticate(o.Logger, o.Keys, limits, h)
		}
		if rt.group == CDSHooks && len(o.CDSHooks.CORSOrigins) > 0 {
			h = cdsCORS(o.CDSHooks, h) // outermost: refusals carry the CORS headers too
		}
		mux.Handle(rt.method+" "+rt.path, h)
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == "GET" {
			allowed[rt.path] = append(allowed[rt.path], "HEAD")
		}
	}
	for _, path := range paths {
		methods := allowed[path]
		slices.Sort(methods)
		mux.Handle(path, handle(o.Logger, methodNotAllowed(strings.Join(slices.Compact(methods), ", "))))
	}
	mux.Handle("/", handle(o.Logger, notFound()))
}

// stripBasePath retries a request that matches no route without its leading
// path segments, so "/Prod/predict" (a REST API stage or custom-domain base
// path in the event) reaches "/predict".
func stripBasePath(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "/" {
			for path := r.URL.Path; ; {
				i := strings.IndexByte(path[1:], '/')
				if i < 0 {
					break
				}
				path = path[i+1:]
				r2 := r.Clone(r.Context())
				r2.URL.Path, r2.URL.RawPath = path, ""
				if _, p := mux.Handler(r2); p != "/" {
					r.URL.Path, r.URL.RawPath = path, ""
					break
				}
			}
		}
		mux.ServeHTTP(w, r)
	})
}
