package cdshooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// FetchOptions bound the fetch path. Zero values take the defaults.
type FetchOptions struct {
	// HTTPClient calls the FHIR servers; its redirects are refused.
	HTTPClient *http.Client
	// Timeout bounds all fetches of one call together (default 400 ms):
	// a hook call has about 500 ms in the EHR before its cards are late.
	Timeout time.Duration
	// MaxPages bounds the pages read of one searchset (default 5).
	MaxPages int
	// MaxBytes bounds one response body (default 2 MiB).
	MaxBytes int64
}

func (o FetchOptions) withDefaults() FetchOptions {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	o.HTTPClient = noRedirects(o.HTTPClient)
	if o.Timeout == 0 {
		o.Timeout = 400 * time.Millisecond
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
	next := f.server + "/" + query
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
			if page == 0 && !strings.Contains(query, "?") {
				return body, nil // an instance read
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
		if !strings.HasPrefix(next, f.server+"/") && !strings.HasPrefix(next, f.server+"?") {
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
