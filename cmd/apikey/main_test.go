package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/secrets/sdkclient"
)

// apikey runs the command in-process, with the process's environment (set
// up by mototest's Env), and returns what it printed.
func apikey(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, os.Getenv, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// keyLine is what apikey prints on stdout for a new key: the key alone.
var keyLine = regexp.MustCompile(`\A` + secrets.KeyPattern + `\n\z`)

// newKey runs apikey and returns the key it printed.
func newKey(t *testing.T, args ...string) (key, note string) {
	t.Helper()
	out, note, err := apikey(t, "", args...)
	if err != nil {
		t.Fatalf("apikey %q: %v\n%s", args, err, note)
	}
	if !keyLine.MatchString(out) {
		t.Fatalf("apikey %q: stdout %q, want only a key matching %s", args, out, secrets.KeyPattern)
	}
	key = strings.TrimSpace(out)
	if strings.Contains(note, key) || strings.Contains(note, secrets.Digest(key)) {
		t.Fatalf("the note on stderr repeats the key or its whole digest: %s", note)
	}
	return key, note
}

// motoCache is a cache of secret id as the container builds it, refreshed
// by hand.
func motoCache(t *testing.T, srv *mototest.Server, id string) *secrets.Cache {
	t.Helper()
	c, err := sdkclient.New(t.Context(), srv.ConfigOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	cache := secrets.New(c, id, secrets.Options{})
	t.Cleanup(func() { cache.Close() })
	return cache
}

// checkKeys refreshes cache and checks which keys it accepts: want maps a
// key to its id, or to "" for a key that must be refused.
func checkKeys(t *testing.T, cache *secrets.Cache, want map[string]string) {
	t.Helper()
	if err := cache.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	for key, id := range want {
		got, err := cache.Authenticate(key)
		switch {
		case id == "" && !errors.Is(err, secrets.ErrInvalidKey):
			t.Errorf("key %.12s…: Authenticate = %q, %v; want ErrInvalidKey (revoked)", key, got, err)
		case id != "" && (got != id || err != nil):
			t.Errorf("key %.12s…: Authenticate = %q, %v; want %q", key, got, err, id)
		}
	}
}

// stages returns the entries of AWSCURRENT and AWSPREVIOUS (nil if none).
func stages(t *testing.T, srv *mototest.Server, id string) (current, previous []secrets.Entry) {
	t.Helper()
	c, err := sdkclient.New(t.Context(), srv.ConfigOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := read(t.Context(), c, id)
	if err != nil || !s.exists || s.previousBad {
		t.Fatalf("read %s: %v (exists %v, AWSPREVIOUS unparsable %v)", id, err, s.exists, s.previousBad)
	}
	return s.current, s.previous
}

// TestCommands runs the command as an operator would, with the standard
// SDK environment pointing at one moto_server (so not in parallel), on one
// secret per subtest.
func TestCommands(t *testing.T) {
	srv := mototest.Start(t)
	srv.Env(t)
	for _, tc := range []struct {
		name string
		test func(*testing.T, *mototest.Server)
	}{
		{"add list revoke", testAddListRevoke},
		{"rotation", testRotation},
		{"revoke finds AWSPREVIOUS", testRevokeFindsPrevious},
		{"documented procedures", testDocumentedProcedures},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("API_KEYS_SECRET_ID", "")
			tc.test(t, srv)
		})
	}
}

// testAddListRevoke: keys added with apikey authenticate through a cache
// of the same secret; a revoked one stops at the next refresh.
func testAddListRevoke(t *testing.T, srv *mototest.Server) {
	const id = "prod/healthcare-api/keys"

	keyA, note := newKey(t, "-secret-id", id, "-key-id", "clinic-a") // the secret does not exist yet
	if !strings.Contains(note, "only this once") || !strings.Contains(note, "within API_KEYS_TTL + 10s (5m10s with the default TTL)") {
		t.Errorf("note %q does not say the key is shown once and when it works", note)
	}
	t.Setenv("API_KEYS_SECRET_ID", id) // from here on without -secret-id
	keyB, _ := newKey(t, "-key-id", "clinic-b")
	if keyA == keyB {
		t.Fatal("two adds printed the same key")
	}
	if out, _, err := apikey(t, "", "-key-id", "clinic-a"); err == nil || !strings.Contains(err.Error(), "already exists") || out != "" {
		t.Fatalf("duplicate id: stdout %q, err %v; want an error and no key", out, err)
	}

	// The secret holds digests only, in the exact shape the services read.
	// (The stage is named: moto answers a GetSecretValue without one from
	// the version the last plain PutSecretValue made, not from AWSCURRENT.)
	admin := srv.Admin()
	got, err := admin.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(stageCurrent)})
	if err != nil {
		t.Fatal(err)
	}
	text := aws.ToString(got.SecretString)
	want := `{"keys":[{"id":"clinic-a","sha256":"` + secrets.Digest(keyA) + `"},{"id":"clinic-b","sha256":"` + secrets.Digest(keyB) + `"}]}`
	if text != want {
		t.Fatalf("secret\n%s\nwant\n%s", text, want)
	}

	cache := motoCache(t, srv, id)
	checkKeys(t, cache, map[string]string{keyA: "clinic-a", keyB: "clinic-b"})

	list, _, err := apikey(t, "", "-list")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"clinic-a                 " + secrets.Digest(keyA)[:12] + " AWSCURRENT AWSPREVIOUS\n",
		"clinic-b                 " + secrets.Digest(keyB)[:12] + " AWSCURRENT\n",
	} {
		if !strings.Contains(list, line) {
			t.Errorf("-list printed\n%s\nwant a line %q", list, line)
		}
	}

	_, note, err = apikey(t, "", "-revoke", "clinic-a")
	if err != nil {
		t.Fatalf("revoke: %v\n%s", err, note)
	}
	for _, s := range []string{`Revoked all keys of "clinic-a": confirmed absent from AWSCURRENT`, "AWSPREVIOUS (version",
		"Services refuse it within API_KEYS_TTL + 10s (5m10s with the default TTL)", "for up to 1h0m0s after its last successful refresh"} {
		if !strings.Contains(note, s) {
			t.Errorf("revoke note %q does not say %q", note, s)
		}
	}
	checkKeys(t, cache, map[string]string{keyA: "", keyB: "clinic-b"})
	current, previous := stages(t, srv, id)
	if (target{id: "clinic-a"}).in(current) || (target{id: "clinic-a"}).in(previous) {
		t.Errorf("after the revoke: AWSCURRENT %v, AWSPREVIOUS %v; want clinic-a in neither", current, previous)
	}

	if _, _, err := apikey(t, "", "-revoke", "clinic-a"); err == nil || !strings.Contains(err.Error(), "not in") {
		t.Errorf("revoking an absent id: %v", err)
	}
	if _, _, err := apikey(t, "", "-secret-id", "nope", "-revoke", "clinic-a"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("revoking in a missing secret: %v", err)
	}
	if _, _, err := apikey(t, "", "-rotate", "clinic-a"); err == nil || !strings.Contains(err.Error(), "not in the secret") {
		t.Errorf("rotating an absent id: %v", err)
	}

	// A secret that does not parse is never rewritten. (Another secret: a
	// plain PutSecretValue after apikey's label moves confuses moto, which
	// then leaves AWSCURRENT on two versions.)
	srv.PutSecret("malformed", `{"keys":[],"extra":1}`)
	for _, args := range [][]string{{"-key-id", "clinic-c"}, {"-rotate", "clinic-c"}, {"-revoke", "clinic-c"}, {"-list"}} {
		if _, _, err := apikey(t, "", append(args, "-secret-id", "malformed")...); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("%s in a malformed secret: %v, want a refusal", args[0], err)
		}
	}
}

// testRotation: -rotate gives a client a second key, both work; revoking
// the old key's digest leaves only the new one, in both served versions.
func testRotation(t *testing.T, srv *mototest.Server) {
	t.Setenv("API_KEYS_SECRET_ID", "rotation")
	old, _ := newKey(t, "-key-id", "clinic-a")
	other, _ := newKey(t, "-key-id", "clinic-b")
	cache := motoCache(t, srv, "rotation")

	fresh, note := newKey(t, "-rotate", "clinic-a")
	oldPrefix, freshPrefix := secrets.Digest(old)[:12], secrets.Digest(fresh)[:12]
	for _, s := range []string{"digest " + freshPrefix, "(digests " + oldPrefix + ") keep working",
		"apikey -secret-id rotation -revoke clinic-a -digest " + oldPrefix + "\n"} {
		if !strings.Contains(note, s) {
			t.Errorf("rotate note\n%s\ndoes not say %q", note, s)
		}
	}
	checkKeys(t, cache, map[string]string{old: "clinic-a", fresh: "clinic-a", other: "clinic-b"})

	for _, tc := range []struct{ digest, want string }{
		{"abc", "8 to 64 hex digits"},
		{"xyz12345", "8 to 64 hex digits"},
		{secrets.Digest(other)[:8], "has no key whose digest starts with"},
	} {
		if _, _, err := apikey(t, "", "-revoke", "clinic-a", "-digest", tc.digest); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-digest %s: %v, want %q", tc.digest, err, tc.want)
		}
	}

	_, note, err := apikey(t, "", "-revoke", "clinic-a", "-digest", strings.ToUpper(oldPrefix[:8]))
	if err != nil {
		t.Fatalf("revoke the old digest: %v\n%s", err, note)
	}
	if !strings.Contains(note, `the key of "clinic-a" with digest `+oldPrefix) || !strings.Contains(note, `"clinic-a" keeps 1 other key(s)`) {
		t.Errorf("revoke note: %s", note)
	}
	checkKeys(t, cache, map[string]string{old: "", fresh: "clinic-a", other: "clinic-b"})
	current, previous := stages(t, srv, "rotation")
	gone := target{id: "clinic-a", digest: secrets.Digest(old)}
	if gone.in(current) || gone.in(previous) {
		t.Errorf("old digest still served: AWSCURRENT %v, AWSPREVIOUS %v", current, previous)
	}
}

// testRevokeFindsPrevious: a key someone removed by hand from AWSCURRENT
// still works from AWSPREVIOUS; -revoke finds it there and pushes that
// version out.
func testRevokeFindsPrevious(t *testing.T, srv *mototest.Server) {
	const id = "by-hand"
	leaked, kept := secrets.NewKey(), secrets.NewKey()
	srv.PutSecret(id, secretText(t, secrets.Entry{ID: "clinic-a", SHA256: secrets.Digest(leaked)}, secrets.Entry{ID: "clinic-b", SHA256: secrets.Digest(kept)}))
	srv.PutSecret(id, secretText(t, secrets.Entry{ID: "clinic-b", SHA256: secrets.Digest(kept)}))
	cache := motoCache(t, srv, id)
	checkKeys(t, cache, map[string]string{leaked: "clinic-a", kept: "clinic-b"})

	if _, note, err := apikey(t, "", "-secret-id", id, "-revoke", "clinic-a"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, note)
	}
	checkKeys(t, cache, map[string]string{leaked: "", kept: "clinic-b"})
}

func secretText(t *testing.T, entries ...secrets.Entry) string {
	t.Helper()
	b, err := secrets.MarshalSecret(entries)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrintDigest(t *testing.T) {
	// The digest is from coreutils: printf %s KEY | sha256sum
	const key, want = "Xq7vR2mLk9TzW4pNc8HsJ3bYf6GdE1aUo5iK0tQw", "e76bfb6e438246346f2c62ec0cf591d89f2c0fdd86e345e24e6607db4d01dd4c\n"
	for _, stdin := range []string{key, key + "\n", key + "\r\n"} {
		if out, _, err := apikey(t, stdin, "-print-digest"); out != want || err != nil {
			t.Errorf("stdin %q: %q, %v; want %q", stdin, out, err, want)
		}
	}
	for _, tc := range []struct{ stdin, want string }{
		{"\n", "no key"},
		{"s3cret-2024", "too weak"},
		{"abc", "too weak"},
		{strings.Repeat("Xq7vR2", 20), "too weak"},
	} {
		if out, _, err := apikey(t, tc.stdin, "-print-digest"); err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("stdin %q: stdout %q, err %v; want no digest and %q", tc.stdin, out, err, tc.want)
		}
	}
}

func TestGenerate(t *testing.T) {
	a, _, errA := apikey(t, "", "-generate")
	b, _, errB := apikey(t, "", "-generate")
	if errA != nil || errB != nil || !keyLine.MatchString(a) || !keyLine.MatchString(b) || a == b {
		t.Fatalf("-generate printed %q (%v) and %q (%v); want two different keys", a, errA, b, errB)
	}
	// What -generate makes, API_KEYS and -print-digest take.
	if _, err := secrets.Static("me:" + strings.TrimSpace(a)); err != nil {
		t.Errorf("API_KEYS refuses a generated key: %v", err)
	}
	if out, _, err := apikey(t, a, "-print-digest"); err != nil || out != secrets.Digest(strings.TrimSpace(a))+"\n" {
		t.Errorf("-print-digest of a generated key: %q, %v", out, err)
	}
}

func TestUsage(t *testing.T) {
	t.Setenv("API_KEYS_SECRET_ID", "")
	for _, args := range [][]string{
		{},
		{"-key-id", "a"},    // no secret
		{"-secret-id", "s"}, // no mode
		{"-secret-id", "s", "-key-id", "a", "-revoke", "b"}, // two modes
		{"-secret-id", "s", "-rotate", "a", "-revoke", "a"},
		{"-secret-id", "s", "-list", "-generate"},
		{"-print-digest", "-key-id", "a"},
		{"-secret-id", "s", "-key-id", "a", "-digest", "abcdef12"}, // -digest without -revoke
		{"-secret-id", "s", "-key-id", "a", "extra"},
		{"-unknown"},
	} {
		_, stderr, err := apikey(t, "", args...)
		if !errors.Is(err, errUsage) || !strings.Contains(stderr, "usage:\n  apikey") {
			t.Errorf("%q: err %v, stderr %q; want usage", args, err, stderr)
		}
	}
	for _, flag := range []string{"-key-id", "-rotate", "-revoke"} {
		if _, _, err := apikey(t, "", "-secret-id", "s", flag, "clinic a"); err == nil || !strings.Contains(err.Error(), "1 to 64 characters") {
			t.Errorf("%s with a bad key id: %v", flag, err)
		}
	}
	_, stderr, err := apikey(t, "", "-h")
	if err != nil || !strings.Contains(stderr, secrets.KeyPattern) {
		t.Errorf("-h: %v, %q; want the usage with the key pattern", err, stderr)
	}
}
