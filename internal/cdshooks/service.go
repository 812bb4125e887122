// Package cdshooks serves the models as CDS Hooks 2.0 services over FHIR R4
// (shared/CDS_HOOKS.md): discovery, the patient-view call that answers one
// card, and card feedback; the fetch path to an EHR's FHIR server; and the
// trust of CDS clients by JWT. internal/api routes to it and answers its
// errors as problems; the FHIR-to-inputs mapping is package fhir's, the
// prediction the model's (scoring.Model.Predict, as for POST /predict),
// and its encoding POST /predict's own, handed in as Options.Encode.
package cdshooks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/healthcare-prediction/api/internal/fhir"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/scoring"
)

// Hook is the one hook the services answer.
const Hook = "patient-view"

// MaxBodyBytes caps a hook request or feedback body: prefetched searchsets
// make a call far larger than a /predict body, and Lambda's payload limit
// is 6 MB.
const MaxBodyBytes = 4 << 20

// Config is the CDS Hooks part of the configuration: plain data.
type Config struct {
	// Clients are the trusted CDS clients (CDS_HOOKS_CLIENTS). Empty: the
	// calls take the API's own keys, and nothing is ever fetched.
	Clients []Client
	// BaseURL is the public base URL aud claims are checked against
	// (CDS_HOOKS_BASE_URL), e.g. https://api.example.org/prod.
	BaseURL string
	// AllowHTTP lets JWKS and FHIR server URLs use http (tests, local runs).
	AllowHTTP bool
	// CORSOrigins are the browser origins allowed to call the services
	// (CDS_HOOKS_CORS_ORIGINS): "*" or exact origins; empty: none.
	CORSOrigins []string
	// FetchTimeout bounds the FHIR fetches of one call together
	// (CDS_HOOKS_FETCH_TIMEOUT; zero: DefaultFetchTimeout).
	FetchTimeout time.Duration
	// Replay records the jti of accepted client JWTs. nil: an in-process
	// cache (bounded), which serves one instance only.
	Replay ReplayStore
}

// EncodeFunc returns the body POST /predict answers for prediction p of
// model m.
type EncodeFunc func(m *scoring.Model, p *scoring.Prediction) ([]byte, error)

// Options are the dependencies of the services. Zero Fetch, Verify and Now
// take their defaults; nil Metrics records nothing.
type Options struct {
	Config
	Catalog *scoring.Catalog
	Encode  EncodeFunc
	Metrics metrics.Recorder
	Logger  *slog.Logger
	Fetch   FetchOptions
	Verify  VerifierOptions
	Now     func() time.Time
}

// Service serves every model the FHIR layer can fill as a CDS service.
type Service struct {
	o        Options
	verifier *Verifier // nil without clients
	services map[string]*service
	order    []*service
}

// service is one CDS service: a model and its prefetch templates.
type service struct {
	model    *scoring.Model
	prefetch map[string]string
}

// New builds the services of every catalog model that the FHIR layer has
// prefetch templates for and whose source has a DOI (a card's source links
// it): the ones ServiceIDs lists.
func New(o Options) *Service {
	if o.Metrics == nil {
		o.Metrics = metrics.Discard{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Fetch.Timeout == 0 {
		o.Fetch.Timeout = o.FetchTimeout
	}
	o.Fetch = o.Fetch.withDefaults()
	s := &Service{o: o, services: map[string]*service{}}
	if len(o.Clients) > 0 {
		vo := o.Verify
		if vo.Replay == nil {
			vo.Replay = o.Replay
		}
		if vo.Logger == nil {
			vo.Logger = o.Logger
		}
		s.verifier = NewVerifier(o.Clients, o.BaseURL, vo)
	}
	if o.Catalog == nil {
		return s
	}
	for _, m := range o.Catalog.Models() {
		if p, ok := offered(o.Catalog, m); ok {
			sv := &service{model: m, prefetch: p}
			s.services[m.ID] = sv
			s.order = append(s.order, sv)
		}
	}
	return s
}

// offered returns the prefetch templates of model m of catalog c when m is
// served as a CDS service: the FHIR layer has templates for it and its
// source has a DOI (a card's source links it).
func offered(c *scoring.Catalog, m *scoring.Model) (prefetch map[string]string, ok bool) {
	p, ok := fhir.Prefetch(c, m.ID)
	return p, ok && m.DOI != ""
}

// ServiceIDs lists the ids of the CDS services New builds from catalog c,
// in catalog order: the cds_service values their metrics can carry.
func ServiceIDs(c *scoring.Catalog) []string {
	var ids []string
	for _, m := range c.Models() {
		if _, ok := offered(c, m); ok {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// TrustsClients reports whether calls are authenticated by client JWTs
// (CDS_HOOKS_CLIENTS is set) rather than by the API's keys.
func (s *Service) TrustsClients() bool { return s != nil && s.verifier != nil }

type clientKey struct{}

// Authenticate verifies the client JWT of r, a call to service id at path
// (the route path without any stage prefix), and returns r's context
// carrying the client. An unknown id is refused first (404, whatever the
// token). admit, when not nil, is called with the claimed issuer after the
// allow-list and before any cryptography (the caller's rate limit); its
// error is returned as is. Feedback tokens may name the service's endpoint
// as aud as well as the feedback endpoint.
func (s *Service) Authenticate(r *http.Request, id, path string, admit func(issuer string) error) (context.Context, *Client, error) {
	if _, ok := s.services[id]; !ok {
		return nil, nil, refuse(KindUnknownService, "no CDS service has this id; GET /cds-services lists them")
	}
	c, err := s.verifier.verify(r.Context(), r.Header.Get("Authorization"), path, admit, s.verifier.baseURL+"/cds-services/"+id)
	if err != nil {
		if _, refused := err.(*Error); refused {
			s.o.Metrics.CDSHook(r.Context(), id, metrics.CDSJWTRefused)
			// Also apart: a store that cannot answer refuses every EHR
			// call, which pages; jwt_refused alone only warns.
			if errors.Is(err, errReplayStore) {
				s.o.Metrics.CDSHook(r.Context(), id, metrics.CDSReplayFailed)
			}
		}
		return nil, nil, err
	}
	return context.WithValue(r.Context(), clientKey{}, c), c, nil
}

func clientFrom(ctx context.Context) *Client {
	c, _ := ctx.Value(clientKey{}).(*Client)
	return c
}

// discoveryService is one entry of GET /cds-services.
type discoveryService struct {
	Hook        string            `json:"hook"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	ID          string            `json:"id"`
	Prefetch    map[string]string `json:"prefetch"`
}

// Discovery is the body of GET /cds-services (CDS Hooks 2.0, "Discovery").
func (s *Service) Discovery() any {
	out := struct {
		Services []discoveryService `json:"services"`
	}{Services: []discoveryService{}}
	for _, sv := range s.order {
		m := sv.model
		var resources []string
		for _, q := range sv.prefetch {
			rt, _, _ := strings.Cut(q, "?")
			rt, _, _ = strings.Cut(rt, "/")
			if !slices.Contains(resources, rt) {
				resources = append(resources, rt)
			}
		}
		slices.Sort(resources)
		desc := "Computes the " + m.Result.Label
		if u := displayUnit(m.Result.Unit); u != "" {
			desc += " (" + u + ")"
		}
		desc += " from the patient's FHIR R4 " + strings.Join(resources, ", ") + " resources, every input traced to the resource " +
			"it came from. Population: " + m.Population + ". Source: " + m.Citation + "."
		out.Services = append(out.Services, discoveryService{Hook: Hook, Title: m.Title, Description: desc, ID: m.ID, Prefetch: sv.prefetch})
	}
	return out
}

// Call answers one hook call to service id: body is the request, already
// checked to be one strict JSON object within MaxBodyBytes. It returns
// the response body, and the model's id when the card carries a
// prediction.
func (s *Service) Call(ctx context.Context, id string, body []byte) (resp []byte, computed string, err error) {
	sv, ok := s.services[id]
	if !ok {
		return nil, "", refuse(KindUnknownService, "no CDS service has this id; GET /cds-services lists them")
	}
	s.o.Metrics.CDSHook(ctx, id, metrics.CDSCall)
	req, err := parseHookRequest(body)
	if err != nil {
		return nil, "", err
	}
	prefetch, fetched, err := s.gather(ctx, sv, req)
	if err != nil {
		return nil, "", err
	}
	now := s.o.Now()
	mp, err := mapChart(s.o.Catalog, sv.model, req.patientID, prefetch, fetched, now)
	if err != nil {
		return nil, "", err
	}
	c, err := s.card(sv, mp)
	if err != nil {
		return nil, "", err
	}
	out, err := json.Marshal(struct {
		Cards []card `json:"cards"`
	}{[]card{c}})
	if err != nil {
		return nil, "", err
	}
	if c.Extension != nil {
		s.o.Metrics.CDSHook(ctx, id, metrics.CDSComputed)
		return append(out, '\n'), id, nil
	}
	s.o.Metrics.CDSHook(ctx, id, metrics.CDSNotComputed)
	return append(out, '\n'), "", nil
}

// gather returns the data of every prefetch key of sv: what the client
// sent, and for each absent key what the client's allow-listed FHIR
// server answers (the keys in fetched). Without a usable server an absent
// key is a 412.
func (s *Service) gather(ctx context.Context, sv *service, req *hookRequest) (data map[string]json.RawMessage, fetched map[string]bool, err error) {
	data = map[string]json.RawMessage{}
	var missing []string
	for key := range sv.prefetch {
		if v, ok := req.prefetch[key]; ok {
			data[key] = v
		} else {
			missing = append(missing, key)
		}
	}
	if len(missing) == 0 {
		return data, nil, nil
	}
	slices.Sort(missing)
	id := sv.model.ID
	f := s.fetcherFor(ctx, req)
	if f == nil {
		s.o.Metrics.CDSHook(ctx, id, metrics.CDSPrefetchMissing)
		return nil, nil, &Error{Kind: KindPrefetchRequired, Detail: "required prefetch keys are absent (" + strings.Join(missing, ", ") +
			") and the request carries no FHIR server this client may be fetched from with fhirAuthorization"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Fetch.Timeout)
	defer cancel()
	results := make([]json.RawMessage, len(missing))
	g, gctx := errgroup.WithContext(ctx)
	for i, key := range missing {
		query := fillTemplate(sv.prefetch[key], req.patientID)
		g.Go(func() error {
			v, err := f.fetch(gctx, query)
			s.o.Metrics.CDSHook(ctx, id, metrics.CDSFetch)
			if err != nil {
				s.o.Metrics.CDSHook(ctx, id, metrics.CDSFetchFailed)
				return err
			}
			results[i] = v
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		// Why stays out of the log: the cause can hold the server's words.
		s.o.Logger.WarnContext(ctx, "cds hooks: fhir fetch failed", "service", id)
		s.o.Metrics.CDSHook(ctx, id, metrics.CDSPrefetchMissing)
		return nil, nil, &Error{Kind: KindPrefetchRequired, Detail: "required prefetch keys are absent (" + strings.Join(missing, ", ") +
			") and the FHIR server did not answer them in time and in full"}
	}
	fetched = map[string]bool{}
	for i, key := range missing {
		data[key], fetched[key] = results[i], true
	}
	return data, fetched, nil
}

// fetcherFor is the fetcher of the request's FHIR server, or nil when
// there is none usable: no trusted client (API-key mode), no fhirServer
// or fhirAuthorization, a token scoped to a patient other than the
// context's, a server not allow-listed for the client, or plain http
// where it is not allowed.
func (s *Service) fetcherFor(ctx context.Context, req *hookRequest) *fetcher {
	c := clientFrom(ctx)
	if c == nil || req.fhirServer == "" || req.accessToken == "" {
		return nil
	}
	if req.tokenPatient != "" && req.tokenPatient != req.patientID {
		return nil // a token scoped to another patient: never used for this one's chart
	}
	server, err := CheckURL(req.fhirServer, s.o.AllowHTTP)
	if err != nil || !c.allowsServer(server) {
		return nil
	}
	return &fetcher{o: s.o.Fetch, server: server, token: req.accessToken}
}

// fillTemplate puts the patient id (a checked FHIR id: letters, digits,
// '-' and '.', nothing to escape) into a prefetch template.
func fillTemplate(t, patientID string) string {
	return strings.ReplaceAll(t, "{{context.patientId}}", patientID)
}
