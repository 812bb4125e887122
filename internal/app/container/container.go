// Package container runs the API as the long-running server of the
// container image (functions/server): every route, /metrics, graceful
// shutdown. It sits beside app.RunLambda rather than in package app so that
// the Lambda functions, which import app, never link the AWS SDK's
// CloudWatch and configuration packages it needs (a cold-start cost;
// functions/e2e_test.go's TestLambdaFunctionsLinkNoSDKClient).
package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
	"github.com/healthcare-prediction/api/internal/awsjson"
	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/docs"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/metrics/cloudwatch"
	"github.com/healthcare-prediction/api/internal/metrics/prom"
	"github.com/healthcare-prediction/api/internal/replay"
	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/secrets/sdkclient"
)

// Server limits. Bodies are capped per route (64 KiB for /predict).
const (
	readHeaderTimeout = 5 * time.Second // also cuts slow-header clients
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Run serves until ctx ends or SIGTERM/SIGINT arrives, then drains: readiness
// turns 503 at once, DRAIN_DELAY passes, and in-flight requests get up to
// SHUTDOWN_TIMEOUT to finish.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := app.Load(getenv)
	if err != nil {
		return err
	}
	logOut := app.NewLogWriter(stdout)
	defer logOut.Close()
	logger := cfg.Logger(logOut)
	lifecycle := api.NewLifecycle()
	build := app.Build()
	prometheus := prom.New(cfg.MetricsEnv, build.Version, build.Commit)
	// The CDS Hooks alerts divide increase()s of these counters: each
	// service's series exist at 0 from the first scrape, so a pod's first
	// events count. The services are those of the catalog NewAPI serves.
	prometheus.InitCDSHooks(cdshooks.ServiceIDs(scoring.NewCatalog()))
	// /metrics is served beside the API, not through it: scrapes are not
	// requests of the API and stay out of its logs and metrics.
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", prometheus.Handler())
	var rec metrics.Recorder = prometheus
	flushed := make(chan struct{})
	metricsCtx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	// One AWS SDK configuration for every AWS client the container may
	// build, loaded only if one is: the credentials chain (IRSA's web
	// identity exchange) then runs once, and the SDK's log lines go to our
	// logger.
	awsConfig := sync.OnceValues(func() (aws.Config, error) {
		return config.LoadDefaultConfig(ctx, config.WithLogger(sdkclient.Logger{L: logger}))
	})
	if cfg.MetricsCloudWatch {
		awsCfg, err := awsConfig()
		if err != nil {
			return fmt.Errorf("cloudwatch metrics: load AWS configuration: %w", err)
		}
		cw, err := cloudwatch.NewFromConfig(awsCfg, cloudwatch.Options{Environment: cfg.MetricsEnv, FlushInterval: cfg.MetricsFlushInterval, Logger: logger})
		if err != nil {
			return fmt.Errorf("cloudwatch metrics: %w", err)
		}
		rec = metrics.Tee{prometheus, cw}
		go func() { cw.Run(metricsCtx); close(flushed) }()
		logger.Info("metrics: also sent to CloudWatch", "flush_interval", cfg.MetricsFlushInterval.String())
	} else {
		close(flushed)
	}
	// Every way out, errors included, waits for the last CloudWatch flush
	// (bounded by its timeout): an incident's last minute is the one needed.
	defer func() { stopMetrics(); <-flushed }()
	keys, err := cfg.Keys(ctx, getenv, logger, rec, api.All, func() (secrets.Client, error) {
		awsCfg, err := awsConfig()
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		return sdkclient.NewFromConfig(awsCfg), nil
	})
	if err != nil {
		return err
	}
	if keys != nil {
		defer keys.Close()
	}
	// The jti table is called as on Lambda (package awsjson), with the
	// SDK's credentials chain (IRSA) and region.
	cfg.CDSHooks.Replay, err = cfg.ReplayStore(logger, func() (cdshooks.ReplayStore, error) {
		awsCfg, err := awsConfig()
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		client, err := awsjson.FromEnv(getenv, awsjson.DynamoDB, awsjson.Options{Region: awsCfg.Region, Credentials: awsCfg.Credentials})
		if err != nil {
			return nil, err
		}
		return replay.New(client, cfg.CDSHooksReplayTable), nil
	})
	if err != nil {
		return err
	}
	mux.Handle("/", prometheus.InFlight(app.NewAPI(logger, rec, keys, cfg.RateLimit, cfg.TrustedProxies, api.All, lifecycle, false, cfg.CDSHooks, docs.New())))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	logger.Info("listening", "addr", ln.Addr().String(), "version", build.Version)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop() // a second signal now kills the process the default way
	logger.Info("draining", "drain_delay", cfg.DrainDelay.String(), "shutdown_timeout", cfg.ShutdownTimeout.String())
	lifecycle.Drain()
	time.Sleep(cfg.DrainDelay)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", cfg.ShutdownTimeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	stopMetrics() // the last CloudWatch flush, bounded by its timeout
	<-flushed
	logger.Info("stopped")
	return nil
}
