package cdshooks_test

// TestEHR plays the EHR against the whole API (shared/CDS_HOOKS.md): a JWKS
// server and a FHIR server on loopback, real ES384 and RS384 client JWTs,
// prefetch built by evaluating the service's own discovery templates
// against a store of FHIR resources, cards checked against the CDS Hooks
// 2.0 rules and against POST /predict on the same inputs, every refusal,
// the 412, the fetch path, and a FHIR server outside the allow-list that
// is never called. Nothing the EHR sent (patient id, values, token) may
// reach a log line, a metric or an error body.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/cdshooks/cdshookstest"
	"github.com/healthcare-prediction/api/internal/fhir"
	"github.com/healthcare-prediction/api/internal/metrics/prom"
	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/testutil"
)

// Sentinels: values only the EHR knows. None may appear in a log line, the
// metrics exposition or an error body.
const (
	patientID   = "sentinel-pt-5b1e"
	accessToken = "sentinel-token-9c4d7e"
	issuer      = "https://ehr.example.test"
	baseURL     = "https://cds.example.test/prod"
	sentinelTC  = 213.7 // total cholesterol, mg/dL
)

// store is the EHR's chart: resources by type.
type store map[string][]map[string]any

func ago(days int) string { return time.Now().AddDate(0, 0, -days).UTC().Format(time.RFC3339) }

func quantity(v float64, unit string) map[string]any {
	return map[string]any{"value": v, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
}

func observation(id, loinc string, v float64, unit string, days int) map[string]any {
	return map[string]any{"resourceType": "Observation", "id": id, "status": "final",
		"subject":           map[string]any{"reference": "Patient/" + patientID},
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": loinc}}},
		"effectiveDateTime": ago(days), "valueQuantity": quantity(v, unit)}
}

func coded(system, code string) map[string]any {
	return map[string]any{"coding": []any{map[string]any{"system": system, "code": code}}}
}

// chart is a 58-year-old white man with hypertension on lisinopril, a
// current smoker, with recent lipids, blood pressure, kidney and liver labs.
func chart() store {
	birth := time.Now().AddDate(-58, 0, -40).Format(time.DateOnly)
	active := coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")
	return store{
		"Patient": {{"resourceType": "Patient", "id": patientID, "gender": "male", "birthDate": birth,
			"extension": []any{map[string]any{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
				"extension": []any{map[string]any{"url": "ombCategory", "valueCoding": map[string]any{
					"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"}}}}}}},
		"Observation": {
			observation("tc", "2093-3", sentinelTC, "mg/dL", 20),
			observation("hdl", "2085-9", 44, "mg/dL", 20),
			observation("sbp", "8480-6", 142, "mm[Hg]", 3),
			observation("cr", "2160-0", 1.1, "mg/dL", 5),
			observation("bili", "1975-2", 2.3, "mg/dL", 5),
			observation("inr", "6301-6", 1.6, "{INR}", 5),
			observation("na", "2951-2", 131, "mmol/L", 5),
			observation("alb", "1751-7", 3.1, "g/dL", 5),
			observation("bmi", "39156-5", 28.4, "kg/m2", 30),
			{"resourceType": "Observation", "id": "smk", "status": "final", "subject": map[string]any{"reference": "Patient/" + patientID}, "code": coded("http://loinc.org", "72166-2"),
				"effectiveDateTime": ago(30), "valueCodeableConcept": coded("http://snomed.info/sct", "449868002")},
		},
		"Condition": {
			{"resourceType": "Condition", "id": "htn", "subject": map[string]any{"reference": "Patient/" + patientID}, "clinicalStatus": active, "code": coded("http://snomed.info/sct", "38341003")},
		},
		"MedicationRequest": {
			{"resourceType": "MedicationRequest", "id": "rx1", "status": "active", "intent": "order", "subject": map[string]any{"reference": "Patient/" + patientID},
				"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{
					"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076", "display": "lisinopril 10 MG Oral Tablet"}}}},
		},
		"Procedure": {},
	}
}

// search evaluates a prefetch query (a template with the patient id
// filled in) against the store, as a FHIR server would: an instance read,
// or a search by patient with token lists (system|code,...) and status.
func (s store) search(query string) (any, bool) {
	path, rawQuery, isSearch := strings.Cut(query, "?")
	if !isSearch {
		typ, id, _ := strings.Cut(path, "/")
		for _, r := range s[typ] {
			if r["id"] == id {
				return r, true
			}
		}
		return nil, false
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil || q.Get("patient") != patientID {
		return nil, false
	}
	var out []any
	for _, r := range s[path] {
		if codes := q.Get("code"); codes != "" {
			c := r["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)
			if !slices.Contains(strings.Split(codes, ","), c["system"].(string)+"|"+c["code"].(string)) {
				continue
			}
		}
		if st := q.Get("status"); st != "" && !slices.Contains(strings.Split(st, ","), r["status"].(string)) {
			continue
		}
		out = append(out, r)
	}
	return out, true
}

func searchset(resources []any) map[string]any {
	entries := []any{}
	for _, r := range resources {
		entries = append(entries, map[string]any{"resource": r, "search": map[string]any{"mode": "match"}})
	}
	return map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}
}

// fhirServer serves the store with two entries a page, checks the token
// and the Accept header, and counts its requests.
func fhirServer(t testing.TB, s store) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+accessToken || r.Header.Get("Accept") != "application/fhir+json" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		query := strings.TrimPrefix(r.URL.Path, "/fhir/")
		page := 0
		if r.URL.RawQuery != "" {
			q := r.URL.Query()
			if p := q.Get("_page"); p != "" {
				_, _ = fmt.Sscan(p, &page)
				q.Del("_page")
			}
			query += "?" + strings.ReplaceAll(q.Encode(), "%7C", "|")
			query = strings.ReplaceAll(query, "%2C", ",")
		}
		res, ok := s.search(query)
		w.Header().Set("Content-Type", "application/fhir+json")
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"resourceType":"OperationOutcome"}`)
			return
		}
		list, isSearch := res.([]any)
		if !isSearch {
			_ = json.NewEncoder(w).Encode(res)
			return
		}
		const size = 2
		lo, hi := min(page*size, len(list)), min(page*size+size, len(list))
		b := searchset(list[lo:hi])
		b["total"] = len(list)
		if hi < len(list) {
			next := srv.URL + r.URL.Path + "?" + r.URL.RawQuery
			next = regexp.MustCompile(`&_page=\d+`).ReplaceAllString(next, "") + fmt.Sprintf("&_page=%d", page+1)
			b["link"] = []any{map[string]any{"relation": "next", "url": next}}
		}
		_ = json.NewEncoder(w).Encode(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

type ehr struct {
	t        testing.TB
	api      *httptest.Server
	fhir     *httptest.Server
	rogue    *httptest.Server
	fhirHits *atomic.Int32
	rogueHit *atomic.Int32
	es, rs   cdshookstest.Signer
	store    store
	bodies   []string // every response body, for the sentinel scan
	logs     *testutil.Buffer
	prom     *prom.Recorder
}

func newEHR(t testing.TB) *ehr { return newEHRWith(t, nil) }

// newEHRWith is newEHR with the API's options edited by edit.
func newEHRWith(t testing.TB, edit func(*api.Options)) *ehr {
	e := &ehr{t: t, store: chart(), logs: &testutil.Buffer{}}
	e.es, e.rs = cdshookstest.NewSigner(t, issuer, jose.ES384, "ehr-es384"), cdshookstest.NewSigner(t, issuer, jose.RS384, "ehr-rs384")
	jwks := cdshookstest.JWKS(t, e.es, e.rs)
	e.fhir, e.fhirHits = fhirServer(t, e.store)
	e.rogue, e.rogueHit = fhirServer(t, e.store)
	e.prom = prom.New("test", "v", "c")
	o := api.Options{
		Logger:    slog.New(slog.NewJSONHandler(e.logs, nil)),
		Metrics:   e.prom,
		Catalog:   scoring.NewCatalog(),
		Lifecycle: api.NewLifecycle(),
		Routes:    api.All,
		CDSHooks: cdshooks.Config{
			Clients:   []cdshooks.Client{{Issuer: issuer, JWKSURL: jwks.URL, FHIRServers: []string{e.fhir.URL + "/fhir"}}},
			BaseURL:   baseURL,
			AllowHTTP: true,
		},
	}
	if edit != nil {
		edit(&o)
	}
	e.api = httptest.NewServer(api.New(o))
	t.Cleanup(e.api.Close)
	return e
}

// do sends a request and returns the status and body.
func (e *ehr) do(method, path, auth, body string) (int, []byte, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.api.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.bodies = append(e.bodies, string(b))
	return resp.StatusCode, b, resp.Header
}

type discovered struct {
	Services []struct {
		Hook, Title, Description, ID string
		Prefetch                     map[string]string
	}
}

// prefetch evaluates each template of a service against the store, as an
// EHR fills prefetch.
func (e *ehr) prefetch(templates map[string]string) map[string]any {
	out := map[string]any{}
	for key, tmpl := range templates {
		q := strings.ReplaceAll(tmpl, "{{context.patientId}}", patientID)
		res, ok := e.store.search(q)
		switch {
		case !ok:
			out[key] = nil
		case strings.Contains(q, "?"):
			out[key] = searchset(res.([]any))
		default:
			out[key] = res
		}
	}
	return out
}

func hookBody(prefetch map[string]any, fhirServer string) string {
	b := map[string]any{"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
		"context": map[string]any{"patientId": patientID, "userId": "Practitioner/example"}}
	if prefetch != nil {
		b["prefetch"] = prefetch
	}
	if fhirServer != "" {
		b["fhirServer"] = fhirServer
		b["fhirAuthorization"] = map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": 300,
			"scope": "patient/*.read", "subject": "cds-service"}
	}
	out, _ := json.Marshal(b)
	return string(out)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// checkCard applies the CDS Hooks 2.0 card rules and the contract's, and
// returns the card's raw extension members.
func checkCard(t *testing.T, body []byte) (card map[string]any, ext map[string]json.RawMessage) {
	t.Helper()
	var resp struct {
		Cards []json.RawMessage `json:"cards"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Cards) != 1 {
		t.Fatalf("want exactly one card: %s", body)
	}
	_ = json.Unmarshal(resp.Cards[0], &card)
	noEmpty(t, "card", card)
	if s, _ := card["uuid"].(string); !uuidRE.MatchString(s) {
		t.Errorf("uuid %q is not a UUID", s)
	}
	if s, _ := card["summary"].(string); s == "" || len([]rune(s)) >= 140 {
		t.Errorf("summary %q: want 1-139 characters", s)
	}
	if i, _ := card["indicator"].(string); !slices.Contains([]string{"info", "warning", "critical"}, i) {
		t.Errorf("indicator %q", i)
	}
	src, _ := card["source"].(map[string]any)
	if u, err := url.Parse(fmt.Sprint(src["url"])); src["label"] == "" || err != nil || u.Scheme != "https" {
		t.Errorf("source %v: want a label and an absolute https url", src)
	}
	if d, _ := card["detail"].(string); !strings.Contains(d, "**Population:**") {
		t.Errorf("detail lacks the population:\n%s", d)
	}
	var raw struct {
		Extension map[string]json.RawMessage `json:"extension"`
	}
	_ = json.Unmarshal(resp.Cards[0], &raw)
	return card, raw.Extension
}

// noEmpty fails on a null, empty string, empty list or empty object
// anywhere in v (CDS Hooks 2.0: optional fields are omitted, not empty).
func noEmpty(t *testing.T, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case nil:
		t.Errorf("%s is null", path)
	case string:
		if x == "" {
			t.Errorf("%s is empty", path)
		}
	case map[string]any:
		if len(x) == 0 {
			t.Errorf("%s is an empty object", path)
		}
		for k, c := range x {
			if path == "card.extension.healthcare-prediction.prediction" {
				continue // /predict's body, with its own rules (warnings may be [])
			}
			noEmpty(t, path+"."+k, c)
		}
	case []any:
		if len(x) == 0 {
			t.Errorf("%s is an empty list", path)
		}
		for i, c := range x {
			noEmpty(t, fmt.Sprintf("%s[%d]", path, i), c)
		}
	}
}

// predictSame posts the card's inputs to POST /predict and requires its
// body to be the card's prediction extension, byte for byte.
func (e *ehr) predictSame(t *testing.T, id string, ext map[string]json.RawMessage) {
	t.Helper()
	var inputs map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(ext[cdshooks.ExtInputs], &inputs); err != nil {
		t.Fatalf("inputs extension: %v", err)
	}
	in := map[string]json.RawMessage{}
	for k, v := range inputs {
		in[k] = v.Value
	}
	body, _ := json.Marshal(map[string]any{"model": id, "inputs": in})
	status, got, _ := e.do("POST", "/predict", "", string(body))
	if status != 200 {
		t.Fatalf("POST /predict: %d %s", status, got)
	}
	if want := bytes.TrimSuffix(got, []byte("\n")); !bytes.Equal(ext[cdshooks.ExtPrediction], want) {
		t.Errorf("prediction extension differs from POST /predict:\ncard:    %s\npredict: %s", ext[cdshooks.ExtPrediction], want)
	}
}

func TestEHR(t *testing.T) {
	e := newEHR(t)
	status, body, _ := e.do("GET", "/cds-services", "", "")
	var disc discovered
	if status != 200 || json.Unmarshal(body, &disc) != nil {
		t.Fatalf("discovery: %d %s", status, body)
	}
	want := []string{"ascvd-pce", "prevent-10y", "prevent-30y", "cha2ds2-vasc", "ckd-epi-2021", "meld-na", "meld-3.0"}
	var ids []string
	for _, s := range disc.Services {
		ids = append(ids, s.ID)
		if s.Hook != "patient-view" || s.Title == "" || s.Description == "" || len(s.Prefetch) == 0 {
			t.Errorf("service %s: %+v", s.ID, s)
		}
	}
	for _, id := range want {
		if !slices.Contains(ids, id) {
			t.Errorf("discovery lacks %s (has %v)", id, ids)
		}
	}
	// The container creates these services' counters at 0 (prom.Recorder.InitCDSHooks).
	if got := cdshooks.ServiceIDs(scoring.NewCatalog()); !slices.Equal(got, ids) {
		t.Errorf("ServiceIDs = %v, discovery lists %v", got, ids)
	}

	for i, s := range disc.Services {
		t.Run("prefetch/"+s.ID, func(t *testing.T) {
			sg := []cdshookstest.Signer{e.es, e.rs}[i%2] // ES384 and RS384 in turn
			path := "/cds-services/" + s.ID
			status, body, _ := e.do("POST", path, "Bearer "+sg.Token(t, baseURL+path, nil), hookBody(e.prefetch(s.Prefetch), ""))
			if status != 200 {
				t.Fatalf("call: %d %s", status, body)
			}
			card, ext := checkCard(t, body)
			if ext[cdshooks.ExtPrediction] == nil {
				t.Fatalf("not computed from a complete chart: %s", card["detail"])
			}
			e.predictSame(t, s.ID, ext)
			t.Logf("%s: %s [%s]", s.ID, card["summary"], card["indicator"])
		})
	}

	t.Run("fetch path", func(t *testing.T) {
		path := "/cds-services/ascvd-pce"
		before := e.fhirHits.Load()
		status, body, _ := e.do("POST", path, "Bearer "+e.es.Token(t, baseURL+path, nil), hookBody(nil, e.fhir.URL+"/fhir"))
		if status != 200 {
			t.Fatalf("call: %d %s", status, body)
		}
		_, ext := checkCard(t, body)
		if ext[cdshooks.ExtPrediction] == nil {
			t.Fatalf("fetched chart not computed: %s", body)
		}
		e.predictSame(t, "ascvd-pce", ext)
		// 6 queries (patient, conditions, medications, and the lipids,
		// blood-pressure and smoking Observation keys), one page each.
		if n := e.fhirHits.Load() - before; n != 6 {
			t.Errorf("FHIR server saw %d requests; want every page of every query (6)", n)
		}
		// The same chart by prefetch gives the same inputs.
		var s map[string]string
		for _, sv := range disc.Services {
			if sv.ID == "ascvd-pce" {
				s = sv.Prefetch
			}
		}
		_, body2, _ := e.do("POST", path, "Bearer "+e.es.Token(t, baseURL+path, nil), hookBody(e.prefetch(s), ""))
		_, ext2 := checkCard(t, body2)
		if !bytes.Equal(ext[cdshooks.ExtInputs], ext2[cdshooks.ExtInputs]) {
			t.Errorf("fetched inputs %s differ from prefetched %s", ext[cdshooks.ExtInputs], ext2[cdshooks.ExtInputs])
		}
	})

	t.Run("412 without a FHIR server", func(t *testing.T) {
		path := "/cds-services/meld-na"
		status, body, _ := e.do("POST", path, "Bearer "+e.rs.Token(t, baseURL+path, nil),
			hookBody(map[string]any{"patient": e.prefetch(map[string]string{"p": "Patient/{{context.patientId}}"})["p"]}, ""))
		if status != http.StatusPreconditionFailed || !strings.Contains(string(body), "prefetch-required") {
			t.Fatalf("status %d %s; want a 412 problem", status, body)
		}
	})

	t.Run("un-allow-listed FHIR server never called", func(t *testing.T) {
		path := "/cds-services/ckd-epi-2021"
		status, body, _ := e.do("POST", path, "Bearer "+e.es.Token(t, baseURL+path, nil), hookBody(nil, e.rogue.URL+"/fhir"))
		if status != http.StatusPreconditionFailed {
			t.Fatalf("status %d %s; want 412", status, body)
		}
		if n := e.rogueHit.Load(); n != 0 {
			t.Fatalf("the un-allow-listed server was called %d times", n)
		}
	})

	t.Run("not computed", func(t *testing.T) {
		path := "/cds-services/prevent-10y"
		p := e.prefetch(map[string]string{"patient": "Patient/{{context.patientId}}"})
		tmpl, _ := fhir.Prefetch(scoring.NewCatalog(), "prevent-10y")
		for key := range tmpl {
			if key != "patient" {
				p[key] = nil
			}
		}
		status, body, _ := e.do("POST", path, "Bearer "+e.es.Token(t, baseURL+path, nil), hookBody(p, ""))
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		card, ext := checkCard(t, body)
		if ext != nil || card["indicator"] != "info" || !strings.Contains(card["summary"].(string), "not computed") ||
			!strings.Contains(card["detail"].(string), "total cholesterol") {
			t.Errorf("want an info card naming the missing inputs: %v", card)
		}
	})

	t.Run("out of range", func(t *testing.T) {
		path := "/cds-services/prevent-30y"
		var tmpl map[string]string
		for _, sv := range disc.Services {
			if sv.ID == "prevent-30y" {
				tmpl = sv.Prefetch
			}
		}
		p := e.prefetch(tmpl)
		old := map[string]any{}
		for k, v := range p["patient"].(map[string]any) {
			old[k] = v
		}
		old["birthDate"] = time.Now().AddDate(-70, 0, 0).Format(time.DateOnly) // PREVENT 30-year: 30-59
		p["patient"] = old
		status, body, _ := e.do("POST", path, "Bearer "+e.rs.Token(t, baseURL+path, nil), hookBody(p, ""))
		card, ext := checkCard(t, body)
		if status != 200 || ext != nil || card["indicator"] != "info" || !strings.Contains(card["summary"].(string), "age") {
			t.Errorf("want a not-computed info card naming age: %d %v", status, card)
		}
	})

	t.Run("feedback", func(t *testing.T) {
		path := "/cds-services/ascvd-pce/feedback"
		fb := `{"feedback":[{"card":"9368d37b-283f-44a0-93ea-547cebab93ed","outcome":"overridden","overrideReason":{"reason":{"code":"x","system":"y"},"userComment":"free text"},"outcomeTimestamp":"2026-12-05T10:00:00Z"}]}`
		if status, body, _ := e.do("POST", path, "Bearer "+e.rs.Token(t, baseURL+path, nil), fb); status != 200 {
			t.Fatalf("feedback: %d %s", status, body)
		}
		if !strings.Contains(e.logs.String(), `"msg":"cds feedback"`) {
			t.Error("feedback not audited")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		path := "/cds-services/cha2ds2-vasc"
		other := cdshookstest.NewSigner(t, issuer, jose.ES384, "ehr-es384") // the EHR's kid, another key
		none := func() string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"ehr-es384"}`))
			c, _ := json.Marshal(map[string]any{"iss": issuer, "sub": "x", "aud": baseURL + path, "jti": "n1",
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
			return h + "." + base64.RawURLEncoding.EncodeToString(c) + "."
		}
		replayed := e.es.Token(t, baseURL+path, nil)
		body := hookBody(e.prefetch(map[string]string{"patient": "Patient/{{context.patientId}}",
			"conditions": "Condition?patient={{context.patientId}}"}), "")
		if status, b, _ := e.do("POST", path, "Bearer "+replayed, body); status != 200 {
			t.Fatalf("first use of the token: %d %s", status, b)
		}
		for _, c := range []struct{ name, auth string }{
			{"no token", ""},
			{"alg none", "Bearer " + none()},
			{"wrong key", "Bearer " + other.Token(t, baseURL+path, nil)},
			{"expired", "Bearer " + e.es.Token(t, baseURL+path, func(c *jwt.Claims) {
				c.IssuedAt, c.Expiry = jwt.NewNumericDate(time.Now().Add(-5*time.Minute)), jwt.NewNumericDate(time.Now().Add(-2*time.Minute))
			})},
			{"wrong aud", "Bearer " + e.es.Token(t, baseURL+path, func(c *jwt.Claims) { c.Audience = jwt.Audience{baseURL + "/cds-services/meld-na"} })},
			{"unknown issuer", "Bearer " + e.es.Token(t, baseURL+path, func(c *jwt.Claims) { c.Issuer = "https://other-ehr.example.test" })},
			{"replayed jti", "Bearer " + replayed},
			{"an API key", "Bearer key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg"},
		} {
			status, b, h := e.do("POST", path, c.auth, body)
			var p struct{ Type string }
			if status != 401 || json.Unmarshal(b, &p) != nil || p.Type != "urn:healthcare-api:problem:unauthorized" || h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: %d %s; want a 401 problem", c.name, status, b)
			}
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		path := "/cds-services/cha2ds2-vasc"
		for _, c := range []struct{ name, body, want string }{
			{"other hook", strings.Replace(hookBody(nil, ""), "patient-view", "order-sign", 1), "hook"},
			{"no hookInstance", strings.Replace(hookBody(nil, ""), `"hookInstance"`, `"hookinstance"`, 1), "hookinstance"},
			{"bad patient id", strings.Replace(hookBody(nil, ""), patientID, "a/b", 1), "context.patientId"},
			{"duplicate key", `{"hook":"patient-view","hook":"patient-view"}`, "duplicate"},
			{"prefetch not a resource", strings.Replace(hookBody(map[string]any{"patient": 1}, ""), `"patient":1`, `"patient":[1]`, 1), "prefetch.patient"},
		} {
			status, b, _ := e.do("POST", path, "Bearer "+e.es.Token(t, baseURL+path, nil), c.body)
			if status != 400 || !strings.Contains(string(b), c.want) {
				t.Errorf("%s: %d %s; want a 400 naming %s", c.name, status, b, c.want)
			}
		}
		if status, b, _ := e.do("POST", "/cds-services/news2", "Bearer "+e.es.Token(t, baseURL+"/cds-services/news2", nil), hookBody(nil, "")); status != 404 {
			t.Errorf("unknown service: %d %s", status, b)
		}
	})

	// Metrics per service, with bounded labels.
	rec := httptest.NewRecorder()
	e.prom.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exposition := rec.Body.String()
	for _, want := range []string{
		`healthcare_api_cds_hook_events_total{cds_service="ascvd-pce",environment="test",event="computed"}`,
		`healthcare_api_cds_hook_events_total{cds_service="ascvd-pce",environment="test",event="fetch"}`,
		`healthcare_api_cds_hook_events_total{cds_service="prevent-10y",environment="test",event="not_computed"}`,
		`healthcare_api_cds_hook_events_total{cds_service="meld-na",environment="test",event="prefetch_missing"}`,
		`healthcare_api_cds_hook_events_total{cds_service="cha2ds2-vasc",environment="test",event="jwt_refused"}`,
		`healthcare_api_cds_hook_events_total{cds_service="ascvd-pce",environment="test",event="feedback"}`,
	} {
		if !strings.Contains(exposition, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The sentinel scan: nothing the EHR sent leaves in a log, a metric or
	// an error body.
	logs := e.logs.String()
	for _, s := range []string{patientID, accessToken, fmt.Sprint(sentinelTC), "free text"} {
		if strings.Contains(logs, s) {
			t.Errorf("a log line holds %q", s)
		}
		if strings.Contains(exposition, s) {
			t.Errorf("the metrics hold %q", s)
		}
		for _, b := range e.bodies {
			if strings.Contains(b, `"type":"urn:healthcare-api:problem:`) && strings.Contains(b, s) {
				t.Errorf("an error body holds %q: %s", s, b)
			}
		}
	}
}

// An unknown service id is a 404 whatever the token: the id is checked
// before the client is authenticated, so it records no CDS event either
// (a client's path never becomes a metric label).
func TestUnknownServiceBeforeAuth(t *testing.T) {
	e := newEHR(t)
	for _, path := range []string{"/cds-services/no-such-service", "/cds-services/no-such-service/feedback"} {
		status, b, _ := e.do("POST", path, "", hookBody(nil, ""))
		var p struct{ Type string }
		if status != 404 || json.Unmarshal(b, &p) != nil || p.Type != "urn:healthcare-api:problem:unknown-cds-service" {
			t.Errorf("POST %s without a token: %d %s; want a 404 unknown-service problem", path, status, b)
		}
	}
	rec := httptest.NewRecorder()
	e.prom.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "healthcare_api_cds_hook_events_total{") {
			t.Errorf("a call to an unknown service recorded %s", line)
		}
	}
}

// In JWT mode each issuer has a rate limit (RATE_LIMIT_RPS/BURST), charged
// before the signature check: beyond it, even forged tokens naming the
// issuer get a 429 without costing a signature verification.
func TestCDSIssuerRateLimit(t *testing.T) {
	e := newEHRWith(t, func(o *api.Options) { o.RateLimit = api.RateLimit{Rate: 0.01, Burst: 2} })
	path := "/cds-services/cha2ds2-vasc"
	forger := cdshookstest.NewSigner(t, issuer, jose.ES384, "ehr-es384") // the EHR's kid, another key
	for i, want := range []int{200, 401, 429, 429} {
		s := e.es
		if i == 1 || i == 3 {
			s = forger
		}
		status, b, h := e.do("POST", path, "Bearer "+s.Token(t, baseURL+path, nil), hookBody(e.prefetch(map[string]string{}), e.fhir.URL+"/fhir"))
		if status != want {
			t.Fatalf("call %d: %d %s; want %d", i, status, b, want)
		}
		if status == 429 && h.Get("Retry-After") == "" {
			t.Errorf("call %d: a 429 without Retry-After", i)
		}
	}
}

// Browser-based CDS clients (CDS Hooks 2.0, "Cross-Origin Resource
// Sharing"): an allowed origin's preflight on each CDS path is answered
// with the method, the Authorization and Content-Type headers and a
// max-age, never credentials; the responses themselves, problems
// included, carry Access-Control-Allow-Origin; another origin gets none.
func TestCORS(t *testing.T) {
	const sandbox = "https://sandbox.cds-hooks.org"
	e := newEHRWith(t, func(o *api.Options) { o.CDSHooks.CORSOrigins = []string{sandbox} })
	send := func(method, path, origin string, header map[string]string, body string) (int, http.Header) {
		req, _ := http.NewRequest(method, e.api.URL+path, strings.NewReader(body))
		req.Header.Set("Origin", origin)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
	for path, method := range map[string]string{"/cds-services": "GET", "/cds-services/cha2ds2-vasc": "POST", "/cds-services/cha2ds2-vasc/feedback": "POST"} {
		status, h := send("OPTIONS", path, sandbox, preflight, "")
		if status != 204 || h.Get("Access-Control-Allow-Origin") != sandbox || h.Get("Access-Control-Allow-Methods") != method ||
			h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" || h.Get("Access-Control-Max-Age") == "" ||
			h.Get("Access-Control-Allow-Credentials") != "" || !slices.Contains(h.Values("Vary"), "Origin") {
			t.Errorf("preflight %s from the sandbox: %d %v", path, status, h)
		}
		if status, h := send("OPTIONS", path, "https://evil.example", preflight, ""); status != 204 || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s from another origin: %d, Access-Control-Allow-Origin %q; want none", path, status, h.Get("Access-Control-Allow-Origin"))
		}
	}
	path := "/cds-services/cha2ds2-vasc"
	for _, c := range []struct {
		name, path, auth string
		want             int
	}{
		{"discovery", "/cds-services", "", 200},
		{"call", path, "Bearer " + e.es.Token(t, baseURL+path, nil), 200},
		{"call without a token", path, "", 401},
		{"unknown service", "/cds-services/no-such-service", "", 404},
	} {
		method, body := "POST", hookBody(e.prefetch(map[string]string{}), e.fhir.URL+"/fhir")
		if c.path == "/cds-services" {
			method, body = "GET", ""
		}
		hdr := map[string]string{"Content-Type": "application/json"}
		if c.auth != "" {
			hdr["Authorization"] = c.auth
		}
		status, h := send(method, c.path, sandbox, hdr, body)
		if status != c.want || h.Get("Access-Control-Allow-Origin") != sandbox || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s from the sandbox: %d, Access-Control-Allow-Origin %q; want %d and the origin", c.name, status, h.Get("Access-Control-Allow-Origin"), c.want)
		}
		if _, h := send(method, c.path, "https://evil.example", hdr, body); h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s from another origin: Access-Control-Allow-Origin %q", c.name, h.Get("Access-Control-Allow-Origin"))
		}
	}
}
