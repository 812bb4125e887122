package cdshooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// DefaultFetchTimeout bounds all FHIR fetches of one call together unless
// configured otherwise: a hook call has about 500 ms in the EHR before its
// cards are late, and the model needs some of them.
const DefaultFetchTimeout = 400 * time.Millisecond

// FetchOptions bound the fetch path. Zero values take the defaults.
type FetchOptions struct {
	// HTTPClient calls the FHIR servers; its redirects are refused.
	HTTPClient *http.Client
	// Timeout bounds all fetches of one call together (default
	// DefaultFetchTimeout).
	Timeout time.Duration
	// MaxPages bounds the pages read of one searchset (default 5).
	MaxPages int
	// MaxBytes bounds one response body (default 2 MiB).
	MaxBytes int64
}

func (o FetchOptions) withDefaults() FetchOptions {
	o.HTTPClient = noRedirects(o.HTTPClient)
	if o.Timeout == 0 {
		o.Timeout = DefaultFetchTimeout
	}
	if o.MaxPages == 0 {
		o.MaxPages = 5
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 2 << 20
	}
	return o
}

// errFetch is every failed fetch: the cause (which may hold the server's
// words or the URL with the patient id) stays out of logs and bodies.
var errFetch = errors.New("fhir fetch failed")

// fetcher reads prefetch queries from one allow-listed FHIR server with
// the access token the EHR handed over.
type fetcher struct {
	o      FetchOptions
	server string // allow-listed base URL, without a trailing slash
	token  string
}

// fetch runs a relative query ("Patient/123", "Observation?patient=123&...")
// and returns what a prefetch key would hold: the resource, a searchset
// Bundle with the entries of every page (at most MaxPages), or null when
// an instance read finds nothing (404/410).
func (f *fetcher) fetch(ctx context.Context, query string) (json.RawMessage, error) {
	next := f.server + "/" + encodeQuery(query)
	resourceType, _, _ := strings.Cut(query, "/")
	var entries []json.RawMessage
	for page := 0; ; page++ {
		if page == f.o.MaxPages {
			return nil, errFetch // a search larger than the bound: refuse rather than compute from part of the chart
		}
		body, status, err := f.get(ctx, next)
		if err != nil {
			return nil, err
		}
		if (status == http.StatusNotFound || status == http.StatusGone) && page == 0 && !strings.Contains(query, "?") {
			return json.RawMessage("null"), nil
		}
		if status != http.StatusOK {
			return nil, errFetch
		}
		var bundle struct {
			ResourceType string            `json:"resourceType"`
			Type         string            `json:"type"`
			Entry        []json.RawMessage `json:"entry"`
			Link         []struct {
				Relation string `json:"relation"`
				URL      string `json:"url"`
			} `json:"link"`
		}
		if err := json.Unmarshal(body, &bundle); err != nil {
			return nil, errFetch
		}
		if bundle.ResourceType != "Bundle" || bundle.Type != "searchset" {
			// An instance read answers the resource asked for; anything
			// else (a 200 OperationOutcome) is the server's failure.
			if page == 0 && !strings.Contains(query, "?") && bundle.ResourceType == resourceType {
				return body, nil
			}
			return nil, errFetch
		}
		entries = append(entries, bundle.Entry...)
		next = ""
		for _, l := range bundle.Link {
			if l.Relation == "next" {
				next = l.URL
			}
		}
		if next == "" {
			break
		}
		// A next link elsewhere than the allow-listed server is not followed
		// (no SSRF through a crafted Bundle).
		if !within(f.server, next) {
			return nil, errFetch
		}
	}
	out, err := json.Marshal(struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Total        int               `json:"total"`
		Entry        []json.RawMessage `json:"entry,omitempty"`
	}{"Bundle", "searchset", len(entries), entries})
	if err != nil {
		return nil, errFetch
	}
	return out, nil
}

// within reports whether link is under server (an allow-listed base URL):
// the same scheme, host and port, no user information, no dot segments
// (plain or percent-encoded) and no encoded slashes, and a path at or below
// the server's. Comparing strings would let "<server>/../admin" through.
func within(server, link string) bool {
	base, err := url.Parse(server)
	if err != nil {
		return false
	}
	u, err := url.Parse(link)
	if err != nil || u.Opaque != "" || u.User != nil || !strings.EqualFold(u.Scheme, base.Scheme) ||
		!strings.EqualFold(u.Hostname(), base.Hostname()) || portOf(u) != portOf(base) {
		return false
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		d, err := url.PathUnescape(seg)
		if err != nil || d == "." || d == ".." || strings.ContainsAny(d, "/\\") {
			return false
		}
	}
	p, bp := path.Clean("/"+u.Path), strings.TrimSuffix(base.Path, "/")
	return p == bp || strings.HasPrefix(p, bp+"/")
}

// portOf is u's port, or its scheme's default.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// encodeQuery percent-encodes the query part of a relative FHIR query
// ("Observation?code=http://loinc.org|2093-3"): servers such as Tomcat
// (under HAPI FHIR) refuse a raw '|' in a request line (RFC 3986 does not
// allow it in a query). '&' and '=' stay separators; ':', '/', ',' and
// the other characters a query may hold stay as they are.
func encodeQuery(query string) string {
	p, q, ok := strings.Cut(query, "?")
	if !ok {
		return query
	}
	params := strings.Split(q, "&")
	for i, param := range params {
		name, value, hasValue := strings.Cut(param, "=")
		params[i] = escapeQueryPart(name)
		if hasValue {
			params[i] += "=" + escapeQueryPart(value)
		}
	}
	return p + "?" + strings.Join(params, "&")
}

// escapeQueryPart percent-encodes every byte of s a query component may
// not carry as is (RFC 3986 3.4), and '+', '&', '=' and '%'.
func escapeQueryPart(s string) string {
	const keep = "-._~:/,@!$'()*;"
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
	}
	return b.String()
}

// get performs one GET: bearer token, FHIR JSON, bounded body.
func (f *fetcher) get(ctx context.Context, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, errFetch
	}
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.o.HTTPClient.Do(req)
	if err != nil {
		return nil, 0, errFetch
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, f.o.MaxBytes+1))
	if err != nil || n > f.o.MaxBytes {
		return nil, 0, errFetch
	}
	return buf.Bytes(), resp.StatusCode, nil
}
