package secrets

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/healthcare-prediction/api/internal/testutil"
)

func TestAuthoritative(t *testing.T) {
	sm := func(err error) error {
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "GetSecretValue", Err: err}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"not found", sm(&types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}), "not_found"},
		{"access denied", sm(&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}), "access_denied"},
		{"kms key disabled", sm(&types.DecryptionFailure{Message: aws.String("KMS key is disabled")}), "decryption_failure"},
		{"marked for deletion", sm(&types.InvalidRequestException{Message: aws.String("You can't perform this operation on the secret because it was marked for deletion.")}), "deleted"},
		{"marked deleted (moto's wording)", sm(&types.InvalidRequestException{Message: aws.String("You tried to perform the operation on a secret that's currently marked deleted.")}), "deleted"},
		{"other invalid request", sm(&types.InvalidRequestException{Message: aws.String("something else")}), ""},
		{"invalid parameter", sm(&types.InvalidParameterException{Message: aws.String("bad")}), ""},
		{"5xx", sm(&types.InternalServiceError{Message: aws.String("oops")}), ""},
		{"throttled", sm(&smithy.GenericAPIError{Code: "ThrottlingException"}), ""},
		{"expired token", sm(&smithy.GenericAPIError{Code: "ExpiredTokenException"}), ""},
		{"timeout", sm(context.DeadlineExceeded), ""},
		{"refused", sm(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), ""},
		// Our own credentials failed: STS refused the web identity. That
		// says nothing about the secret.
		{"sts access denied while getting credentials", sm(fmt.Errorf("get identity: %w", &smithy.OperationError{
			ServiceID: "STS", OperationName: "AssumeRoleWithWebIdentity",
			Err: &smithy.GenericAPIError{Code: "AccessDeniedException"},
		})), ""},
		{"bare API error (fake client)", &types.ResourceNotFoundException{}, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := authoritative(tc.err); got != tc.want {
				t.Errorf("authoritative(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// fakeAPI answers GetSecretValue per version stage.
type fakeAPI struct {
	mu    sync.Mutex
	text  map[string]string
	errs  map[string]error
	calls int
}

func (f *fakeAPI) set(stage, text string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.text == nil {
		f.text, f.errs = map[string]string{}, map[string]error{}
	}
	f.text[stage], f.errs[stage] = text, err
}

func (f *fakeAPI) SecretString(ctx context.Context, secretID, stage string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := f.errs[stage]; err != nil {
		return "", err
	}
	text, ok := f.text[stage]
	if !ok {
		return "", &types.ResourceNotFoundException{Message: aws.String("no such version")}
	}
	return text, nil
}

func (f *fakeAPI) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// hangingAPI is a fakeAPI that, while held, answers no call until the
// call's context ends or it is released.
type hangingAPI struct {
	fakeAPI
	held    atomic.Bool
	release chan struct{}
}

func (h *hangingAPI) SecretString(ctx context.Context, secretID, stage string) (string, error) {
	if h.held.Load() {
		h.mu.Lock()
		h.calls++
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-h.release:
		}
		h.mu.Lock()
		h.calls-- // counted again below
		h.mu.Unlock()
	}
	return h.fakeAPI.SecretString(ctx, secretID, stage)
}

// lambdaCache is a cache as a Lambda function runs it: refreshed on
// protected requests only, on a fake clock.
func lambdaCache(t *testing.T, client Client, clk *clock, logs *logCapture) *Cache {
	t.Helper()
	c := New(client, "api-keys", Options{TTL: 5 * time.Minute, Now: clk.Now, Logger: logs.logger, RefreshOnRequest: true})
	c.Start(t.Context())
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAuthenticateContext: with RefreshOnRequest a request refreshes keys
// older than the TTL before checking one, falls back to the last good keys
// when that fails, and backs off; without it, requests never fetch.
func TestAuthenticateContext(t *testing.T) {
	ctx := t.Context()
	logs := captureLogs(t)
	keyA, keyB := logs.newKey(), logs.newKey()
	api := &fakeAPI{}
	api.set(stageCurrent, secretText(t, Entry{"clinic-a", Digest(keyA)}, Entry{"clinic-b", Digest(keyB)}), nil)
	clk := newClock()
	c := lambdaCache(t, api, clk, logs)
	if !c.Ready() {
		t.Fatal("not ready after Start")
	}
	fetches := api.callCount()
	check := func(step, key string, want error, wantFetch bool) {
		t.Helper()
		before := api.callCount()
		if _, err := c.AuthenticateContext(ctx, key); !errors.Is(err, want) {
			t.Fatalf("%s: AuthenticateContext = %v, want %v", step, err, want)
		}
		if fetched := api.callCount() > before; fetched != wantFetch {
			t.Fatalf("%s: fetched %v, want %v", step, fetched, wantFetch)
		}
	}

	// Revoked in the secret; nothing runs in the background.
	api.set(stageCurrent, secretText(t, Entry{"clinic-b", Digest(keyB)}), nil)
	clk.Advance(5*time.Minute - time.Second)
	check("within the TTL", keyA, nil, false)
	if got := api.callCount(); got != fetches {
		t.Fatalf("a background refresh ran: %d calls, want %d", got, fetches)
	}
	clk.Advance(time.Second)
	check("TTL reached: refreshed first", keyA, ErrInvalidKey, true)
	check("then the new keys, no fetch", keyB, nil, false)

	// Secrets Manager down: the stale keys serve, and requests back off.
	api.set(stageCurrent, "", &types.InternalServiceError{Message: aws.String("oops")})
	clk.Advance(5 * time.Minute)
	check("refresh fails: last good keys", keyB, nil, true)
	check("backing off", keyB, nil, false)
	clk.Advance(time.Second)
	check("retry after 1s", keyB, nil, true)
	clk.Advance(time.Second)
	check("backing off 2s", keyB, nil, false)
	clk.Advance(time.Second)
	check("retry after 2s", keyB, nil, true)

	// Too old to serve: the same refresh decides.
	clk.Advance(time.Hour)
	check("beyond MaxStaleness", keyB, ErrUnavailable, true)
	api.set(stageCurrent, secretText(t, Entry{"clinic-a", Digest(keyA)}), nil)
	clk.Advance(5 * time.Minute)
	check("recovered", keyA, nil, true)

	// The container's cache refreshes in the background only.
	bg := New(api, "api-keys", Options{Now: clk.Now})
	if err := bg.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	before := api.callCount()
	if _, err := bg.AuthenticateContext(ctx, keyA); !errors.Is(err, ErrUnavailable) || api.callCount() != before {
		t.Errorf("without RefreshOnRequest: %v after %d fetches, want ErrUnavailable and none", err, api.callCount()-before)
	}
}

// TestAuthenticateContextBounds: a request waits for a hung refresh at most
// RequestFetchTimeout, and never past its deadline less ReplyMargin;
// concurrent requests share one refresh.
func TestAuthenticateContextBounds(t *testing.T) {
	logs := captureLogs(t)
	key := logs.newKey()
	api := &hangingAPI{release: make(chan struct{})}
	api.set(stageCurrent, secretText(t, Entry{"clinic-a", Digest(key)}), nil)
	clk := newClock()
	c := lambdaCache(t, api, clk, logs)
	api.held.Store(true)

	for _, tc := range []struct {
		name     string
		deadline time.Duration // 0: none
		want     time.Duration
	}{
		{"no deadline: RequestFetchTimeout", 0, DefaultRequestFetchTimeout},
		{"deadline in 1.5s: 1s", 1500 * time.Millisecond, time.Second},
		{"deadline in 0.4s: no wait", 400 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			time.Sleep(100 * time.Millisecond) // the last subtest's refresh gives up
			clk.Advance(5 * time.Minute)       // past the TTL and any backoff, within MaxStaleness
			ctx := t.Context()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			start := time.Now()
			id, err := c.AuthenticateContext(ctx, key)
			took := time.Since(start)
			if err != nil || id != "clinic-a" {
				t.Errorf("AuthenticateContext = %q, %v; want the stale keys' answer", id, err)
			}
			if took < tc.want-50*time.Millisecond || took > tc.want+300*time.Millisecond {
				t.Errorf("waited %v, want about %v", took.Round(time.Millisecond), tc.want)
			}
		})
	}

	// Concurrent requests: one refresh, released after they all wait.
	time.Sleep(100 * time.Millisecond)
	clk.Advance(5 * time.Minute)
	api.mu.Lock()
	api.calls = 0
	api.mu.Unlock()
	var wg sync.WaitGroup
	var refusedCount atomic.Int32
	for range 20 {
		wg.Go(func() {
			if _, err := c.AuthenticateContext(t.Context(), key); err != nil {
				refusedCount.Add(1)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	api.held.Store(false)
	close(api.release)
	wg.Wait()
	if n := api.callCount(); n == 0 || n > 2 { // AWSCURRENT, and AWSPREVIOUS
		t.Errorf("%d GetSecretValue calls for 20 concurrent requests, want one refresh's worth", n)
	}
	if refusedCount.Load() > 0 {
		t.Errorf("%d requests refused", refusedCount.Load())
	}
}

// clock is a settable time for the Now hook.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestCacheStates walks one cache through every state with a fake client
// and a fake clock.
func TestCacheStates(t *testing.T) {
	ctx := t.Context()
	api := &fakeAPI{}
	clk := newClock()
	var stale atomic.Int32
	logs := captureLogs(t)
	c := New(api, "api-keys", Options{TTL: time.Minute, MaxStaleness: time.Hour, Now: clk.Now, Logger: logs.logger, OnStale: func() { stale.Add(1) }})

	keyA, keyB, keyOld := logs.newKey(), logs.newKey(), logs.newKey()
	good := secretText(t, Entry{"clinic-a", Digest(keyA)}, Entry{"clinic-b", Digest(keyB)})
	previous := secretText(t, Entry{"clinic-a", Digest(keyOld)})
	malformed := `{"keys":[{"id":"clinic-a","sha256":"` + strings.ToUpper(Digest(keyA)) + `"}]}`
	logs.forbidText(strings.ToUpper(Digest(keyA)))

	step := func(name string, wantErr bool, wantStatus string, wantReady bool, keys map[string]error) {
		t.Helper()
		err := c.Refresh(ctx)
		if (err != nil) != wantErr {
			t.Fatalf("%s: Refresh = %v, want error %v", name, err, wantErr)
		}
		if got := c.Status(); got != wantStatus {
			t.Fatalf("%s: Status = %q, want %q", name, got, wantStatus)
		}
		if got := c.Ready(); got != wantReady {
			t.Fatalf("%s: Ready = %v, want %v", name, got, wantReady)
		}
		for key, want := range keys {
			if _, err := c.Authenticate(key); !errors.Is(err, want) {
				t.Fatalf("%s: Authenticate = %v, want %v", name, err, want)
			}
		}
	}
	ok := error(nil)

	if c.Ready() || c.Status() != StatusUnavailable {
		t.Fatalf("before Start: Ready %v, Status %q", c.Ready(), c.Status())
	}
	api.set(stageCurrent, malformed, nil)
	step("cold start, malformed", true, StatusUnavailable, false, map[string]error{keyA: ErrUnavailable})
	if stale.Load() != 1 {
		t.Fatalf("OnStale calls = %d, want 1", stale.Load())
	}

	api.set(stageCurrent, good, nil)
	step("good", false, StatusOK, true, map[string]error{keyA: ok, keyB: ok, keyOld: ErrInvalidKey})

	api.set(stagePrevious, previous, nil)
	step("with previous", false, StatusOK, true, map[string]error{keyA: ok, keyOld: ok})

	api.set(stageCurrent, malformed, nil)
	step("malformed with a last good", true, StatusStale, true, map[string]error{keyA: ok, keyOld: ok})

	api.set(stageCurrent, good, nil)
	api.set(stagePrevious, "", &types.InternalServiceError{Message: aws.String("oops")})
	step("previous stage unreachable keeps the last union", true, StatusStale, true, map[string]error{keyA: ok, keyOld: ok})

	api.set(stagePrevious, "not json", nil)
	step("malformed previous is ignored", false, StatusOK, true, map[string]error{keyA: ok, keyOld: ErrInvalidKey})

	api.set(stagePrevious, "", &smithy.GenericAPIError{Code: "AccessDeniedException"})
	step("previous stage denied is ignored", false, StatusOK, true, map[string]error{keyA: ok})

	api.set(stageCurrent, "", &smithy.GenericAPIError{Code: "ThrottlingException"})
	clk.Advance(59 * time.Minute)
	step("throttled, 59 minutes old", true, StatusStale, true, map[string]error{keyA: ok})
	clk.Advance(2 * time.Minute)
	step("throttled, 61 minutes old", true, StatusUnavailable, false, map[string]error{keyA: ErrUnavailable})

	api.set(stageCurrent, good, nil)
	step("recovered", false, StatusOK, true, map[string]error{keyA: ok})

	// Secrets Manager's signature error quotes the canonical request, our
	// session token in it; only the first line of an error is logged.
	const token = "IQoJb3JpZ2luX2VjEXAMPLE-session-token"
	logs.forbidText(token)
	api.set(stageCurrent, "", &smithy.GenericAPIError{Code: "InvalidSignatureException", Message: "The request signature we calculated does not match.\n\n" +
		"The Canonical String for this request should have been\n'POST\n/\n\nx-amz-security-token:" + token + "'"})
	step("signature refused", true, StatusStale, true, map[string]error{keyA: ok})
	api.set(stageCurrent, good, nil)
	step("recovered again", false, StatusOK, true, map[string]error{keyA: ok})

	api.set(stageCurrent, "", &smithy.GenericAPIError{Code: "AccessDeniedException"})
	step("access denied revokes", true, StatusRevoked, true, map[string]error{keyA: ErrInvalidKey, keyB: ErrInvalidKey})
	api.set(stageCurrent, "", context.DeadlineExceeded)
	clk.Advance(3 * time.Hour)
	step("revoked stays revoked through an outage", true, StatusRevoked, true, map[string]error{keyA: ErrInvalidKey})

	api.set(stageCurrent, good, nil)
	step("granted again", false, StatusOK, true, map[string]error{keyA: ok})

	// No refresh for longer than two TTLs (the loop is not running): stale.
	clk.Advance(3 * time.Minute)
	if got := c.Status(); got != StatusStale {
		t.Fatalf("no refresh for 3 TTLs: Status %q, want stale", got)
	}

	// A cold start refused authoritatively is not ready (a wrong secret id
	// must stop a rollout), unlike a revocation after keys were loaded.
	cold := New(&fakeAPI{}, "typo", Options{Logger: logs.logger})
	if err := cold.Refresh(ctx); err == nil {
		t.Fatal("Refresh of a missing secret succeeded")
	}
	if cold.Ready() || cold.Status() != StatusUnavailable {
		t.Fatalf("cold not found: Ready %v, Status %q; want false, unavailable", cold.Ready(), cold.Status())
	}
}

func TestOptionsDefaults(t *testing.T) {
	c := New(&fakeAPI{}, "x", Options{})
	if c.opts.TTL != DefaultTTL || c.opts.MaxStaleness != DefaultMaxStaleness || c.opts.FetchTimeout != DefaultFetchTimeout {
		t.Errorf("defaults: %+v", c.opts)
	}
	// MaxStaleness below one refresh interval would fail closed between
	// two healthy refreshes.
	c = New(&fakeAPI{}, "x", Options{TTL: time.Minute, FetchTimeout: time.Second, MaxStaleness: time.Second})
	if got, want := c.opts.MaxStaleness, time.Minute+time.Second; got != want {
		t.Errorf("MaxStaleness = %v, want %v", got, want)
	}
}

// logCapture collects a test's log output and fails the test if any line
// holds a raw key or a digest made by newKey.
type logCapture struct {
	testutil.Buffer // the log output
	logger          *slog.Logger
	mu              sync.Mutex // guards secret
	secret          []string
}

func captureLogs(t *testing.T) *logCapture {
	l := &logCapture{}
	l.logger = slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		out := l.String()
		for _, s := range l.forbidden() {
			if strings.Contains(out, s) {
				t.Errorf("a log line contains a key or digest %q:\n%s", s, out)
			}
		}
		if testing.Verbose() {
			t.Logf("logs:\n%s", out)
		}
	})
	return l
}

func (l *logCapture) forbidden() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.secret...)
}

// newKey returns a random key and forbids it and its digest in the logs.
func (l *logCapture) newKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	key := base64.RawURLEncoding.EncodeToString(b)
	l.forbid(key)
	return key
}

// forbid adds a raw key, and its digest, to what no log line may hold.
func (l *logCapture) forbid(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secret = append(l.secret, key, Digest(key))
}

// forbidText adds any other text no log line may hold.
func (l *logCapture) forbidText(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secret = append(l.secret, s)
}

func secretText(t testing.TB, entries ...Entry) string {
	t.Helper()
	b, err := MarshalSecret(entries)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventually polls cond until it holds or the wait is over.
func eventually(t *testing.T, wait time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", wait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func authenticates(c *Cache, key, id string) func() bool {
	return func() bool {
		got, err := c.Authenticate(key)
		return err == nil && got == id
	}
}

func refused(c *Cache, key string, want error) func() bool {
	return func() bool {
		_, err := c.Authenticate(key)
		return errors.Is(err, want)
	}
}
