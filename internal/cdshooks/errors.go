package cdshooks

import "github.com/healthcare-prediction/api/internal/scoring"

// Kind is how a refused call is answered. internal/api maps each kind to
// its problem response (its one table from error to status).
type Kind int

// The kinds of refusal.
const (
	// KindBadRequest is a hook request that breaks the specification
	// (a missing hookInstance, another hook, a malformed prefetch): 400.
	KindBadRequest Kind = iota + 1
	// KindUnauthorized is a missing or untrusted client JWT: 401.
	KindUnauthorized
	// KindUnknownService is an id no service has: 404.
	KindUnknownService
	// KindPrefetchRequired is a required prefetch key that is absent with
	// no usable FHIR server to fetch it from: 412 (CDS Hooks 2.0,
	// "Calling a CDS Service": the service could not get the data it needs).
	KindPrefetchRequired
)

// Error is a refused call. Detail and Fields never hold a value the client
// sent (no patient id, token or resource content): only names and rules.
type Error struct {
	Kind   Kind
	Detail string
	Fields []scoring.FieldError
}

func (e *Error) Error() string { return "cds hooks: " + e.Detail }

func refuse(k Kind, detail string) *Error { return &Error{Kind: k, Detail: detail} }

func badField(field, message string) *Error {
	return &Error{Kind: KindBadRequest, Detail: "the hook request is invalid; see errors",
		Fields: []scoring.FieldError{{Field: field, Message: message}}}
}
