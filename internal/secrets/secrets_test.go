package secrets

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The files in testdata/secrets are secrets as other tools might write
// them: valid-*.json must parse, invalid-*.json must be refused with an
// error that quotes nothing of the file.
func TestParseSecretFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/secrets/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := ParseSecret(text)
			switch {
			case strings.HasPrefix(name, "valid-"):
				if err != nil {
					t.Fatalf("ParseSecret: %v", err)
				}
				again, err := MarshalSecret(entries)
				if err != nil {
					t.Fatalf("MarshalSecret: %v", err)
				}
				if back, err := ParseSecret(again); err != nil || len(back) != len(entries) {
					t.Fatalf("round trip: %d entries, %v; want %d", len(back), err, len(entries))
				}
			case strings.HasPrefix(name, "invalid-"):
				if err == nil {
					t.Fatalf("ParseSecret accepted %s", text)
				}
				assertQuotesNothing(t, err.Error(), string(text))
			default:
				t.Fatalf("name testdata files valid-* or invalid-*")
			}
		})
	}
}

func TestParseSecretEntries(t *testing.T) {
	text := `{"keys":[{"id":"clinic-a","sha256":"` + Digest("key-a") + `"},{"sha256":"` + Digest("key-b") + `","id":"clinic-b"}]}`
	got, err := ParseSecret([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{"clinic-a", Digest("key-a")}, {"clinic-b", Digest("key-b")}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDigest(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2, appendix B.1.
	if got, want := Digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("Digest(abc) = %s, want %s", got, want)
	}
}

func TestKeysCheck(t *testing.T) {
	// clinic-a mid-rotation: its old key (AWSPREVIOUS) and new key
	// (AWSCURRENT) both work.
	keys := newKeys(
		[]Entry{{"clinic-a", Digest("a-new")}, {"clinic-b", Digest("b")}},
		[]Entry{{"clinic-a", Digest("a-old")}, {"clinic-b", Digest("b")}},
	)
	if got, want := keys.Len(), 3; got != want {
		t.Fatalf("Len = %d, want %d (the repeated pair counted once)", got, want)
	}
	for _, tc := range []struct {
		key, id string
		ok      bool
	}{
		{"a-new", "clinic-a", true},
		{"a-old", "clinic-a", true},
		{"b", "clinic-b", true},
		{"c", "", false},
		{"", "", false},
		{Digest("b"), "", false}, // the digest is not a key
	} {
		id, ok := keys.Check(tc.key)
		if id != tc.id || ok != tc.ok {
			t.Errorf("Check(%q) = %q, %v; want %q, %v", tc.key, id, ok, tc.id, tc.ok)
		}
	}
	if _, err := keys.Authenticate("nope"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Authenticate(wrong) = %v, want ErrInvalidKey", err)
	}
	var empty Keys
	if _, ok := empty.Check("x"); ok {
		t.Error("an empty key set accepted a key")
	}
}

// Strong keys for the Static tests: random letters and digits without the
// hpa_ prefix, so that a leak scanner does not flag this file.
const (
	staticKeyA = "Xq7vR2mLk9TzW4pNc8HsJ3bYf6GdE1aUo5iK0tQw"
	staticKeyB = "with:colons:N8rT3kWq9ZmLc2VxP7bHs4JfY6dG"
	staticKeyC = "3f9c1a7b5d2e8f60a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0"
)

func TestStatic(t *testing.T) {
	// clinic-a twice: its old and new key during a rotation.
	c, err := Static("clinic-a:" + staticKeyA + ", clinic-b:" + staticKeyB + ",clinic-a:" + staticKeyC)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Ready() || c.Status() != StatusOK {
		t.Fatalf("Ready %v, Status %q; want true, ok", c.Ready(), c.Status())
	}
	for key, want := range map[string]string{staticKeyA: "clinic-a", staticKeyB: "clinic-b", staticKeyC: "clinic-a"} {
		if id, err := c.Authenticate(key); id != want || err != nil {
			t.Errorf("Authenticate(%q) = %q, %v; want %q", key, id, err, want)
		}
	}
	if _, err := c.Authenticate(staticKeyA[1:]); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("wrong key: %v, want ErrInvalidKey", err)
	}
	// A static cache ignores Start, Refresh and Close.
	c.Start(t.Context())
	if err := c.Refresh(t.Context()); err != nil {
		t.Error(err)
	}
	c.Close()
}

func TestStaticErrors(t *testing.T) {
	const strong = "s3cret" + "Xq7vR2mLk9TzW4pNc8HsJ3bYf6GdE1aU" // every key here has "s3cret", which no error may repeat
	for _, tc := range []struct {
		name, pairs, want string
	}{
		{"empty", "", "empty"},
		{"blank", "  ", "empty"},
		{"no colon", "clinic-a:" + strong + "," + strong, "pair 2: want id:key"},
		{"empty key", "clinic-a:", "pair 1: key is empty"},
		{"empty id", ":" + strong, "pair 1: id must be"},
		{"bad id", "clinic a:" + strong, "pair 1: id must be"},
		{"long id", strings.Repeat("x", 65) + ":" + strong, "pair 1: id must be"},
		{"trailing comma", "clinic-a:" + strong + ",", "pair 2: want id:key"},
		{"duplicate key", "a:" + strong + ",b:" + strong, "pair 2: key repeats the key of API_KEYS pair 1"},
		{"weak key", "a:" + strong + ",b:s3cret-one", "pair 2: key is too weak"},
		{"weak long key", "a:s3cret" + strings.Repeat("ab", 40), "pair 1: key is too weak"},
		{"space in key", "a:s3cret " + strong, "pair 1: key has a character at position 7 that is not visible ASCII"},
		{"non-ASCII key", "a:s3cret" + strong + "é", "not visible ASCII"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Static(tc.pairs)
			if err == nil {
				t.Fatalf("Static(%q) accepted", tc.pairs)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q contains a key", err)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	pattern := regexp.MustCompile(`\A` + KeyPattern + `\z`)
	seen := map[string]bool{}
	counts := map[rune]int{}
	const n = 2000
	for range n {
		key := NewKey()
		if !pattern.MatchString(key) {
			t.Fatalf("NewKey() = %q, does not match %s", key, KeyPattern)
		}
		if seen[key] {
			t.Fatal("NewKey repeated a key")
		}
		seen[key] = true
		if err := CheckKey(key); err != nil {
			t.Fatalf("CheckKey(NewKey()): %v", err)
		}
		for _, r := range key[len(KeyPrefix):] {
			counts[r]++
		}
	}
	// Every one of the 62 characters turns up, none far from 1/62 of the
	// time (expected 1387 each; a bias such as r%62 without dropping
	// 248..255 would make the first 8 characters 1.5 times as common).
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters, want 62", len(counts))
	}
	want := float64(n*KeyRandomLength) / 62
	for r, got := range counts {
		if float64(got) < 0.8*want || float64(got) > 1.2*want {
			t.Errorf("character %q: %d times, want about %.0f", r, got, want)
		}
	}
	if bits := float64(KeyRandomLength) * math.Log2(62); bits < 256 {
		t.Errorf("%d base62 characters hold %.2f bits, want at least 256", KeyRandomLength, bits)
	}
}

func TestEntropyBits(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		want      float64
	}{
		{"hex 32 (openssl rand -hex 16)", "3f9c1a7b5d2e8f60a4b6c8d0e2f4a6b8", 128},
		{"hex upper", "3F9C1A7B5D2E8F60A4B6C8D0E2F4A6B8", 128},
		{"digits", "31415926535897932384", 20 * math.Log2(10)},
		{"lower and digits", "lt9f2c4e1a7b3d5f60xz", 20 * math.Log2(36)},
		{"base64url", "Xq7vR2mL-k9TzW4p_Nc8", 20 * 6},
		{"punctuation", "Xq7vR2mL!k9TzW4p", 16 * math.Log2(94)},
		{"prefix left out", KeyPrefix + "Xq7vR2mLk9TzW4pNc8Hs", 20 * math.Log2(62)},
		{"repeated character", strings.Repeat("x", 64), math.Log2(26)},
		{"repeated hex digit", strings.Repeat("a", 64), 4},
		{"short cycle", strings.Repeat("xyz", 20), 3 * math.Log2(26)},
		{"pasted twice", "Xq7vR2mLk9TzW4pNXq7vR2mLk9TzW4pN", 16 * math.Log2(62)},
		{"alphabet", "abcdefghijklmnopqrstuvwxyz", 2 * math.Log2(26)},
		{"digits counting down", "9876543210", 2 * math.Log2(10)},
		{"5-character repeat counts", "vwxyzvwxyz", 10 * math.Log2(26)},
		{"7-character run counts", "abcdefgXYZ", 10 * math.Log2(52)},
		{"empty", "", 0},
		{"prefix only", KeyPrefix, 0},
	} {
		if got := EntropyBits(tc.key); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: EntropyBits(%q) = %.3f, want %.3f", tc.name, tc.key, got, tc.want)
		}
	}
}

func TestCheckKey(t *testing.T) {
	for _, key := range []string{
		"3f9c1a7b5d2e8f60a4b6c8d0e2f4a6b8", // exactly 128 bits
		"Xq7vR2mLk9TzW4pNc8HsJ3",           // 22 base62 characters: 131 bits
		NewKey(),
		strings.Repeat("Xq7vR2mLk9TzW4pNc8HsJ3bYf6GdE1aUo5iK0tQw", 25)[:MaxKeyLength-200] + NewKey(),
	} {
		if err := CheckKey(key); err != nil {
			t.Errorf("CheckKey(%.40q): %v", key, err)
		}
	}
	for _, tc := range []struct{ key, want string }{
		{"", "1 to 1024 characters"},
		{strings.Repeat("x", MaxKeyLength+1), "1 to 1024 characters"},
		{"3f9c1a7b5d2e8f60a4b6c8d0e2f4a6b", "too weak: about 124 bits"}, // one hex digit short
		{"Xq7vR2mLk9TzW4pNc8HsJ", "too weak: about 125 bits"},
		{"s3cret-2024", "too weak"},
		{"hpa_" + strings.Repeat("A", KeyRandomLength), "too weak: about 4 bits"},
		{strings.Repeat("Xq7vR2mLk9Tz", 10), "too weak: about 71 bits"},
		{"tab\there-Xq7vR2mLk9TzW4pNc8HsJ3bYf6GdE1aU", "position 4"},
	} {
		err := CheckKey(tc.key)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckKey(%.40q) = %v, want an error containing %q", tc.key, err, tc.want)
		}
		if err != nil && len(tc.key) > 6 && strings.Contains(err.Error(), tc.key[:6]) {
			t.Errorf("CheckKey error %q quotes the key", err)
		}
	}
}

func TestMarshalSecretRefusesBadEntries(t *testing.T) {
	if _, err := MarshalSecret([]Entry{{"a", Digest("x")}, {"b", Digest("x")}}); err == nil {
		t.Error("MarshalSecret accepted one key under two ids")
	}
	// One id with two keys is a rotation in progress.
	if _, err := MarshalSecret([]Entry{{"a", Digest("x")}, {"a", Digest("y")}}); err != nil {
		t.Errorf("MarshalSecret refused an id with two keys: %v", err)
	}
	got, err := MarshalSecret(nil)
	if err != nil || string(got) != `{"keys":[]}` {
		t.Errorf("MarshalSecret(nil) = %s, %v; want {\"keys\":[]}", got, err)
	}
}

// FuzzParseSecret: ParseSecret never panics, never quotes its input in an
// error, and what it accepts survives MarshalSecret.
func FuzzParseSecret(f *testing.F) {
	files, _ := filepath.Glob("testdata/secrets/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		entries, err := ParseSecret(text)
		if err != nil {
			assertQuotesNothing(t, err.Error(), string(text))
			return
		}
		if _, err := MarshalSecret(entries); err != nil {
			t.Fatalf("accepted entries do not marshal: %v", err)
		}
	})
}

// assertQuotesNothing fails if msg contains any run of 6 or more bytes of
// text that is not also part of the fixed wording of our messages.
func assertQuotesNothing(t *testing.T, msg, text string) {
	t.Helper()
	const run = 6
	for i := 0; i+run <= len(text); i++ {
		frag := text[i : i+run]
		if strings.Contains(msg, frag) && !strings.Contains(fixedWording, frag) {
			t.Fatalf("error %q quotes the secret (%q)", msg, frag)
		}
	}
}

// fixedWording is every fixed phrase ParseSecret's errors may contain.
const fixedWording = `secrets: secret must be a JSON object {"keys":[...]} "keys" must be a list ` +
	`secret must be one JSON object secret has data after its JSON object secret has no "keys" field ` +
	`secret has an unknown field (only "keys" is allowed) secret repeats the field "keys" ` +
	`must be an object {"id":...,"sha256":...} has an unknown field (only "id" and "sha256" are allowed) ` +
	`repeats the field "id" "sha256" must be a string needs both "id" and "sha256" ` +
	`id must be 1 to 64 characters of A-Z a-z 0-9 . _ - sha256 must be 64 lower-case hex characters ` +
	`id repeats key repeats the key of keys[0] keys[1] keys[2] keys[3] ` +
	`secret is not valid JSON (at byte secret is truncated JSON .sha256 .id`
