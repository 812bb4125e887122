package api

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// BenchmarkLambdaInvoke measures one invocation of the predict function's
// handler as the Lambda runtime calls it: a real API Gateway event (raw
// JSON, testdata/events) through LambdaHandler, the api-proxy adapter and
// the routes of the Predict group, to the proxy response struct. The
// runtime's own JSON encoding of the response is not included.
func BenchmarkLambdaInvoke(b *testing.B) {
	for _, tt := range []struct{ name, event string }{
		{"http-api-2.0", "http-post-predict.json"},
		{"rest-api-1.0", "rest-post-predict.json"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			event, err := os.ReadFile(filepath.Join("testdata", "events", tt.event))
			if err != nil {
				b.Fatal(err)
			}
			invoke := LambdaHandler(lambdaAPI(Predict, io.Discard))
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: gwLambdaRequestID})
			b.ReportAllocs()
			for b.Loop() {
				out, err := invoke(ctx, json.RawMessage(event))
				if err != nil {
					b.Fatal(err)
				}
				if status := statusOf(out); status != 200 {
					b.Fatalf("status %d", status)
				}
			}
		})
	}
}

// statusOf reads the status code of either proxy response type.
func statusOf(out any) int {
	switch r := out.(type) {
	case events.APIGatewayV2HTTPResponse:
		return r.StatusCode
	case events.APIGatewayProxyResponse:
		return r.StatusCode
	}
	return 0
}
