package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/awsjson"
	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/replay"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/secrets/envclient"
)

// RunLambda serves routes as a Lambda function until the runtime stops it.
// Everything before lambda.StartWithOptions runs once, in the init phase.
// docs is the /docs page of the function that serves it (Info), nil for
// the others, which then do not link its assets.
func RunLambda(ctx context.Context, getenv func(string) string, stdout io.Writer, routes api.Group, docs api.Docs) error {
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
	// The cache refreshes on protected requests only (Lambda freezes a
	// background refresh), so public routes never wait on Secrets Manager.
	keys, err := cfg.Keys(ctx, getenv, logger, emf, routes, func() (secrets.Client, error) { return lambdaSecretsClient(getenv, logger) })
	if err != nil {
		return err
	}
	cfg.CDSHooks.Replay, err = cfg.ReplayStore(logger, func() (cdshooks.ReplayStore, error) {
		return lambdaReplayStore(getenv, logger, cfg.CDSHooksReplayTable)
	})
	if err != nil {
		return err
	}
	// Per-key limits on Lambda belong to API Gateway usage plans.
	h := NewAPI(logger, emf, keys, api.RateLimit{}, nil, routes, api.NewLifecycle(), true, cfg.CDSHooks, docs)
	lambda.StartWithOptions(api.LambdaHandler(h), lambda.WithContext(ctx))
	return nil
}

// lambdaSecretsClient is the Secrets Manager client of a function. The
// Lambda runtime always sets the role's credentials; `sam local` without
// AWS credentials on the host does not. Without them the function still
// starts, its public routes answer, and its protected routes answer 503
// (no keys can be loaded): a configuration that names a secret never runs
// open.
func lambdaSecretsClient(getenv func(string) string, logger *slog.Logger) (secrets.Client, error) {
	if getenv("AWS_ACCESS_KEY_ID") == "" || getenv("AWS_SECRET_ACCESS_KEY") == "" {
		logger.Error("api keys: no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); " +
			"protected routes answer 503 until the function runs with credentials that may read API_KEYS_SECRET_ID")
		return noCredentials{}, nil
	}
	return envclient.FromEnv(getenv)
}

// lambdaReplayStore is the jti table of a function, called without the
// AWS SDK (package awsjson). Started without credentials (`sam local`),
// the function refuses every client JWT instead: the store fails closed.
func lambdaReplayStore(getenv func(string) string, logger *slog.Logger, table string) (cdshooks.ReplayStore, error) {
	if getenv("AWS_ACCESS_KEY_ID") == "" || getenv("AWS_SECRET_ACCESS_KEY") == "" {
		logger.Error("cds hooks: no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); " +
			"every client JWT is refused until the function runs with credentials that may write CDS_HOOKS_REPLAY_TABLE")
		return noCredentials{}, nil
	}
	client, err := awsjson.FromEnv(getenv, awsjson.DynamoDB, awsjson.Options{})
	if err != nil {
		return nil, err
	}
	return replay.New(client, table), nil
}

// noCredentials is the client of a function started without credentials:
// every call fails at once, as a transient failure (no network wait).
type noCredentials struct{}

func (noCredentials) SecretString(context.Context, string, string) (string, error) {
	return "", errNoCredentials
}

func (noCredentials) Claim(context.Context, string, time.Time) (bool, error) {
	return false, errNoCredentials
}

var errNoCredentials = errors.New("no AWS credentials in the environment")
