// Package app wires the service together for its mains: configuration from
// the environment, the logger, and the API with its dependencies.
package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/scoring"
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
	duration("SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, 5*time.Minute)
	duration("DRAIN_DELAY", &c.DrainDelay, 5*time.Minute)
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

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

// NewAPI builds the API serving routes. Lambda functions strip a stage or
// base path from request paths; the container serves bare paths.
func NewAPI(logger *slog.Logger, rec metrics.Recorder, routes api.Group, lifecycle *api.Lifecycle, stripBasePath bool) http.Handler {
	return api.New(api.Options{
		Logger:        logger,
		Metrics:       rec,
		Catalog:       scoring.NewCatalog(),
		Build:         Build(),
		Lifecycle:     lifecycle,
		Routes:        routes,
		StripBasePath: stripBasePath,
	})
}
