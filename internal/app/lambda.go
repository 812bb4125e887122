package app

import (
	"context"
	"io"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/metrics"
)

// RunLambda serves routes as a Lambda function until the runtime stops it.
// Everything before lambda.StartWithOptions runs once, in the init phase.
func RunLambda(ctx context.Context, getenv func(string) string, stdout io.Writer, routes api.Group) error {
	cfg, err := Load(getenv)
	if err != nil {
		return err
	}
	stdout = &syncWriter{w: stdout}
	logger := cfg.Logger(stdout)
	// CloudWatch Logs turns the EMF lines on stdout into metrics.
	emf := metrics.NewEMF(stdout, getenv("AWS_LAMBDA_FUNCTION_NAME"), func(err error) {
		logger.Error("metrics document not written", "error", err.Error())
	})
	keys, err := cfg.Keys(ctx, getenv, logger, emf)
	if err != nil {
		return err
	}
	// Per-key limits on Lambda belong to API Gateway usage plans.
	h := NewAPI(logger, emf, keys, api.RateLimit{}, routes, api.NewLifecycle(), true)
	lambda.StartWithOptions(api.LambdaHandler(h), lambda.WithContext(ctx))
	return nil
}
