package cdshooks

import (
	"errors"
	"strings"
	"testing"
)

// Whatever the body, parsing a hook request returns a request or a 400
// *Error, never a panic; and no error text echoes the patient id or the
// access token.
func FuzzHookRequest(f *testing.F) {
	f.Add(`{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"patientId":"p1"},"prefetch":{"patient":null}}`)
	f.Add(`{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","fhirServer":"https://f/fhir",` +
		`"fhirAuthorization":{"access_token":"SECRETTOKEN","token_type":"Bearer"},"context":{"patientId":"SECRETPATIENT"}}`)
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
