// Command load measures the container server on loopback: a fixed-rate run
// (every request must succeed) and saturation runs with wrk, both with a
// realistic mix of POST /predict bodies and GET /health, compared with a
// minimal net/http handler measured the same way in the same run. The
// saturation runs come in rounds, the baseline and the server back to
// back, so both meet the same moment of a shared machine; the targets
// apply to the median of the rounds' ratios. It prints text and JSON and
// exits non-zero when a target is missed.
//
//	go run ./loadtest/cmd/load [-rate 500] [-duration 60s] [-rounds 9] [-saturation 4s] [-conns 64] [-json out.json]
//	go run ./loadtest/cmd/load lambda [-starts 9] [-warm 20]
//
// Run it from the module root; it builds ./functions/server itself.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/healthcare-prediction/api/loadtest"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "baseline":
		err = serveBaseline(os.Getenv)
	case len(os.Args) > 1 && os.Args[1] == "lambda":
		err = runLambda(os.Args[2:], os.Stdout)
	default:
		err = run(os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// Targets, as ratios to the baseline measured in the same run (issue 9).
const (
	minThroughputRatio = 0.8
	maxP99Ratio        = 1.5
	maxRSSBytes        = 40_000_000
)

// result is the JSON document the command prints.
type result struct {
	Machine    string           `json:"machine"`
	ServerEnv  []string         `json:"server_env"`
	Steady     loadtest.Summary `json:"steady"`
	SteadyRate int              `json:"steady_rate_rps"`
	Saturation struct {
		Conns  int     `json:"connections"`
		Rounds []round `json:"rounds"`
	} `json:"saturation"`
	PeakRSSMB         float64  `json:"peak_rss_mb"`
	BaselinePeakRSSMB float64  `json:"baseline_peak_rss_mb"`
	ThroughputRatio   float64  `json:"throughput_ratio"`
	P99Ratio          float64  `json:"p99_ratio"`
	SentinelHits      int      `json:"sentinel_hits"`
	Misses            []string `json:"misses"`
	Pass              bool     `json:"pass"`
}

// round is one saturation run of each server, back to back, so both meet
// the same moment of a shared machine.
type round struct {
	Baseline        loadtest.Summary `json:"baseline"`
	Ours            loadtest.Summary `json:"ours"`
	ThroughputRatio float64          `json:"throughput_ratio"`
	P99Ratio        float64          `json:"p99_ratio"`
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	rate := fs.Int("rate", 500, "fixed rate of the steady run, requests per second")
	duration := fs.Duration("duration", 60*time.Second, "length of the steady run")
	saturation := fs.Duration("saturation", 4*time.Second, "length of each saturation run")
	rounds := fs.Int("rounds", 9, "saturation rounds, each running the baseline and the server back to back (order alternating)")
	conns := fs.Int("conns", 64, "connections of the saturation runs")
	jsonOut := fs.String("json", "", "also write the JSON results to this file")
	server := fs.String("server", "", "server binary to test (default: build ./functions/server)")
	serverEnv := fs.String("server-env", "", "extra NAME=value settings for the server, comma-separated (e.g. LOG_LEVEL=warn to measure logging, GOGC=100 to measure the Go default)")
	overlay := fs.String("overlay", "k8s/overlays/prod", "kustomize overlay whose container env (GOGC, GOMEMLIMIT) the server runs with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: run scripts/deps.sh load")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := *server
	if bin == "" {
		if bin, err = loadtest.BuildServer(dir); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Production settings, the Deployment's Go runtime env among them,
	// except the per-key rate limit (one key drives everything here) and
	// Secrets Manager (fixed keys; see reliability).
	deployment, err := loadtest.ReadTimings(*overlay)
	if err != nil {
		return err
	}
	env := append([]string{"HOST=127.0.0.1", "PORT=0", "API_KEYS=" + loadtest.KeyID + ":" + loadtest.Key, "LOG_LEVEL=info"}, deployment.Env...)
	if *serverEnv != "" {
		env = append(env, strings.Split(*serverEnv, ",")...)
	}
	ours, err := loadtest.Start("server", filepath.Join(dir, "server.log"), bin, nil, env)
	if err != nil {
		return err
	}
	defer ours.Kill()
	base, err := loadtest.Start("baseline", filepath.Join(dir, "baseline.log"), self, []string{"baseline"},
		[]string{"HOST=127.0.0.1", "PORT=0"})
	if err != nil {
		return err
	}
	defer base.Kill()

	var res result
	res.Machine = machine()
	res.ServerEnv = env
	res.SteadyRate = *rate
	fmt.Fprintf(stdout, "machine: %s\nserver %s (pid %d, env %v), baseline %s (pid %d)\n", res.Machine, ours.Addr, ours.Pid(), env, base.Addr, base.Pid())
	if err := checkMix(ours.URL()); err != nil {
		return err
	}
	// Warm both up: connections, page faults, the first GC cycles.
	for _, p := range []*loadtest.Proc{ours, base} {
		if _, err := loadtest.Wrk(dir, p.URL(), *conns, 2*time.Second, loadtest.Mix); err != nil {
			return err
		}
	}

	fmt.Fprintf(stdout, "steady: %d rps for %s against the server ...\n", *rate, *duration)
	res.Steady = loadtest.NewSteady(*rate, ours.URL).Run(ctx, *duration)
	fmt.Fprintf(stdout, "  steady:              %s\n", res.Steady)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	res.Saturation.Conns = *conns
	fmt.Fprintf(stdout, "saturation: %d rounds of wrk -t2 -c%d for %s against each ...\n", *rounds, *conns, *saturation)
	var failed int64
	var throughputRatios, p99Ratios []float64
	for i := range *rounds {
		var rd round
		runs := []struct {
			p   *loadtest.Proc
			out *loadtest.Summary
		}{{base, &rd.Baseline}, {ours, &rd.Ours}}
		if i%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0] // neither always goes first
		}
		for _, r := range runs {
			if *r.out, err = loadtest.Wrk(dir, r.p.URL(), *conns, *saturation, loadtest.Mix); err != nil {
				return err
			}
		}
		rd.ThroughputRatio = rd.Ours.Throughput / rd.Baseline.Throughput
		rd.P99Ratio = rd.Ours.P99 / rd.Baseline.P99
		throughputRatios, p99Ratios = append(throughputRatios, rd.ThroughputRatio), append(p99Ratios, rd.P99Ratio)
		failed += rd.Ours.Failed
		res.Saturation.Rounds = append(res.Saturation.Rounds, rd)
		fmt.Fprintf(stdout, "  round %d baseline:    %s\n  round %d server:      %s\n  round %d ratios:      throughput %.2fx, p99 %.2fx\n",
			i+1, rd.Baseline, i+1, rd.Ours, i+1, rd.ThroughputRatio, rd.P99Ratio)
	}

	_, peak, err := ours.Memory()
	if err != nil {
		return err
	}
	_, basePeak, _ := base.Memory()
	res.PeakRSSMB, res.BaselinePeakRSSMB = loadtest.MB(peak), loadtest.MB(basePeak)
	res.ThroughputRatio, res.P99Ratio = loadtest.Median(throughputRatios), loadtest.Median(p99Ratios)
	hits := loadtest.ScanSentinels([]string{ours.Log})
	res.SentinelHits = len(hits)

	check := func(ok bool, format string, a ...any) {
		if !ok {
			res.Misses = append(res.Misses, fmt.Sprintf(format, a...))
		}
	}
	check(res.Steady.Failed == 0, "steady run: %d of %d requests failed", res.Steady.Failed, res.Steady.Requests)
	check(failed == 0, "saturation: %d requests failed", failed)
	check(res.ThroughputRatio >= minThroughputRatio, "throughput is %.2fx the baseline's (median of %d rounds), want >= %.1fx",
		res.ThroughputRatio, *rounds, minThroughputRatio)
	check(res.P99Ratio <= maxP99Ratio, "p99 is %.2fx the baseline's (median of %d rounds), want <= %.1fx", res.P99Ratio, *rounds, maxP99Ratio)
	check(peak <= maxRSSBytes, "peak RSS %.1f MB, want <= %.0f MB", res.PeakRSSMB, loadtest.MB(maxRSSBytes))
	check(len(hits) == 0, "patient-data sentinels in the server output: %s", strings.Join(hits[:min(len(hits), 5)], "; "))
	res.Pass = len(res.Misses) == 0

	fmt.Fprintf(stdout, "server peak RSS (VmHWM) %.1f MB (baseline %.1f MB)\n", res.PeakRSSMB, res.BaselinePeakRSSMB)
	fmt.Fprintf(stdout, "medians of %d rounds: throughput %.2fx baseline (target >= %.1f), p99 %.2fx baseline (target <= %.1f); sentinel hits %d\n",
		*rounds, res.ThroughputRatio, minThroughputRatio, res.P99Ratio, maxP99Ratio, res.SentinelHits)
	for _, m := range res.Misses {
		fmt.Fprintln(stdout, "MISS:", m)
	}
	js, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintf(stdout, "%s\n", js)
	if *jsonOut != "" {
		if err := os.WriteFile(*jsonOut, append(js, '\n'), 0o600); err != nil {
			return err
		}
	}
	if !res.Pass {
		return fmt.Errorf("%d target(s) missed", len(res.Misses))
	}
	fmt.Fprintln(stdout, "PASS")
	return nil
}

// checkMix sends each request of the mix once: a body the server refuses
// would make the load test measure refusals.
func checkMix(base string) error {
	for _, r := range loadtest.Mix {
		req, _ := http.NewRequest(r.Method, base+r.Path, strings.NewReader(r.Body))
		req.Header.Set("X-API-Key", loadtest.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("mix: %s %s %s = %d: %s", r.Method, r.Path, r.Model, resp.StatusCode, body)
		}
	}
	return nil
}

func machine() string {
	cpu, n := "unknown CPU", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		info := string(b)
		for _, l := range strings.Split(info, "\n") {
			if strings.HasPrefix(l, "model name") {
				_, cpu, _ = strings.Cut(l, ": ")
				break
			}
		}
		n = strings.Count(info, "processor\t:")
	}
	return fmt.Sprintf("%d cores, %s; load generator and servers share them", n, cpu)
}

// serveBaseline serves loadtest.Baseline on HOST:PORT with the server's
// timeouts, logging the same "listening" line.
func serveBaseline(getenv func(string) string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(getenv("HOST"), getenv("PORT")))
	if err != nil {
		return err
	}
	fmt.Printf("{\"msg\":\"listening\",\"addr\":%q}\n", ln.Addr().String())
	srv := &http.Server{Handler: loadtest.Baseline(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	return srv.Serve(ln)
}

// runLambda compares the predict function with a minimal aws-lambda-go
// function under aws-lambda-rie: sizes of the linux/arm64 bootstraps, and
// init and warm durations of host-arch builds (rie runs host binaries).
func runLambda(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("lambda", flag.ContinueOnError)
	starts := fs.Int("starts", 9, "cold starts per function (a fresh emulator each)")
	warm := fs.Int("warm", 20, "warm invokes after each cold one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "lambda")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	event, err := os.ReadFile("internal/api/testdata/events/http-post-predict.json")
	if err != nil {
		return err
	}
	var e map[string]any
	if err := json.Unmarshal(event, &e); err != nil {
		return err
	}
	e["headers"].(map[string]any)["x-api-key"] = loadtest.Key
	event, _ = json.Marshal(e)

	type fn struct{ name, pkg string }
	fns := []fn{{"predict", "./functions/predict"}, {"hello", "./loadtest/hello"}}
	sizes := map[string]float64{}
	for _, f := range fns {
		arm, err := loadtest.BuildLambda(dir, f.name, f.pkg, "arm64")
		if err != nil {
			return err
		}
		st, _ := os.Stat(arm)
		sizes[f.name] = loadtest.MB(st.Size())
		fmt.Fprintf(stdout, "%s bootstrap linux/arm64: %.2f MB (%d bytes)\n", f.name, sizes[f.name], st.Size())
	}
	rie, err := loadtest.BuildRIE(dir)
	if err != nil {
		return err
	}
	arch := hostArch()
	var bootstraps []loadtest.Bootstrap
	for _, f := range fns {
		bs, err := loadtest.BuildLambda(dir, f.name, f.pkg, arch)
		if err != nil {
			return err
		}
		bootstraps = append(bootstraps, loadtest.Bootstrap{Name: f.name, Path: bs})
	}
	// Plaintext API_KEYS is refused under Lambda, and a key secret would add
	// a Secrets Manager call to every init: the cold starts are compared
	// with authentication off, as they were with fixed keys (no fetch).
	out, err := loadtest.MeasureLambdas(rie, bootstraps, []string{"AUTH_DISABLED=true"}, event, *starts, *warm)
	if err != nil {
		return err
	}
	for _, cw := range out {
		fmt.Fprintf(stdout, "%s under aws-lambda-rie (%s, %d cold starts, taking turns): init %.1f ms, cold first invoke %.1f ms wall, warm %.2f ms (REPORT), %.2f ms wall\n",
			cw.Function, arch, cw.Starts, cw.InitMedianMS, cw.ColdWallMS, cw.WarmMS, cw.WarmWallMS)
	}
	ratio := out[0].ColdWallMS / out[1].ColdWallMS
	initRatio := out[0].InitMedianMS / out[1].InitMedianMS
	fmt.Fprintf(stdout, "cold first invoke: predict %.2fx hello (target <= 1.5x); init %.2fx\n", ratio, initRatio)
	js, _ := json.MarshalIndent(map[string]any{"arm64_bootstrap_mb": sizes, "rie": out,
		"cold_wall_ratio": ratio, "init_ratio": initRatio}, "", "  ")
	fmt.Fprintf(stdout, "%s\n", js)
	var misses []string
	if sizes["predict"] > 10 {
		misses = append(misses, fmt.Sprintf("predict bootstrap %.2f MB > 10 MB", sizes["predict"]))
	}
	if ratio > 1.5 {
		misses = append(misses, fmt.Sprintf("cold first invoke %.2fx the minimal function's, want <= 1.5x", ratio))
	}
	for _, m := range misses {
		fmt.Fprintln(stdout, "MISS:", m)
	}
	if len(misses) > 0 {
		return fmt.Errorf("%d target(s) missed", len(misses))
	}
	fmt.Fprintln(stdout, "PASS")
	return nil
}

func hostArch() string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		return "amd64"
	}
	return strings.TrimSpace(string(out))
}
