package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/awsjson"
	"github.com/healthcare-prediction/api/internal/moto/mototest"
)

const table = "cds-replay"

// client is a DynamoDB client of srv's environment, with getenv's
// answers overridden by kv (name, value, ...).
func client(t *testing.T, srv *mototest.Server, kv ...string) *awsjson.Client {
	t.Helper()
	over := map[string]string{"AWS_MAX_ATTEMPTS": "1"}
	for i := 0; i < len(kv); i += 2 {
		over[kv[i]] = kv[i+1]
	}
	c, err := awsjson.FromEnv(func(name string) string {
		if v, ok := over[name]; ok {
			return v
		}
		return srv.Getenv(name)
	}, awsjson.DynamoDB, awsjson.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// call makes a DynamoDB call for the test's own setup and checks.
func call(t *testing.T, c *awsjson.Client, op string, in any) map[string]any {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Call(t.Context(), op, body)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return m
}

// item returns the stored item of key, nil when there is none.
func item(t *testing.T, c *awsjson.Client, key string) map[string]any {
	t.Helper()
	out := call(t, c, "GetItem", map[string]any{"TableName": table, "Key": map[string]any{KeyAttribute: map[string]string{"S": hashKey(key)}},
		"ConsistentRead": true})
	it, _ := out["Item"].(map[string]any)
	return it
}

func claim(t *testing.T, s *Store, key string, expires time.Time) bool {
	t.Helper()
	fresh, err := s.Claim(t.Context(), key, expires)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return fresh
}

// Against a real moto_server: a key is fresh once while its record
// lives, other keys are independent, the table holds the key's hash and
// its expiry as the TTL number, an expired record no longer blocks its key
// (TTL deletes only eventually), and of concurrent claims of one key
// exactly one is fresh.
func TestMoto(t *testing.T) {
	srv := mototest.Start(t)
	c := client(t, srv)
	srv.CreateTable(table, KeyAttribute, ExpiresAttribute)
	s := New(c, table)
	now := time.Now()
	exp := now.Add(2*time.Minute + 30*time.Second + 250*time.Millisecond)
	key := "https://ehr.example.org\x00jti-1"

	if !claim(t, s, key, exp) {
		t.Fatal("first claim: not fresh")
	}
	if claim(t, s, key, exp) {
		t.Error("second claim of the same key: fresh, want a replay")
	}
	if !claim(t, s, "https://ehr.example.org\x00jti-2", exp) {
		t.Error("another jti: not fresh")
	}
	if !claim(t, s, "https://other.example.org\x00jti-1", exp) {
		t.Error("the same jti from another issuer: not fresh")
	}

	it := item(t, c, key)
	raw, _ := json.Marshal(it)
	want := map[string]any{KeyAttribute: map[string]any{"S": hashKey(key)}, ExpiresAttribute: map[string]any{"N": strconv.FormatInt(exp.Unix()+1, 10)}}
	if got, _ := json.Marshal(want); string(raw) != string(got) {
		t.Errorf("stored item %s, want %s (the key's SHA-256 and the expiry rounded up, in Unix seconds)", raw, got)
	}
	if strings.Contains(string(raw), "jti-1") || strings.Contains(string(raw), "ehr.example.org") {
		t.Errorf("stored item %s holds the raw key", raw)
	}

	past := "https://ehr.example.org\x00jti-expired"
	if !claim(t, s, past, now.Add(-5*time.Second)) {
		t.Fatal("first claim of a key with a past expiry: not fresh")
	}
	if !claim(t, s, past, now.Add(time.Minute)) {
		t.Error("claim after the record expired (not yet deleted by TTL): not fresh")
	}
	if claim(t, s, past, now.Add(time.Minute)) {
		t.Error("claim of the renewed record: fresh")
	}

	const n = 16
	var fresh atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			ok, err := s.Claim(context.Background(), "https://ehr.example.org\x00jti-race", exp)
			if err != nil {
				errs <- err
			}
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent claim: %v", err)
	}
	if got := fresh.Load(); got != 1 {
		t.Errorf("%d of %d concurrent claims of one key fresh, want exactly 1", got, n)
	}
}

// Every failure is an error (the caller refuses the token), never a
// fresh claim: no table, a killed endpoint, a hung one (bounded by
// CallTimeout or the caller's deadline).
func TestFailsClosed(t *testing.T) {
	srv := mototest.Start(t)
	c := client(t, srv)
	exp := time.Now().Add(time.Minute)

	fresh, err := New(c, "no-such-table").Claim(t.Context(), "k", exp)
	var api *awsjson.APIError
	if fresh || !errors.As(err, &api) || api.Code != "ResourceNotFoundException" {
		t.Errorf("missing table: %v, %v; want ResourceNotFoundException", fresh, err)
	}

	srv.CreateTable(table, KeyAttribute, ExpiresAttribute)
	s := New(c, table)
	srv.Pause()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	start := time.Now()
	fresh, err = s.Claim(ctx, "k", exp)
	cancel()
	if fresh || err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("hung endpoint: %v, %v after %v; want an error at the deadline", fresh, err, time.Since(start))
	}
	srv.Resume()

	srv.Kill()
	fresh, err = s.Claim(t.Context(), "k", exp)
	if fresh || !errors.Is(err, awsjson.ErrNoAnswer) {
		t.Errorf("killed endpoint: %v, %v; want no answer", fresh, err)
	}
	if err != nil && strings.Contains(err.Error(), "k\"") {
		t.Errorf("error %q quotes the key", err)
	}
}

// With moto's authentication on, which recomputes each request's SigV4
// signature from the IAM user's secret key and checks the user's policy:
// the signed claim of a user allowed dynamodb:PutItem succeeds, and a
// wrong secret key, an unknown key id or a user without the permission
// is refused, which fails the claim.
func TestMotoChecksTheSignature(t *testing.T) {
	srv := mototest.Start(t)
	srv.CreateTable(table, KeyAttribute, ExpiresAttribute)
	id, secret := srv.IAMUserAllowed("cdshooks-function", "dynamodb:PutItem")
	otherID, otherSecret := srv.IAMUser("predict-function")
	srv.EnforceAuth()
	store := func(keyID, secretKey string) *Store {
		return New(client(t, srv, "AWS_ACCESS_KEY_ID", keyID, "AWS_SECRET_ACCESS_KEY", secretKey), table)
	}
	exp := time.Now().Add(time.Minute)
	if fresh, err := store(id, secret).Claim(t.Context(), "iss\x00jti", exp); err != nil || !fresh {
		t.Fatalf("signed with the user's key: %v, %v", fresh, err)
	}
	for name, s := range map[string]*Store{
		"wrong secret key":              store(id, secret[:len(secret)-1]+map[bool]string{true: "y", false: "x"}[strings.HasSuffix(secret, "x")]),
		"unknown key id":                store("AKIAIOSFODNN7EXAMPLE", secret),
		"user without dynamodb:PutItem": store(otherID, otherSecret),
	} {
		fresh, err := s.Claim(t.Context(), fmt.Sprintf("iss\x00%s", name), exp)
		var api *awsjson.APIError
		if fresh || !errors.As(err, &api) || api.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %v, %v; want a 403 refusal", name, fresh, err)
		}
	}
}

// The request on the wire: an awsJson1_0 PutItem, signed for dynamodb in
// the region with the session token, conditional on no live record, with
// the hash as the key.
func TestRequest(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c, err := awsjson.FromEnv(func(name string) string {
		return map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
			"AWS_SESSION_TOKEN": "session", "AWS_ENDPOINT_URL_DYNAMODB": srv.URL}[name]
	}, awsjson.DynamoDB, awsjson.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(c, table)
	s.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	if fresh, err := s.Claim(t.Context(), "iss\x00jti", time.Unix(1_800_000_150, 0)); err != nil || !fresh {
		t.Fatalf("Claim: %v, %v", fresh, err)
	}
	auth := got.Header.Get("Authorization")
	if got.Header.Get("X-Amz-Target") != "DynamoDB_20120810.PutItem" || got.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		t.Errorf("headers %v: not an awsJson1_0 PutItem", got.Header)
	}
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(auth, "/eu-central-1/dynamodb/aws4_request") ||
		!strings.Contains(auth, "x-amz-target") || got.Header.Get("X-Amz-Security-Token") != "session" {
		t.Errorf("Authorization %q: not signed for dynamodb in eu-central-1 with the target and session token", auth)
	}
	want := `{"ConditionExpression":"attribute_not_exists(#k) OR #e \u003c :now","ExpressionAttributeNames":{"#e":"expires_at","#k":"pk"},` +
		`"ExpressionAttributeValues":{":now":{"N":"1800000000"}},"Item":{"expires_at":{"N":"1800000150"},"pk":{"S":"` + hashKey("iss\x00jti") + `"}},"TableName":"cds-replay"}`
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
}
