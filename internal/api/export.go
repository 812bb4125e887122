package api

// Endpoint is one public operation of the API as a client or an API Gateway
// route sees it: a method and a path ("/" rather than the ServeMux's "/{$}").
type Endpoint struct {
	Method    string
	Path      string
	Protected bool // needs an API key when keys are configured
}

// Routes lists the endpoints of the groups in g, in route-table order. The
// deployment tests compare it with template.yaml, so the API Gateway events
// and the functions' own routes cannot drift apart.
func Routes(g Group) []Endpoint {
	var out []Endpoint
	// No catalog: the handlers built here are never called, and handlers
	// reach the catalog only when serving. Building one would cost a
	// Lambda cold start, which asks Protected before building the API.
	for _, rt := range routes(Options{Lifecycle: NewLifecycle()}) {
		if rt.group&g != 0 {
			out = append(out, Endpoint{Method: rt.method, Path: rt.publicPath(), Protected: rt.auth != public})
		}
	}
	return out
}

// Protected reports whether any route of g needs an API key.
func Protected(g Group) bool {
	for _, e := range Routes(g) {
		if e.Protected {
			return true
		}
	}
	return false
}
