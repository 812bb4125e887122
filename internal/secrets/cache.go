package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Client is the one Secrets Manager call the cache makes: GetSecretValue
// of one version stage, returning its SecretString. Secrets Manager's own
// refusals come back as errors with the methods ErrorCode and ErrorMessage
// (as the AWS SDK's API errors have); any other error counts as transient.
//
// The cache links no AWS SDK itself: the container passes the SDK's
// client (package sdkclient: the full credentials chain, for IRSA), Lambda
// a plain HTTP one (package envclient), which spares every cold start the
// SDK's package initialisation.
type Client interface {
	SecretString(ctx context.Context, secretID, versionStage string) (string, error)
}

// Defaults for [Options].
const (
	// DefaultTTL is how often the keys are fetched again, as in the AWS
	// Secrets Manager Agent: a revoked or added key takes effect within
	// five minutes, at two calls per process per five minutes.
	DefaultTTL = 5 * time.Minute
	// DefaultMaxStaleness is how long after the last successful fetch the
	// last good keys are still served while Secrets Manager cannot be
	// reached. An hour rides out network blips, throttling and most
	// regional incidents (the OnStale metric pages someone long before),
	// yet bounds how long a key revoked during an outage keeps working.
	DefaultMaxStaleness = time.Hour
	// DefaultFetchTimeout bounds one refresh (both version stages, all
	// retries), so a hung endpoint neither holds a cold start nor piles up
	// background calls.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultRequestFetchTimeout bounds a refresh a request waits for
	// (RefreshOnRequest): a healthy GetSecretValue takes tens of
	// milliseconds, and a request should not spend its time budget on a
	// hung endpoint.
	DefaultRequestFetchTimeout = 2 * time.Second
	// ReplyMargin is the time a refresh made on a request's behalf leaves
	// before the request's deadline, for the request to be served.
	ReplyMargin = 500 * time.Millisecond
)

// Version stages fetched; their union is served so that a rotation never
// locks out a client still using the previous key.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// retryBase is the first wait after a failed refresh; it doubles up to TTL,
// so a cold start with Secrets Manager down recovers within seconds.
const retryBase = time.Second

// Options tunes a [Cache]. The zero value uses the defaults.
type Options struct {
	// TTL is the refresh interval (DefaultTTL).
	TTL time.Duration
	// MaxStaleness is how long after the last successful refresh the last
	// good keys are served while refreshes fail transiently; after it the
	// cache fails closed (ErrUnavailable). DefaultMaxStaleness; never less
	// than TTL+FetchTimeout.
	MaxStaleness time.Duration
	// FetchTimeout bounds one refresh (DefaultFetchTimeout).
	FetchTimeout time.Duration
	// Logger gets one line per failed refresh and per change of state; no
	// line carries a key, a digest or secret text. Nil discards.
	Logger *slog.Logger
	// OnStale is called after every refresh that fails transiently
	// (unreachable, timeout, 5xx, throttling, malformed secret), e.g. to
	// count a metric. It must not block.
	OnStale func()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RefreshOnRequest is for Lambda, which freezes the process between
	// invocations, background goroutines included: Start fetches once and
	// starts no refresh loop, and AuthenticateContext refreshes first when
	// the keys are older than TTL (or none is usable), so a revoked key is
	// refused within TTL there too.
	RefreshOnRequest bool
	// RequestFetchTimeout bounds the refresh AuthenticateContext waits
	// for (DefaultRequestFetchTimeout); the request's deadline, less
	// ReplyMargin, bounds it too.
	RequestFetchTimeout time.Duration
}

// Cache serves API keys from a Secrets Manager secret, refreshed in the
// background. Authenticate reads an atomic snapshot and never waits for
// Secrets Manager.
type Cache struct {
	client   Client
	secretID string
	opts     Options
	state    atomic.Pointer[state]

	refreshMu sync.Mutex         // one refresh at a time
	flight    singleflight.Group // one refresh for concurrent requests

	startMu sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
}

// state is one immutable snapshot of what the cache serves.
type state struct {
	keys     *Keys     // nil: no key set was ever loaded
	loadedAt time.Time // last successful refresh
	failing  bool      // the last refresh failed
	revoked  bool      // an authoritative answer dropped the keys
	static   bool      // fixed keys (Static): never stale
	failures int       // refreshes failed in a row
	retryAt  time.Time // after failures: no refresh on a request's behalf before
}

// New returns a cache of the keys in secret secretID (a name or ARN),
// fetched with client. It holds no keys until Start.
func New(client Client, secretID string, opts Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.RequestFetchTimeout <= 0 {
		opts.RequestFetchTimeout = DefaultRequestFetchTimeout
	}
	if opts.MaxStaleness <= 0 {
		opts.MaxStaleness = DefaultMaxStaleness
	}
	// A successful refresh lands up to TTL+FetchTimeout after the one
	// before; less staleness would fail closed between healthy refreshes.
	opts.MaxStaleness = max(opts.MaxStaleness, opts.TTL+opts.FetchTimeout)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OnStale == nil {
		opts.OnStale = func() {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Cache{client: client, secretID: secretID, opts: opts}
	c.state.Store(&state{})
	return c
}

// newStatic returns a cache that always serves keys and never refreshes.
func newStatic(keys *Keys) *Cache {
	c := New(nil, "", Options{})
	c.state.Store(&state{keys: keys, static: true})
	return c
}

// Start fetches the keys once, waiting at most FetchTimeout (so a cold
// start with Secrets Manager down or hung does not hang), then refreshes
// them every TTL in a goroutine until ctx ends or Close is called. After a
// failed refresh it retries sooner (1s, 2s, 4s, ... up to TTL). With
// RefreshOnRequest it starts no goroutine. Start is for one call; later
// calls do nothing. On a Static cache it does nothing.
func (c *Cache) Start(ctx context.Context) {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.client == nil || c.done != nil {
		return
	}
	err := c.Refresh(ctx)
	c.done = make(chan struct{})
	if c.opts.RefreshOnRequest {
		c.cancel = func() {}
		close(c.done)
		return
	}
	ctx, c.cancel = context.WithCancel(ctx)
	go c.loop(ctx, err != nil)
}

// Close stops the refresh goroutine and waits for it to end. It always
// returns nil.
func (c *Cache) Close() error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.done != nil {
		c.cancel()
		<-c.done
	}
	return nil
}

func (c *Cache) loop(ctx context.Context, failed bool) {
	defer close(c.done)
	failures := 0
	if failed {
		failures = 1
	}
	for {
		wait := c.opts.TTL
		if failures > 0 {
			wait = c.backoff(failures)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := c.Refresh(ctx); err != nil {
			failures++
		} else {
			failures = 0
		}
	}
}

// backoff is the wait before the next refresh after failures failed ones.
func (c *Cache) backoff(failures int) time.Duration {
	return min(c.opts.TTL, retryBase<<min(failures-1, 16))
}

// Authenticate returns the id of the client owning key. It returns
// ErrUnavailable when no key set was ever loaded or the last good one is
// older than MaxStaleness, and ErrInvalidKey when key matches no loaded
// key (also every key once the keys were revoked). It never blocks.
func (c *Cache) Authenticate(key string) (id string, err error) {
	s := c.state.Load()
	if !c.usable(s) {
		return "", ErrUnavailable
	}
	return s.keys.Authenticate(key)
}

// AuthenticateContext is Authenticate for a request whose context is
// ctx. With RefreshOnRequest, when the keys are older than TTL or none is
// usable, it first refreshes them, waiting at most RequestFetchTimeout and
// never past ctx's deadline less ReplyMargin; if that refresh fails or
// takes longer, the keys it had are used (the last good ones up to
// MaxStaleness). Concurrent calls share one refresh. After a failed
// refresh, requests do not wait for another until the backoff (1s, 2s,
// 4s, ... up to TTL) has passed. Without RefreshOnRequest it never blocks.
func (c *Cache) AuthenticateContext(ctx context.Context, key string) (id string, err error) {
	if c.due(c.state.Load()) {
		c.refreshForRequest(ctx)
	}
	return c.Authenticate(key)
}

// due reports whether a request should refresh s before using it.
func (c *Cache) due(s *state) bool {
	if !c.opts.RefreshOnRequest || c.client == nil || s.static {
		return false
	}
	now := c.opts.Now()
	if now.Before(s.retryAt) {
		return false
	}
	return s.keys == nil || now.Sub(s.loadedAt) >= c.opts.TTL
}

// refreshForRequest runs one shared refresh and waits for it within the
// request's bounds. The refresh itself is bounded by the bounds of the
// request that started it, and goes on if a later request stops waiting.
func (c *Cache) refreshForRequest(ctx context.Context) {
	wait := c.opts.RequestFetchTimeout
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline)-ReplyMargin)
	}
	if wait <= 0 {
		return
	}
	done := c.flight.DoChan("refresh", func() (any, error) {
		fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
		defer cancel()
		c.refreshMu.Lock()
		defer c.refreshMu.Unlock()
		if !c.due(c.state.Load()) {
			return nil, nil // refreshed while this one waited for the lock
		}
		return nil, c.refreshLocked(fetchCtx)
	})
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
}

// Ready reports whether Authenticate gives definite answers: a key set is
// loaded and not too stale, or the keys were revoked after being loaded
// (then every key gets 401, and the process is still ready to say so).
// An authoritative refusal before any key set was ever loaded (a wrong
// secret id, missing permission) leaves the cache not ready, so a bad
// rollout stops at its readiness probe instead of answering 401 to all.
func (c *Cache) Ready() bool { return c.usable(c.state.Load()) }

// Status is a one-word state for /health: StatusOK, StatusStale (the last
// refresh failed, or none succeeded for two TTLs, and older keys are
// served), StatusUnavailable or StatusRevoked.
func (c *Cache) Status() string {
	s := c.state.Load()
	switch {
	case !c.usable(s):
		return StatusUnavailable
	case s.revoked:
		return StatusRevoked
	case s.static:
		return StatusOK
	case s.failing, c.opts.Now().Sub(s.loadedAt) > 2*c.opts.TTL+c.opts.FetchTimeout:
		return StatusStale
	}
	return StatusOK
}

func (c *Cache) usable(s *state) bool {
	if s.keys == nil {
		return false
	}
	return s.static || s.revoked || c.opts.Now().Sub(s.loadedAt) <= c.opts.MaxStaleness
}

// Refresh fetches the keys now and updates what Authenticate serves: the
// new keys on success, no keys after an authoritative refusal (if keys had
// been loaded), the last good keys after a transient failure. It returns
// the failure, if any. The fetch takes at most FetchTimeout; refreshes run
// one at a time, so a call made while the background loop is refreshing
// first waits for that one.
func (c *Cache) Refresh(ctx context.Context) error {
	if c.client == nil {
		return nil
	}
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	return c.refreshLocked(ctx)
}

// refreshLocked is Refresh with refreshMu held.
func (c *Cache) refreshLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.FetchTimeout)
	defer cancel()
	keys, err := c.fetch(ctx)
	now := c.opts.Now()
	old := c.state.Load()
	log := c.opts.Logger.With(slog.String("secret_id", c.secretID))

	var ref *refreshError
	failures := old.failures + 1
	retryAt := now.Add(c.backoff(failures))
	switch {
	case err == nil:
		c.state.Store(&state{keys: keys, loadedAt: now})
		if old.keys == nil || old.failing || old.revoked || old.keys.Len() != keys.Len() {
			log.Info("api keys loaded", slog.Int("key_count", keys.Len()))
		} else {
			log.Debug("api keys refreshed", slog.Int("key_count", keys.Len()))
		}
		return nil
	case errors.As(err, &ref) && ref.authoritative:
		if old.keys == nil {
			// Never loaded: stay unavailable (not ready), see Ready.
			c.state.Store(&state{failing: true, failures: failures, retryAt: retryAt})
			log.Error("api keys unavailable: secrets manager refused the secret", slog.String("reason", ref.reason), logError(err))
			return err
		}
		c.state.Store(&state{keys: newKeys(), loadedAt: now, failing: true, revoked: true})
		if !old.revoked {
			log.Warn("api keys revoked: every key is now refused", slog.String("reason", ref.reason), logError(err))
		}
		return err
	}

	next := *old
	next.failing = true
	next.failures, next.retryAt = failures, retryAt
	c.state.Store(&next)
	c.opts.OnStale()
	switch {
	case old.keys == nil:
		log.Error("api key refresh failed; no keys loaded yet", logError(err))
	case old.revoked:
		log.Warn("api key refresh failed; keys stay revoked", logError(err))
	case !c.usable(old):
		log.Error("api key refresh failed; last good keys are too old, refusing all requests",
			slog.Float64("age_seconds", now.Sub(old.loadedAt).Seconds()), slog.Float64("max_staleness_seconds", c.opts.MaxStaleness.Seconds()), logError(err))
	default:
		log.Warn("api key refresh failed; serving the last good keys",
			slog.Float64("age_seconds", now.Sub(old.loadedAt).Seconds()), slog.Float64("max_staleness_seconds", c.opts.MaxStaleness.Seconds()), logError(err))
	}
	return err
}

// refreshError is a failed refresh: authoritative (Secrets Manager said
// the keys are gone or not ours to read) or transient.
type refreshError struct {
	authoritative bool
	reason        string // not_found, access_denied, deleted, decryption_failure, malformed, unreachable
	err           error
}

func (e *refreshError) Error() string { return e.err.Error() }

// logError is err as a log attribute: its first line only. Secrets
// Manager's InvalidSignatureException goes on with the canonical request,
// which holds the caller's session token, and the SDK's error text quotes
// it whole; envclient cuts its own messages the same way.
func logError(err error) slog.Attr {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return slog.String("error", line)
}
func (e *refreshError) Unwrap() error { return e.err }

// fetch reads both version stages at once and returns their union.
func (c *Cache) fetch(ctx context.Context) (*Keys, error) {
	var cur, prev string
	var curErr, prevErr error
	var wg sync.WaitGroup
	wg.Go(func() { cur, curErr = c.get(ctx, stageCurrent) })
	wg.Go(func() { prev, prevErr = c.get(ctx, stagePrevious) })
	wg.Wait()

	if curErr != nil {
		if reason := authoritative(curErr); reason != "" {
			return nil, &refreshError{authoritative: true, reason: reason, err: curErr}
		}
		return nil, &refreshError{reason: "unreachable", err: curErr}
	}
	current, err := ParseSecret([]byte(cur))
	if err != nil {
		return nil, &refreshError{reason: "malformed", err: fmt.Errorf("%s: %w", stageCurrent, err)}
	}

	var previous []Entry
	switch {
	case prevErr == nil:
		if previous, err = ParseSecret([]byte(prev)); err != nil {
			// AWSCURRENT is what the owners mean now; a bad older version
			// must not keep a good current one from being served.
			c.opts.Logger.Warn("ignoring the previous version of the api keys secret", slog.String("secret_id", c.secretID), logError(err))
		}
	case isNotFound(prevErr):
		// No AWSPREVIOUS before the first rotation: normal.
	case authoritative(prevErr) != "":
		c.opts.Logger.Warn("ignoring the previous version of the api keys secret", slog.String("secret_id", c.secretID), logError(prevErr))
	default:
		// Serving AWSCURRENT alone could lock out a client in the middle
		// of a rotation: keep the last good union instead.
		return nil, &refreshError{reason: "unreachable", err: prevErr}
	}
	return newKeys(current, previous), nil
}

func (c *Cache) get(ctx context.Context, stage string) (string, error) {
	return c.client.SecretString(ctx, c.secretID, stage)
}

// authoritative returns why err is Secrets Manager's definite answer that
// the keys of this stage cannot be had, or "" for a transient failure.
//
// Authoritative: ResourceNotFoundException (secret deleted or never
// created), AccessDeniedException (our role may not read it),
// InvalidRequestException about deletion (secret scheduled for deletion),
// DecryptionFailure (the KMS key was disabled or our grant removed:
// KMS's own way of revoking access). Everything else is transient:
// timeouts, refused or reset connections, 5xx (InternalServiceError),
// throttling, other InvalidRequest/InvalidParameter errors, and any error
// from getting our own credentials (an STS or IMDS hiccup says nothing
// about the secret), which is why an API error counts only when it is
// Secrets Manager's own answer, not one nested inside a credentials
// provider's call to another service.
func authoritative(err error) string {
	var op operationError
	if errors.As(err, &op) {
		var inner operationError
		if errors.As(errors.Unwrap(op), &inner) {
			return ""
		}
	}
	var api apiError
	if !errors.As(err, &api) {
		return ""
	}
	switch api.ErrorCode() {
	case "ResourceNotFoundException":
		return "not_found"
	case "AccessDeniedException":
		return "access_denied"
	case "DecryptionFailure":
		return "decryption_failure"
	case "InvalidRequestException":
		// AWS says "... because it was marked for deletion."; moto says
		// "... a secret that's currently marked deleted.".
		msg := strings.ToLower(api.ErrorMessage())
		if strings.Contains(msg, "deletion") || strings.Contains(msg, "deleted") {
			return "deleted"
		}
	}
	return ""
}

func isNotFound(err error) bool { return authoritative(err) == "not_found" }

// apiError is a service's own answer, as the SDK's smithy.APIError and
// envclient's APIError are.
type apiError interface {
	error
	ErrorCode() string
	ErrorMessage() string
}

// operationError is one SDK operation's failure, as smithy.OperationError
// is; one nested in another is a call the SDK made for the outer one
// (getting credentials from STS, say).
type operationError interface {
	error
	Service() string
	Operation() string
}
