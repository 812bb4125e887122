package cdshooks

import (
	"encoding/json"

	"github.com/healthcare-prediction/api/internal/fhir"
	"github.com/healthcare-prediction/api/internal/token"
)

// hookRequest is what a call carries (CDS Hooks 2.0, "HTTP Request").
type hookRequest struct {
	hookInstance string
	fhirServer   string
	accessToken  string
	tokenPatient string // fhirAuthorization.patient: the patient the token is scoped to, "" when not said
	patientID    string
	// prefetch holds the keys the client sent: a resource, a Bundle, or
	// null (the query found nothing). An absent key is not in the map.
	prefetch map[string]json.RawMessage
}

// isUUID reports whether s is a UUID in its 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// parseHookRequest reads a call body that internal/api has already found
// to be one JSON object with no duplicate keys. Field names match exactly;
// an unknown top-level field is refused as for /predict. Messages name
// fields and rules, never the values sent.
func parseHookRequest(body []byte) (*hookRequest, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, badField("", "the body must be a JSON object")
	}
	for name := range top {
		switch name {
		case "hook", "hookInstance", "fhirServer", "fhirAuthorization", "context", "prefetch":
		default:
			return nil, badField(token.Printable(name), "is not a field of a CDS Hooks 2.0 request")
		}
	}
	req := &hookRequest{}
	var hook string
	if err := str(top, "hook", &hook, true); err != nil {
		return nil, err
	}
	if hook != Hook {
		return nil, badField("hook", "must be "+Hook+": the only hook these services answer")
	}
	if err := str(top, "hookInstance", &req.hookInstance, true); err != nil {
		return nil, err
	}
	if !isUUID(req.hookInstance) {
		return nil, badField("hookInstance", "must be a UUID")
	}
	if err := str(top, "fhirServer", &req.fhirServer, false); err != nil {
		return nil, err
	}
	if raw, ok := top["fhirAuthorization"]; ok && string(raw) != "null" {
		var auth map[string]json.RawMessage
		if json.Unmarshal(raw, &auth) != nil {
			return nil, badField("fhirAuthorization", "must be an object")
		}
		if req.fhirServer == "" {
			return nil, badField("fhirAuthorization", "comes only with fhirServer")
		}
		// CDS Hooks 2.0 "Passing the Access Token to the CDS Service":
		// access_token, token_type (Bearer), expires_in, scope and subject
		// are REQUIRED, patient OPTIONAL.
		var tokenType, scope, subject string
		for _, f := range []struct {
			name string
			dst  *string
		}{{"access_token", &req.accessToken}, {"token_type", &tokenType}, {"scope", &scope}, {"subject", &subject}} {
			if err := str(auth, f.name, f.dst, true); err != nil {
				return nil, prefixed(err, "fhirAuthorization.")
			}
		}
		if tokenType != "Bearer" {
			return nil, badField("fhirAuthorization.token_type", "must be Bearer")
		}
		var expiresIn float64
		if raw, ok := auth["expires_in"]; !ok || json.Unmarshal(raw, &expiresIn) != nil || expiresIn <= 0 {
			// The call's moment of issue is unknown, so only a lifetime
			// left is checked, not an expiry time.
			return nil, badField("fhirAuthorization.expires_in", "is required: the token's lifetime in seconds, above 0")
		}
		if _, ok := auth["patient"]; ok {
			if err := str(auth, "patient", &req.tokenPatient, true); err != nil {
				return nil, prefixed(err, "fhirAuthorization.")
			}
		}
	}
	var ctx map[string]json.RawMessage
	if raw, ok := top["context"]; !ok || json.Unmarshal(raw, &ctx) != nil || ctx == nil {
		return nil, badField("context", "is required: an object with patientId")
	}
	if err := str(ctx, "patientId", &req.patientID, true); err != nil {
		return nil, prefixed(err, "context.")
	}
	if !fhir.ValidID(req.patientID) {
		return nil, badField("context.patientId", "must be a FHIR id (1-64 letters, digits, '-' or '.')")
	}
	if raw, ok := top["prefetch"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &req.prefetch) != nil || req.prefetch == nil {
			return nil, badField("prefetch", "must be an object of prefetch keys to resources")
		}
		for key, v := range req.prefetch {
			if string(v) != "null" && (len(v) == 0 || v[0] != '{') {
				return nil, badField("prefetch."+token.Printable(key), "must be a FHIR resource or null")
			}
		}
	} else {
		req.prefetch = map[string]json.RawMessage{}
	}
	return req, nil
}

// str reads a string field of obj into dst; required says whether it may
// be absent.
func str(obj map[string]json.RawMessage, name string, dst *string, required bool) error {
	raw, ok := obj[name]
	if !ok {
		if required {
			return badField(name, "is required")
		}
		return nil
	}
	if json.Unmarshal(raw, dst) != nil || (required && *dst == "") {
		return badField(name, "must be a non-empty string")
	}
	return nil
}

func prefixed(err error, prefix string) error {
	if e, ok := err.(*Error); ok {
		for i := range e.Fields {
			e.Fields[i].Field = prefix + e.Fields[i].Field
		}
	}
	return err
}
