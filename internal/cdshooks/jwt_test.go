package cdshooks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testKey is a client signing key and its public JWK.
type testKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func newKey(t *testing.T, alg jose.SignatureAlgorithm, kid string) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return testKey{alg, kid, priv}
}

func (k testKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// sign makes a compact JWS of claims with the key, typ JWT.
func (k testKey) sign(t *testing.T, c any) string { return k.signTyped(t, c, "JWT") }

func (k testKey) signTyped(t *testing.T, c any, typ jose.ContentType) string {
	t.Helper()
	o := &jose.SignerOptions{}
	if typ != "" {
		o = o.WithType(typ)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, o)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jwksServer serves the public keys and counts its fetches.
func jwksServer(t *testing.T, keys ...testKey) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		var set jose.JSONWebKeySet
		for _, k := range keys {
			set.Keys = append(set.Keys, k.public())
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

const testBase = "https://cds.example.org/prod"

func TestVerify(t *testing.T) {
	es384, rs384 := newKey(t, jose.ES384, "es"), newKey(t, jose.RS384, "rs")
	es256, rs256, ps384 := newKey(t, jose.ES256, "es256"), newKey(t, jose.RS256, "rs256"), newKey(t, jose.PS384, "ps384")
	es512 := newKey(t, jose.ES512, "es512") // a valid JWS algorithm the service does not allow
	other := newKey(t, jose.ES384, "es")    // same kid, key the JWKS does not hold
	srv, _ := jwksServer(t, es384, rs384, es256, rs256, ps384, es512)
	now := time.Unix(1_800_000_000, 0)
	v := NewVerifier([]Client{{Issuer: "https://ehr.example.org", JWKSURL: srv.URL}}, testBase, VerifierOptions{Now: func() time.Time { return now }})
	path := "/cds-services/ascvd-pce"
	good := func(jti string) jwt.Claims {
		return jwt.Claims{Issuer: "https://ehr.example.org", Subject: "client-1", Audience: jwt.Audience{testBase + path},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: jti}
	}
	with := func(jti string, f func(*jwt.Claims)) jwt.Claims { c := good(jti); f(&c); return c }
	unsigned := func(c any) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"es"}`))
		b, _ := json.Marshal(c)
		return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
	}
	tests := []struct {
		name, auth, want string // want: "" accepted, else a word of the refusal
	}{
		{"ES384", "Bearer " + es384.sign(t, good("1")), ""},
		{"RS384", "Bearer " + rs384.sign(t, good("2")), ""},
		{"ES256", "Bearer " + es256.sign(t, good("2a")), ""},
		{"RS256", "Bearer " + rs256.sign(t, good("2b")), ""},
		{"PS384", "Bearer " + ps384.sign(t, good("2c")), ""},
		{"ES512 not allowed", "Bearer " + es512.sign(t, good("2d")), "JWS"},
		{"typ not JWT", "Bearer " + es384.signTyped(t, good("2e"), "at+jwt"), "typ"},
		{"no typ", "Bearer " + es384.signTyped(t, good("2f"), ""), "typ"},
		{"jti of 257 bytes", "Bearer " + es384.sign(t, good(strings.Repeat("j", 257))), "jti"},
		{"jti of 256 bytes", "Bearer " + es384.sign(t, good(strings.Repeat("j", 256))), ""},
		{"no token", "", "Authorization"},
		{"basic", "Basic abc", "Authorization"},
		{"alg none", "Bearer " + unsigned(good("3")), "JWS"},
		{"wrong key", "Bearer " + other.sign(t, good("4")), "signature"},
		{"expired", "Bearer " + es384.sign(t, with("5", func(c *jwt.Claims) {
			c.IssuedAt, c.Expiry = jwt.NewNumericDate(now.Add(-4*time.Minute)), jwt.NewNumericDate(now.Add(-2*time.Minute))
		})), "expired"},
		{"too long lived", "Bearer " + es384.sign(t, with("6", func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(6 * time.Minute)) })), "five minutes"},
		{"wrong aud", "Bearer " + es384.sign(t, with("7", func(c *jwt.Claims) { c.Audience = jwt.Audience{testBase + "/cds-services/meld-na"} })), "aud"},
		{"unknown issuer", "Bearer " + es384.sign(t, with("8", func(c *jwt.Claims) { c.Issuer = "https://evil.example.org" })), "issuer"},
		{"no jti", "Bearer " + es384.sign(t, with("", func(*jwt.Claims) {})), "jti"},
		{"replayed jti", "Bearer " + es384.sign(t, good("1")), "replay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tt.auth, path)
			if tt.want == "" {
				if err != nil || c == nil || c.Issuer != "https://ehr.example.org" {
					t.Fatalf("Verify = %v, %v; want the client", c, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindUnauthorized || !strings.Contains(e.Detail, tt.want) {
				t.Fatalf("Verify = %v; want a refusal naming %q", err, tt.want)
			}
		})
	}
}

func TestVerifyHMACRefused(t *testing.T) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.Signed(s).Claims(jwt.Claims{Issuer: "i"}).Serialize()
	v := NewVerifier([]Client{{Issuer: "i", JWKSURL: "http://127.0.0.1:1"}}, testBase, VerifierOptions{})
	if _, err := v.Verify(context.Background(), "Bearer "+tok, "/cds-services/x"); err == nil {
		t.Fatal("an HS256 token was accepted")
	}
}

// An unknown kid refreshes the JWKS (a rotated key is picked up), but at
// most once per MinRefresh; a JWKS server that is down fails closed.
func TestJWKSRefresh(t *testing.T) {
	old, rotated := newKey(t, jose.ES384, "k1"), newKey(t, jose.ES384, "k2")
	keys := []testKey{old}
	var fetches atomic.Int32
	down := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var set jose.JSONWebKeySet
		for _, k := range keys {
			set.Keys = append(set.Keys, k.public())
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	v := NewVerifier([]Client{{Issuer: "i", JWKSURL: srv.URL}}, testBase, VerifierOptions{Now: func() time.Time { return now }, MinRefresh: 10 * time.Second})
	n := 0
	call := func(k testKey) error {
		n++
		c := jwt.Claims{Issuer: "i", Subject: "s", Audience: jwt.Audience{testBase + "/p"}, IssuedAt: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: string(rune('a' + n))}
		_, err := v.Verify(context.Background(), "Bearer "+k.sign(t, c), "/p")
		return err
	}
	if err := call(old); err != nil || fetches.Load() != 1 {
		t.Fatalf("first call: %v, %d fetches", err, fetches.Load())
	}
	keys = append(keys, rotated)
	if err := call(rotated); err == nil || fetches.Load() != 1 {
		t.Fatalf("an unknown kid within MinRefresh: err %v, %d fetches; want a refusal and no fetch", err, fetches.Load())
	}
	now = now.Add(11 * time.Second)
	if err := call(rotated); err != nil || fetches.Load() != 2 {
		t.Fatalf("an unknown kid after MinRefresh: err %v, %d fetches; want the rotated key", err, fetches.Load())
	}
	// Down: the cached keys still verify; a new kid fails closed.
	down.Store(true)
	now = now.Add(11 * time.Second)
	if err := call(newKey(t, jose.ES384, "k3")); err == nil {
		t.Fatal("a kid no JWKS holds was accepted")
	}
	if err := call(old); err != nil {
		t.Fatalf("a cached key while the JWKS server is down: %v", err)
	}
	// No keys ever loaded: fail closed.
	v2 := NewVerifier([]Client{{Issuer: "i", JWKSURL: srv.URL}}, testBase, VerifierOptions{Now: func() time.Time { return now }})
	c := jwt.Claims{Issuer: "i", Subject: "s", Audience: jwt.Audience{testBase + "/p"}, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: "z"}
	if _, err := v2.Verify(context.Background(), "Bearer "+old.sign(t, c), "/p"); err == nil || !strings.Contains(err.Error(), "could not be loaded") {
		t.Fatalf("JWKS down from the start: %v; want a refusal", err)
	}
}

func TestParseClients(t *testing.T) {
	good := `[{"iss":"https://ehr.example.org","jwks_url":"https://ehr.example.org/jwks","fhir_servers":["https://ehr.example.org/fhir/"]}]`
	c, err := ParseClients(good, false)
	if err != nil || len(c) != 1 || c[0].FHIRServers[0] != "https://ehr.example.org/fhir" {
		t.Fatalf("ParseClients(good) = %+v, %v", c, err)
	}
	for _, bad := range []string{
		`{}`, `[]`, `[{"iss":""}]`, `[{"iss":"a","jwks_url":"https://x/j","extra":1}]`,
		`[{"iss":"a","jwks_url":"http://x/j"}]`,
		`[{"iss":"a","jwks_url":"https://x/j","fhir_servers":["https://u:p@x/fhir"]}]`,
		`[{"iss":"a","jwks_url":"https://x/j","fhir_servers":["https://x/fhir?q=1"]}]`,
		`[{"iss":"a","jwks_url":"https://x/j"},{"iss":"a","jwks_url":"https://x/j"}]`,
		`[{"iss":"a","jwks_url":"https://x/j"}] []`,
	} {
		if _, err := ParseClients(bad, false); err == nil {
			t.Errorf("ParseClients(%s) accepted", bad)
		}
	}
	if _, err := ParseClients(`[{"iss":"a","jwks_url":"http://127.0.0.1:1/j"}]`, true); err != nil {
		t.Errorf("http with allowHTTP: %v", err)
	}
}

// rotatingJWKS serves keys (changeable), can be down, and can be slow.
type rotatingJWKS struct {
	srv     *httptest.Server
	fetches atomic.Int32
	down    atomic.Bool
	delay   atomic.Int64 // nanoseconds
	keys    atomic.Pointer[[]testKey]
}

func newRotatingJWKS(t *testing.T, keys ...testKey) *rotatingJWKS {
	j := &rotatingJWKS{}
	j.keys.Store(&keys)
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		time.Sleep(time.Duration(j.delay.Load()))
		if j.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var set jose.JSONWebKeySet
		for _, k := range *j.keys.Load() {
			set.Keys = append(set.Keys, k.public())
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }

// newClockedVerifier serves keys as a rotatingJWKS and returns it, a
// clock at a fixed start and a verifier of issuer "i" on that clock (opts
// with Now set to it), once the verifier has accepted a first token of
// keys[0] (jti "1").
func newClockedVerifier(t *testing.T, opts VerifierOptions, keys ...testKey) (*rotatingJWKS, *clock, *Verifier) {
	t.Helper()
	j := newRotatingJWKS(t, keys...)
	c := newClock(time.Unix(1_800_000_000, 0))
	opts.Now = c.now
	v := NewVerifier([]Client{{Issuer: "i", JWKSURL: j.srv.URL}}, testBase, opts)
	if _, err := v.Verify(context.Background(), c.token(t, keys[0], "1"), "/p"); err != nil {
		t.Fatal(err)
	}
	return j, c, v
}

func (c *clock) token(t *testing.T, k testKey, jti string) string {
	now := c.now()
	return "Bearer " + k.sign(t, jwt.Claims{Issuer: "i", Audience: jwt.Audience{testBase + "/p"}, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: jti})
}

// A JWKS that cannot be refreshed is trusted for 24 hours after its last
// successful fetch, then every token of the issuer is refused until a
// fetch succeeds again.
func TestJWKSMaxStaleness(t *testing.T) {
	k := newKey(t, jose.ES384, "k1")
	j, c, v := newClockedVerifier(t, VerifierOptions{}, k)
	j.down.Store(true)
	c.add(23 * time.Hour)
	if _, err := v.Verify(context.Background(), c.token(t, k, "2"), "/p"); err != nil {
		t.Fatalf("23 h after the last fetch, JWKS down: %v; want the cached key", err)
	}
	c.add(time.Hour + time.Second)
	if _, err := v.Verify(context.Background(), c.token(t, k, "3"), "/p"); err == nil || !strings.Contains(err.Error(), "24 hours") {
		t.Fatalf("24 h after the last fetch, JWKS down: %v; want a refusal", err)
	}
	j.down.Store(false)
	c.add(time.Minute)
	if _, err := v.Verify(context.Background(), c.token(t, k, "4"), "/p"); err != nil {
		t.Fatalf("JWKS back: %v", err)
	}
}

// A client that sends an unknown kid and disconnects does not cancel the
// JWKS fetch: the rotated key it loads serves the next call at once, and
// calls with a cached key do not wait for the fetch.
func TestJWKSFetchOutlivesCaller(t *testing.T) {
	old, rotated := newKey(t, jose.ES384, "k1"), newKey(t, jose.ES384, "k2")
	j, c, v := newClockedVerifier(t, VerifierOptions{MinRefresh: 10 * time.Second}, old)
	j.keys.Store(&[]testKey{old, rotated})
	j.delay.Store(int64(300 * time.Millisecond))
	c.add(11 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, c.token(t, rotated, "2"), "/p")
		done <- err
	}()
	if err := <-done; err == nil {
		t.Fatal("the cancelled caller was accepted")
	}
	if _, err := v.Verify(context.Background(), c.token(t, rotated, "3"), "/p"); err != nil {
		t.Fatalf("the rotated key after the first caller disconnected: %v", err)
	}
	if n := j.fetches.Load(); n != 2 {
		t.Errorf("%d JWKS fetches, want 2 (one at start, one for the rotation)", n)
	}
	// A slow fetch for an unknown kid does not hold up a cached key.
	c.add(11 * time.Second)
	go func() {
		_, err := v.Verify(context.Background(), c.token(t, newKey(t, jose.ES384, "k3"), "4"), "/p")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if _, err := v.Verify(context.Background(), c.token(t, old, "5"), "/p"); err != nil || time.Since(start) > 150*time.Millisecond {
		t.Fatalf("a cached key during a fetch: %v after %s; want it at once", err, time.Since(start))
	}
	<-done
}

// A JWK that names its algorithm verifies only tokens of that algorithm
// (RFC 7517 4.4): an RSA key published for RS384 does not verify PS384.
func TestJWKAlgMustMatch(t *testing.T) {
	rs := newKey(t, jose.RS384, "rsa")
	_, c, v := newClockedVerifier(t, VerifierOptions{}, rs)
	ps := rs
	ps.alg = jose.PS384 // same RSA key, another algorithm than its JWK names
	if _, err := v.Verify(context.Background(), c.token(t, ps, "2"), "/p"); err == nil {
		t.Fatal("a PS384 token verified with a JWK whose alg is RS384")
	}
}

// One issuer filling its share of the replay cache is refused; another
// issuer's tokens are still accepted.
func TestReplayCachePerIssuer(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := newMemoryReplay(func() time.Time { return now }, 3)
	exp := now.Add(time.Minute)
	for i := range 3 {
		if fresh, _ := m.Claim(context.Background(), "a\x00"+string(rune('0'+i)), exp); !fresh {
			t.Fatalf("jti %d of issuer a refused", i)
		}
	}
	if fresh, _ := m.Claim(context.Background(), "a\x00x", exp); fresh {
		t.Error("issuer a beyond its share was accepted")
	}
	if fresh, _ := m.Claim(context.Background(), "b\x00x", exp); !fresh {
		t.Error("issuer b was refused because issuer a filled the cache")
	}
	now = now.Add(2 * time.Minute) // a's tokens expired: room again
	if fresh, _ := m.Claim(context.Background(), "a\x00y", now.Add(time.Minute)); !fresh {
		t.Error("issuer a refused after its tokens expired")
	}
}

func TestParseCORSOrigins(t *testing.T) {
	got, err := ParseCORSOrigins(" https://sandbox.cds-hooks.org, http://localhost:3000 ")
	if err != nil || len(got) != 2 || got[0] != "https://sandbox.cds-hooks.org" || got[1] != "http://localhost:3000" {
		t.Errorf("two origins: %q, %v", got, err)
	}
	if got, err := ParseCORSOrigins("*"); err != nil || len(got) != 1 || (Config{CORSOrigins: got}).AllowedOrigin("https://x.example") != "*" {
		t.Errorf("*: %q, %v", got, err)
	}
	if got, err := ParseCORSOrigins(""); err != nil || got != nil {
		t.Errorf("unset: %q, %v", got, err)
	}
	for _, bad := range []string{"sandbox.cds-hooks.org", "https://sandbox.cds-hooks.org/", "https://a.example/path", "ftp://a.example",
		"https://u@a.example", "https://A.example", "https://a.example,*", "https://a.example?x"} {
		if _, err := ParseCORSOrigins(bad); err == nil {
			t.Errorf("ParseCORSOrigins(%q) accepted", bad)
		}
	}
	c := Config{CORSOrigins: []string{"https://a.example"}}
	if c.AllowedOrigin("https://a.example") != "https://a.example" || c.AllowedOrigin("https://b.example") != "" || c.AllowedOrigin("") != "" {
		t.Error("AllowedOrigin does not match exactly")
	}
}

// After the cache life a known key still verifies at once while the set
// is refreshed behind it (within the 24 h bound).
func TestJWKSRefreshBehindCachedKey(t *testing.T) {
	k := newKey(t, jose.ES384, "k1")
	j, c, v := newClockedVerifier(t, VerifierOptions{}, k)
	j.delay.Store(int64(300 * time.Millisecond))
	c.add(time.Hour + time.Minute)
	start := time.Now()
	if _, err := v.Verify(context.Background(), c.token(t, k, "2"), "/p"); err != nil || time.Since(start) > 150*time.Millisecond {
		t.Fatalf("a cached key after the cache life: %v after %s; want it at once", err, time.Since(start))
	}
	deadline := time.Now().Add(2 * time.Second)
	for j.fetches.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := j.fetches.Load(); n != 2 {
		t.Errorf("%d JWKS fetches, want the refresh behind the cached key (2)", n)
	}
}
