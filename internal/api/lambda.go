package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// forgedHeaderPrefix marks the headers api-proxy uses to carry gateway
// context. A client can send them too (on payload 2.0 they would be
// trusted), so inbound ones are dropped; read gateway context only through
// core.GetAPIGatewayContextFromContext.
const forgedHeaderPrefix = "x-golambdaproxy-"

// LambdaHandler adapts h, a handler built by New, to an API Gateway proxy
// integration. It accepts REST API events (payload 1.0) and HTTP API or
// function URL events (payload 2.0), told apart per event by their version
// field. The Lambda context, with its deadline and request id, reaches the
// handler as the request's.
//
// It never returns an error: a Lambda error pages on-call and fails a
// canary deployment, and API Gateway turns it into a bare 502. An event
// that cannot be turned into a request (not a JSON object, not an API
// Gateway request, no method or path, a path or method net/http cannot
// parse, a body that is not the base64 it claims to be) gets a 400
// bad-event problem in the event's payload format (1.0 when that cannot be
// told), logged and counted like any request, and quoting nothing of the
// event.
func LambdaHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	v1 := httpadapter.New(h)
	v2 := httpadapter.NewV2(h)
	return func(ctx context.Context, event json.RawMessage) (any, error) {
		// RawMessage takes any type, so only a non-object fails here.
		var probe struct {
			Version json.RawMessage `json:"version"`
		}
		if t := bytes.TrimLeft(event, " \t\r\n"); len(t) == 0 || t[0] != '{' || json.Unmarshal(event, &probe) != nil {
			return badEvent(ctx, h, false), nil
		}
		if string(probe.Version) == `"2.0"` {
			var e events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(event, &e); err != nil {
				return badEvent(ctx, h, true), nil
			}
			path := e.RawPath
			if path == "" {
				path = e.RequestContext.HTTP.Path // as api-proxy falls back
			}
			if !requestBuilds(e.RequestContext.HTTP.Method, e.RequestContext.DomainName, path, e.RawQueryString) ||
				!decodeBody(&e.Body, &e.IsBase64Encoded) {
				return badEvent(ctx, h, true), nil
			}
			dropForged(e.Headers)
			resp, err := v2.ProxyWithContext(ctx, e)
			if err != nil {
				return badEvent(ctx, h, true), nil
			}
			return resp, nil
		}
		var e events.APIGatewayProxyRequest
		// api-proxy escapes payload 1.0 query parameters itself.
		if err := json.Unmarshal(event, &e); err != nil ||
			!requestBuilds(e.HTTPMethod, e.RequestContext.DomainName, e.Path, "") ||
			!decodeBody(&e.Body, &e.IsBase64Encoded) {
			return badEvent(ctx, h, false), nil
		}
		dropForged(e.Headers)
		dropForged(e.MultiValueHeaders)
		resp, err := v1.ProxyWithContext(ctx, e)
		if err != nil {
			return badEvent(ctx, h, false), nil
		}
		return resp, nil
	}
}

// requestBuilds reports whether the event names a method and a path, and
// whether the request api-proxy builds from them, with the same
// http.NewRequest call, can be built. When it cannot (a path that does not
// parse, a method that is no token), api-proxy prints the method and path,
// or the whole URL with its query string, to stdout and stderr, and returns
// it in its error: clinical values sent in a URL would reach the logs. Such
// events are refused before they get there.
func requestBuilds(method, domain, path, rawQuery string) bool {
	if method == "" || path == "" {
		return false // not an API Gateway request: a test event, a schedule, ...
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := "https://" + domain + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	_, err := http.NewRequest(strings.ToUpper(method), u, nil)
	return err == nil
}

// decodeBody decodes a base64 body in place, so that api-proxy, which
// prints its decoding error, gets a plain one. It reports false when the
// body is not base64.
func decodeBody(body *string, isBase64 *bool) bool {
	if !*isBase64 {
		return true
	}
	b, err := base64.StdEncoding.DecodeString(*body)
	if err != nil {
		return false
	}
	*body, *isBase64 = string(b), false
	return true
}

// badEventKey marks the request LambdaHandler sends through the API for an
// event it cannot turn into a request; refuseBadEvents answers it.
type badEventKey struct{}

// badEvent answers an event that is not a request: a request of its own,
// carrying only the Lambda context and the mark, goes through h, so that
// the answer gets its request id and the usual access-log line and
// metrics. Its method is outside RFC 9110, so it is logged as OTHER.
func badEvent(ctx context.Context, h http.Handler, v2 bool) any {
	r, err := http.NewRequestWithContext(context.WithValue(ctx, badEventKey{}, true), "OTHER", "/", http.NoBody)
	if err != nil {
		panic(err) // a fixed method and URL: cannot fail
	}
	if v2 {
		w := core.NewProxyResponseWriterV2()
		h.ServeHTTP(w, r)
		if resp, err := w.GetProxyResponse(); err == nil {
			return resp
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest}
	}
	w := core.NewProxyResponseWriter()
	h.ServeHTTP(w, r)
	if resp, err := w.GetProxyResponse(); err == nil {
		return resp
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}
}

// refuseBadEvents answers the request badEvent makes with the bad-event
// problem; every other request goes on to next.
func refuseBadEvents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(badEventKey{}) != nil {
			writeProblem(w, r, newProblem(kindBadEvent, "the Lambda event is not an API Gateway proxy request this function can serve; "+
				"invoke it through API Gateway, or with an event like those in events/"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func dropForged[V any](headers map[string]V) {
	for k := range headers {
		if strings.HasPrefix(strings.ToLower(k), forgedHeaderPrefix) {
			delete(headers, k)
		}
	}
}
