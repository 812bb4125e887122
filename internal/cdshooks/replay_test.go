package cdshooks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// recordingReplay is a ReplayStore that records its keys and can fail.
type recordingReplay struct {
	keys []string
	err  error
}

func (r *recordingReplay) Claim(_ context.Context, key string, _ time.Time) (bool, error) {
	if r.err != nil {
		return false, r.err
	}
	for _, k := range r.keys {
		if k == key {
			return false, nil
		}
	}
	r.keys = append(r.keys, key)
	return true, nil
}

// Config.Replay replaces the in-process cache: the verifier claims
// issuer+"\x00"+jti, and a store that cannot answer refuses the token.
func TestReplayStore(t *testing.T) {
	k := newKey(t, jose.ES384, "es")
	srv, _ := jwksServer(t, k)
	now := time.Unix(1_800_000_000, 0)
	store := &recordingReplay{}
	v := NewVerifier([]Client{{Issuer: "i", JWKSURL: srv.URL}}, testBase, VerifierOptions{Now: func() time.Time { return now }, Replay: store})
	tok := func(jti string) string {
		return "Bearer " + k.sign(t, jwt.Claims{Issuer: "i", Audience: jwt.Audience{testBase + "/p"}, IssuedAt: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: jti})
	}
	if _, err := v.Verify(context.Background(), tok("a b"), "/p"); err != nil {
		t.Fatal(err)
	}
	if len(store.keys) != 1 || store.keys[0] != "i\x00a b" {
		t.Fatalf("claimed keys %q, want [\"i\\x00a b\"]", store.keys)
	}
	if _, err := v.Verify(context.Background(), tok("a b"), "/p"); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("a replay: %v", err)
	}
	store.err = errors.New("unreachable")
	if _, err := v.Verify(context.Background(), tok("c"), "/p"); err == nil || !strings.Contains(err.Error(), "could not be checked") {
		t.Fatalf("a failing store: %v; want a refusal", err)
	}
}
