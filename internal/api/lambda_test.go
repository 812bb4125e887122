package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// The events in testdata/events are real API Gateway events (see its
// README.md). Their POST bodies carry these distinctive ascvd-pce inputs, so
// that a log line quoting one of them would be unmistakable.
var gwInputValues = []string{"61.4827", "217.3719", "43.9163", "131.7742"}

// gwLambdaRequestID is the Lambda request id the tests put in the context.
const gwLambdaRequestID = "8c1f0a52-3c0b-4d61-a6b8-5d2f3e7a9b10"

// readEvent returns testdata/events/name.
func readEvent(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editEvent decodes an event, lets edit change it, and encodes it again.
func editEvent(t *testing.T, event json.RawMessage, edit func(e map[string]any)) json.RawMessage {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(event, &e); err != nil {
		t.Fatal(err)
	}
	edit(e)
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setEventHeader sets a request header in every header map the event has.
func setEventHeader(e map[string]any, name, value string) {
	if h, ok := e["headers"].(map[string]any); ok {
		h[name] = value
	}
	if h, ok := e["multiValueHeaders"].(map[string]any); ok {
		h[name] = []any{value}
	}
}

// proxyResponse is the union of the payload 1.0 and 2.0 responses, as the
// Lambda runtime sends them back to API Gateway.
type proxyResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// header is a response header from whichever map carries it.
func (p proxyResponse) header(name string) string {
	for k, v := range p.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range p.MultiValueHeaders {
		if strings.EqualFold(k, name) {
			return strings.Join(v, ", ")
		}
	}
	return ""
}

// jsonBody decodes the response body as a JSON object.
func (p proxyResponse) jsonBody(t *testing.T) map[string]any {
	t.Helper()
	if p.IsBase64Encoded {
		t.Fatalf("body is base64-encoded, want JSON text: %q", p.Body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(p.Body), &body); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, p.Body)
	}
	return body
}

// field follows a dotted path ("model.id") into a decoded JSON object.
func field(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// invokeLambda runs event through LambdaHandler(h) and decodes the response
// the way it goes over the wire.
func invokeLambda(t *testing.T, ctx context.Context, h http.Handler, event json.RawMessage) proxyResponse {
	t.Helper()
	out, err := LambdaHandler(h)(ctx, event)
	if err != nil {
		t.Fatalf("LambdaHandler: %v", err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var resp proxyResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// lambdaContext is the context the Lambda runtime gives a handler.
func lambdaContext(t *testing.T, requestID string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       requestID,
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:predict",
	})
}

// lambdaAPI is the API as a Lambda function builds it: one group of routes,
// with stage and base-path stripping.
func lambdaAPI(routes Group, logs io.Writer) http.Handler {
	return New(Options{
		Logger:        slog.New(slog.NewJSONHandler(logs, nil)),
		Catalog:       scoring.NewCatalog(),
		Build:         Build{Version: "test"},
		Lifecycle:     NewLifecycle(),
		Routes:        routes,
		StripBasePath: true,
	})
}

// wantPCE is what the model itself computes for the events' POST body.
func wantPCE(t *testing.T) float64 {
	t.Helper()
	var e struct{ Body string }
	if err := json.Unmarshal(readEvent(t, "rest-post-predict.json"), &e); err != nil {
		t.Fatal(err)
	}
	var req struct {
		Model  string
		Inputs map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(e.Body), &req); err != nil {
		t.Fatal(err)
	}
	m, ok := scoring.NewCatalog().Model(req.Model)
	if !ok {
		t.Fatalf("no model %q", req.Model)
	}
	p, err := m.Predict(req.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	return p.Result.Value
}

// accessLogLine returns the one "request" line among JSON log lines.
func accessLogLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, l)
		}
		if line["msg"] == "request" {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d access-log lines, want 1:\n%s", len(found), logs)
	}
	return found[0]
}

func TestLambdaHandlerRoutes(t *testing.T) {
	const (
		jsonType    = "application/json"
		problemType = "application/problem+json"
	)
	risk := wantPCE(t)
	healthy := map[string]any{"status": "ok", "service": serviceName, "checks.lifecycle": "serving"}
	model := map[string]any{"id": "ascvd-pce", "version": "2013-table-a"}
	prediction := map[string]any{"model.id": "ascvd-pce", "result.unit": "%", "result.value": risk, "result.category": "intermediate"}
	problem := func(slug string, status int) map[string]any {
		return map[string]any{"type": problemTypeBase + slug, "status": float64(status), "request_id": gwLambdaRequestID}
	}
	tests := []struct {
		name       string
		event      string
		routes     Group
		wantStatus int
		wantType   string
		wantAllow  string
		want       map[string]any // dotted path in the JSON body -> value
		wantLog    map[string]any // fields of the access-log line
	}{
		// REST API, payload 1.0: path without the stage.
		{"rest GET /health", "rest-get-health.json", Health, 200, jsonType, "", healthy,
			map[string]any{"method": "GET", "route": "/health"}},
		{"rest GET /models/{id}", "rest-get-model.json", Info, 200, jsonType, "", model,
			map[string]any{"method": "GET", "route": "/models/{id}"}},
		{"rest POST /predict", "rest-post-predict.json", Predict, 200, jsonType, "", prediction,
			map[string]any{"method": "POST", "route": "/predict", "model": "ascvd-pce"}},
		{"rest POST /predict base64 body", "rest-post-predict-base64.json", Predict, 200, jsonType, "", prediction,
			map[string]any{"method": "POST", "route": "/predict", "model": "ascvd-pce"}},
		{"rest GET /predict with values in the query", "rest-get-predict.json", Predict, 405, problemType, "POST",
			problem("method-not-allowed", 405), map[string]any{"method": "GET", "route": "/predict"}},
		{"rest custom-domain base path /v1/predict", "rest-post-predict-custom-domain.json", Predict, 200, jsonType, "", prediction,
			map[string]any{"route": "/predict"}},

		// What `sam local start-api` sends: payload 1.0, stage Prod, path without it.
		{"sam local POST /predict", "sam-local-post-predict.json", Predict, 200, jsonType, "", prediction,
			map[string]any{"route": "/predict"}},
		{"sam local GET /models/{id} via /{proxy+}", "sam-local-get-model-proxy.json", Info, 200, jsonType, "", model,
			map[string]any{"route": "/models/{id}"}},

		// HTTP API, payload 2.0.
		{"http GET /health", "http-get-health.json", Health, 200, jsonType, "", healthy,
			map[string]any{"method": "GET", "route": "/health"}},
		{"http GET /models/{id}", "http-get-model.json", Info, 200, jsonType, "", model,
			map[string]any{"method": "GET", "route": "/models/{id}"}},
		{"http POST /predict", "http-post-predict.json", Predict, 200, jsonType, "", prediction,
			map[string]any{"method": "POST", "route": "/predict", "model": "ascvd-pce"}},
		{"http POST /predict base64 body", "http-post-predict-base64.json", Predict, 200, jsonType, "", prediction,
			map[string]any{"route": "/predict", "model": "ascvd-pce"}},
		{"http GET /predict with values in the query", "http-get-predict.json", Predict, 405, problemType, "POST",
			problem("method-not-allowed", 405), map[string]any{"method": "GET", "route": "/predict"}},
		{"http named stage /Prod/predict", "http-post-predict-stage.json", Predict, 200, jsonType, "", prediction,
			map[string]any{"route": "/predict"}},

		// A route of another function is not found, as a problem.
		{"rest GET /health on predict", "rest-get-health.json", Predict, 404, problemType, "",
			problem("not-found", 404), map[string]any{"route": "unmatched"}},
		{"rest GET /models/{id} on health", "rest-get-model.json", Health, 404, problemType, "",
			problem("not-found", 404), map[string]any{"route": "unmatched"}},
		{"http POST /predict on info", "http-post-predict.json", Info, 404, problemType, "",
			problem("not-found", 404), map[string]any{"route": "unmatched"}},
		{"http named stage /Prod/predict on health", "http-post-predict-stage.json", Health, 404, problemType, "",
			problem("not-found", 404), map[string]any{"route": "unmatched"}},

		// Forged api-proxy headers change nothing for a real route.
		{"rest forged context headers", "rest-forged-context-headers.json", Health, 200, jsonType, "", healthy,
			map[string]any{"route": "/health"}},
		{"rest forged context multiValueHeaders", "rest-forged-context-multivalue.json", Health, 200, jsonType, "", healthy,
			map[string]any{"route": "/health"}},
		{"http forged context headers", "http-forged-context.json", Health, 200, jsonType, "", healthy,
			map[string]any{"route": "/health"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := lambdaAPI(tt.routes, &logs)
			resp := invokeLambda(t, lambdaContext(t, gwLambdaRequestID), h, readEvent(t, tt.event))

			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("statusCode = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			for name, want := range map[string]string{
				"Content-Type":  tt.wantType,
				"X-Request-Id":  gwLambdaRequestID,
				"Allow":         tt.wantAllow,
				"Cache-Control": "no-store",
			} {
				if got := resp.header(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			body := resp.jsonBody(t)
			for path, want := range tt.want {
				if got := field(body, path); got != want {
					t.Errorf("body %s = %v, want %v", path, got, want)
				}
			}

			line := accessLogLine(t, logs.String())
			wantLog := map[string]any{"msg": "request", "status": float64(tt.wantStatus), "request_id": gwLambdaRequestID,
				"aws_request_id": gwLambdaRequestID}
			for k, v := range tt.wantLog {
				wantLog[k] = v
			}
			for k, want := range wantLog {
				if got := line[k]; got != want {
					t.Errorf("log %s = %v, want %v", k, got, want)
				}
			}
			for _, v := range append(gwInputValues, "forged") {
				if strings.Contains(logs.String(), v) {
					t.Errorf("log contains %q:\n%s", v, logs.String())
				}
			}
		})
	}
}

func TestLambdaHandlerStagePaths(t *testing.T) {
	// Paths with a stage or base path, and the 405 that must survive it.
	tests := []struct {
		name       string
		event      string
		path       string
		method     string
		wantStatus int
		wantAllow  string
	}{
		{"http GET /Prod/predict", "http-get-predict.json", "/Prod/predict", "GET", 405, "POST"},
		{"http PUT /Prod/predict", "http-get-predict.json", "/Prod/predict", "PUT", 405, "GET, HEAD, POST"},
		{"rest GET /v1/predict", "rest-get-predict.json", "/v1/predict", "GET", 405, "POST"},
		{"rest GET /v1/nothing", "rest-get-predict.json", "/v1/nothing", "GET", 404, ""},
		{"http GET /Prod/health on predict", "http-get-predict.json", "/Prod/health", "GET", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := editEvent(t, readEvent(t, tt.event), func(e map[string]any) {
				if e["version"] == "2.0" {
					e["rawPath"] = tt.path
					e["requestContext"].(map[string]any)["http"].(map[string]any)["method"] = tt.method
					return
				}
				e["path"], e["httpMethod"] = tt.path, tt.method
			})
			resp := invokeLambda(t, lambdaContext(t, gwLambdaRequestID), lambdaAPI(Predict, io.Discard), event)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("statusCode = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			if got := resp.header("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if got, want := resp.header("Content-Type"), "application/problem+json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
		})
	}
}

func TestLambdaRequestID(t *testing.T) {
	random := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name     string
		lambdaID string // "" for a context without a Lambda context
		header   string // X-Request-Id the client sends; "" for none
		want     string // "" for a fresh random id
	}{
		{"lambda id when the client sends none", gwLambdaRequestID, "", gwLambdaRequestID},
		{"a client id is never ours", gwLambdaRequestID, "client-req-42", gwLambdaRequestID},
		{"a malformed client id is ignored", gwLambdaRequestID, "has space", gwLambdaRequestID},
		{"random without a lambda context", "", "", ""},
		{"random without a lambda context, whatever the client sends", "", "client-req-42", ""},
	}
	for _, event := range []string{"rest-get-health.json", "http-get-health.json", "sam-local-post-predict.json"} {
		for _, tt := range tests {
			t.Run(event+"/"+tt.name, func(t *testing.T) {
				e := readEvent(t, event)
				if tt.header != "" {
					e = editEvent(t, e, func(e map[string]any) { setEventHeader(e, "X-Request-Id", tt.header) })
				}
				ctx := context.Background()
				if tt.lambdaID != "" {
					ctx = lambdaContext(t, tt.lambdaID)
				}
				resp := invokeLambda(t, ctx, lambdaAPI(All, io.Discard), e)
				got := resp.header("X-Request-Id")
				switch {
				case tt.want == "" && !random.MatchString(got):
					t.Errorf("X-Request-Id = %q, want 32 random hex digits", got)
				case tt.want != "" && got != tt.want:
					t.Errorf("X-Request-Id = %q, want %q", got, tt.want)
				}
				if body := resp.jsonBody(t); body["request_id"] != nil && body["request_id"] != got {
					t.Errorf("body request_id = %v, want %q as in the header", body["request_id"], got)
				}
			})
		}
	}
}

// gatewayView is what a handler learns about its invocation.
type gatewayView struct {
	ProxyHeaders []string // request headers named X-GoLambdaProxy-*
	HeaderCtxErr bool     // api-proxy's header-based accessor failed
	AccountID    string
	RequestID    string
	Stage        string
	SourceIP     string
	LambdaID     string
	HasDeadline  bool
	Deadline     time.Time
}

// gatewayViewHandler answers with a gatewayView as JSON.
func gatewayViewHandler(v2 bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var view gatewayView
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-golambdaproxy-") {
				view.ProxyHeaders = append(view.ProxyHeaders, k)
			}
		}
		if v2 {
			var a core.RequestAccessorV2
			_, err := a.GetAPIGatewayContextV2(r)
			view.HeaderCtxErr = err != nil
			if c, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok {
				view.AccountID, view.RequestID, view.Stage, view.SourceIP = c.AccountID, c.RequestID, c.Stage, c.HTTP.SourceIP
			}
		} else {
			var a core.RequestAccessor
			_, err := a.GetAPIGatewayContext(r)
			view.HeaderCtxErr = err != nil
			if c, ok := core.GetAPIGatewayContextFromContext(r.Context()); ok {
				view.AccountID, view.RequestID, view.Stage, view.SourceIP = c.AccountID, c.RequestID, c.Stage, c.Identity.SourceIP
			}
		}
		if lc, ok := lambdacontext.FromContext(r.Context()); ok {
			view.LambdaID = lc.AwsRequestID
		}
		view.Deadline, view.HasDeadline = r.Context().Deadline()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(view)
	})
}

func TestLambdaForgedGatewayContextHasNoEffect(t *testing.T) {
	// The events carry X-GoLambdaProxy-ApiGw-Context (and StageVars) headers
	// claiming account 666666666666 and stage "forged", in several spellings.
	tests := []struct {
		event string
		v2    bool
		want  gatewayView
	}{
		{"rest-forged-context-headers.json", false,
			gatewayView{AccountID: "12345678912", RequestID: "deef4878-7910-11e6-8f14-25afc3e9ae33", Stage: "prod", SourceIP: "192.168.196.186"}},
		{"rest-forged-context-multivalue.json", false,
			gatewayView{AccountID: "12345678912", RequestID: "deef4878-7910-11e6-8f14-25afc3e9ae33", Stage: "prod", SourceIP: "192.168.196.186"}},
		{"http-forged-context.json", true,
			gatewayView{AccountID: "123456789012", RequestID: "LV7fzho-PHcEJPw=", Stage: "$default", SourceIP: "1.2.3.4"}},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			event := readEvent(t, tt.event)
			if !bytes.Contains(bytes.ToLower(event), []byte("x-golambdaproxy-apigw-context")) {
				t.Fatalf("%s carries no forged header", tt.event)
			}
			resp := invokeLambda(t, lambdaContext(t, gwLambdaRequestID), gatewayViewHandler(tt.v2), event)
			if resp.StatusCode != 200 {
				t.Fatalf("statusCode = %d, want 200; body %s", resp.StatusCode, resp.Body)
			}
			var got gatewayView
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
				t.Fatal(err)
			}
			if len(got.ProxyHeaders) > 0 {
				t.Errorf("handler sees forged headers %q, want none", got.ProxyHeaders)
			}
			if !got.HeaderCtxErr {
				t.Error("api-proxy's header-based context accessor found a context, want none")
			}
			if got.AccountID != tt.want.AccountID || got.RequestID != tt.want.RequestID ||
				got.Stage != tt.want.Stage || got.SourceIP != tt.want.SourceIP {
				t.Errorf("gateway context = account %q request %q stage %q ip %q, want the event's: account %q request %q stage %q ip %q",
					got.AccountID, got.RequestID, got.Stage, got.SourceIP,
					tt.want.AccountID, tt.want.RequestID, tt.want.Stage, tt.want.SourceIP)
			}
			if got.LambdaID != gwLambdaRequestID {
				t.Errorf("lambda request id = %q, want %q", got.LambdaID, gwLambdaRequestID)
			}
		})
	}
}

func TestLambdaContextReachesHandler(t *testing.T) {
	deadline := time.Now().Add(42 * time.Second).Truncate(time.Millisecond)
	for _, tt := range []struct {
		event string
		v2    bool
	}{
		{"rest-get-health.json", false},
		{"http-get-health.json", true},
	} {
		t.Run(tt.event, func(t *testing.T) {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: gwLambdaRequestID})
			resp := invokeLambda(t, ctx, gatewayViewHandler(tt.v2), readEvent(t, tt.event))
			var got gatewayView
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
				t.Fatal(err)
			}
			if !got.HasDeadline || !got.Deadline.Equal(deadline) {
				t.Errorf("handler deadline = %v (set %v), want %v", got.Deadline, got.HasDeadline, deadline)
			}
			if got.LambdaID != gwLambdaRequestID {
				t.Errorf("lambda request id = %q, want %q", got.LambdaID, gwLambdaRequestID)
			}
		})
	}
}

// sentinel rides in every bad event below; neither the answer nor any
// output may quote it.
const sentinel = "67.123457"

// badEventCase is an event the adapter cannot turn into a request, and
// whether its payload format can be told to be 2.0.
type badEventCase struct {
	name  string
	event json.RawMessage
	v2    bool
}

func badEventCases(t *testing.T) []badEventCase {
	return []badEventCase{
		{"array", json.RawMessage(`["GET /health", ` + sentinel + `]`), false},
		{"string", json.RawMessage(`"GET /health?age=` + sentinel + `"`), false},
		{"number", json.RawMessage(sentinel), false},
		{"null", json.RawMessage(`null`), false},
		{"not JSON", json.RawMessage(`{"httpMethod":"GET","path":"/health?` + sentinel), false},
		{"empty object", json.RawMessage(`{}`), false},
		{"scheduled event", json.RawMessage(`{"version":"0","source":"aws.events","detail-type":"Scheduled Event","detail":{"age":` + sentinel + `}}`), false},
		{"version not a string", json.RawMessage(`{"version":2,"rawPath":"/health?` + sentinel + `"}`), false},
		{"1.0 wrong field type", json.RawMessage(`{"httpMethod":1,"path":"/models/` + sentinel + `"}`), false},
		{"1.0 no method", json.RawMessage(`{"path":"/models/` + sentinel + `"}`), false},
		{"1.0 no path", json.RawMessage(`{"httpMethod":"GET","queryStringParameters":{"age":"` + sentinel + `"}}`), false},
		{"1.0 bad base64", editEvent(t, readEvent(t, "rest-post-predict.json"), func(e map[string]any) {
			e["isBase64Encoded"] = true
			e["body"] = `{"age":` + sentinel + `}`
		}), false},
		{"1.0 path that does not parse", editEvent(t, readEvent(t, "rest-get-model.json"), func(e map[string]any) {
			e["path"] = "/models/%zz"
			e["queryStringParameters"] = map[string]any{"age": sentinel}
			e["multiValueQueryStringParameters"] = map[string]any{"age": []any{sentinel}}
		}), false},
		// A method that is no token: api-proxy prints the method and path.
		{"1.0 bad method", editEvent(t, readEvent(t, "rest-get-model.json"), func(e map[string]any) {
			e["path"] = "/models/" + sentinel
			e["httpMethod"] = "GET /models/" + sentinel
		}), false},
		{"2.0 headers not an object", json.RawMessage(`{"version":"2.0","headers":[` + sentinel + `]}`), true},
		{"2.0 no method", json.RawMessage(`{"version":"2.0","rawPath":"/models/` + sentinel + `"}`), true},
		{"2.0 bad base64", editEvent(t, readEvent(t, "http-post-predict.json"), func(e map[string]any) {
			e["isBase64Encoded"] = true
			e["body"] = `{"age":` + sentinel + `}`
		}), true},
		{"2.0 path that does not parse", editEvent(t, readEvent(t, "http-get-model.json"), func(e map[string]any) {
			e["rawPath"] = "/models/%zz"
			e["rawQueryString"] = "age=" + sentinel
		}), true},
		{"2.0 control byte in the path", editEvent(t, readEvent(t, "http-get-model.json"), func(e map[string]any) {
			e["rawPath"] = "/models/\n"
			e["rawQueryString"] = "age=" + sentinel
		}), true},
		{"2.0 bad method", editEvent(t, readEvent(t, "http-get-model.json"), func(e map[string]any) {
			e["rawPath"] = "/models/" + sentinel
			e["requestContext"].(map[string]any)["http"].(map[string]any)["method"] = "GET /models/" + sentinel
			e["requestContext"].(map[string]any)["http"].(map[string]any)["path"] = "/models/" + sentinel
		}), true},
	}
}

// An event the adapter cannot turn into a request gets a 400 bad-event
// problem in its payload format, never a Lambda error (which pages on-call
// and fails a canary), and nothing of the event reaches the answer, the
// access log or api-proxy's prints.
func TestLambdaHandlerAnswersBadEvents(t *testing.T) {
	for _, tc := range badEventCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			var out any
			var err error
			printed := captureOutput(t, func() {
				out, err = LambdaHandler(lambdaAPI(All, &logs))(lambdaContext(t, gwLambdaRequestID), tc.event)
			})
			if err != nil {
				t.Fatalf("Lambda error %q, want a 400 response", err)
			}
			switch out.(type) {
			case events.APIGatewayV2HTTPResponse:
				if !tc.v2 {
					t.Errorf("a payload 2.0 response to an event that is not 2.0")
				}
			case events.APIGatewayProxyResponse:
				if tc.v2 {
					t.Errorf("a payload 1.0 response to a 2.0 event")
				}
			default:
				t.Fatalf("response of type %T", out)
			}
			b, _ := json.Marshal(out)
			var resp proxyResponse
			if err := json.Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("statusCode = %d, want 400", resp.StatusCode)
			}
			for name, want := range map[string]string{
				"Content-Type":           "application/problem+json",
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
				"X-Request-Id":           gwLambdaRequestID,
			} {
				if got := resp.header(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			body := resp.jsonBody(t)
			for k, want := range map[string]any{"type": problemTypeBase + "bad-event", "status": float64(400), "request_id": gwLambdaRequestID} {
				if body[k] != want {
					t.Errorf("body %s = %v, want %v", k, body[k], want)
				}
			}
			line := accessLogLine(t, logs.String())
			for k, want := range map[string]any{"status": float64(400), "aws_request_id": gwLambdaRequestID, "route": "unmatched", "method": "OTHER"} {
				if line[k] != want {
					t.Errorf("log %s = %v, want %v", k, line[k], want)
				}
			}
			for where, text := range map[string]string{"body": string(b), "log": logs.String(), "stdout/stderr": string(printed)} {
				if strings.Contains(text, sentinel) || strings.Contains(text, "/health") || strings.Contains(text, "/models") {
					t.Errorf("the %s quotes the event: %s", where, text)
				}
			}
		})
	}
}

// captureOutput returns what f writes to stdout, stderr and the standard
// logger: where api-proxy prints.
func captureOutput(t *testing.T, f func()) []byte {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, logOut := os.Stdout, os.Stderr, log.Writer()
	os.Stdout, os.Stderr = w, w
	log.SetOutput(w)
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	f()
	os.Stdout, os.Stderr = stdout, stderr
	log.SetOutput(logOut)
	_ = w.Close()
	return <-done
}

// The access-log line carries the Lambda invocation id as aws_request_id
// and request_id, and a client's own id apart as client_request_id: the
// invocation id is what API Gateway's access log records as
// $context.integration.requestId, the join between the two (docs/sam.md,
// "Correlating a request").
func TestLambdaLogCarriesInvocationID(t *testing.T) {
	for _, event := range []string{"rest-get-health.json", "http-get-health.json"} {
		t.Run(event, func(t *testing.T) {
			var logs bytes.Buffer
			e := editEvent(t, readEvent(t, event), func(e map[string]any) { setEventHeader(e, "X-Request-Id", "client-req-42") })
			resp := invokeLambda(t, lambdaContext(t, gwLambdaRequestID), lambdaAPI(Health, &logs), e)
			if got := resp.header("X-Request-Id"); got != gwLambdaRequestID {
				t.Errorf("X-Request-Id = %q, want the invocation id", got)
			}
			line := accessLogLine(t, logs.String())
			if line["request_id"] != gwLambdaRequestID || line["aws_request_id"] != gwLambdaRequestID || line["client_request_id"] != "client-req-42" {
				t.Errorf("log request_id %v, aws_request_id %v, client_request_id %v; want %s twice and the client's",
					line["request_id"], line["aws_request_id"], line["client_request_id"], gwLambdaRequestID)
			}

			// Outside Lambda (the container) there is no invocation id.
			logs.Reset()
			invokeLambda(t, context.Background(), lambdaAPI(Health, &logs), e)
			if _, ok := accessLogLine(t, logs.String())["aws_request_id"]; ok {
				t.Errorf("aws_request_id without a Lambda context: %s", logs.String())
			}
		})
	}
}
