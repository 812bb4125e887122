package cdshooks

import (
	"errors"

	"github.com/healthcare-prediction/api/internal/scoring"
)

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
	cause  error // what failed on the service's side, when something did
}

func (e *Error) Error() string { return "cds hooks: " + e.Detail }

// Unwrap returns the service-side failure behind the refusal, if any
// (errReplayStore).
func (e *Error) Unwrap() error { return e.cause }

// errReplayStore is the cause of a refusal because the ReplayStore could
// not answer: the token may be good, the service could not check it.
var errReplayStore = errors.New("cds hooks: the replay store could not answer")

func refuse(k Kind, detail string) *Error { return &Error{Kind: k, Detail: detail} }

func badField(field, message string) *Error {
	return &Error{Kind: KindBadRequest, Detail: "the hook request is invalid; see errors",
		Fields: []scoring.FieldError{{Field: field, Message: message}}}
}
