// Package token checks short identifiers that the service echoes or logs:
// request ids, API key ids, input names. Only ASCII letters, digits and a
// few punctuation bytes pass, so none can carry free text (a clinical value
// in words) or forge a log line.
package token

import "strings"

// Valid reports whether s is 1 to max bytes of ASCII letters, digits and
// bytes of punct. A loop, not a regexp: compiling ^[...]{1,128}$ cost every
// Lambda cold start 2 ms of package initialisation.
func Valid(s string, max int, punct string) bool {
	if len(s) < 1 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(punct, c) >= 0) {
			return false
		}
	}
	return true
}

// Printable is a client-sent name (a JSON key, an input name) as a problem
// or a log line may echo it: itself when it is 1-64 letters, digits and
// _.- , else a fixed placeholder, so that no free text (a value) passes.
func Printable(name string) string {
	if Valid(name, 64, "_.-") {
		return name
	}
	return "(unprintable name)"
}
