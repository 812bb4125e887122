package loadtest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

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
		{`{"v":67.1234570001}`, "67.123457", false},
		// Trailing zeros: the same value printed with fixed precision.
		{`{"v":67.12345700}`, "67.123457", true},
		{`age 67.1234570.`, "67.123457", true},
		{`{"v":67.123457.1}`, "67.123457", false},
		{`{"v":"1.67.123457"}`, "67.123457", false},
		{`{"msg":"request","status":200}`, "67.123457", false},
		// A later occurrence counts even when the first is inside a number.
		{`{"time":"08:10:41.2345678Z","v":1.234567}`, "1.234567", true},
		// A point with no digit beyond is punctuation, not another number.
		{`{"detail":"age 67.123457."}`, "67.123457", true},
		{`age 67.123457.`, "67.123457", true},
		{`age 67.123457. Next`, "67.123457", true},
		{`.67.123457`, "67.123457", true},
		{`{"v":"x.67.123457"}`, "67.123457", true},
		{`...67.123457...`, "67.123457", true},
	} {
		if got := containsNumber([]byte(tc.line), tc.number); got != tc.want {
			t.Errorf("containsNumber(%s, %s) = %v, want %v", tc.line, tc.number, got, tc.want)
		}
	}
}

func TestScanSentinels(t *testing.T) {
	dir := t.TempDir()
	leak := filepath.Join(dir, "leak.log")
	long := filepath.Join(dir, "long.log")
	missing := filepath.Join(dir, "missing.log")
	// The third line is a traceback's argument words: 143.987651's float64
	// bits (Python: struct.pack('>d', 143.987651).hex()).
	if err := os.WriteFile(leak, []byte("{\"msg\":\"request\"}\n{\"detail\":\"age 67.123457.\"}\nmain.explode({0x4061ff9ad6451b93, 0x0})\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A line beyond the scanner's 4 MiB limit, then a leak it never reaches.
	if err := os.WriteFile(long, []byte(strings.Repeat("a", 5<<20)+"\n67.123457\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hits := ScanSentinels([]string{leak, long, missing})
	if len(hits) != 4 {
		t.Fatalf("hits = %q, want 4", hits)
	}
	if want := leak + ":2: 67.123457"; hits[0] != want {
		t.Errorf("hits[0] = %q, want %q", hits[0], want)
	}
	if want := leak + ":3: 143.987651 as float64 bits 4061ff9ad6451b93"; hits[1] != want {
		t.Errorf("hits[1] = %q, want %q", hits[1], want)
	}
	if want := long + ": scan stopped: "; !strings.HasPrefix(hits[2], want) {
		t.Errorf("hits[2] = %q, want prefix %q", hits[2], want)
	}
	if want := missing + ": cannot read: "; !strings.HasPrefix(hits[3], want) {
		t.Errorf("hits[3] = %q, want prefix %q", hits[3], want)
	}
}

// TestSentinelsCoverRequests keeps Sentinels in step with the requests:
// every six-decimal value a request carries, in its body or its URL, is
// scanned for, and every sentinel is carried by some request.
func TestSentinelsCoverRequests(t *testing.T) {
	sixDecimals := regexp.MustCompile(`(\d+\.\d{6})(?:\D|$)`) // exactly six decimals
	var texts []string
	for _, r := range Mix {
		texts = append(texts, r.Path, r.Body)
	}
	for _, b := range BadRequests {
		texts = append(texts, b.Path, b.Body)
	}
	carried := map[string]bool{}
	for _, s := range texts {
		for _, m := range sixDecimals.FindAllStringSubmatch(s, -1) {
			carried[m[1]] = true
		}
	}
	for v := range carried {
		if !slices.Contains(Sentinels, v) {
			t.Errorf("%s is carried by a request but not in Sentinels: it would go unscanned", v)
		}
	}
	for _, s := range Sentinels {
		if !carried[s] {
			t.Errorf("sentinel %s is carried by no request", s)
		}
	}
}
