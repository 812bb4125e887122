// Package app wires the service together for its mains: configuration from
// the environment, the logger, and the API with its dependencies.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/token"
)

// version is set at build time: -ldflags "-X .../internal/app.version=v1.2.3".
var version = "dev"

// Config is the service's configuration: plain data, no secrets.
type Config struct {
	Host            string        // HOST: container listen address; empty means every interface
	Port            int           // PORT: container listen port; 0 picks a free one
	LogLevel        slog.Level    // LOG_LEVEL: debug, info, warn, error
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: bound on finishing in-flight requests
	DrainDelay      time.Duration // DRAIN_DELAY: readiness 503 before the listener closes

	APIKeysSecretID string         // API_KEYS_SECRET_ID: Secrets Manager id or ARN of the key digests
	APIKeysTTL      time.Duration  // API_KEYS_TTL: how often the secret is refreshed
	LocalKeys       bool           // API_KEYS is set: fixed keys for local runs (read by Keys, not kept here)
	AuthDisabled    bool           // AUTH_DISABLED=true: run with every route open; without it and a key source, a process with protected routes refuses to start
	Managed         bool           // running under Lambda or Kubernetes, where API_KEYS is refused and METRICS_ENV required
	RateLimit       api.RateLimit  // RATE_LIMIT_RPS, RATE_LIMIT_BURST: per key, container only
	TrustedProxies  []netip.Prefix // TRUSTED_PROXY_CIDRS: peers whose X-Forwarded-For the audit believes (the ALB's subnets)

	MetricsCloudWatch    bool          // METRICS_CLOUDWATCH=true: the container also sends metrics to CloudWatch
	MetricsFlushInterval time.Duration // METRICS_FLUSH_INTERVAL: how often it sends them
	MetricsEnv           string        // METRICS_ENV: the deployment's environment, on every metric

	// CDSHooks: CDS_HOOKS_CLIENTS (trusted CDS clients, JSON), CDS_HOOKS_BASE_URL
	// (public base URL the JWT aud is checked against), CDS_HOOKS_ALLOW_HTTP,
	// CDS_HOOKS_FETCH_TIMEOUT, CDS_HOOKS_CORS_ORIGINS.
	CDSHooks cdshooks.Config
	// CDSHooksReplayTable: CDS_HOOKS_REPLAY_TABLE, the DynamoDB table that
	// records accepted client JWT ids for every instance (package replay).
	// Required under Lambda with CDS_HOOKS_CLIENTS: each execution
	// environment has its own memory, so an in-process record would let a
	// replayed token through on another one.
	CDSHooksReplayTable string
}

// Load reads the configuration through getenv and reports every problem at
// once.
func Load(getenv func(string) string) (Config, error) {
	c := Config{Port: 8000, LogLevel: slog.LevelInfo, ShutdownTimeout: 20 * time.Second}
	var errs []error
	if s := getenv("PORT"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 0 || p > 65535 {
			errs = append(errs, errors.New("PORT must be a port number (0-65535)"))
		}
		c.Port = p
	}
	c.Host = getenv("HOST")
	if s := getenv("LOG_LEVEL"); s != "" {
		if err := c.LogLevel.UnmarshalText([]byte(s)); err != nil {
			errs = append(errs, errors.New("LOG_LEVEL must be debug, info, warn or error"))
		}
	}
	duration := func(name string, dst *time.Duration, max time.Duration) {
		if s := getenv(name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 || d > max {
				errs = append(errs, fmt.Errorf("%s must be a duration between 0s and %s (e.g. 15s)", name, max))
				return
			}
			*dst = d
		}
	}
	boolean := func(name string, dst *bool) {
		switch getenv(name) {
		case "", "false":
		case "true":
			*dst = true
		default:
			errs = append(errs, errors.New(name+" must be true or false"))
		}
	}
	duration("SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, 5*time.Minute)
	duration("DRAIN_DELAY", &c.DrainDelay, 5*time.Minute)

	c.APIKeysSecretID = getenv("API_KEYS_SECRET_ID")
	c.APIKeysTTL = secrets.DefaultTTL
	duration("API_KEYS_TTL", &c.APIKeysTTL, 24*time.Hour)
	if c.APIKeysTTL < time.Second {
		errs = append(errs, errors.New("API_KEYS_TTL must be at least 1s"))
	}
	c.LocalKeys = getenv("API_KEYS") != ""
	boolean("AUTH_DISABLED", &c.AuthDisabled)
	if c.LocalKeys && c.APIKeysSecretID != "" {
		errs = append(errs, errors.New("set API_KEYS_SECRET_ID or API_KEYS, not both"))
	}
	if c.AuthDisabled && (c.LocalKeys || c.APIKeysSecretID != "") {
		errs = append(errs, errors.New("AUTH_DISABLED=true contradicts API_KEYS_SECRET_ID or API_KEYS: drop one"))
	}
	c.Managed = getenv("AWS_LAMBDA_FUNCTION_NAME") != "" || getenv("KUBERNETES_SERVICE_HOST") != ""
	if c.Managed && c.LocalKeys {
		// A key in plain text in a function's or pod's environment is
		// readable by anyone who can describe it, and cannot be rotated
		// without a deployment.
		errs = append(errs, errors.New("API_KEYS (plaintext keys) is for local runs only and is refused under Lambda or Kubernetes: "+
			"set API_KEYS_SECRET_ID to the Secrets Manager secret holding the key digests"))
	}
	if s := getenv("RATE_LIMIT_RPS"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r < 0 || r > 1e6 {
			errs = append(errs, errors.New("RATE_LIMIT_RPS must be a number of requests per second (0 turns the limit off)"))
		}
		c.RateLimit.Rate = r
		c.RateLimit.Burst = max(1, int(r))
	}
	if s := getenv("RATE_LIMIT_BURST"); s != "" {
		b, err := strconv.Atoi(s)
		if err != nil || b < 1 {
			errs = append(errs, errors.New("RATE_LIMIT_BURST must be a whole number of requests, 1 or more"))
		}
		c.RateLimit.Burst = b
	}
	if s := getenv("TRUSTED_PROXY_CIDRS"); s != "" {
		for _, f := range strings.Split(s, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(f))
			if err != nil {
				errs = append(errs, errors.New("TRUSTED_PROXY_CIDRS must be CIDRs separated by commas (e.g. 10.0.0.0/22,10.0.4.0/22)"))
				c.TrustedProxies = nil
				break
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
	}
	boolean("METRICS_CLOUDWATCH", &c.MetricsCloudWatch)
	c.MetricsFlushInterval = 60 * time.Second
	duration("METRICS_FLUSH_INTERVAL", &c.MetricsFlushInterval, time.Hour)
	if c.MetricsFlushInterval < time.Second {
		errs = append(errs, errors.New("METRICS_FLUSH_INTERVAL must be at least 1s"))
	}
	c.MetricsEnv = getenv("METRICS_ENV")
	switch {
	case c.MetricsEnv == "" && c.Managed:
		// Metrics labelled with a guessed environment would page the
		// wrong on-call: a deployment names its own.
		errs = append(errs, errors.New("METRICS_ENV must be set under Lambda or Kubernetes: "+
			"the deployment's environment (dev, staging, prod), which every metric carries"))
	case c.MetricsEnv == "":
		c.MetricsEnv = metrics.LocalEnvironment
	case !metrics.ValidEnvironment(c.MetricsEnv):
		errs = append(errs, errors.New("METRICS_ENV must match "+metrics.EnvironmentRule+
			": a lower-case letter, then up to 31 lower-case letters, digits or hyphens (dev, staging, prod)"))
	}
	boolean("CDS_HOOKS_ALLOW_HTTP", &c.CDSHooks.AllowHTTP)
	if clients, err := cdshooks.ParseClients(getenv("CDS_HOOKS_CLIENTS"), c.CDSHooks.AllowHTTP); err != nil {
		errs = append(errs, fmt.Errorf("CDS_HOOKS_CLIENTS %w", err))
	} else {
		c.CDSHooks.Clients = clients
	}
	if s := getenv("CDS_HOOKS_BASE_URL"); s != "" {
		// A stage in the path ("/prod") is part of it: aud names the URL the EHR calls.
		if base, err := cdshooks.CheckURL(s, c.CDSHooks.AllowHTTP); err != nil {
			errs = append(errs, fmt.Errorf("CDS_HOOKS_BASE_URL %w (e.g. https://api.example.org/prod)", err))
		} else {
			c.CDSHooks.BaseURL = base
		}
	} else if len(c.CDSHooks.Clients) > 0 {
		errs = append(errs, errors.New("CDS_HOOKS_BASE_URL must be set with CDS_HOOKS_CLIENTS: the public base URL (e.g. https://api.example.org/prod) that client JWTs name in aud"))
	}
	if origins, err := cdshooks.ParseCORSOrigins(getenv("CDS_HOOKS_CORS_ORIGINS")); err != nil {
		errs = append(errs, fmt.Errorf("CDS_HOOKS_CORS_ORIGINS %w", err))
	} else {
		c.CDSHooks.CORSOrigins = origins
	}
	// The fetch path shares the EHR's wait for cards (about 500 ms): the
	// default leaves room for the model; 5 s is the most any EHR waits.
	c.CDSHooks.FetchTimeout = cdshooks.DefaultFetchTimeout
	if s := getenv("CDS_HOOKS_FETCH_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 100*time.Millisecond || d > 5*time.Second {
			errs = append(errs, errors.New("CDS_HOOKS_FETCH_TIMEOUT must be a duration between 100ms and 5s (e.g. 400ms)"))
		} else {
			c.CDSHooks.FetchTimeout = d
		}
	}
	c.CDSHooksReplayTable = getenv("CDS_HOOKS_REPLAY_TABLE")
	switch {
	case c.CDSHooksReplayTable != "" && !validTableName(c.CDSHooksReplayTable):
		errs = append(errs, errors.New("CDS_HOOKS_REPLAY_TABLE must be a DynamoDB table name: 3 to 255 letters, digits, '_', '-' or '.'"))
	case c.CDSHooksReplayTable == "" && len(c.CDSHooks.Clients) > 0 && getenv("AWS_LAMBDA_FUNCTION_NAME") != "":
		errs = append(errs, errors.New("CDS_HOOKS_REPLAY_TABLE must be set under Lambda with CDS_HOOKS_CLIENTS: "+
			"the DynamoDB table shared by every execution environment, without which a replayed client JWT passes on another one"))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// validTableName is DynamoDB's rule for table names: 3 to 255 of
// a-z, A-Z, 0-9, '_', '-' and '.'.
func validTableName(s string) bool { return len(s) >= 3 && token.Valid(s, 255, "_-.") }

// syncWriter serialises whole writes: the logger and the EMF writer share
// stdout, and their lines must not interleave.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Logger writes JSON lines to w at the configured level.
func (c Config) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: c.LogLevel}))
}

// Build identifies the running binary: its version and VCS commit.
func Build() api.Build {
	b := api.Build{Version: version}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				b.Commit = s.Value
			}
		}
	}
	return b
}

// Keys builds the API-key store the configuration asks for, for a process
// serving routes, and starts its background refresh. It fails closed on
// every platform: a process with protected routes refuses to start without
// a key source (API_KEYS_SECRET_ID, or API_KEYS for a local run) unless
// AUTH_DISABLED=true says to run open, which returns nil and is logged
// loudly. A process whose routes are all public (the health function)
// needs no keys. The first fetch from Secrets Manager is bounded, so a
// start with AWS down does not hang: protected routes answer 503 until
// keys load. newClient builds the Secrets Manager client, only when the
// configuration names a secret.
func (c Config) Keys(ctx context.Context, getenv func(string) string, logger *slog.Logger, rec metrics.Recorder, routes api.Group,
	newClient func() (secrets.Client, error)) (*secrets.Cache, error) {
	switch {
	case !api.Protected(routes):
		return nil, nil
	case c.LocalKeys:
		logger.Info("api keys: fixed keys from API_KEYS")
		return secrets.Static(getenv("API_KEYS"))
	case c.APIKeysSecretID != "":
		client, err := newClient()
		if err != nil {
			return nil, fmt.Errorf("api keys: %w", err)
		}
		keys := secrets.New(client, c.APIKeysSecretID, secrets.Options{TTL: c.APIKeysTTL, Logger: logger,
			OnStale: func() { rec.KeyRefreshFailed(context.Background()) },
			// Lambda freezes a background refresh: protected requests refresh.
			RefreshOnRequest: getenv("AWS_LAMBDA_FUNCTION_NAME") != ""})
		keys.Start(ctx)
		logger.Info("api keys: from Secrets Manager", "ttl", c.APIKeysTTL.String(), "ready", keys.Ready())
		return keys, nil
	case !c.AuthDisabled:
		return nil, ErrNoKeySource
	}
	logger.Warn("AUTHENTICATION IS OFF: AUTH_DISABLED=true, and every route is open to anyone who can reach it; " +
		"set API_KEYS_SECRET_ID (or API_KEYS for local runs) instead to require keys")
	return nil, nil
}

// ReplayStore returns the store that records accepted CDS client JWT ids,
// for cdshooks.Config.Replay: the DynamoDB table CDS_HOOKS_REPLAY_TABLE
// names, built by newStore, or nil for the in-process record of package
// cdshooks, which protects one instance only and is logged as a warning
// under Kubernetes (Load refuses it under Lambda). Without
// CDS_HOOKS_CLIENTS no JWT is accepted, and no store is needed.
func (c Config) ReplayStore(logger *slog.Logger, newStore func() (cdshooks.ReplayStore, error)) (cdshooks.ReplayStore, error) {
	switch {
	case len(c.CDSHooks.Clients) == 0:
		return nil, nil
	case c.CDSHooksReplayTable == "":
		if c.Managed {
			logger.Warn("cds hooks: CDS_HOOKS_REPLAY_TABLE is not set, so a client JWT's jti is recorded in this instance only: " +
				"with more than one replica a replayed token can pass on another; set it to a DynamoDB table (docs/eks.md)")
		}
		return nil, nil
	}
	store, err := newStore()
	if err != nil {
		return nil, fmt.Errorf("cds hooks replay store: %w", err)
	}
	logger.Info("cds hooks: client JWT ids recorded in DynamoDB", "table", c.CDSHooksReplayTable)
	return store, nil
}

// ErrNoKeySource is why a process with protected routes refuses to start
// when no API-key source is configured: it names the three ways out.
var ErrNoKeySource = errors.New("refusing to start without API keys: set API_KEYS_SECRET_ID " +
	"(the Secrets Manager secret holding the key digests), or API_KEYS=id:key,... for a local run, " +
	"or AUTH_DISABLED=true to run with every route open on purpose")

// NewAPI builds the API serving routes. Lambda functions strip a stage or
// base path from request paths; the container serves bare paths. trusted
// are the proxies whose X-Forwarded-For the audit believes (nil on Lambda,
// where API Gateway's event says the source). cds configures the CDS Hooks
// services; docs is the /docs page (docs.New()), or nil where the binary
// must not carry it.
func NewAPI(logger *slog.Logger, rec metrics.Recorder, keys *secrets.Cache, limit api.RateLimit, trusted []netip.Prefix,
	routes api.Group, lifecycle *api.Lifecycle, stripBasePath bool, cds cdshooks.Config, docs api.Docs) http.Handler {
	var ks api.KeyStore
	if keys != nil {
		ks = keys // a nil *Cache must stay a nil interface: auth off
	}
	return api.New(api.Options{
		Logger:         logger,
		Metrics:        rec,
		Keys:           ks,
		RateLimit:      limit,
		TrustedProxies: trusted,
		Catalog:        scoring.NewCatalog(),
		Build:          Build(),
		Lifecycle:      lifecycle,
		Routes:         routes,
		StripBasePath:  stripBasePath,
		Docs:           docs,
		CDSHooks:       cds,
	})
}
