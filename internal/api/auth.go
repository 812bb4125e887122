package api

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/healthcare-prediction/api/internal/secrets"
)

// KeyStore checks API keys. Only protected routes call it, so public
// routes never wait on the key source.
type KeyStore interface {
	// AuthenticateContext returns the key's id, secrets.ErrInvalidKey for
	// an unknown key, or secrets.ErrUnavailable when no usable key set
	// exists. It may first refresh the keys (on Lambda, where no
	// background refresh runs), within ctx's deadline.
	AuthenticateContext(ctx context.Context, key string) (id string, err error)
	// Ready reports whether a usable key set is loaded.
	Ready() bool
	// Status is a one-word state for /health ("ok", "stale", ...).
	Status() string
}

// RateLimit is a per-key token bucket: Rate requests per second sustained,
// Burst at once. A zero Rate means no limit.
type RateLimit struct {
	Rate  float64
	Burst int
}

// presentedKey reads the key from X-API-Key or Authorization: Bearer.
func presentedKey(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// authenticate admits requests with a valid key, puts the key id in the
// context (for the audit log) and applies the per-key rate limit. Every
// protected route shares the one limiter, so a key's rate is its rate
// across the whole API.
func authenticate(logger *slog.Logger, keys KeyStore, limits *limiter, next http.Handler) http.Handler {
	return handle(logger, func(w http.ResponseWriter, r *http.Request) error {
		infoFrom(r.Context()).audit = true
		key := presentedKey(r)
		if key == "" {
			return unauthorized("send an API key in X-API-Key or Authorization: Bearer")
		}
		id, err := keys.AuthenticateContext(r.Context(), key)
		switch {
		case errors.Is(err, secrets.ErrUnavailable):
			p := newProblem(kindNotReady, "API keys cannot be checked right now; retry shortly")
			p.retryAfter = 5
			return p
		case err != nil:
			return unauthorized("the API key is not valid")
		}
		infoFrom(r.Context()).keyID = id
		if wait := limits.take(id); wait > 0 {
			return rateLimited("this API key has exceeded its request rate; retry after the time in Retry-After", wait)
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// rateLimited is the 429 of a caller out of tokens for wait.
func rateLimited(detail string, wait time.Duration) *problem {
	p := newProblem(kindRateLimited, detail)
	p.retryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return p
}

func unauthorized(detail string) *problem {
	p := newProblem(kindUnauthorized, detail)
	p.wwwAuthenticate = `Bearer realm="` + serviceName + `"`
	return p
}
