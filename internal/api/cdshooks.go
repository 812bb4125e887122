package api

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/scoring"
)

// The CDS Hooks routes (shared/CDS_HOOKS.md) delegate to package cdshooks;
// this file only reads bodies, authenticates and answers.

// newCDSHooks builds the services, a card's prediction extension encoded
// by appendPrediction: the encoder of POST /predict.
func newCDSHooks(o Options) *cdshooks.Service {
	refs := o.refs // built once by New, shared with /predict
	return cdshooks.New(cdshooks.Options{
		Config:  o.CDSHooks,
		Catalog: o.Catalog,
		Metrics: o.Metrics,
		Logger:  o.Logger,
		Encode: func(m *scoring.Model, p *scoring.Prediction) ([]byte, error) {
			return appendPrediction(nil, refs()[m.ID], p)
		},
	})
}

// readJSONBody reads a request body of at most limit bytes that must be
// one strict JSON object (as decodePredict: media type, no duplicate keys,
// no trailing data, no NaN or hex numbers).
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := readBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	if err := scanObject(data, func(name, value []byte) {}); err != nil {
		return nil, err
	}
	return data, nil
}

func handleCDSDiscovery(s *cdshooks.Service) http.Handler {
	return staticJSON(s.Discovery)
}

func handleCDSCall(s *cdshooks.Service) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := readJSONBody(w, r, cdshooks.MaxBodyBytes)
		if err != nil {
			return err
		}
		out, model, err := s.Call(r.Context(), r.PathValue("id"), body)
		if err != nil {
			return err
		}
		infoFrom(r.Context()).model = model // a computed card is a prediction
		w.Header()["Content-Type"] = jsonContentType
		_, _ = w.Write(out) // #nosec G705 -- a JSON document from encoding/json, sent as application/json with nosniff: no markup a browser renders
		return nil
	}
}

func handleCDSFeedback(logger *slog.Logger, s *cdshooks.Service) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := readJSONBody(w, r, cdshooks.MaxBodyBytes)
		if err != nil {
			return err
		}
		id := r.PathValue("id")
		sum, err := s.Feedback(r.Context(), id, body)
		if err != nil {
			return err
		}
		// The audit of a card outcome: counts, never a card's content or a
		// clinician's comment.
		logger.InfoContext(r.Context(), "cds feedback", "audit", true, "request_id", requestIDFrom(r.Context()),
			"service", id, "key_id", infoFrom(r.Context()).keyID, "accepted", sum.Accepted, "overridden", sum.Overridden)
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
}

// authenticateCDS admits a call whose client JWT s trusts (CDS Hooks 2.0,
// "Trusting CDS Clients"); the audit log names the client's issuer. Each
// issuer has a bucket in limits (the API keys' limiter, "cds:"+issuer),
// charged before the signature is checked: issuers are allow-listed, so
// forged tokens cost at most one issuer's rate of signature checks.
func authenticateCDS(logger *slog.Logger, s *cdshooks.Service, limits *limiter, next http.Handler) http.Handler {
	return handle(logger, func(w http.ResponseWriter, r *http.Request) error {
		info := infoFrom(r.Context())
		info.audit = true
		id := r.PathValue("id")
		path := "/cds-services/" + id
		if strings.HasSuffix(r.Pattern, "/feedback") {
			path += "/feedback"
		}
		ctx, c, err := s.Authenticate(r, id, path, func(issuer string) error {
			if wait := limits.take("cds:" + issuer); wait > 0 {
				return rateLimited("this CDS client has exceeded its request rate; retry after the time in Retry-After", wait)
			}
			return nil
		})
		if err != nil {
			return err
		}
		info.keyID = "cds:" + c.Issuer
		next.ServeHTTP(w, r.WithContext(ctx))
		return nil
	})
}

// cdsProblem is the problem answering a refused CDS Hooks call.
func cdsProblem(e *cdshooks.Error) *problem {
	var p *problem
	switch e.Kind {
	case cdshooks.KindUnauthorized:
		p = newProblem(kindUnauthorized, e.Detail)
		p.wwwAuthenticate = `Bearer realm="` + serviceName + `"`
	case cdshooks.KindUnknownService:
		p = newProblem(kindUnknownService, e.Detail)
	case cdshooks.KindPrefetchRequired:
		p = newProblem(kindPrefetchRequired, e.Detail)
	default:
		p = newProblem(kindBadHookRequest, e.Detail)
	}
	p.errors = e.Fields
	return p
}

// cdsCORSMaxAge is how long (seconds) a browser may reuse a preflight
// answer: Chromium's own cap (two hours).
const cdsCORSMaxAge = "7200"

// cdsCORS lets the browser-based CDS clients of cfg.CORSOrigins read the
// responses of a CDS Hooks route, problems included (CDS Hooks 2.0,
// "Cross-Origin Resource Sharing"; OWASP HTML5 Security Cheat Sheet: an
// allow-list of exact origins, no credentials). Tokens are bearer
// headers, never cookies, so Access-Control-Allow-Credentials is never sent.
func cdsCORS(cfg cdshooks.Config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if acao := cfg.AllowedOrigin(r.Header.Get("Origin")); acao != "" {
			h.Set("Access-Control-Allow-Origin", acao)
			h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After, WWW-Authenticate")
		}
		h.Add("Vary", "Origin") // the answer depends on Origin: caches keep one per origin
		next.ServeHTTP(w, r)
	})
}

// handleCDSPreflight answers OPTIONS on a CDS Hooks path whose method is
// method. Behind cdsCORS: an allowed origin's preflight gets the method
// and the headers a CDS client sends (Authorization for its JWT,
// Content-Type for JSON); any other OPTIONS gets only Allow.
func handleCDSPreflight(method string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Allow", method+", OPTIONS")
		if h.Get("Access-Control-Allow-Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", method)
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", cdsCORSMaxAge)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
