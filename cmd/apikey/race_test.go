package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/secrets/sdkclient"
)

// stepClient calls before ahead of every Secrets Manager call: the step
// boundaries where a race test pauses one writer and lets another run.
type stepClient struct {
	client
	before func()
}

func (s stepClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	s.before()
	return s.client.GetSecretValue(ctx, in, o...)
}

func (s stepClient) CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	s.before()
	return s.client.CreateSecret(ctx, in, o...)
}

func (s stepClient) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	s.before()
	return s.client.PutSecretValue(ctx, in, o...)
}

func (s stepClient) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, o ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	s.before()
	return s.client.UpdateSecretVersionStage(ctx, in, o...)
}

// op is one apikey command, run through a tool.
type op struct {
	name string
	run  func(context.Context, tool) error
}

// writer runs an op in a goroutine and pauses it before its call number
// at (from 0; -1: never) until resumed.
type writer struct {
	at             int
	calls          int
	paused, resume chan struct{}
	done           chan struct{}
	err            error
	stdout         bytes.Buffer
}

func startWriter(ctx context.Context, c client, secretID string, o op, at int) *writer {
	w := &writer{at: at, paused: make(chan struct{}), resume: make(chan struct{}), done: make(chan struct{})}
	sc := stepClient{client: c, before: func() {
		if w.calls == w.at {
			close(w.paused)
			<-w.resume
		}
		w.calls++
	}}
	go func() {
		defer close(w.done)
		w.err = o.run(ctx, tool{c: sc, secretID: secretID, stdout: &w.stdout, stderr: io.Discard})
	}()
	return w
}

// wait reports whether w paused (true) or finished before its pause point.
func (w *writer) wait(t *testing.T) bool {
	t.Helper()
	select {
	case <-w.paused:
		return true
	case <-w.done:
		return false
	case <-time.After(2 * time.Minute):
		t.Fatal("a writer neither paused nor finished within 2 minutes")
		return false
	}
}

func (w *writer) finish(t *testing.T) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("a writer did not finish within 2 minutes")
	}
}

// key is the key a writer printed, if any.
func (w *writer) key() string { return strings.TrimSpace(w.stdout.String()) }

func addOp(id string) op {
	return op{"add " + id, func(ctx context.Context, t tool) error { return t.add(ctx, id) }}
}

func rotateOp(id string) op {
	return op{"rotate " + id, func(ctx context.Context, t tool) error { return t.rotate(ctx, id) }}
}

func revokeOp(id, digest string) op {
	name := "revoke " + id
	if digest != "" {
		name += " -digest " + digest[:8]
	}
	return op{name, func(ctx context.Context, t tool) error { return t.revoke(ctx, id, digest[:min(len(digest), 12)]) }}
}

// raceKeys are the keys every scenario starts with: AWSPREVIOUS holds
// clinic-a's two keys and clinic-c's, AWSCURRENT all of them.
type raceKeys struct{ a1, a2, b, c string }

func (k raceKeys) setUp(t *testing.T, c client, secretID string) {
	t.Helper()
	e := func(id, key string) secrets.Entry { return secrets.Entry{ID: id, SHA256: secrets.Digest(key)} }
	ctx := t.Context()
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretID),
		SecretString: aws.String(secretText(t, e("clinic-a", k.a1), e("clinic-a", k.a2), e("clinic-c", k.c)))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretID),
		SecretString: aws.String(secretText(t, e("clinic-a", k.a1), e("clinic-a", k.a2), e("clinic-b", k.b), e("clinic-c", k.c)))}); err != nil {
		t.Fatal(err)
	}
}

// outcome is what a scenario's check gets: each op's error and printed key.
type outcome struct {
	errA, errB error
	keyA, keyB string
}

// raceCase: ops a and b on the same secret, and what must hold after both.
type raceCase struct {
	name string
	a, b op
	// grid: b pauses at each of its step boundaries too (else it runs to
	// its end while a is paused).
	grid bool
	// want returns the keys to check in a cache afterwards (key → id, or
	// "" for a key that must be refused), or fails the test.
	want func(t *testing.T, k raceKeys, o outcome) map[string]string
}

// TestRaces runs pairs of apikey commands on one secret, interleaved at
// step boundaries (before each Secrets Manager call): a is paused before
// its call i, b runs until before its call j (grid cases; the others let b
// run to its end), a finishes, then b. For every interleaving, a cache of
// the secret as the services run it (both stages, refreshed afterwards)
// must refuse every revoked key and accept every other one.
func TestRaces(t *testing.T) {
	t.Parallel()
	srv := mototest.Start(t)
	k := raceKeys{secrets.NewKey(), secrets.NewKey(), secrets.NewKey(), secrets.NewKey()}
	refused := func(keys ...string) map[string]string {
		m := map[string]string{k.b: "clinic-b", k.c: "clinic-c", k.a1: "clinic-a", k.a2: "clinic-a"}
		for _, key := range keys {
			m[key] = ""
		}
		return m
	}
	noErrors := func(t *testing.T, o outcome) {
		if o.errA != nil || o.errB != nil {
			t.Fatalf("a: %v; b: %v; want both to succeed", o.errA, o.errB)
		}
	}
	// A rotation racing a revoke of the whole id either lands first (and
	// the revoke removes its key too) or finds the id gone.
	rotateRevoked := func(t *testing.T, rotateErr, revokeErr error, rotated string) map[string]string {
		if revokeErr != nil {
			t.Fatalf("revoke: %v", revokeErr)
		}
		if rotateErr != nil && !strings.Contains(rotateErr.Error(), "not in the secret") {
			t.Fatalf("rotate: %v; want success or the id gone", rotateErr)
		}
		m := refused(k.a1, k.a2)
		if rotated != "" {
			m[rotated] = ""
		}
		return m
	}
	cases := []raceCase{
		{"add vs revoke", addOp("clinic-new"), revokeOp("clinic-a", ""), true, func(t *testing.T, k raceKeys, o outcome) map[string]string {
			noErrors(t, o)
			m := refused(k.a1, k.a2)
			m[o.keyA] = "clinic-new"
			return m
		}},
		{"revoke vs add", revokeOp("clinic-a", ""), addOp("clinic-new"), true, func(t *testing.T, k raceKeys, o outcome) map[string]string {
			noErrors(t, o)
			m := refused(k.a1, k.a2)
			m[o.keyB] = "clinic-new"
			return m
		}},
		{"two revokes", revokeOp("clinic-a", ""), revokeOp("clinic-b", ""), true, func(t *testing.T, k raceKeys, o outcome) map[string]string {
			noErrors(t, o)
			return refused(k.a1, k.a2, k.b)
		}},
		{"two revokes of one id's two keys", revokeOp("clinic-a", secrets.Digest(k.a1)), revokeOp("clinic-a", secrets.Digest(k.a2)), false, func(t *testing.T, k raceKeys, o outcome) map[string]string {
			noErrors(t, o)
			return refused(k.a1, k.a2)
		}},
		{"rotate vs revoke of the id", rotateOp("clinic-a"), revokeOp("clinic-a", ""), false, func(t *testing.T, k raceKeys, o outcome) map[string]string {
			return rotateRevoked(t, o.errA, o.errB, o.keyA)
		}},
		{"revoke of the id vs rotate", revokeOp("clinic-a", ""), rotateOp("clinic-a"), false, func(t *testing.T, k raceKeys, o outcome) map[string]string {
			return rotateRevoked(t, o.errB, o.errA, o.keyB)
		}},
		{"rotate vs revoke of an old key", rotateOp("clinic-a"), revokeOp("clinic-a", secrets.Digest(k.a1)), false, func(t *testing.T, k raceKeys, o outcome) map[string]string {
			noErrors(t, o)
			m := refused(k.a1)
			m[o.keyA] = "clinic-a"
			return m
		}},
	}
	var secretN atomic.Int64
	for _, rc := range cases {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			c, err := sdkclient.New(t.Context(), srv.ConfigOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			scenarios := 0
			for i := 0; ; i++ {
				aPaused := true
				for j := 0; ; j++ {
					if !rc.grid {
						j = -1
					}
					secretID := fmt.Sprintf("race-%d", secretN.Add(1))
					k.setUp(t, c, secretID)
					var bPaused bool
					aPaused, bPaused = race(t, c, secretID, rc, k, i, j)
					scenarios++
					if t.Failed() {
						t.Fatalf("a (%s) paused before its call %d, b (%s) before its call %d", rc.a.name, i, rc.b.name, j)
					}
					if !aPaused || !bPaused || !rc.grid {
						break
					}
				}
				if !aPaused {
					break
				}
			}
			t.Logf("%d interleavings", scenarios)
		})
	}
}

// race runs one interleaving (see TestRaces) and checks it. It reports
// whether a and b reached their pause points.
func race(t *testing.T, c *sdkclient.Client, secretID string, rc raceCase, k raceKeys, i, j int) (aPaused, bPaused bool) {
	t.Helper()
	ctx := t.Context()
	a := startWriter(ctx, c, secretID, rc.a, i)
	aPaused = a.wait(t)
	var b *writer
	if aPaused {
		b = startWriter(ctx, c, secretID, rc.b, j)
		bPaused = b.wait(t)
		close(a.resume)
		a.finish(t)
		if bPaused {
			close(b.resume)
		}
		b.finish(t)
	} else {
		// a ran to its end before call i: b runs after it.
		b = startWriter(ctx, c, secretID, rc.b, -1)
		b.finish(t)
	}
	o := outcome{errA: a.err, errB: b.err, keyA: a.key(), keyB: b.key()}
	want := rc.want(t, k, o)
	if t.Failed() {
		return aPaused, bPaused
	}

	cache := secrets.New(c, secretID, secrets.Options{})
	defer cache.Close()
	if err := cache.Refresh(ctx); err != nil {
		t.Fatalf("cache refresh: %v", err)
	}
	for key, id := range want {
		got, err := cache.Authenticate(key)
		switch {
		case id == "" && !errors.Is(err, secrets.ErrInvalidKey):
			t.Errorf("revoked key %s: Authenticate = %q, %v; want ErrInvalidKey", secrets.Digest(key)[:8], got, err)
		case id != "" && (got != id || err != nil):
			t.Errorf("key %s: Authenticate = %q, %v; want %q", secrets.Digest(key)[:8], got, err, id)
		}
	}
	return aPaused, bPaused
}

// twiceClient makes every write twice and returns the second answer, as
// the SDK does when the answer to the first is lost and it retries.
type twiceClient struct{ client }

func (c twiceClient) CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	_, _ = c.client.CreateSecret(ctx, in, o...)
	return c.client.CreateSecret(ctx, in, o...)
}

func (c twiceClient) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	_, _ = c.client.PutSecretValue(ctx, in, o...)
	return c.client.PutSecretValue(ctx, in, o...)
}

func (c twiceClient) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, o ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	_, _ = c.client.UpdateSecretVersionStage(ctx, in, o...)
	return c.client.UpdateSecretVersionStage(ctx, in, o...)
}

// TestRetriedWrites: a write retried after its answer was lost creates no
// second version (the version id comes from the base version and the
// text), and a label move retried after it succeeded is seen for what it
// is at the next read; every command still ends as it should.
func TestRetriedWrites(t *testing.T) {
	t.Parallel()
	srv := mototest.Start(t)
	sdk, err := sdkclient.New(t.Context(), srv.ConfigOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var out bytes.Buffer
	tl := tool{c: twiceClient{sdk}, secretID: "retried", stdout: &out, stderr: io.Discard}
	key := func() string { k := strings.TrimSpace(out.String()); out.Reset(); return k }

	if err := tl.add(ctx, "clinic-a"); err != nil { // creates the secret
		t.Fatal(err)
	}
	a1 := key()
	if err := tl.add(ctx, "clinic-b"); err != nil {
		t.Fatal(err)
	}
	b := key()
	if err := tl.rotate(ctx, "clinic-a"); err != nil {
		t.Fatal(err)
	}
	a2 := key()
	if err := tl.revoke(ctx, "clinic-a", secrets.Digest(a1)[:12]); err != nil {
		t.Fatal(err)
	}
	cache := secrets.New(sdk, "retried", secrets.Options{})
	defer cache.Close()
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{a1: "", a2: "clinic-a", b: "clinic-b"} {
		got, err := cache.Authenticate(k)
		if want == "" && !errors.Is(err, secrets.ErrInvalidKey) || want != "" && (got != want || err != nil) {
			t.Errorf("key %s: %q, %v; want %q", secrets.Digest(k)[:8], got, err, want)
		}
	}
	// Versions: create, add, rotate, and the revoke's two: five, no more.
	versions, err := sdk.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("retried"), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(versions.Versions); got != 5 {
		t.Errorf("%d versions, want 5 (one per write)", got)
	}
}
