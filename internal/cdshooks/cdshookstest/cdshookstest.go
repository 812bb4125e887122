// Package cdshookstest plays a trusted CDS client (an EHR) in tests: its
// signing keys, a JWKS server on loopback with their public halves, and
// client JWTs as CDS Hooks 2.0 "Trusting CDS Clients" describes them. The
// tests of package cdshooks (the EHR's side) and of package api (the
// documented answers) share it.
package cdshookstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Signer is one signing key of the CDS client Issuer.
type Signer struct {
	Issuer string
	Alg    jose.SignatureAlgorithm // ES384 or RS384, the two CDS Hooks 2.0 names
	KID    string
	priv   crypto.Signer
}

// NewSigner generates a key of issuer: P-384 for ES384, else RSA 2048.
func NewSigner(t testing.TB, issuer string, alg jose.SignatureAlgorithm, kid string) Signer {
	t.Helper()
	var priv crypto.Signer
	var err error
	if alg == jose.ES384 {
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	} else {
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return Signer{Issuer: issuer, Alg: alg, KID: kid, priv: priv}
}

// JWKS serves the public keys of signers on loopback until the test ends:
// its URL is the client's jwks_url.
func JWKS(t testing.TB, signers ...Signer) *httptest.Server {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, s := range signers {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: s.priv.Public(), KeyID: s.KID, Algorithm: string(s.Alg), Use: "sig"})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Token is a client JWT for the endpoint URL aud: iss, sub, aud, iat, exp
// two minutes later (the spec's limit is five) and a fresh jti. edit, when
// not nil, changes the claims before signing.
func (s Signer) Token(t testing.TB, aud string, edit func(*jwt.Claims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.Claims{Issuer: s.Issuer, Subject: "ehr-client", Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)), ID: rand.Text()}
	if edit != nil {
		edit(&c)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.Alg, Key: jose.JSONWebKey{Key: s.priv, KeyID: s.KID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sg).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
