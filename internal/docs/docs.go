// Package docs serves GET /docs, the interactive page over the API's
// OpenAPI document: Swagger UI from the npm package swagger-ui-dist,
// embedded in the binary (scripts/docs-assets.sh fetches it; swagger-ui/SOURCE
// records the version and checksums), with our own page and initializer.
// Nothing is loaded from another origin: the Content-Security-Policy
// allows only this one.
//
// Only the binaries that serve /docs import this package (the Info Lambda
// function and the container): the Predict function does not carry the
// assets (functions/e2e_test.go checks what each function links).
package docs

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

// assets holds what the page serves: swagger-ui/ (from npm, with its
// licence, notice and SOURCE) and page/ (ours: index.html, init.js).
//
//go:embed swagger-ui page
var assets embed.FS

// ContentSecurityPolicy is sent with every file of the page. Scripts,
// styles, fonts and fetches come from this origin only, and no script or
// style is inline; the only other source is data: images, which
// swagger-ui.css uses for its icons. 'self' covers the API calls "Try it
// out" makes, because the document's server is "./".
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// files maps each name under /docs/ to its path in assets. The index is
// "" (GET /docs itself).
var files = map[string]string{
	"":                                 "page/index.html",
	"init.js":                          "page/init.js",
	"swagger-ui-bundle.js":             "swagger-ui/swagger-ui-bundle.js",
	"swagger-ui-bundle.js.LICENSE.txt": "swagger-ui/swagger-ui-bundle.js.LICENSE.txt",
	"swagger-ui.css":                   "swagger-ui/swagger-ui.css",
	"index.css":                        "swagger-ui/index.css",
	"LICENSE":                          "swagger-ui/LICENSE",
	"NOTICE":                           "swagger-ui/NOTICE",
	"SOURCE":                           "swagger-ui/SOURCE",
}

// contentTypes are the media types of the files above, by extension;
// anything else is plain text (LICENSE, NOTICE, SOURCE).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// Page is the documentation page: its files, read from the binary at the
// first request rather than at start-up (a Lambda cold start does not pay
// for them).
type Page struct {
	load func() map[string]http.Handler
}

// New returns the page over the embedded files.
func New() *Page {
	return &Page{load: sync.OnceValue(func() map[string]http.Handler {
		out := map[string]http.Handler{}
		for name, p := range files {
			body, err := fs.ReadFile(assets, p)
			if err != nil {
				panic(err) // embedded at build time: cannot fail
			}
			ct, ok := contentTypes[path.Ext(p)]
			if !ok {
				ct = "text/plain; charset=utf-8"
			}
			sum := sha256.Sum256(body)
			out[name] = serveFile(body, ct, `"`+hex.EncodeToString(sum[:16])+`"`)
		}
		return out
	})}
}

// File returns the handler of the file called name under /docs/ ("" is
// the page itself), or false if the page has no such file.
func (p *Page) File(name string) (http.Handler, bool) {
	h, ok := p.load()[name]
	return h, ok
}

func serveFile(body []byte, contentType, etag string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("Content-Type", contentType)
		h.Set("ETag", etag)
		// Not clinical data: a browser may keep it but must revalidate
		// (a 304 through the ETag), so a new release shows at once.
		h.Set("Cache-Control", "no-cache")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// No ranges, no Last-Modified: whole files, revalidated by ETag.
		if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	})
}

// etagMatches reports whether an If-None-Match header lists etag (RFC 9110
// §13.1.2: weak comparison, "*" matches any).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
