// Command hello is the yardstick of the Lambda cold-start comparison in
// docs/PERFORMANCE.md: the smallest aws-lambda-go function that answers an
// API Gateway event, built with the same flags as the API's functions.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: `{"hello":"world"}`}, nil
	})
}
