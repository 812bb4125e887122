package docs

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The embedded Swagger UI files are the ones scripts/docs-assets.sh
// fetched and recorded: nobody edited them by hand, and SOURCE names the
// package, its version, npm's integrity and the licence kept beside them.
func TestEmbeddedAssetsMatchSource(t *testing.T) {
	source, err := fs.ReadFile(assets, "swagger-ui/SOURCE")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	sums := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(source)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		if key == "sha256" {
			sum, name, _ := strings.Cut(value, " ")
			sums[name] = sum
			continue
		}
		fields[key] = value
	}
	if fields["package"] != "swagger-ui-dist" || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(fields["version"]) {
		t.Errorf("SOURCE names package %q version %q, want swagger-ui-dist at an exact version", fields["package"], fields["version"])
	}
	if !regexp.MustCompile(`^sha512-[A-Za-z0-9+/]{86}==$`).MatchString(fields["integrity"]) {
		t.Errorf("SOURCE integrity %q is not npm's sha512 integrity", fields["integrity"])
	}
	if fields["license"] != "Apache-2.0" {
		t.Errorf("SOURCE license %q; the page's NOTICE and LICENSE assume Apache-2.0", fields["license"])
	}
	entries, err := fs.ReadDir(assets, "swagger-ui")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "SOURCE" {
			continue
		}
		body, err := fs.ReadFile(assets, "swagger-ui/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		want, ok := sums[e.Name()]
		switch {
		case !ok:
			t.Errorf("swagger-ui/%s is not recorded in SOURCE", e.Name())
		case hex.EncodeToString(sum[:]) != want:
			t.Errorf("swagger-ui/%s differs from what SOURCE records: run make docs-assets", e.Name())
		}
		delete(sums, e.Name())
	}
	for name := range sums {
		t.Errorf("SOURCE records %s, which is not embedded", name)
	}
	for _, name := range []string{"LICENSE", "NOTICE"} {
		if _, ok := (New()).File(name); !ok {
			t.Errorf("the page does not serve the package's %s", name)
		}
	}
}

// Every file the page serves is embedded, and every served file carries
// the policy; the page itself holds no inline script or style, which the
// policy would refuse.
func TestPageFiles(t *testing.T) {
	p := New()
	for name := range files {
		h, ok := p.File(name)
		if !ok {
			t.Fatalf("%q not served", name)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/docs/"+name, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("%q: status %d, %d bytes", name, rec.Code, rec.Body.Len())
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("%q: Content-Security-Policy %q", name, got)
		}
		etag := rec.Header().Get("ETag")
		again := httptest.NewRequest("GET", "/docs/"+name, nil)
		again.Header.Set("If-None-Match", `"other", `+etag)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, again)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("%q with its ETag: status %d, %d bytes; want 304 and no body", name, rec.Code, rec.Body.Len())
		}
	}
	if _, ok := p.File("../page/index.html"); ok {
		t.Error("a path outside the list is served")
	}

	index, _ := fs.ReadFile(assets, files[""])
	html := string(index)
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(tag, ` src="docs/`) {
			t.Errorf("inline or foreign script %s", tag)
		}
	}
	if strings.Contains(html, "<style") || strings.Contains(html, " style=") || strings.Contains(html, "javascript:") {
		t.Error("the page has inline style or script")
	}
	// Relative URLs only: under a stage ("/Prod/docs") the files are
	// "/Prod/docs/...".
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1) {
		if !strings.HasPrefix(m[1], "docs/") && m[1] != "data:," {
			t.Errorf("page loads %q: want a relative docs/... URL", m[1])
		}
	}
	for _, directive := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'", "object-src 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, directive+";") {
			t.Errorf("policy lacks %s", directive)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe-") || strings.Contains(ContentSecurityPolicy, "http") {
		t.Errorf("policy %q allows inline code, eval or another origin", ContentSecurityPolicy)
	}
}
