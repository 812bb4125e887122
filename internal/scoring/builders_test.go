package scoring

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// jsonObject writes alternating names and values as a JSON object, in the
// order given, so test inputs read like the source's profile.
func jsonObject(kv ...any) string {
	if len(kv)%2 != 0 {
		panic("jsonObject: odd number of arguments")
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv[i])
		if err != nil {
			panic(err)
		}
		v, err := json.Marshal(kv[i+1])
		if err != nil {
			panic(err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// with returns inputs with the given names set (added or replaced).
func with(t testing.TB, inputs string, kv ...any) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(inputs), &m); err != nil {
		t.Fatalf("with: %v", err)
	}
	for i := 0; i < len(kv); i += 2 {
		v, err := json.Marshal(kv[i+1])
		if err != nil {
			t.Fatalf("with: %v", err)
		}
		m[kv[i].(string)] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("with: %v", err)
	}
	return string(out)
}

// without returns inputs with the given names removed.
func without(t testing.TB, inputs string, names ...string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(inputs), &m); err != nil {
		t.Fatalf("without: %v", err)
	}
	for _, n := range names {
		delete(m, n)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("without: %v", err)
	}
	return string(out)
}

// join returns a new slice of a's items followed by b's, leaving a as it
// is, so one base list of name/value pairs can be extended several ways.
func join(a []any, b ...any) []any { return append(append([]any{}, a...), b...) }

// fieldErrors returns the field errors of a *ValidationError, or nil.
func fieldErrors(err error) []FieldError {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Errors
	}
	return nil
}

// hasFieldError reports whether err is a *ValidationError naming field.
func hasFieldError(err error, field string) bool {
	for _, fe := range fieldErrors(err) {
		if fe.Field == field {
			return true
		}
	}
	return false
}
