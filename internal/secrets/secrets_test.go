package secrets

import (
	"errors"
	"os"
	"path/filepath"
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

func TestStatic(t *testing.T) {
	c, err := Static("clinic-a:k3y-a, clinic-b:with:colons")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Ready() || c.Status() != StatusOK {
		t.Fatalf("Ready %v, Status %q; want true, ok", c.Ready(), c.Status())
	}
	for key, want := range map[string]string{"k3y-a": "clinic-a", "with:colons": "clinic-b"} {
		if id, err := c.Authenticate(key); id != want || err != nil {
			t.Errorf("Authenticate(%q) = %q, %v; want %q", key, id, err, want)
		}
	}
	if _, err := c.Authenticate("k3y-b"); !errors.Is(err, ErrInvalidKey) {
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
	for _, tc := range []struct {
		name, pairs, want string
	}{
		{"empty", "", "empty"},
		{"blank", "  ", "empty"},
		{"no colon", "clinic-a:s3cret-one,s3cret-two", "pair 2: want id:key"},
		{"empty key", "clinic-a:", "pair 1: key is empty"},
		{"empty id", ":s3cret-one", "pair 1: id must be"},
		{"bad id", "clinic a:s3cret-one", "pair 1: id must be"},
		{"long id", strings.Repeat("x", 65) + ":s3cret-one", "pair 1: id must be"},
		{"trailing comma", "clinic-a:s3cret-one,", "pair 2: want id:key"},
		{"duplicate id", "a:s3cret-one,b:s3cret-two,a:s3cret-three", "pair 3: id repeats API_KEYS pair 1"},
		{"duplicate key", "a:s3cret-one,b:s3cret-one", "pair 2: key repeats the key of API_KEYS pair 1"},
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

func TestMarshalSecretRefusesBadEntries(t *testing.T) {
	if _, err := MarshalSecret([]Entry{{"a", Digest("x")}, {"a", Digest("y")}}); err == nil {
		t.Error("MarshalSecret accepted a duplicate id")
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
