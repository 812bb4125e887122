package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/secrets/sdkclient"
)

// apikey runs the command in-process and returns what it printed.
func apikey(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

var keyShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}\n$`) // 32 bytes, base64url, no padding

// TestAgainstMoto: keys added with apikey authenticate through a cache of
// the same secret; a revoked one stops at the next refresh. The command
// reads the standard SDK environment, as in real use.
func TestAgainstMoto(t *testing.T) {
	srv := mototest.Start(t)
	srv.Env(t)
	const id = "prod/healthcare-api/keys"

	keyA, note, err := apikey(t, "", "-secret-id", id, "-key-id", "clinic-a")
	if err != nil {
		t.Fatalf("add clinic-a (secret does not exist yet): %v\n%s", err, note)
	}
	if !keyShape.MatchString(keyA) {
		t.Fatalf("stdout %q, want only the key: 43 base64url characters and a newline", keyA)
	}
	keyA = strings.TrimSpace(keyA)
	if strings.Contains(note, keyA) || strings.Contains(note, secrets.Digest(keyA)) {
		t.Fatalf("the note on stderr repeats the key or digest: %s", note)
	}
	if !strings.Contains(note, "only this once") {
		t.Errorf("note %q does not say the key is shown once", note)
	}
	keyB, _, err := apikey(t, "", "-secret-id", id, "-key-id", "clinic-b")
	if err != nil {
		t.Fatalf("add clinic-b: %v", err)
	}
	keyB = strings.TrimSpace(keyB)
	if keyA == keyB {
		t.Fatal("two adds printed the same key")
	}
	if out, _, err := apikey(t, "", "-secret-id", id, "-key-id", "clinic-a"); err == nil || !strings.Contains(err.Error(), "already exists") || out != "" {
		t.Fatalf("duplicate id: stdout %q, err %v; want an error and no key", out, err)
	}

	// The secret holds digests only, in the exact shape the services read.
	admin := srv.Admin()
	got, err := admin.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	text := aws.ToString(got.SecretString)
	want := `{"keys":[{"id":"clinic-a","sha256":"` + secrets.Digest(keyA) + `"},{"id":"clinic-b","sha256":"` + secrets.Digest(keyB) + `"}]}`
	if text != want {
		t.Fatalf("secret\n%s\nwant\n%s", text, want)
	}

	client, err := sdkclient.New(t.Context(), srv.ConfigOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	cache := secrets.New(client, id, secrets.Options{})
	cache.Start(t.Context())
	defer cache.Close()
	for key, want := range map[string]string{keyA: "clinic-a", keyB: "clinic-b"} {
		if got, err := cache.Authenticate(key); got != want || err != nil {
			t.Errorf("Authenticate = %q, %v; want %q", got, err, want)
		}
	}

	if _, note, err := apikey(t, "", "-secret-id", id, "-revoke", "clinic-a"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, note)
	}
	if err := cache.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Authenticate(keyA); !errors.Is(err, secrets.ErrInvalidKey) {
		t.Errorf("revoked key: %v, want ErrInvalidKey (AWSPREVIOUS must not keep it alive)", err)
	}
	if got, err := cache.Authenticate(keyB); got != "clinic-b" || err != nil {
		t.Errorf("kept key: %q, %v", got, err)
	}
	if _, _, err := apikey(t, "", "-secret-id", id, "-revoke", "clinic-a"); err == nil || !strings.Contains(err.Error(), "not in") {
		t.Errorf("revoking an absent id: %v", err)
	}
	if _, _, err := apikey(t, "", "-secret-id", "nope", "-revoke", "clinic-a"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("revoking in a missing secret: %v", err)
	}

	// A secret that does not parse is never rewritten.
	if _, err := admin.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(`{"keys":[],"extra":1}`)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := apikey(t, "", "-secret-id", id, "-key-id", "clinic-c"); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("malformed secret: %v, want a refusal", err)
	}
}

func TestPrintDigest(t *testing.T) {
	for _, stdin := range []string{"abc", "abc\n", "abc\r\n"} {
		out, _, err := apikey(t, stdin, "-print-digest")
		// SHA-256("abc") from FIPS 180-2, appendix B.1.
		if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"; out != want || err != nil {
			t.Errorf("stdin %q: %q, %v; want %q", stdin, out, err, want)
		}
	}
	if _, _, err := apikey(t, "\n", "-print-digest"); err == nil {
		t.Error("an empty key got a digest")
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-key-id", "a"},    // no secret
		{"-secret-id", "s"}, // no mode
		{"-secret-id", "s", "-key-id", "a", "-revoke", "b"}, // two modes
		{"-print-digest", "-key-id", "a"},
		{"-secret-id", "s", "-key-id", "a", "extra"},
		{"-unknown"},
	} {
		_, stderr, err := apikey(t, "", args...)
		if !errors.Is(err, errUsage) || !strings.Contains(stderr, "usage: apikey") {
			t.Errorf("%q: err %v, stderr %q; want usage", args, err, stderr)
		}
	}
	if _, _, err := apikey(t, "", "-secret-id", "s", "-key-id", "clinic a"); err == nil || !strings.Contains(err.Error(), "1 to 64 characters") {
		t.Errorf("bad key id: %v", err)
	}
	if _, _, err := apikey(t, "", "-h"); err != nil {
		t.Errorf("-h: %v", err)
	}
}
