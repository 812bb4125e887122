package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/replay"
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

// The jti store: none without CDS clients; the in-process one, warned
// about under Kubernetes, without a table; the DynamoDB table otherwise.
// A function without credentials refuses every client JWT (fails closed)
// at once; with them it gets the table's store.
func TestReplayStore(t *testing.T) {
	clients := `[{"iss":"https://ehr.example","jwks_url":"https://ehr.example/jwks"}]`
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	built := 0
	newStore := func() (cdshooks.ReplayStore, error) { built++; return noCredentials{}, nil }
	for _, tt := range []struct {
		name   string
		env    map[string]string
		store  bool
		warned bool
	}{
		{"no clients", map[string]string{"CDS_HOOKS_REPLAY_TABLE": "t-replay"}, false, false},
		{"local, no table", map[string]string{"CDS_HOOKS_CLIENTS": clients}, false, false},
		{"kubernetes, no table", map[string]string{"CDS_HOOKS_CLIENTS": clients, "KUBERNETES_SERVICE_HOST": "10.0.0.1"}, false, true},
		{"kubernetes, table", map[string]string{"CDS_HOOKS_CLIENTS": clients, "KUBERNETES_SERVICE_HOST": "10.0.0.1", "CDS_HOOKS_REPLAY_TABLE": "t-replay"}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["CDS_HOOKS_BASE_URL"], tt.env["METRICS_ENV"] = "https://api.example/prod", "dev"
			cfg, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			logs.Reset()
			built = 0
			store, err := cfg.ReplayStore(logger, newStore)
			if err != nil || (store != nil) != tt.store || built != map[bool]int{true: 1}[tt.store] {
				t.Errorf("store %v, %v, built %d times; want a store: %v", store, err, built, tt.store)
			}
			if got := strings.Contains(logs.String(), "in this instance only"); got != tt.warned {
				t.Errorf("warned %v, want %v:\n%s", got, tt.warned, logs.String())
			}
		})
	}

	getenv := env(map[string]string{"AWS_REGION": "us-east-1"})
	store, err := lambdaReplayStore(getenv, logger, "t-replay")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if fresh, err := store.Claim(t.Context(), "iss\x00jti", time.Now().Add(time.Minute)); fresh || err == nil || time.Since(start) > 100*time.Millisecond {
		t.Errorf("without credentials: %v, %v after %v; want an error at once", fresh, err, time.Since(start))
	}
	getenv = env(map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"})
	if store, err := lambdaReplayStore(getenv, logger, "t-replay"); err != nil {
		t.Fatal(err)
	} else if s, ok := store.(*replay.Store); !ok || s.Table() != "t-replay" {
		t.Errorf("with credentials: %T, want the table's *replay.Store", store)
	}
}
