package app

import (
	"context"
	"encoding/json"
	"io"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/secrets/envclient"
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
	emf := metrics.NewEMF(stdout, cfg.MetricsEnv, metrics.Function{
		Name: getenv("AWS_LAMBDA_FUNCTION_NAME"), Version: getenv("AWS_LAMBDA_FUNCTION_VERSION"),
	}, func(err error) {
		logger.Error("metrics document not written", "error", err.Error())
	})
	// The key secret is read without the AWS SDK: see package envclient.
	keys, err := cfg.Keys(ctx, getenv, logger, emf, routes, func() (secrets.Client, error) { return envclient.FromEnv(getenv) })
	if err != nil {
		return err
	}
	// Per-key limits on Lambda belong to API Gateway usage plans.
	h := NewAPI(logger, emf, keys, api.RateLimit{}, routes, api.NewLifecycle(), true)
	lambda.StartWithOptions(refreshUnusableKeys(keys, api.LambdaHandler(h)), lambda.WithContext(ctx))
	return nil
}

// refreshUnusableKeys refreshes the keys before an invocation when none is
// usable. Lambda freezes the background refresh between invocations, so an
// environment that thaws after MaxStaleness would otherwise answer 503
// until the refresh catches up; this bounded wait replaces a certain 503,
// and a request never waits while usable keys exist.
func refreshUnusableKeys(keys *secrets.Cache, next func(context.Context, json.RawMessage) (any, error)) func(context.Context, json.RawMessage) (any, error) {
	if keys == nil {
		return next
	}
	return func(ctx context.Context, event json.RawMessage) (any, error) {
		_ = keys.RefreshIfUnusable(ctx) // failures are logged by the cache; the API then answers 503
		return next(ctx, event)
	}
}
