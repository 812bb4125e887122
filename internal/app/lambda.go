package app

import (
	"context"
	"io"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/healthcare-prediction/api/internal/api"
)

// RunLambda serves routes as a Lambda function until the runtime stops it.
// Everything before lambda.StartWithOptions runs once, in the init phase.
func RunLambda(ctx context.Context, getenv func(string) string, stdout io.Writer, routes api.Group) error {
	cfg, err := Load(getenv)
	if err != nil {
		return err
	}
	logger := cfg.Logger(stdout)
	h := NewAPI(logger, routes, api.NewLifecycle(), true)
	logger.Warn("authentication is not configured: every route is open")
	lambda.StartWithOptions(api.LambdaHandler(h), lambda.WithContext(ctx))
	return nil
}
