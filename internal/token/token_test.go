package token

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		s     string
		max   int
		punct string
		want  bool
	}{
		{"clinic-a.2", 64, "._-", true},
		{"Z", 1, "", true},
		{"", 64, "._-", false},
		{strings.Repeat("a", 65), 64, "._-", false},
		{strings.Repeat("a", 64), 64, "._-", true},
		{"a:b", 64, "._-", false},
		{"a:b", 128, "._:-", true},
		{"has space", 64, "._-", false},
		{"line\nbreak", 64, "._-", false},
		{"é", 64, "._-", false},
		{`a"b`, 64, "._-", false},
	} {
		if got := Valid(tc.s, tc.max, tc.punct); got != tc.want {
			t.Errorf("Valid(%q, %d, %q) = %v, want %v", tc.s, tc.max, tc.punct, got, tc.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for name, want := range map[string]string{
		"systolic_bp":           "systolic_bp",
		"prefetch.a-1":          "prefetch.a-1",
		"":                      "(unprintable name)",
		"Jane Doe":              "(unprintable name)",
		strings.Repeat("a", 65): "(unprintable name)",
	} {
		if got := Printable(name); got != want {
			t.Errorf("Printable(%q) = %q, want %q", name, got, want)
		}
	}
}
