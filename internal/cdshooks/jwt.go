package cdshooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"
)

// allowedAlgs are the signing algorithms a client JWT may use: CDS Hooks 2.0
// ("Trusting CDS Clients") requires services to support ES384 and RS384;
// ES256, RS256 and PS384 are accepted as well. Never none, never HMAC (a
// shared secret would let the service forge its clients' tokens).
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES384, jose.RS384, jose.ES256, jose.RS256, jose.PS384}

// Limits of client trust.
const (
	maxLifetime  = 5 * time.Minute // CDS Hooks 2.0: exp at most five minutes after iat
	clockLeeway  = 30 * time.Second
	jwksMaxBytes = 256 << 10
	jwksTTL      = time.Hour
	jwksMaxStale = 24 * time.Hour // a cached JWKS is used at most this long after its fetch
	maxJTIBytes  = 256            // a longer jti is refused: it is a nonce, not a payload to store
)

// ReplayStore records the jti of each accepted client JWT until it expires,
// across every instance of the service (CDS Hooks 2.0: replays refused while the token lives).
type ReplayStore interface {
	// Claim records key (issuer + "\x00" + jti) until expires; fresh is false when it was already recorded.
	// An error means the store could not answer: the caller refuses the token (fail closed, 401 is fine,
	// metrics events jwt_refused and replay_failed) and logs the error class, never the key.
	Claim(ctx context.Context, key string, expires time.Time) (fresh bool, err error)
}

// VerifierOptions tune a Verifier. Zero values take the defaults.
type VerifierOptions struct {
	// HTTPClient fetches the JWKS documents; its redirects are refused.
	HTTPClient *http.Client
	// MinRefresh is the least time between two fetches of one issuer's
	// JWKS on an unknown kid (default 30 s): a stream of forged kids
	// cannot turn the service into a load generator against the EHR.
	MinRefresh time.Duration
	// FetchTimeout bounds one JWKS fetch (default 2 s); the fetch runs on
	// its own, not on the request that needed it.
	FetchTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Replay records accepted jti values (Config.Replay; default the
	// in-process memoryReplay: one instance only).
	Replay ReplayStore
	// Logger receives the class of a replay store failure (default: discard).
	Logger *slog.Logger
}

// Verifier checks client JWTs (CDS Hooks 2.0, "Trusting CDS Clients"):
// signed with an allowed algorithm by a key from the allow-listed issuer's
// JWKS, aud the service's own URL, a short lifetime, and each jti once.
type Verifier struct {
	baseURL string
	issuers map[string]*issuer
	opts    VerifierOptions
}

// issuer is one client and the cache of its keys.
type issuer struct {
	client Client

	refreshes singleflight.Group

	mu        sync.Mutex
	keys      *jose.JSONWebKeySet
	fetched   time.Time // last successful fetch
	attempted time.Time // last completed fetch attempt
}

// NewVerifier trusts clients; baseURL is the public base URL that aud
// claims are checked against (CDS_HOOKS_BASE_URL).
func NewVerifier(clients []Client, baseURL string, o VerifierOptions) *Verifier {
	o.HTTPClient = noRedirects(o.HTTPClient)
	if o.MinRefresh == 0 {
		o.MinRefresh = 30 * time.Second
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Replay == nil {
		o.Replay = newMemoryReplay(o.Now, maxReplayPerIssuer)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{baseURL: strings.TrimSuffix(baseURL, "/"), issuers: map[string]*issuer{}, opts: o}
	for _, c := range clients {
		v.issuers[c.Issuer] = &issuer{client: c}
	}
	return v
}

// noRedirects is a copy of c (of a zero http.Client when c is nil) that
// answers a redirect with the redirect itself (then refused as a non-200):
// a JWKS or FHIR URL is called exactly where the configuration points.
func noRedirects(c *http.Client) *http.Client {
	var cp http.Client
	if c != nil {
		cp = *c
	}
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// claims are the JWT claims CDS Hooks 2.0 requires.
type claims struct {
	jwt.Claims
	Tenant string `json:"tenant,omitempty"`
}

// Verify checks the bearer token of a request to path (the route path
// without a stage, e.g. "/cds-services/ascvd-pce"), and returns the client
// it authenticates. audiences are the aud values accepted besides
// baseURL+path. Every refusal is a KindUnauthorized *Error whose detail
// names the rule, never the token's content.
func (v *Verifier) Verify(ctx context.Context, authorization, path string, audiences ...string) (*Client, error) {
	return v.verify(ctx, authorization, path, nil, audiences...)
}

// verify is Verify with admit, called with the claimed issuer once it is
// known to be allow-listed and before any key fetch or signature check: an
// error it returns (a rate limit) refuses the token as is.
func (v *Verifier) verify(ctx context.Context, authorization, path string, admit func(issuer string) error, audiences ...string) (*Client, error) {
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		raw, ok = strings.CutPrefix(authorization, "bearer ")
	}
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		return nil, refuse(KindUnauthorized, "send the client JWT in Authorization: Bearer (CDS Hooks 2.0, Trusting CDS Clients)")
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, refuse(KindUnauthorized, "the token is not a JWS signed with ES384, RS384, ES256, RS256 or PS384")
	}
	h := tok.Headers[0]
	// CDS Hooks 2.0 "Trusting CDS Clients": typ is REQUIRED, fixed value
	// JWT (compared without case, as RFC 7515 4.1.9 compares media types).
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "JWT") {
		return nil, refuse(KindUnauthorized, "the token's typ header must be JWT")
	}
	if h.KeyID == "" {
		return nil, refuse(KindUnauthorized, "the token's header must name its key (kid)")
	}
	var unverified claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, refuse(KindUnauthorized, "the token's claims are not valid JSON")
	}
	iss, ok := v.issuers[unverified.Issuer]
	if !ok {
		return nil, refuse(KindUnauthorized, "the token's issuer is not an allow-listed CDS client")
	}
	if admit != nil {
		if err := admit(iss.client.Issuer); err != nil {
			return nil, err
		}
	}
	key, err := iss.key(ctx, h.KeyID, h.Algorithm, v.opts)
	if err != nil {
		return nil, err
	}
	var c claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, refuse(KindUnauthorized, "the token's signature does not verify with the issuer's key")
	}
	now := v.opts.Now()
	switch {
	// sub (the client id) is not required: trust rests on iss, the
	// signature, aud, exp and jti, and the public CDS Hooks sandbox sends
	// no sub.
	case c.Expiry == nil || c.IssuedAt == nil || c.ID == "":
		return nil, refuse(KindUnauthorized, "the token must carry iss, aud, exp, iat and jti")
	case len(c.ID) > maxJTIBytes:
		return nil, refuse(KindUnauthorized, "the token's jti is longer than 256 bytes")
	case c.Expiry.Time().Sub(c.IssuedAt.Time()) > maxLifetime:
		return nil, refuse(KindUnauthorized, "the token lives longer than five minutes (exp - iat)")
	}
	want := append([]string{v.baseURL + path}, audiences...)
	audOK := false
	for _, a := range want {
		audOK = audOK || c.Audience.Contains(a)
	}
	if !audOK {
		return nil, refuse(KindUnauthorized, "the token's aud is not this service's endpoint URL")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: iss.client.Issuer, Time: now}, clockLeeway); err != nil {
		return nil, refuse(KindUnauthorized, "the token is expired or not yet valid")
	}
	fresh, err := v.opts.Replay.Claim(ctx, iss.client.Issuer+"\x00"+c.ID, c.Expiry.Time().Add(clockLeeway))
	if err != nil {
		// The class only: the key holds the issuer and the token's jti.
		v.opts.Logger.WarnContext(ctx, "cds hooks: replay store failed", "error_class", fmt.Sprintf("%T", err))
		e := refuse(KindUnauthorized, "the token's jti could not be checked against replays")
		e.cause = errReplayStore
		return nil, e
	}
	if !fresh {
		return nil, refuse(KindUnauthorized, "the token's jti was used before: a replay")
	}
	return &iss.client, nil
}

// key finds kid in the issuer's JWKS, fetching it when there is none yet,
// when the cached set is older than jwksTTL, or when kid is unknown, at
// most once per MinRefresh. A failed fetch keeps the last good set for at
// most jwksMaxStale after the last successful fetch; then every token of
// the issuer is refused until a fetch succeeds (a key the EHR revoked must
// not verify forever).
func (iss *issuer) key(ctx context.Context, kid, alg string, o VerifierOptions) (*jose.JSONWebKey, error) {
	iss.mu.Lock()
	age := o.Now().Sub(iss.fetched)
	k, due := iss.lookup(kid, alg), iss.refreshDue(o)
	iss.mu.Unlock()
	if k != nil && age < jwksTTL {
		return k, nil
	}
	if due {
		// One fetch per issuer at a time, outside iss.mu, on a context the
		// caller cannot cancel: a client that disconnects neither aborts
		// the fetch (and so burns the refresh slot) nor holds up others.
		ch := iss.refreshes.DoChan("jwks", func() (any, error) {
			iss.refresh(context.WithoutCancel(ctx), o)
			return nil, nil
		})
		if k != nil && age <= jwksMaxStale {
			return k, nil // a cached key verifies while the set refreshes behind it
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, refuse(KindUnauthorized, "the issuer's keys (JWKS) could not be loaded")
		}
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	switch {
	case iss.keys == nil:
		return nil, refuse(KindUnauthorized, "the issuer's keys (JWKS) could not be loaded")
	case o.Now().Sub(iss.fetched) > jwksMaxStale:
		return nil, refuse(KindUnauthorized, "the issuer's keys (JWKS) could not be refreshed for 24 hours")
	}
	if k := iss.lookup(kid, alg); k != nil {
		return k, nil
	}
	return nil, refuse(KindUnauthorized, "the token's kid is not in the issuer's JWKS")
}

// refreshDue reports whether a fetch may start: none completed yet, or the
// last completed one is MinRefresh old. The caller holds iss.mu.
func (iss *issuer) refreshDue(o VerifierOptions) bool {
	return iss.attempted.IsZero() || o.Now().Sub(iss.attempted) >= o.MinRefresh
}

// refresh fetches the JWKS (within FetchTimeout) unless another fetch
// completed meanwhile; the attempt counts toward MinRefresh once it has
// completed, whatever its outcome.
func (iss *issuer) refresh(ctx context.Context, o VerifierOptions) {
	iss.mu.Lock()
	due := iss.refreshDue(o)
	iss.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, o.FetchTimeout)
	defer cancel()
	keys, err := fetchJWKS(ctx, o, iss.client.JWKSURL)
	iss.mu.Lock()
	defer iss.mu.Unlock()
	now := o.Now()
	iss.attempted = now
	if err == nil {
		iss.keys, iss.fetched = keys, now
	}
}

// lookup returns the public signing key kid of the cached set for a token
// signed with alg: a key that names its algorithm (RFC 7517 4.4) verifies
// only that one.
func (iss *issuer) lookup(kid, alg string) *jose.JSONWebKey {
	if iss.keys == nil {
		return nil
	}
	for _, k := range iss.keys.Key(kid) {
		if k.IsPublic() && k.Valid() && (k.Use == "" || k.Use == "sig") && (k.Algorithm == "" || k.Algorithm == alg) {
			return &k
		}
	}
	return nil
}

// fetchJWKS reads a JWKS document: 200, JSON, bounded in size (and in
// time by ctx).
func fetchJWKS(ctx context.Context, o VerifierOptions, url string) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("jwks: status " + resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil || len(body) > jwksMaxBytes {
		return nil, errors.New("jwks: unreadable or too large")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, errors.New("jwks: not a JWK set")
	}
	return &set, nil
}
