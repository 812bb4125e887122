package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/secrets"
)

// A function started without AWS credentials (sam local on a host without
// any) that names a secret starts, fails closed on protected routes, and
// never waits on the network; with credentials it gets the real client.
func TestLambdaSecretsClientWithoutCredentials(t *testing.T) {
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "predict",
		"AWS_REGION":               "us-east-1",
		"API_KEYS_SECRET_ID":       "prod/api-keys",
		"METRICS_ENV":              "dev", // required under Lambda
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	start := time.Now()
	keys, err := cfg.Keys(t.Context(), getenv, logger, metrics.Discard{}, api.Predict,
		func() (secrets.Client, error) { return lambdaSecretsClient(getenv, logger) })
	if err != nil {
		t.Fatalf("a function without credentials must start: %v", err)
	}
	defer keys.Close()
	if _, err := keys.AuthenticateContext(context.Background(), "any-key"); err != secrets.ErrUnavailable {
		t.Errorf("AuthenticateContext = %v, want ErrUnavailable (503)", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("start and a protected request took %v without credentials, want no network wait", took)
	}
	if !strings.Contains(logs.String(), "no AWS credentials") {
		t.Errorf("no log line says why:\n%s", logs.String())
	}

	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "AKIDEXAMPLE", "secret"
	if c, err := lambdaSecretsClient(getenv, logger); err != nil {
		t.Fatal(err)
	} else if _, ok := c.(noCredentials); ok {
		t.Error("with credentials: got the no-credentials client")
	}
}
