package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// forgedHeaderPrefix marks the headers api-proxy uses to carry gateway
// context. A client can send them too (on payload 2.0 they would be
// trusted), so inbound ones are dropped; read gateway context only through
// core.GetAPIGatewayContextFromContext.
const forgedHeaderPrefix = "x-golambdaproxy-"

// LambdaHandler adapts h to an API Gateway proxy integration. It accepts
// REST API events (payload 1.0) and HTTP API or function URL events (payload
// 2.0), told apart per event by their version field. The Lambda context,
// with its deadline and request id, reaches the handler as the request's.
func LambdaHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	v1 := httpadapter.New(h)
	v2 := httpadapter.NewV2(h)
	return func(ctx context.Context, event json.RawMessage) (any, error) {
		var probe struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(event, &probe); err != nil {
			return nil, errors.New("event is not a JSON object")
		}
		if probe.Version == "2.0" {
			var e events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(event, &e); err != nil {
				return nil, errors.New("event is not an API Gateway payload 2.0 request")
			}
			path := e.RawPath
			if path == "" {
				path = e.RequestContext.HTTP.Path // as api-proxy falls back
			}
			if !requestBuilds(e.RequestContext.HTTP.Method, e.RequestContext.DomainName, path, e.RawQueryString) {
				return nil, errUnparsableAddress
			}
			dropForged(e.Headers)
			return proxied(v2.ProxyWithContext(ctx, e))
		}
		var e events.APIGatewayProxyRequest
		if err := json.Unmarshal(event, &e); err != nil {
			return nil, errors.New("event is not an API Gateway payload 1.0 request")
		}
		// api-proxy escapes payload 1.0 query parameters itself.
		if !requestBuilds(e.HTTPMethod, e.RequestContext.DomainName, e.Path, "") {
			return nil, errUnparsableAddress
		}
		dropForged(e.Headers)
		dropForged(e.MultiValueHeaders)
		return proxied(v1.ProxyWithContext(ctx, e))
	}
}

var errUnparsableAddress = errors.New("event's method or path is not valid for an HTTP request")

// requestBuilds reports whether the request api-proxy builds from an event,
// with the same http.NewRequest call, can be built. When it cannot (a path
// that does not parse, a method that is no token), api-proxy prints the
// method and path, or the whole URL with its query string, to stdout and
// stderr, and returns it in its error: clinical values sent in a URL would
// reach the logs. Such events are refused before they get there.
func requestBuilds(method, domain, path, rawQuery string) bool {
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

// proxied passes api-proxy's answer on, with a fixed error in place of
// its own, whose text can hold the request's URL.
func proxied[R any](resp R, err error) (any, error) {
	if err != nil {
		return nil, errors.New("event could not be turned into a request")
	}
	return resp, nil
}

func dropForged[V any](headers map[string]V) {
	for k := range headers {
		if strings.HasPrefix(strings.ToLower(k), forgedHeaderPrefix) {
			delete(headers, k)
		}
	}
}
