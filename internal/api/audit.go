package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// sourceIP is the address the gateway or load balancer saw the request
// come from, or "" when there is none to trust. On Lambda it is API
// Gateway's sourceIp from the event (inbound headers that could forge the
// gateway context are dropped by LambdaHandler). In the container it is
// the TCP peer; only when the peer is one of the trusted proxies (the
// ALB's subnets) is X-Forwarded-For read, from the right, skipping the
// trusted hops: the first untrusted address is the one the outermost
// trusted proxy saw. What a client writes to the left of that is never
// taken. The result is always a parsed IP address, never raw header text.
func sourceIP(r *http.Request, trusted []netip.Prefix) string {
	if gw, ok := core.GetAPIGatewayContextFromContext(r.Context()); ok {
		return validIP(gw.Identity.SourceIP)
	}
	if gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok {
		return validIP(gw.HTTP.SourceIP)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	if !within(peer, trusted) {
		return host
	}
	source := host // every hop trusted: the farthest one is the source
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := values[i]
		for hops != "" {
			hop := hops
			if j := strings.LastIndexByte(hops, ','); j >= 0 {
				hop, hops = hops[j+1:], hops[:j]
			} else {
				hops = ""
			}
			hop = strings.TrimSpace(hop)
			a, err := netip.ParseAddr(hop)
			if err != nil || a.Zone() != "" {
				// A trusted proxy appends what it saw, a valid address:
				// this was written by someone else.
				return ""
			}
			if !within(a, trusted) {
				return hop
			}
			source = hop
		}
	}
	return source
}

// validIP returns s when it is an IP address, else "". A zone ("%eth0")
// is free text: refused.
func validIP(s string) string {
	if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
		return ""
	}
	return s
}

func within(a netip.Addr, prefixes []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// userAgentClass sorts a User-Agent into a few fixed classes: enough to
// tell a browser from a script in an audit, and never the client's text.
func userAgentClass(ua string) string {
	hasPrefix := func(p string) bool { return len(ua) >= len(p) && strings.EqualFold(ua[:len(p)], p) }
	switch {
	case ua == "":
		return "none"
	case hasPrefix("curl/"):
		return "curl"
	case hasPrefix("python"), hasPrefix("aiohttp/"):
		return "python"
	case hasPrefix("Go-http-client/"):
		return "go"
	case hasPrefix("Java/"), hasPrefix("Apache-HttpClient/"), hasPrefix("okhttp/"):
		return "java"
	case hasPrefix("node"), hasPrefix("axios/"), hasPrefix("undici"):
		return "node"
	case hasPrefix("PostmanRuntime/"):
		return "postman"
	case hasPrefix("Mozilla/"):
		return "browser"
	}
	return "other"
}

// outcome names how a request ended, for the audit: a bounded word an
// auditor can count by.
func outcome(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "unauthorized"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status == http.StatusServiceUnavailable:
		return "not_ready"
	case status >= 500:
		return "server_error"
	case status >= 400:
		return "client_error"
	}
	return "ok"
}
