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
