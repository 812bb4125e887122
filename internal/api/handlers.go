package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/healthcare-prediction/api/internal/openapi"
	"github.com/healthcare-prediction/api/internal/scoring"
)

// serviceName is how the service names itself in / and /health.
const serviceName = "healthcare-prediction-api"

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func handleIndex(b Build, c *scoring.Catalog, table *[]route) http.Handler {
	type endpoint struct {
		Method string `json:"method"`
		Path   string `json:"path"`
	}
	type response struct {
		Service       string     `json:"service"`
		Version       string     `json:"version"`
		Endpoints     []endpoint `json:"endpoints"`
		Models        []string   `json:"models"`
		Documentation string     `json:"documentation"`
	}
	return staticJSON(func() any {
		var eps []endpoint
		for _, rt := range *table {
			eps = append(eps, endpoint{rt.method, rt.publicPath()})
		}
		return response{Service: serviceName, Version: b.Version, Endpoints: eps, Models: c.IDs(), Documentation: "/openapi.json"}
	})
}

// handleOpenAPI serves the OpenAPI document (package openapi) of the routes
// in table and the problem kinds, its examples answered by the code paths
// of POST /predict and writeProblem.
func handleOpenAPI(b Build, c *scoring.Catalog, refs func() map[string][]byte, table *[]route) http.Handler {
	tags := map[Group]string{Info: "info", Health: "health", Predict: "predict", CDSHooks: "cds-hooks"}
	return staticJSON(func() any {
		s := openapi.Service{Version: b.Version, Catalog: c, RequestIDPattern: requestIDPattern, CORSMaxAge: cdsCORSMaxAge,
			Predict: func(m *scoring.Model, inputs map[string]json.RawMessage) any {
				body, err := computePrediction(nil, refs()[m.ID], m, inputs)
				if invalid := (*scoring.ValidationError)(nil); errors.As(err, &invalid) {
					return validationProblem(invalid).body("")
				} else if err != nil {
					panic(err) // the examples' inputs are valid, or invalid only in range
				}
				return json.RawMessage(body)
			},
			ProblemBody: func(p openapi.Problem, detail string, errs []scoring.FieldError, requestID string) any {
				return (&problem{kind: kind{p.Status, p.Slug, p.Title}, detail: detail, errors: errs}).body(requestID)
			},
		}
		for _, rt := range *table {
			s.Routes = append(s.Routes, openapi.Route{Method: rt.method, Path: rt.publicPath(), Tag: tags[rt.group],
				Summary: rt.summary, Protected: rt.auth != public, CDSClient: rt.auth == cdsClient})
		}
		for _, k := range problemKinds {
			s.Problems = append(s.Problems, openapi.Problem{Slug: k.slug, Type: problemTypeBase + k.slug, Title: k.title, Status: k.status})
		}
		return openapi.Document(s)
	})
}

// staticJSON serves the JSON of what v returns, encoded on first use and
// kept (as writeJSON writes it): the index, the catalog and the OpenAPI
// document do not change while the process runs. The body is built before
// the status is written, so a document that cannot be built is a 500
// problem (recoverPanics), not an empty 200; sync.OnceValue panics again
// on every later request.
func staticJSON(v func() any) http.Handler {
	body := sync.OnceValue(func() []byte {
		b, err := json.Marshal(v())
		if err != nil {
			panic(err) // the service's own types: a bug, not a request's fault
		}
		return append(b, '\n')
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := body()
		w.Header()["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	})
}

// handleDocs serves the documentation page's files: GET /docs is the page,
// GET /docs/{file} its scripts, style sheets and licences. Nil without a
// page: the route is then not served.
func handleDocs(logger *slog.Logger, d Docs) http.Handler {
	if d == nil {
		return nil
	}
	return handle(logger, func(w http.ResponseWriter, r *http.Request) error {
		f, ok := d.File(r.PathValue("file"))
		if !ok {
			return newProblem(kindNotFound, "the documentation page has no such file; GET /docs is the page")
		}
		f.ServeHTTP(w, r)
		return nil
	})
}

func handleModels(c *scoring.Catalog) http.Handler {
	type response struct {
		Models []*scoring.Model `json:"models"`
	}
	return staticJSON(func() any { return response{Models: c.Models()} })
}

func handleModel(c *scoring.Catalog) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		m, ok := c.Model(r.PathValue("id"))
		if !ok {
			return unknownModel(c)
		}
		writeJSON(w, http.StatusOK, m)
		return nil
	}
}

func unknownModel(c *scoring.Catalog) error {
	return newProblem(kindUnknownModel, "no model has this id; known ids: "+strings.Join(c.IDs(), ", "))
}

// computePrediction computes m on inputs and appends the body POST /predict
// answers to buf. A CDS Hooks card computes its prediction the same way
// (scoring.Model.Predict, then appendPrediction).
func computePrediction(buf, ref []byte, m *scoring.Model, inputs map[string]json.RawMessage) ([]byte, error) {
	p, err := m.Predict(inputs)
	if err != nil {
		return nil, err
	}
	return appendPrediction(buf, ref, p)
}

func handlePredict(c *scoring.Catalog, refs func() map[string][]byte) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decodePredict(w, r)
		if err != nil {
			return err
		}
		m, ok := c.Model(req.Model)
		if !ok {
			return unknownModel(c)
		}
		infoFrom(r.Context()).model = m.ID
		buf := bodyBuffers.Get().(*[]byte)
		defer bodyBuffers.Put(buf)
		if *buf, err = computePrediction((*buf)[:0], refs()[m.ID], m, req.Inputs); err != nil {
			return err
		}
		w.Header()["Content-Type"] = jsonContentType
		_, _ = w.Write(*buf)
		return nil
	}
}

func handlePredictGet() func(http.ResponseWriter, *http.Request) error {
	return func(http.ResponseWriter, *http.Request) error {
		p := newProblem(kindMethodNotAllowed, "predictions take POST /predict with a JSON body: clinical values in a URL "+
			"end up in gateway, load-balancer and proxy logs and in browser history (OWASP ASVS V8.3.1, CWE-598). "+
			"GET /models lists the models and their inputs.")
		p.allow = "POST"
		return p
	}
}

// healthResponse is the body of /health. It says nothing of the API keys:
// /health is public (HealthFunction serves it to the world), and whether
// a deployment checks keys, or cannot right now, is for the probe path
// and the metrics.
type healthResponse struct {
	Status        string            `json:"status"`
	Service       string            `json:"service"`
	Version       string            `json:"version"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	Checks        map[string]string `json:"checks"`
}

// ready reports whether the process should get traffic, and if not why:
// it is draining, or keys are configured but none is usable.
func ready(l *Lifecycle, keys KeyStore) (bool, string) {
	switch {
	case l.Draining():
		return false, "draining"
	case keys != nil && !keys.Ready():
		return false, "no_api_keys"
	}
	return true, "ready"
}

func handleHealth(b Build, l *Lifecycle, keys KeyStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := healthResponse{Status: "ok", Service: serviceName, Version: b.Version,
			UptimeSeconds: time.Since(l.started).Seconds(), Checks: map[string]string{"lifecycle": "serving"}}
		if l.Draining() {
			h.Checks["lifecycle"] = "draining"
		}
		status := http.StatusOK
		if ok, _ := ready(l, keys); !ok {
			h.Status, status = "degraded", http.StatusServiceUnavailable
		}
		writeJSON(w, status, h)
	})
}

// readyResponse is the body of /health/ready: the probe's answer, and the
// key store's state where keys are checked.
type readyResponse struct {
	Status  string `json:"status"`
	APIKeys string `json:"api_keys,omitempty"`
}

func handleReady(l *Lifecycle, keys KeyStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, why := ready(l, keys)
		body := readyResponse{Status: why}
		if keys != nil {
			body.APIKeys = keys.Status()
		}
		status := http.StatusOK
		if !ok {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, body)
	})
}

func handleLive() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}
