package cdshooks

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// ParseCORSOrigins reads CDS_HOOKS_CORS_ORIGINS: the origins of browser-
// based CDS clients (CDS Hooks 2.0, "Cross-Origin Resource Sharing"),
// separated by commas, each scheme://host[:port] as a browser sends it in
// Origin, or "*" for any origin (client JWTs are bearer tokens, not
// cookies, so no credentials are ever allowed). Empty: no CORS headers.
func ParseCORSOrigins(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if strings.TrimSpace(s) == "*" {
		return []string{"*"}, nil
	}
	var out []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || o != strings.ToLower(o) {
			return nil, errors.New(`must be "*" or origins separated by commas, each scheme://host[:port] in lower case ` +
				`with no path (e.g. https://sandbox.cds-hooks.org)`)
		}
		out = append(out, o)
	}
	return out, nil
}

// AllowedOrigin is the Access-Control-Allow-Origin answer to a request
// from origin: "*" when any origin is allowed, origin itself when it is
// listed, else "" (no CORS headers: the browser keeps the response from
// the page).
func (c Config) AllowedOrigin(origin string) string {
	switch {
	case slices.Contains(c.CORSOrigins, "*"):
		return "*"
	case origin != "" && slices.Contains(c.CORSOrigins, origin):
		return origin
	}
	return ""
}
