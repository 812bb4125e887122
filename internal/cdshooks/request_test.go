package cdshooks

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// Whatever the body, parsing a hook request returns a request or a 400
// *Error, never a panic; and no error text echoes the patient id or the
// access token.
// The regexps are the fuzz target's oracle for the hand-written checks
// (fhir.ValidID, isUUID), which avoid compiling them at package init.
var (
	fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func FuzzHookRequest(f *testing.F) {
	f.Add(`{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"patientId":"p1"},"prefetch":{"patient":null}}`)
	f.Add(`{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","fhirServer":"https://f/fhir",` +
		`"fhirAuthorization":{"access_token":"SECRETTOKEN","token_type":"Bearer","expires_in":300,"scope":"patient/*.read","subject":"cds","patient":"SECRETPATIENT"},"context":{"patientId":"SECRETPATIENT"}}`)
	f.Add(`{"hook":"order-sign"}`)
	f.Add(`{"prefetch":{"x":[1]},"context":{"patientId":"SECRETPATIENT/../x"}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := parseHookRequest([]byte(body))
		if err == nil {
			if req == nil || !fhirID.MatchString(req.patientID) || !uuidRE.MatchString(req.hookInstance) {
				t.Fatalf("accepted %q as %+v", body, req)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindBadRequest {
			t.Fatalf("error %v is not a 400 *Error", err)
		}
		text := e.Detail
		for _, f := range e.Fields {
			text += " " + f.Field + " " + f.Message
		}
		for _, secret := range []string{"SECRETTOKEN", "SECRETPATIENT"} {
			if strings.Contains(text, secret) {
				t.Fatalf("error %q echoes %s", text, secret)
			}
		}
	})
}

// fhirAuthorization carries the fields CDS Hooks 2.0 requires; a token
// scoped to another patient is never used to fetch this one's chart.
func TestFHIRAuthorization(t *testing.T) {
	body := func(auth string) []byte {
		return []byte(`{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","fhirServer":"https://f.example/fhir",` +
			`"fhirAuthorization":` + auth + `,"context":{"patientId":"p1"}}`)
	}
	const full = `"access_token":"t","token_type":"Bearer","expires_in":300,"scope":"patient/*.read","subject":"cds"`
	for _, tt := range []struct{ auth, field string }{
		{`{"token_type":"Bearer","expires_in":300,"scope":"s","subject":"c"}`, "fhirAuthorization.access_token"},
		{`{"access_token":"t","token_type":"MAC","expires_in":300,"scope":"s","subject":"c"}`, "fhirAuthorization.token_type"},
		{`{"access_token":"t","token_type":"Bearer","scope":"s","subject":"c"}`, "fhirAuthorization.expires_in"},
		{`{"access_token":"t","token_type":"Bearer","expires_in":0,"scope":"s","subject":"c"}`, "fhirAuthorization.expires_in"},
		{`{"access_token":"t","token_type":"Bearer","expires_in":"300","scope":"s","subject":"c"}`, "fhirAuthorization.expires_in"},
		{`{"access_token":"t","token_type":"Bearer","expires_in":300,"subject":"c"}`, "fhirAuthorization.scope"},
		{`{"access_token":"t","token_type":"Bearer","expires_in":300,"scope":"s"}`, "fhirAuthorization.subject"},
		{`{` + full + `,"patient":""}`, "fhirAuthorization.patient"},
	} {
		_, err := parseHookRequest(body(tt.auth))
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindBadRequest || len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
			t.Errorf("%s: %v; want a 400 naming %s", tt.auth, err, tt.field)
		}
	}
	s := New(Options{Config: Config{AllowHTTP: false}})
	ctx := context.WithValue(context.Background(), clientKey{}, &Client{Issuer: "i", FHIRServers: []string{"https://f.example/fhir"}})
	for _, tt := range []struct {
		auth  string
		fetch bool
	}{
		{`{` + full + `}`, true},
		{`{` + full + `,"patient":"p1"}`, true},
		{`{` + full + `,"patient":"p2"}`, false},
	} {
		req, err := parseHookRequest(body(tt.auth))
		if err != nil {
			t.Fatalf("%s: %v", tt.auth, err)
		}
		if got := s.fetcherFor(ctx, req) != nil; got != tt.fetch {
			t.Errorf("%s: fetches %v, want %v", tt.auth, got, tt.fetch)
		}
	}
}

// Prefetch data that does not decode is the client's fault (400) when the
// client sent it, and the EHR's FHIR server's (412) when the service
// fetched it.
func TestUndecodablePrefetchBlame(t *testing.T) {
	c := scoring.NewCatalog()
	m, _ := c.Model("cha2ds2-vasc")
	for name, bad := range map[string]json.RawMessage{
		"an OperationOutcome": json.RawMessage(`{"resourceType":"OperationOutcome","issue":[]}`),
		"another patient":     json.RawMessage(`{"resourceType":"Patient","id":"p2","gender":"male","birthDate":"1950-01-01"}`),
		"another patient's Condition": json.RawMessage(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":` +
			`{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p2"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]}}}]}`),
	} {
		for _, tt := range []struct {
			fetched map[string]bool
			want    Kind
		}{{nil, KindBadRequest}, {map[string]bool{"patient": true}, KindPrefetchRequired}} {
			_, err := mapChart(c, m, "p1", map[string]json.RawMessage{"patient": bad}, tt.fetched, time.Now())
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.want || strings.Contains(e.Error()+fmtFields(e), "p2") {
				t.Errorf("%s, fetched %v: %v; want kind %d, no id echoed", name, tt.fetched, err, tt.want)
			}
		}
	}
}

func fmtFields(e *Error) string {
	var b strings.Builder
	for _, f := range e.Fields {
		b.WriteString(f.Field + " " + f.Message + " ")
	}
	return b.String()
}
