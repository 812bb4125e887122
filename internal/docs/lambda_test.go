package docs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/docs"
	"github.com/healthcare-prediction/api/internal/scoring"
)

// Through the Info function's Lambda adapter and a REST API event under a
// stage, every file of the page comes back whole, as text (API Gateway
// would pass base64 through to the browser without binary media types),
// with its policy, and within Lambda's 6 MB response payload limit once
// the runtime encodes the response as JSON.
func TestDocsThroughLambda(t *testing.T) {
	h := api.LambdaHandler(api.New(api.Options{
		Logger:        slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Catalog:       scoring.NewCatalog(),
		Build:         api.Build{Version: "lambda-test"},
		Lifecycle:     api.NewLifecycle(),
		Routes:        api.Info,
		Docs:          docs.New(),
		StripBasePath: true,
	}))
	page := docs.New()
	for _, name := range []string{"", "init.js", "swagger-ui-bundle.js", "swagger-ui.css", "index.css", "LICENSE"} {
		path := "/Prod/docs"
		resource := "/docs"
		if name != "" {
			path, resource = path+"/"+name, "/docs/{file}"
		}
		event, _ := json.Marshal(map[string]any{
			"resource": resource, "path": path, "httpMethod": "GET",
			"headers":        map[string]string{"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
			"requestContext": map[string]any{"stage": "Prod", "requestId": "r-1", "httpMethod": "GET", "resourcePath": resource},
		})
		out, err := h(context.Background(), event)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		encoded, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			StatusCode        int                 `json:"statusCode"`
			MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
			Body              string              `json:"body"`
			IsBase64Encoded   bool                `json:"isBase64Encoded"`
		}
		if err := json.Unmarshal(encoded, &resp); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		f, _ := page.File(name)
		f.ServeHTTP(rec, httptest.NewRequest("GET", "/docs/"+name, nil))
		switch {
		case resp.StatusCode != 200 || resp.IsBase64Encoded:
			t.Errorf("%s: status %d, base64 %v; want 200 as text", path, resp.StatusCode, resp.IsBase64Encoded)
		case resp.Body != rec.Body.String():
			t.Errorf("%s: body of %d bytes differs from the file's %d", path, len(resp.Body), rec.Body.Len())
		case len(resp.MultiValueHeaders["Content-Security-Policy"]) != 1:
			t.Errorf("%s: no Content-Security-Policy", path)
		case len(encoded) > 6*1024*1024:
			t.Errorf("%s: response payload %d bytes, over Lambda's 6 MB", path, len(encoded))
		}
		t.Logf("%s: %d bytes, %d in the Lambda response", path, len(resp.Body), len(encoded))
	}
}
