package loadtest

import "testing"

func TestContainsNumber(t *testing.T) {
	for _, tc := range []struct {
		line, number string
		want         bool
	}{
		{`{"age":67.123457,"sex":"male"}`, "67.123457", true},
		{`{"detail":"age 67.123457 is out of range"}`, "67.123457", true},
		{`67.123457`, "67.123457", true},
		{`{"delta":-67.123457}`, "67.123457", true},
		{`{"x":[1,67.123457]}`, "67.123457", true},
		// Part of another number: a timestamp, more digits, a longer value.
		{`{"time":"2026-11-26T08:10:41.2345678Z","msg":"request"}`, "1.234567", false},
		{`{"v":167.123457}`, "67.123457", false},
		{`{"v":67.1234571}`, "67.123457", false},
		{`{"v":67.123457.1}`, "67.123457", false},
		{`{"msg":"request","status":200}`, "67.123457", false},
		// A later occurrence counts even when the first is inside a number.
		{`{"time":"08:10:41.2345678Z","v":1.234567}`, "1.234567", true},
	} {
		if got := containsNumber([]byte(tc.line), tc.number); got != tc.want {
			t.Errorf("containsNumber(%s, %s) = %v, want %v", tc.line, tc.number, got, tc.want)
		}
	}
}
