package cdshooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The fetch path's bounds: each is a way an EHR's (or an attacker's) FHIR
// server could make the service hang, follow it elsewhere, or compute
// from part of a chart.
func TestFetchBounds(t *testing.T) {
	var elsewhere, endless atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Accept") != "application/fhir+json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		bundle := func(next string) {
			b := map[string]any{"resourceType": "Bundle", "type": "searchset",
				"entry": []any{map[string]any{"resource": map[string]any{"resourceType": "Observation", "id": r.URL.Query().Get("p")}}}}
			if next != "" {
				b["link"] = []any{map[string]any{"relation": "next", "url": next}}
			}
			_ = json.NewEncoder(w).Encode(b)
		}
		switch strings.TrimPrefix(r.URL.Path, "/fhir/") {
		case "Patient/gone":
			w.WriteHeader(http.StatusNotFound)
		case "Patient/p1":
			_, _ = w.Write([]byte(`{"resourceType":"Patient","id":"p1"}`))
		case "Redirect":
			http.Redirect(w, r, other.URL+"/fhir/Patient/p1", http.StatusFound)
		case "Pages":
			p := 0
			_, _ = fmt.Sscan(r.URL.Query().Get("p"), &p)
			if p < 2 {
				bundle(fmt.Sprintf("%s/fhir/Pages?p=%d", srv.URL, p+1))
			} else {
				bundle("")
			}
		case "Endless":
			endless.Add(1)
			bundle(srv.URL + "/fhir/Endless?p=1")
		case "Escape":
			bundle(other.URL + "/fhir/Pages?p=1")
		case "Huge":
			_, _ = w.Write([]byte(`{"resourceType":"Patient","id":"p1","text":"` + strings.Repeat("x", 4096) + `"}`))
		case "Slow":
			time.Sleep(300 * time.Millisecond)
			_, _ = w.Write([]byte(`{"resourceType":"Patient","id":"p1"}`))
		case "Outcome":
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	f := &fetcher{o: FetchOptions{MaxBytes: 1024, Timeout: time.Second}.withDefaults(), server: srv.URL + "/fhir", token: "tok"}
	tests := []struct {
		query string
		want  string // JSON it returns, or "" for an error
	}{
		{"Patient/p1", `{"resourceType":"Patient","id":"p1"}`},
		{"Patient/gone", `null`},
		{"Pages?p=0", `{"resourceType":"Bundle","type":"searchset","total":3,"entry":[{"resource":{"id":"0","resourceType":"Observation"}},{"resource":{"id":"1","resourceType":"Observation"}},{"resource":{"id":"2","resourceType":"Observation"}}]}`},
		{"Redirect", ""},
		{"Endless?p=0", ""},
		{"Escape?p=0", ""},
		{"Huge", ""},
		{"Outcome?x=1", ""},
	}
	for _, tt := range tests {
		got, err := f.fetch(context.Background(), tt.query)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s: %s, want an error", tt.query, got)
		case tt.want != "" && (err != nil || strings.TrimSpace(string(got)) != tt.want):
			t.Errorf("%s: %s, %v; want %s", tt.query, got, err, tt.want)
		}
	}
	if n := endless.Load(); n != int32(f.o.MaxPages) {
		t.Errorf("an endless searchset was read for %d pages, want the bound %d", n, f.o.MaxPages)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("a server other than the allow-listed one was called %d times (redirect or next link followed)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := f.fetch(ctx, "Slow"); err == nil || time.Since(start) > 250*time.Millisecond {
		t.Errorf("a slow server: %v after %s; want an error at the deadline", err, time.Since(start))
	}
}

// A next link is followed only within the allow-listed server: parsed,
// same scheme, host and port, no dot segments (even percent-encoded), a
// cleaned path under the server's.
func TestWithin(t *testing.T) {
	const server = "https://ehr.example.org/fhir"
	for _, tt := range []struct {
		link string
		want bool
	}{
		{"https://ehr.example.org/fhir/Observation?page=2", true},
		{"https://ehr.example.org/fhir?_getpages=abc", true},
		{"https://EHR.example.org:443/fhir/Observation?page=2", true},
		{"https://ehr.example.org/fhir/../admin?x", false},
		{"https://ehr.example.org/fhir/%2e%2e/admin", false},
		{"https://ehr.example.org/fhir/%2E%2E/admin", false},
		{"https://ehr.example.org/fhir/./Observation", false},
		{"https://ehr.example.org/fhir/Observation%2f..%2fadmin", false},
		{"https://ehr.example.org/fhirx/Observation", false},
		{"https://ehr.example.org/admin", false},
		{"http://ehr.example.org/fhir/Observation", false},
		{"https://ehr.example.org:8443/fhir/Observation", false},
		{"https://ehr.example.org.evil.test/fhir/Observation", false},
		{"https://user@ehr.example.org/fhir/Observation", false},
		{"/fhir/Observation", false},
		{"https://ehr.example.org/fhir/Observation/%zz", false},
	} {
		if got := within(server, tt.link); got != tt.want {
			t.Errorf("within(%q) = %v, want %v", tt.link, got, tt.want)
		}
	}
}

// A prefetch query goes out percent-encoded: '|' of system|code tokens is
// not allowed raw in a query (RFC 3986) and Tomcat, under HAPI FHIR,
// answers 400 to it. The server decodes exactly the original values.
func TestFetchEncodesQuery(t *testing.T) {
	var raw, code string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, code = r.URL.RawQuery, r.URL.Query().Get("code")
		if strings.Contains(r.RequestURI, "|") {
			w.WriteHeader(http.StatusBadRequest) // as Tomcat does
			return
		}
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"searchset"}`))
	}))
	defer srv.Close()
	f := &fetcher{o: FetchOptions{}.withDefaults(), server: srv.URL + "/fhir", token: "tok"}
	const codes = "http://loinc.org|2093-3,http://loinc.org|2085-9"
	if _, err := f.fetch(context.Background(), "Observation?patient=p1&code="+codes+"&_sort=-date"); err != nil {
		t.Fatalf("fetch: %v (query sent: %s)", err, raw)
	}
	if code != codes || strings.Contains(raw, "|") {
		t.Errorf("query sent %q decodes code to %q; want %q, no raw '|'", raw, code, codes)
	}
}

// An instance read answered 200 with another resource (an
// OperationOutcome) is the server's failure, not the resource.
func TestFetchInstanceReadType(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing"}]}`))
	}))
	defer srv.Close()
	f := &fetcher{o: FetchOptions{}.withDefaults(), server: srv.URL, token: "tok"}
	if got, err := f.fetch(context.Background(), "Patient/p1"); err == nil {
		t.Errorf("a 200 OperationOutcome for Patient/p1 returned %s", got)
	}
}
