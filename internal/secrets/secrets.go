// Package secrets is the API-key store: it answers "which client owns this
// key?" without ever holding the keys themselves, only their SHA-256
// digests.
//
// Keys come from an AWS Secrets Manager secret (see [Cache]) or, for local
// runs, from an API_KEYS string (see [Static]). The secret holds exactly
//
//	{"keys":[{"id":"clinic-a","sha256":"<lower-case hex SHA-256 of the key>"}]}
//
// and is parsed strictly by [ParseSecret]. One id may appear several times
// with different digests: a client in the middle of a rotation has its old
// and its new key. Nothing in this package logs or returns in an error a
// key, a digest or any other text of the secret.
//
// Keys made by cmd/apikey have the form of [KeyPattern] ([NewKey]): a fixed
// prefix that leak scanners can look for, then 256 random bits.
package secrets

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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
// no trailing data. Ids are 1 to 64 characters of [A-Za-z0-9._-]; one id
// may appear several times (one entry per key of that client). Digests are
// 64 lower-case hex characters and unique: one key belongs to one client.
// Errors name the position of a problem, never the text found there.
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
// comma-separated id:key pairs ("clinic-a:<key>,clinic-b:<key>"). Keys
// are hashed at once; only digests are kept. A key may contain ':' but not
// ','. Ids follow the secret's rules (an id may repeat, with another key);
// keys are unique and must pass [CheckKey] (at least [MinKeyBits] of
// estimated entropy). Errors name the pair by position and never include
// a key.
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
		if err := CheckKey(key); err != nil {
			return nil, fmt.Errorf("secrets: API_KEYS pair %d: %w", i+1, err)
		}
		entries = append(entries, Entry{ID: id, SHA256: Digest(key)})
	}
	if err := validateNamed(entries, "API_KEYS pair", 1); err != nil {
		return nil, err
	}
	return newStatic(newKeys(entries)), nil
}

// Key format. A key made by [NewKey] is KeyPrefix and then KeyRandomLength
// characters drawn uniformly from the 62 ASCII letters and digits: 43
// characters, 256.03 bits. The prefix lets leak scanners find keys (GitHub
// secret scanning: a custom pattern with KeyPattern as its secret format
// and the default before and after expressions, \A|[^0-9A-Za-z] and
// \z|[^0-9A-Za-z]); letters and digits only, so that a key is one word
// to a scanner, a shell and a double click. KeyPattern is a string, not a
// compiled regexp: compiling at package initialisation would cost every
// Lambda cold start.
const (
	KeyPrefix       = "hpa_"
	KeyRandomLength = 43
	KeyPattern      = `hpa_[0-9A-Za-z]{43}`
	base62          = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewKey returns a new random key in the format of [KeyPattern], from
// crypto/rand.
func NewKey() string {
	b := make([]byte, 0, len(KeyPrefix)+KeyRandomLength)
	b = append(b, KeyPrefix...)
	var buf [64]byte
	for len(b) < cap(b) {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand's contract since Go 1.24)
		for _, r := range buf {
			// 248 = 4 × 62: bytes from 248 up are dropped, so that every
			// character is equally likely.
			if r < 248 && len(b) < cap(b) {
				b = append(b, base62[r%62])
			}
		}
	}
	return string(b)
}

// MinKeyBits is the least estimated entropy ([EntropyBits]) a key must have
// to be accepted by [CheckKey]: 128 bits, out of reach of any guessing,
// whereas a word, a name or "s3cret-2024" falls to a dictionary at once.
const MinKeyBits = 128

// MaxKeyLength bounds a key's length (in bytes) for [CheckKey].
const MaxKeyLength = 1024

// CheckKey refuses a key that is not 1 to MaxKeyLength visible ASCII
// characters (0x21 to 0x7E: what an HTTP header carries without
// ambiguity) or whose [EntropyBits] estimate is below MinKeyBits. Its
// errors never include the key.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return fmt.Errorf("key must be 1 to %d characters", MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return fmt.Errorf("key has a character at position %d that is not visible ASCII (no spaces, control or non-ASCII characters)", i+1)
		}
	}
	if bits := EntropyBits(key); bits < MinKeyBits {
		return fmt.Errorf("key is too weak: about %.0f bits of entropy, at least %d needed; use a random key such as `go run ./cmd/apikey -generate` makes (%s followed by %d random letters and digits, 256 bits)",
			math.Floor(bits), MinKeyBits, KeyPrefix, KeyRandomLength)
	}
	return nil
}

// EntropyBits estimates the entropy of key in bits, as
//
//	(characters that count) × log2(alphabet size)
//
// which is exact for a key drawn uniformly from that alphabet and an upper
// bound for anything else, so it is used to refuse, never to vouch:
//
//   - A leading KeyPrefix is left out: it is the same in every key.
//   - The alphabet is 16 when every character is a hex digit of one case
//     (0-9a-f or 0-9A-F); otherwise the sum of the sizes of the classes the
//     key uses: digits 10, lower-case letters 26, upper-case letters 26,
//     and symbols 2 when the only ones are '-' and '_' (base64url), else
//     32 (all ASCII punctuation).
//   - Characters that continue a repetition do not count: a substring of 6
//     or more characters that also starts earlier in the key (overlapping
//     allowed, so "aaaaaaaa" and "abcabcabc" count 1 and 3 characters), and
//     the characters after the first two of a run of 8 or more whose byte
//     values step by a constant ("abcdefgh", "12345678", "zyxwvuts",
//     "aaaaaaaa"). A random key of 22 or more characters almost never
//     loses a character to these rules (a repeated 6-character substring
//     among 43 random base62 characters has odds below 1 in 10^7).
//
// It cannot see words: "correct-horse-battery-staple" counts as 28
// characters of a 28-letter alphabet (135 bits), though four words from a
// list hold far less. Keys are generated ([NewKey]), never made up.
func EntropyBits(key string) float64 {
	key = strings.TrimPrefix(key, KeyPrefix)
	if key == "" {
		return 0
	}
	return float64(countedChars(key)) * math.Log2(float64(alphabetSize(key)))
}

func alphabetSize(key string) int {
	var digit, lower, upper, hexLower, hexUpper, base64url, other bool
	hexLower, hexUpper = true, true
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'z':
			lower = true
			hexUpper = false
			hexLower = hexLower && c <= 'f'
		case 'A' <= c && c <= 'Z':
			upper = true
			hexLower = false
			hexUpper = hexUpper && c <= 'F'
		case c == '-' || c == '_':
			base64url = true
			hexLower, hexUpper = false, false
		default:
			other = true
			hexLower, hexUpper = false, false
		}
	}
	if (hexLower || hexUpper) && (lower || upper) {
		return 16
	}
	n := 0
	for _, class := range []struct {
		used bool
		size int
	}{{digit, 10}, {lower, 26}, {upper, 26}} {
		if class.used {
			n += class.size
		}
	}
	switch {
	case other:
		n += 32
	case base64url:
		n += 2
	}
	return n
}

// Repetition thresholds of EntropyBits.
const (
	minRepeat = 6 // a repeated substring this long or longer counts nothing
	minSteps  = 8 // a constant-step run this long or longer counts 2
)

// countedChars returns how many characters of key count for EntropyBits.
func countedChars(key string) int {
	n := len(key)
	skip := make([]bool, n)
	// Constant-step runs: i is in a run [start, i] with equal differences.
	for start, i := 0, 2; i <= n; i++ {
		if i < n && key[i]-key[i-1] == key[i-1]-key[i-2] {
			continue
		}
		// The run of equal steps is key[start:i].
		if i-start >= minSteps {
			for j := start + 2; j < i; j++ {
				skip[j] = true
			}
		}
		start = i - 1
	}
	// Repeats: at each position, the longest match starting earlier.
	for i := 1; i < n; {
		longest := 0
		for j := 0; j < i; j++ {
			l := 0
			for i+l < n && key[j+l] == key[i+l] {
				l++
			}
			longest = max(longest, l)
		}
		if longest < minRepeat {
			i++
			continue
		}
		for j := i; j < i+longest; j++ {
			skip[j] = true
		}
		i += longest
	}
	counted := 0
	for _, s := range skip {
		if !s {
			counted++
		}
	}
	return counted
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
	digests := map[string]int{}
	for i, e := range entries {
		if !ValidID(e.ID) {
			return fmt.Errorf("secrets: %s: id must be 1 to 64 characters of A-Z a-z 0-9 . _ -", where(i))
		}
		if !validDigest(e.SHA256) {
			return fmt.Errorf("secrets: %s: sha256 must be 64 lower-case hex characters", where(i))
		}
		if j, dup := digests[e.SHA256]; dup {
			return fmt.Errorf("secrets: %s: key repeats the key of %s", where(i), where(j))
		}
		digests[e.SHA256] = i
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
