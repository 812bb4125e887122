package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/secrets"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8000 || c.Host != "" || c.LogLevel != slog.LevelInfo || c.ShutdownTimeout != 20*time.Second ||
		c.DrainDelay != 0 || c.APIKeysTTL != 5*time.Minute || c.MetricsFlushInterval != time.Minute ||
		c.RateLimit.Rate != 0 || c.MetricsCloudWatch || c.AuthDisabled || c.Managed || c.LocalKeys || c.MetricsEnv != "local" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestLoadValues(t *testing.T) {
	c, err := Load(env(map[string]string{
		"PORT": "9000", "HOST": "127.0.0.1", "LOG_LEVEL": "debug", "SHUTDOWN_TIMEOUT": "25s", "DRAIN_DELAY": "3s",
		"API_KEYS_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys", "API_KEYS_TTL": "1m",
		"RATE_LIMIT_RPS": "20", "RATE_LIMIT_BURST": "40", "METRICS_CLOUDWATCH": "true", "METRICS_FLUSH_INTERVAL": "30s",
		"KUBERNETES_SERVICE_HOST": "10.0.0.1", "METRICS_ENV": "staging", "TRUSTED_PROXY_CIDRS": "10.0.0.0/22, 10.0.4.7/22,fd00::/64",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9000 || c.Host != "127.0.0.1" || c.LogLevel != slog.LevelDebug || c.ShutdownTimeout != 25*time.Second ||
		c.DrainDelay != 3*time.Second || c.APIKeysTTL != time.Minute || c.RateLimit.Rate != 20 || c.RateLimit.Burst != 40 ||
		!c.MetricsCloudWatch || c.MetricsFlushInterval != 30*time.Second || !c.Managed || c.MetricsEnv != "staging" ||
		fmt.Sprint(c.TrustedProxies) != "[10.0.0.0/22 10.0.4.0/22 fd00::/64]" {
		t.Errorf("loaded = %+v", c)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // part of the error
	}{
		{"port", map[string]string{"PORT": "http"}, "PORT"},
		{"port range", map[string]string{"PORT": "70000"}, "PORT"},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"shutdown", map[string]string{"SHUTDOWN_TIMEOUT": "20"}, "SHUTDOWN_TIMEOUT"},
		{"drain", map[string]string{"DRAIN_DELAY": "-1s"}, "DRAIN_DELAY"},
		{"ttl", map[string]string{"API_KEYS_TTL": "10ms"}, "API_KEYS_TTL"},
		{"both key sources", map[string]string{"API_KEYS": "a:b", "API_KEYS_SECRET_ID": "keys"}, "not both"},
		{"auth disabled with keys", map[string]string{"API_KEYS": "a:b", "AUTH_DISABLED": "true"}, "AUTH_DISABLED"},
		{"auth disabled spelling", map[string]string{"AUTH_DISABLED": "yes"}, "AUTH_DISABLED"},
		{"rate", map[string]string{"RATE_LIMIT_RPS": "fast"}, "RATE_LIMIT_RPS"},
		{"burst", map[string]string{"RATE_LIMIT_BURST": "0"}, "RATE_LIMIT_BURST"},
		{"trusted proxy prefix length", map[string]string{"TRUSTED_PROXY_CIDRS": "10.0.0.0/33"}, "TRUSTED_PROXY_CIDRS"},
		{"trusted proxy without a length", map[string]string{"TRUSTED_PROXY_CIDRS": "10.0.0.1"}, "TRUSTED_PROXY_CIDRS"},
		{"trusted proxy empty entry", map[string]string{"TRUSTED_PROXY_CIDRS": "10.0.0.0/22,"}, "TRUSTED_PROXY_CIDRS"},
		{"trusted proxy placeholder", map[string]string{"TRUSTED_PROXY_CIDRS": "REPLACE_ME"}, "TRUSTED_PROXY_CIDRS"},
		{"cloudwatch", map[string]string{"METRICS_CLOUDWATCH": "1"}, "METRICS_CLOUDWATCH"},
		{"flush", map[string]string{"METRICS_FLUSH_INTERVAL": "100ms"}, "METRICS_FLUSH_INTERVAL"},
		// A mislabelled metric pages the wrong on-call: a deployment names
		// its environment, and only a valid name is taken.
		{"no environment under lambda", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "predict", "AUTH_DISABLED": "true"}, "METRICS_ENV must be set under Lambda or Kubernetes"},
		{"no environment under kubernetes", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "AUTH_DISABLED": "true"}, "METRICS_ENV must be set under Lambda or Kubernetes"},
		{"upper-case environment", map[string]string{"METRICS_ENV": "Prod"}, "METRICS_ENV must match ^[a-z][a-z0-9-]{0,31}$"},
		{"environment with a space", map[string]string{"METRICS_ENV": "prod "}, "METRICS_ENV must match"},
		{"environment starting with a digit", map[string]string{"METRICS_ENV": "1prod"}, "METRICS_ENV must match"},
		{"environment too long", map[string]string{"METRICS_ENV": "p" + strings.Repeat("x", 32)}, "METRICS_ENV must match"},
		{"environment with a dot", map[string]string{"METRICS_ENV": "prod.eu"}, "METRICS_ENV must match"},
		{"bad environment under lambda", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "predict", "METRICS_ENV": "PROD"}, "METRICS_ENV must match"},
		{"cds clients not json", map[string]string{"CDS_HOOKS_CLIENTS": "ehr", "CDS_HOOKS_BASE_URL": "https://a.example/prod"}, "CDS_HOOKS_CLIENTS must be a JSON list"},
		{"cds clients without base url", map[string]string{"CDS_HOOKS_CLIENTS": `[{"iss":"i","jwks_url":"https://e.example/jwks"}]`}, "CDS_HOOKS_BASE_URL must be set"},
		{"cds http jwks", map[string]string{"CDS_HOOKS_CLIENTS": `[{"iss":"i","jwks_url":"http://e.example/jwks"}]`, "CDS_HOOKS_BASE_URL": "https://a.example"}, "must use https"},
		{"cds http base url", map[string]string{"CDS_HOOKS_BASE_URL": "http://a.example/prod"}, "CDS_HOOKS_BASE_URL must use https"},
		{"cds base url with query", map[string]string{"CDS_HOOKS_BASE_URL": "https://a.example/prod?x=1"}, "CDS_HOOKS_BASE_URL must be an absolute URL"},
		{"cds allow http spelling", map[string]string{"CDS_HOOKS_ALLOW_HTTP": "yes"}, "CDS_HOOKS_ALLOW_HTTP must be true or false"},
		{"cds cors origin with path", map[string]string{"CDS_HOOKS_CORS_ORIGINS": "https://sandbox.cds-hooks.org/"}, "CDS_HOOKS_CORS_ORIGINS must be"},
		{"cds fetch timeout too short", map[string]string{"CDS_HOOKS_FETCH_TIMEOUT": "50ms"}, "CDS_HOOKS_FETCH_TIMEOUT must be a duration between 100ms and 5s"},
		{"cds fetch timeout too long", map[string]string{"CDS_HOOKS_FETCH_TIMEOUT": "6s"}, "CDS_HOOKS_FETCH_TIMEOUT must be"},
		{"cds fetch timeout not a duration", map[string]string{"CDS_HOOKS_FETCH_TIMEOUT": "400"}, "CDS_HOOKS_FETCH_TIMEOUT must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// CDS_HOOKS_* configure the trusted CDS clients; http only where allowed.
func TestLoadCDSHooks(t *testing.T) {
	c, err := Load(env(map[string]string{
		"CDS_HOOKS_CLIENTS":    `[{"iss":"https://ehr.example","jwks_url":"http://127.0.0.1:9/jwks","fhir_servers":["http://127.0.0.1:9/fhir/"]}]`,
		"CDS_HOOKS_BASE_URL":   "http://127.0.0.1:8000/",
		"CDS_HOOKS_ALLOW_HTTP": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := c.CDSHooks
	if !h.AllowHTTP || h.BaseURL != "http://127.0.0.1:8000" || len(h.Clients) != 1 || h.Clients[0].Issuer != "https://ehr.example" ||
		h.Clients[0].FHIRServers[0] != "http://127.0.0.1:9/fhir" {
		t.Errorf("CDSHooks = %+v", h)
	}
	if c, err := Load(env(nil)); err != nil || c.CDSHooks.Clients != nil || c.CDSHooks.BaseURL != "" || c.CDSHooks.FetchTimeout != 400*time.Millisecond {
		t.Errorf("unset: %+v, %v; want no clients and a 400ms fetch timeout", c.CDSHooks, err)
	}
	if c, err := Load(env(map[string]string{"CDS_HOOKS_CORS_ORIGINS": "https://sandbox.cds-hooks.org"})); err != nil ||
		len(c.CDSHooks.CORSOrigins) != 1 || c.CDSHooks.CORSOrigins[0] != "https://sandbox.cds-hooks.org" {
		t.Errorf("CDS_HOOKS_CORS_ORIGINS: %q, %v", c.CDSHooks.CORSOrigins, err)
	}
	if c, err := Load(env(map[string]string{"CDS_HOOKS_FETCH_TIMEOUT": "1500ms"})); err != nil || c.CDSHooks.FetchTimeout != 1500*time.Millisecond {
		t.Errorf("CDS_HOOKS_FETCH_TIMEOUT=1500ms: %v, %v", c.CDSHooks.FetchTimeout, err)
	}
}

// CDS_HOOKS_REPLAY_TABLE names the shared jti table: required under
// Lambda with CDS_HOOKS_CLIENTS (every execution environment has its own
// memory), optional elsewhere, a DynamoDB table name when set.
func TestLoadCDSHooksReplayTable(t *testing.T) {
	cds := map[string]string{"CDS_HOOKS_CLIENTS": `[{"iss":"https://ehr.example","jwks_url":"https://ehr.example/jwks"}]`,
		"CDS_HOOKS_BASE_URL": "https://api.example/prod", "METRICS_ENV": "prod"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range cds {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tt := range []struct {
		name    string
		env     map[string]string
		want    string // the table loaded
		wantErr string // part of the error
	}{
		{"lambda with clients", with("AWS_LAMBDA_FUNCTION_NAME", "cdshooks", "CDS_HOOKS_REPLAY_TABLE", "prod-api-CdsHooksReplay.1_x"), "prod-api-CdsHooksReplay.1_x", ""},
		{"lambda with clients, no table", with("AWS_LAMBDA_FUNCTION_NAME", "cdshooks"), "", "CDS_HOOKS_REPLAY_TABLE must be set under Lambda"},
		{"lambda without clients", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "predict", "METRICS_ENV": "prod", "API_KEYS_SECRET_ID": "k"}, "", ""},
		{"kubernetes: per instance, warned at start", with("KUBERNETES_SERVICE_HOST", "10.0.0.1"), "", ""},
		{"local run", with(), "", ""},
		{"too short", with("CDS_HOOKS_REPLAY_TABLE", "ab"), "", "CDS_HOOKS_REPLAY_TABLE must be a DynamoDB table name"},
		{"an ARN is no name", with("CDS_HOOKS_REPLAY_TABLE", "arn:aws:dynamodb:eu-west-1:123456789012:table/t"), "", "CDS_HOOKS_REPLAY_TABLE must be a DynamoDB table name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			case tt.wantErr == "" && c.CDSHooksReplayTable != tt.want:
				t.Errorf("CDSHooksReplayTable %q, want %q", c.CDSHooksReplayTable, tt.want)
			}
		})
	}
}

func TestLoadMetricsEnv(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"local run", nil, metrics.LocalEnvironment},
		{"local run, named", map[string]string{"METRICS_ENV": "dev"}, "dev"},
		{"lambda", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "predict", "METRICS_ENV": "prod"}, "prod"},
		{"kubernetes", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "METRICS_ENV": "staging"}, "staging"},
		{"digits and hyphens, 32 characters", map[string]string{"METRICS_ENV": "eu-west-1-prod" + strings.Repeat("x", 18)}, "eu-west-1-prod" + strings.Repeat("x", 18)},
		{"one letter", map[string]string{"METRICS_ENV": "p"}, "p"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.MetricsEnv != tt.want {
				t.Errorf("MetricsEnv = %q, want %q", c.MetricsEnv, tt.want)
			}
		})
	}
}

func TestLoadReportsEveryProblemWithoutValues(t *testing.T) {
	_, err := Load(env(map[string]string{"PORT": "p0rt-value", "LOG_LEVEL": "l0g-value", "API_KEYS_TTL": "ttl-value",
		"API_KEYS": "me:s3cret-key-value", "API_KEYS_SECRET_ID": "keys", "METRICS_ENV": "Env-Value"}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"PORT", "LOG_LEVEL", "API_KEYS_TTL", "not both", "METRICS_ENV"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not mention %s: %v", name, err)
		}
	}
	for _, v := range []string{"p0rt-value", "l0g-value", "ttl-value", "s3cret-key-value", "Env-Value"} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error echoes %q: %v", v, err)
		}
	}
}

// On every platform a process with protected routes refuses to run open,
// unless told; the health function has none and needs no keys. Plaintext
// keys are refused where keys are managed.
func TestKeysRequired(t *testing.T) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	const fixed = "a:local-UYoI6V8ijnrvmY43scyR6B9w3Q8eS2EhFACcf1Pj"
	tests := []struct {
		name    string
		env     map[string]string
		routes  api.Group
		wantErr string // part of the error from Load or Keys; empty: starts
	}{
		{"lambda predict without keys", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "predict"}, api.Predict, "refusing to start without API keys"},
		{"kubernetes without keys", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, api.All, "refusing to start without API keys"},
		{"docker, ECS or a laptop without keys", nil, api.All, "refusing to start without API keys"},
		{"info without keys", nil, api.Info, "refusing to start without API keys"},
		{"lambda health without keys", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "health"}, api.Health, ""},
		{"lambda predict, auth disabled on purpose", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "predict", "AUTH_DISABLED": "true"}, api.Predict, ""},
		{"local run, auth disabled on purpose", map[string]string{"AUTH_DISABLED": "true"}, api.All, ""},
		{"local run with fixed keys", map[string]string{"API_KEYS": fixed}, api.All, ""},
		{"lambda predict with fixed keys", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "predict", "API_KEYS": fixed}, api.Predict, "set API_KEYS_SECRET_ID"},
		{"kubernetes with fixed keys", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "API_KEYS": fixed}, api.All, "refused under Lambda or Kubernetes"},
		{"lambda health with fixed keys", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "health", "API_KEYS": fixed}, api.Health, "refused under Lambda or Kubernetes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"METRICS_ENV": "dev"}
			for k, v := range tt.env {
				vars[k] = v
			}
			c, err := Load(env(vars))
			if err == nil {
				noSecret := func() (secrets.Client, error) {
					t.Fatal("no secret is configured, yet a client was built")
					return nil, nil
				}
				_, err = c.Keys(context.Background(), env(vars), logger, metrics.Discard{}, tt.routes, noSecret)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one saying %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "UYoI6V8ijnrvmY43") {
				t.Errorf("error echoes the key: %v", err)
			}
		})
	}
}

// The refusal names every way out, so whoever reads it can fix the start.
func TestNoKeySourceMessage(t *testing.T) {
	for _, want := range []string{"API_KEYS_SECRET_ID", "API_KEYS=", "AUTH_DISABLED=true"} {
		if !strings.Contains(ErrNoKeySource.Error(), want) {
			t.Errorf("%q does not name %s", ErrNoKeySource, want)
		}
	}
}
