package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// The fuzz targets below share one promise: whatever arrives, nothing
// panics, no answer is a 5xx, and no number in any answer is NaN or ±Inf
// (or would overflow to it). Seeds are in testdata/fuzz/<target>: valid
// bodies for every model, the malformed cases of TestRoutes, and the real
// API Gateway events of testdata/events. A plain go test runs only the
// seeds; `make fuzz` (and `make reliability`) fuzz each for a bounded time.

// FuzzObjectMembers checks the strict scanner against encoding/json:
// whatever scanObject accepts is valid JSON, an object, with exactly the
// members it reports, and refused input is refused with a problem (never a
// decoder error, whose text could echo the value).
func FuzzObjectMembers(f *testing.F) {
	f.Add([]byte(pceBody))
	f.Add([]byte(`{"a":{"b":[1,2,{"c":null}]},"d":"\u00e9"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		type member struct {
			name  string
			value []byte
		}
		var members []member
		err := scanObject(data, func(name, value []byte) { members = append(members, member{string(name), value}) })
		if err != nil {
			var p *problem
			if !errors.As(err, &p) || p.kind.status != http.StatusBadRequest {
				t.Fatalf("error %v (%T), want a 400 problem", err, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted %q, but encoding/json says %v", data, err)
		}
		validNames := !slices.ContainsFunc(members, func(mb member) bool { return !utf8.ValidString(mb.name) })
		if validNames && len(m) != len(members) {
			t.Fatalf("%d members, encoding/json sees %d in %q", len(members), len(m), data)
		}
		for _, mb := range members {
			if !utf8.ValidString(mb.name) {
				// encoding/json turns invalid UTF-8 in a name into U+FFFD;
				// the scanner keeps the bytes (and the name is then an
				// unknown input, a 422 that prints it escaped).
				continue
			}
			v, ok := m[mb.name]
			if !ok || !bytes.Equal(bytes.TrimSpace(v), mb.value) {
				t.Fatalf("member %q = %q, encoding/json has %q", mb.name, mb.value, v)
			}
		}
	})
}

// FuzzDecodePredict feeds any body and content type to the decoder of
// POST /predict: it returns a request or a problem (or the body-size error,
// which the error table maps to 413), never anything else.
func FuzzDecodePredict(f *testing.F) {
	f.Add("application/json", []byte(pceBody))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest("POST", "/predict", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		req, err := decodePredict(httptest.NewRecorder(), r)
		if err != nil {
			var p *problem
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &p):
				if p.kind.status >= 500 {
					t.Fatalf("problem %v, want a 4xx", p)
				}
			case errors.As(err, &tooLarge):
			default:
				t.Fatalf("error %v (%T), want a problem", err, err)
			}
			return
		}
		if !isJSON(contentType) || !json.Valid(body) {
			t.Fatalf("accepted content type %q, body %q", contentType, body)
		}
		if req.Inputs == nil {
			t.Fatalf("accepted %q without inputs", body)
		}
	})
}

// fuzzMethods and fuzzPaths are what the handler target picks from: a
// method must be a valid token for a request to exist at all.
var (
	fuzzMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	fuzzPaths   = []string{"/predict", "/", "/health", "/health/ready", "/health/live", "/models",
		"/models/ascvd-pce", "/models/x", "/openapi.json", "/nope", "/predict?age=67.123457"}
)

// FuzzHandler sends any method (of the common ones), route, content type
// and body through the whole handler as the container builds it.
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), uint8(0), "application/json", []byte(pceBody))
	h, _ := newTestAPI(f, io.Discard)
	f.Fuzz(func(t *testing.T, method, path uint8, contentType string, body []byte) {
		r := httptest.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], fuzzPaths[int(path)%len(fuzzPaths)], bytes.NewReader(body))
		if contentType != "" {
			r.Header["Content-Type"] = []string{contentType}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		checkResponse(t, r.Method, w.Code, w.Header().Get("Content-Type"), w.Body.Bytes())
	})
}

// FuzzLambdaHandler invokes the Lambda adapter with any event JSON. It
// never returns a Lambda error: an event that is not an API Gateway
// request gets a 400 bad-event problem, in payload format 2.0 when the
// event says "version":"2.0" and 1.0 otherwise; any response keeps the
// promise.
func FuzzLambdaHandler(f *testing.F) {
	f.Add([]byte(`{"version":"2.0","rawPath":"/health","requestContext":{"http":{"method":"GET"}}}`))
	invoke := LambdaHandler(lambdaAPI(All, io.Discard))
	f.Fuzz(func(t *testing.T, event []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "fuzz"})
		out, err := invoke(ctx, event)
		if err != nil {
			t.Fatalf("Lambda error %q, want a response", err)
		}
		var probe struct{ Version json.RawMessage }
		v2 := json.Unmarshal(event, &probe) == nil && string(probe.Version) == `"2.0"`
		switch out.(type) {
		case events.APIGatewayV2HTTPResponse:
			if !v2 {
				t.Fatalf("payload 2.0 response to an event without version 2.0")
			}
		case events.APIGatewayProxyResponse:
			if v2 {
				t.Fatalf("payload 1.0 response to a version 2.0 event")
			}
		default:
			t.Fatalf("response of type %T", out)
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("response does not encode: %v", err)
		}
		var resp proxyResponse
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.header("X-Request-Id") == "" || resp.header("Cache-Control") != "no-store" {
			t.Fatalf("status %d without X-Request-Id or Cache-Control: no-store", resp.StatusCode)
		}
		body := []byte(resp.Body)
		if resp.IsBase64Encoded {
			return // only non-JSON bodies are base64-encoded
		}
		var method struct {
			HTTPMethod     string `json:"httpMethod"`
			RequestContext struct {
				HTTP struct{ Method string } `json:"http"`
			} `json:"requestContext"`
		}
		_ = json.Unmarshal(event, &method)
		m := method.HTTPMethod + method.RequestContext.HTTP.Method
		checkResponse(t, m, resp.StatusCode, resp.header("Content-Type"), body)
	})
}

// checkResponse holds an answer to the fuzz promise: not a 5xx, and a JSON
// body (when not HEAD) that parses, with every number finite.
func checkResponse(t *testing.T, method string, status int, contentType string, body []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: status %d: %s", method, status, body)
	}
	if !strings.Contains(contentType, "json") || strings.EqualFold(method, "HEAD") {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("status %d: body is not JSON (%v): %q", status, err, body)
	}
	if n, ok := nonFinite(v); ok {
		t.Fatalf("status %d: non-finite number %s in %s", status, n, body)
	}
}

// nonFinite finds a number that is not a finite float64.
func nonFinite(v any) (string, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return string(v), true
		}
	case []any:
		for _, e := range v {
			if n, ok := nonFinite(e); ok {
				return n, true
			}
		}
	case map[string]any:
		for _, e := range v {
			if n, ok := nonFinite(e); ok {
				return n, true
			}
		}
	}
	return "", false
}
