// Package smoke is the CodeDeploy PreTraffic hook: before any traffic
// shifts to a new version of the Lambda functions, it invokes that version
// with API Gateway (REST, payload 1.0) proxy events that need no API key,
// checks each answer against the public contract, and reports Succeeded or
// Failed to CodeDeploy.
package smoke

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// problemTypeBase prefixes every problem type (internal/api/problems.go).
const problemTypeBase = "urn:healthcare-api:problem:"

// serviceName is what GET / names (internal/api).
const serviceName = "healthcare-prediction-api"

// userAgent marks the hook's requests in the functions' access logs.
const userAgent = "healthcare-api-pretraffic-hook"

// Check is one request to a function and what its answer must be. Bodies
// are never logged: only the status, the problem type and which
// expectation failed.
type Check struct {
	Name     string // e.g. "GET /models without a key"
	Method   string
	Path     string
	Resource string // the API Gateway resource (route template)
	// InvalidKey sends a random key that no key set holds: 401 then proves
	// the function loaded its key set (503 means it could not).
	InvalidKey bool
	Body       string // JSON, sent with Content-Type application/json

	Status  int    // the status the answer must have
	Problem string // for a problem answer, its type after problemTypeBase
	Allow   string // the Allow header a 405 must carry
	// Field and Prefix: the JSON body's top-level string Field must start
	// with Prefix.
	Field, Prefix string
}

// Checks lists, per function, what the hook sends it. None needs a key;
// every one proves a part of the contract a broken build or configuration
// would break (routes, auth wiring, key set, problem documents).
var Checks = map[string][]Check{
	"health": {
		{Name: "GET /health/live", Method: "GET", Path: "/health/live", Resource: "/health/live", Status: 200, Field: "status", Prefix: "ok"},
		// The health function holds no keys, so nothing can make it unready
		// but a broken build: 200, never 503.
		{Name: "GET /health/ready", Method: "GET", Path: "/health/ready", Resource: "/health/ready", Status: 200},
		{Name: "GET /health", Method: "GET", Path: "/health", Resource: "/health", Status: 200},
	},
	"info": {
		{Name: "GET /", Method: "GET", Path: "/", Resource: "/", Status: 200, Field: "service", Prefix: serviceName},
		{Name: "GET /openapi.json", Method: "GET", Path: "/openapi.json", Resource: "/openapi.json", Status: 200, Field: "openapi", Prefix: "3.1"},
		{Name: "GET /models without a key", Method: "GET", Path: "/models", Resource: "/models", Status: 401, Problem: "unauthorized"},
		{Name: "GET /models with an invalid key", Method: "GET", Path: "/models", Resource: "/models", InvalidKey: true, Status: 401, Problem: "unauthorized"},
	},
	"predict": {
		{Name: "POST /predict without a key", Method: "POST", Path: "/predict", Resource: "/predict", Body: "{}", Status: 401, Problem: "unauthorized"},
		{Name: "POST /predict with an invalid key", Method: "POST", Path: "/predict", Resource: "/predict", Body: "{}", InvalidKey: true, Status: 401, Problem: "unauthorized"},
		{Name: "GET /predict", Method: "GET", Path: "/predict", Resource: "/predict", Status: 405, Problem: "method-not-allowed", Allow: "POST"},
	},
	// Without a client JWT (or, where no CDS clients are configured, an
	// API key) a call is refused whichever way the function trusts callers.
	"cdshooks": {
		{Name: "GET /cds-services", Method: "GET", Path: "/cds-services", Resource: "/cds-services", Status: 200},
		{Name: "POST /cds-services/{id} without a token", Method: "POST", Path: "/cds-services/ascvd-pce", Resource: "/cds-services/{id}",
			Body: "{}", Status: 401, Problem: "unauthorized"},
		{Name: "POST /cds-services/{id} with an invalid key", Method: "POST", Path: "/cds-services/ascvd-pce", Resource: "/cds-services/{id}",
			Body: "{}", InvalidKey: true, Status: 401, Problem: "unauthorized"},
	},
}

// restEvent is a real REST API (payload 1.0) proxy event: aws-lambda-go
// v1.55.1 events/testdata/apigw-request.json, with its sample header
// (headerName), Content-Type, Postman-Token, query string, path parameters,
// stage variables, body and authorizer removed, requestContext.identity cut
// to sourceIp and userAgent, and stage "prod". Event sets the route.
//
//go:embed rest-event.json
var restEvent []byte

// Event is the API Gateway event for c; key is the invalid key to send
// when c asks for one.
func (c Check) Event(key string, now time.Time) ([]byte, error) {
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(restEvent, &ev); err != nil {
		return nil, fmt.Errorf("embedded event: %w", err)
	}
	ev.HTTPMethod, ev.Path, ev.Resource = c.Method, c.Path, c.Resource
	ev.RequestContext.HTTPMethod, ev.RequestContext.ResourcePath = c.Method, c.Resource
	// As API Gateway sends it on the execute-api domain: path without the
	// stage, requestContext.path with it.
	ev.RequestContext.Path = "/" + ev.RequestContext.Stage + c.Path
	ev.RequestContext.RequestID = fmt.Sprintf("pretraffic-%d", now.UnixNano())
	ev.RequestContext.RequestTime = now.UTC().Format("02/Jan/2006:15:04:05 -0700")
	ev.RequestContext.RequestTimeEpoch = now.UnixMilli()
	ev.RequestContext.Identity.UserAgent = userAgent
	set := func(name, value string) {
		ev.Headers[name] = value
		ev.MultiValueHeaders[name] = []string{value}
	}
	ev.Headers, ev.MultiValueHeaders = maps.Clone(ev.Headers), maps.Clone(ev.MultiValueHeaders)
	set("User-Agent", userAgent)
	if c.InvalidKey {
		set("X-API-Key", key)
	}
	if c.Body != "" {
		set("Content-Type", "application/json")
		ev.Body = c.Body
	}
	return json.Marshal(ev)
}

// Result is what one check saw: enough to say why it failed, never a body.
type Result struct {
	Status      int    // the proxy response's statusCode; 0 if there was none
	ProblemType string // the problem's type, for problem answers
	RequestID   string // the function's X-Request-Id: joins its log line
}

// Verify checks the function's Lambda payload (a proxy response) against c.
func (c Check) Verify(payload []byte) (Result, error) {
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(payload, &resp); err != nil || resp.StatusCode == 0 {
		return Result{}, errors.New("the function's answer is not an API Gateway proxy response")
	}
	r := Result{Status: resp.StatusCode, RequestID: header(resp, "X-Request-Id")}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return r, errors.New("the body is not valid base64")
		}
		body = b
	}
	var doc map[string]any
	jsonErr := json.Unmarshal(body, &doc)
	mediaType, _, _ := strings.Cut(header(resp, "Content-Type"), ";")
	if mediaType == "application/problem+json" && jsonErr == nil {
		r.ProblemType, _ = doc["type"].(string)
	}

	switch {
	case r.Status != c.Status:
		return r, fmt.Errorf("status %d, want %d", r.Status, c.Status)
	case r.RequestID == "":
		return r, errors.New("no X-Request-Id header")
	case jsonErr != nil:
		return r, errors.New("the body is not a JSON object")
	}
	if c.Problem != "" {
		if mediaType != "application/problem+json" {
			return r, fmt.Errorf("media type %q, want application/problem+json", mediaType)
		}
		if want := problemTypeBase + c.Problem; r.ProblemType != want {
			return r, fmt.Errorf("problem type %q, want %q", r.ProblemType, want)
		}
		if c.Status == 401 && header(resp, "WWW-Authenticate") == "" {
			return r, errors.New("401 without WWW-Authenticate")
		}
	} else if mediaType != "application/json" {
		return r, fmt.Errorf("media type %q, want application/json", mediaType)
	}
	if got := header(resp, "Allow"); got != c.Allow {
		return r, fmt.Errorf("header Allow %q, want %q", got, c.Allow)
	}
	if c.Field != "" {
		if s, _ := doc[c.Field].(string); !strings.HasPrefix(s, c.Prefix) {
			return r, fmt.Errorf("body field %q does not start with %q", c.Field, c.Prefix)
		}
	}
	return r, nil
}

// header reads a response header from either map, case-insensitively
// (api-proxy fills multiValueHeaders; a 1.0 response may use either).
func header(resp events.APIGatewayProxyResponse, name string) string {
	for k, v := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) {
			return strings.Join(v, ", ")
		}
	}
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
