// Package secrets is the API-key store: it answers "which client owns this
// key?" without ever holding the keys themselves, only their SHA-256
// digests.
//
// Keys come from an AWS Secrets Manager secret (see [Cache]) or, for local
// runs, from an API_KEYS string (see [Static]). The secret holds exactly
//
//	{"keys":[{"id":"clinic-a","sha256":"<lower-case hex SHA-256 of the key>"}]}
//
// and is parsed strictly by [ParseSecret]. Nothing in this package logs or
// returns in an error a key, a digest or any other text of the secret.
package secrets

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/healthcare-prediction/api/internal/token"
)

// ErrInvalidKey means the presented key matches no loaded key (HTTP 401).
var ErrInvalidKey = errors.New("secrets: invalid API key")

// ErrUnavailable means no usable key set is loaded: none was ever loaded,
// or the last good one is older than the cache's MaxStaleness (HTTP 503).
var ErrUnavailable = errors.New("secrets: API keys unavailable")

// Status values reported by [Cache.Status], for /health checks.
const (
	// StatusOK: keys are loaded and the last refresh succeeded.
	StatusOK = "ok"
	// StatusStale: the last refresh failed transiently; the last good keys
	// are still served (they are younger than MaxStaleness).
	StatusStale = "stale"
	// StatusUnavailable: no usable key set; every request gets 503.
	StatusUnavailable = "unavailable"
	// StatusRevoked: Secrets Manager said authoritatively that there are no
	// keys (secret deleted, access denied, ...); every key gets 401.
	StatusRevoked = "revoked"
)

// Entry is one key of a secret: the client's id and the lower-case hex
// SHA-256 digest of its key.
type Entry struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
}

// Digest returns the lower-case hex SHA-256 digest of key, the form a
// secret stores.
func Digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// ParseSecret parses a secret's text strictly: one object with exactly the
// field "keys", a list of objects with exactly the string fields "id" and
// "sha256", no duplicate or unknown field names (matched case-sensitively),
// no trailing data. Ids are 1 to 64 characters of [A-Za-z0-9._-] and
// unique; digests are 64 lower-case hex characters and unique. Errors name
// the position of a problem, never the text found there.
func ParseSecret(text []byte) ([]Entry, error) {
	p := &parser{dec: json.NewDecoder(bytes.NewReader(text))}
	entries, err := p.secret()
	if err != nil {
		return nil, err
	}
	if err := validate(entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// MarshalSecret renders entries in the secret's format, after checking them
// as [ParseSecret] would.
func MarshalSecret(entries []Entry) ([]byte, error) {
	if err := validate(entries); err != nil {
		return nil, err
	}
	if entries == nil {
		entries = []Entry{}
	}
	return json.Marshal(struct {
		Keys []Entry `json:"keys"`
	}{entries})
}

// Keys is an immutable snapshot of key ids and their digests. One id may
// have several digests (a client's old and new key during a rotation).
type Keys struct {
	entries []keyEntry
}

type keyEntry struct {
	id     string
	digest [sha256.Size]byte
}

// newKeys builds a snapshot from validated entries; sets later in the
// argument list add only (id, digest) pairs not already present.
func newKeys(sets ...[]Entry) *Keys {
	k := &Keys{}
	seen := map[keyEntry]bool{}
	for _, set := range sets {
		for _, e := range set {
			var ke keyEntry
			ke.id = e.ID
			if _, err := hex.Decode(ke.digest[:], []byte(e.SHA256)); err != nil {
				panic("secrets: newKeys called with an unvalidated entry")
			}
			if !seen[ke] {
				seen[ke] = true
				k.entries = append(k.entries, ke)
			}
		}
	}
	return k
}

// Len returns the number of (id, digest) pairs in the snapshot.
func (k *Keys) Len() int { return len(k.entries) }

// Check hashes key and compares the digest with every digest of the
// snapshot in constant time, without stopping at a match, so the time
// taken does not depend on which key (if any) matched.
func (k *Keys) Check(key string) (id string, ok bool) {
	sum := sha256.Sum256([]byte(key))
	match := -1
	for i := range k.entries {
		eq := subtle.ConstantTimeCompare(sum[:], k.entries[i].digest[:])
		// Keep the first match; the select is branch-free.
		match = subtle.ConstantTimeSelect(eq&boolInt(match < 0), i, match)
	}
	if match < 0 {
		return "", false
	}
	return k.entries[match].id, true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Authenticate returns the id owning key, or ErrInvalidKey.
func (k *Keys) Authenticate(key string) (string, error) {
	if id, ok := k.Check(key); ok {
		return id, nil
	}
	return "", ErrInvalidKey
}

// Static builds a fixed key store for local runs from API_KEYS:
// comma-separated id:key pairs ("clinic-a:s3cret,clinic-b:t0ken"). Keys
// are hashed at once; only digests are kept. A key may contain ':' but not
// ','. Ids follow the secret's rules and are unique, and so are keys.
// Errors name the pair by position and never include a key.
func Static(pairs string) (*Cache, error) {
	if strings.TrimSpace(pairs) == "" {
		return nil, errors.New("secrets: API_KEYS is empty; want id:key pairs separated by commas")
	}
	var entries []Entry
	for i, pair := range strings.Split(pairs, ",") {
		id, key, found := strings.Cut(strings.TrimSpace(pair), ":")
		switch {
		case !found:
			return nil, fmt.Errorf("secrets: API_KEYS pair %d: want id:key", i+1)
		case !ValidID(id):
			return nil, fmt.Errorf("secrets: API_KEYS pair %d: id must be 1 to 64 characters of A-Z a-z 0-9 . _ -", i+1)
		case key == "":
			return nil, fmt.Errorf("secrets: API_KEYS pair %d: key is empty", i+1)
		}
		entries = append(entries, Entry{ID: id, SHA256: Digest(key)})
	}
	if err := validateNamed(entries, "API_KEYS pair", 1); err != nil {
		return nil, err
	}
	return newStatic(newKeys(entries)), nil
}

// ValidID reports whether id may name a key: 1 to 64 characters of
// A-Z a-z 0-9 . _ -
func ValidID(id string) bool { return token.Valid(id, 64, "._-") }

func validDigest(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func validate(entries []Entry) error { return validateNamed(entries, "keys", 0) }

// validateNamed checks entries; name and base say how to point at one in
// an error ("keys[0]" or "API_KEYS pair 1").
func validateNamed(entries []Entry, name string, base int) error {
	where := func(i int) string {
		if base == 0 {
			return fmt.Sprintf("%s[%d]", name, i)
		}
		return fmt.Sprintf("%s %d", name, i+base)
	}
	ids := map[string]int{}
	digests := map[string]int{}
	for i, e := range entries {
		if !ValidID(e.ID) {
			return fmt.Errorf("secrets: %s: id must be 1 to 64 characters of A-Z a-z 0-9 . _ -", where(i))
		}
		if !validDigest(e.SHA256) {
			return fmt.Errorf("secrets: %s: sha256 must be 64 lower-case hex characters", where(i))
		}
		if j, dup := ids[e.ID]; dup {
			return fmt.Errorf("secrets: %s: id repeats %s", where(i), where(j))
		}
		if j, dup := digests[e.SHA256]; dup {
			return fmt.Errorf("secrets: %s: key repeats the key of %s", where(i), where(j))
		}
		ids[e.ID], digests[e.SHA256] = i, i
	}
	return nil
}

// parser walks the secret's JSON token by token, because encoding/json's
// Unmarshal matches field names case-insensitively and lets a duplicate
// field win silently.
type parser struct {
	dec *json.Decoder
}

// wrap replaces the decoder's own messages, which quote the text.
func (p *parser) wrap(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("secrets: secret is not valid JSON (at byte %d)", syn.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("secrets: secret is truncated JSON")
	}
	return errors.New("secrets: secret is not valid JSON")
}

func (p *parser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		return nil, p.wrap(err)
	}
	return t, nil
}

func (p *parser) delim(want json.Delim, what string) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("secrets: %s", what)
	}
	return nil
}

func (p *parser) secret() ([]Entry, error) {
	if err := p.delim('{', `secret must be a JSON object {"keys":[...]}`); err != nil {
		return nil, err
	}
	var entries []Entry
	seen := false
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		if t != "keys" {
			return nil, errors.New(`secrets: secret has an unknown field (only "keys" is allowed)`)
		}
		if seen {
			return nil, errors.New(`secrets: secret repeats the field "keys"`)
		}
		seen = true
		if err := p.delim('[', `"keys" must be a list`); err != nil {
			return nil, err
		}
		entries = []Entry{}
		for i := 0; p.dec.More(); i++ {
			e, err := p.entry(i)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
		if err := p.delim(']', `"keys" must be a list`); err != nil {
			return nil, err
		}
	}
	if err := p.delim('}', "secret must be one JSON object"); err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, errors.New("secrets: secret has data after its JSON object")
	}
	if !seen {
		return nil, errors.New(`secrets: secret has no "keys" field`)
	}
	return entries, nil
}

func (p *parser) entry(i int) (Entry, error) {
	var e Entry
	if err := p.delim('{', fmt.Sprintf(`keys[%d] must be an object {"id":...,"sha256":...}`, i)); err != nil {
		return e, err
	}
	var hasID, hasDigest bool
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return e, err
		}
		var dst *string
		var has *bool
		switch t {
		case "id":
			dst, has = &e.ID, &hasID
		case "sha256":
			dst, has = &e.SHA256, &hasDigest
		default:
			return e, fmt.Errorf(`secrets: keys[%d] has an unknown field (only "id" and "sha256" are allowed)`, i)
		}
		if *has {
			return e, fmt.Errorf("secrets: keys[%d] repeats the field %q", i, t)
		}
		*has = true
		v, err := p.token()
		if err != nil {
			return e, err
		}
		s, ok := v.(string)
		if !ok {
			return e, fmt.Errorf("secrets: keys[%d].%s must be a string", i, t)
		}
		*dst = s
	}
	if err := p.delim('}', fmt.Sprintf("keys[%d] must be an object", i)); err != nil {
		return e, err
	}
	if !hasID || !hasDigest {
		return e, fmt.Errorf(`secrets: keys[%d] needs both "id" and "sha256"`, i)
	}
	return e, nil
}
