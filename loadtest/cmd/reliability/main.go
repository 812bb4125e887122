// Command reliability rehearses the failures the service promises to ride
// out, each under steady load against the built server on loopback, and
// exits non-zero when a promise breaks:
//
//   - sigterm: SIGTERM during steady load and mid-request
//   - rolling: a rolling restart of 3 instances behind haproxy, replaying
//     kubelet's sequence with the timings of k8s/overlays/prod
//   - secrets: Secrets Manager (moto) refused, then hung, 60 s each; it
//     runs beside the others, which run one after another
//   - cloudwatch: CloudWatch (moto) refused, then hung, then SIGTERM
//   - slow: 200 slow-header clients, and a 64 KiB header
//   - panic: a model that panics with clinical values on its stack, in a
//     build with -tags rehearsal
//
// After all of them, every line any server instance wrote is scanned for
// the clinical sentinel values the requests carried. Run from the module
// root: go run ./loadtest/cmd/reliability [-only sigterm,rolling]
// [-outage 60s] [-cloudwatch-outage 12s]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/healthcare-prediction/api/internal/moto"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/loadtest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
}

// env is what a scenario runs with: the run's settings, its own output,
// and the log list all scenarios share.
type env struct {
	ctx context.Context
	out io.Writer
	dir string
	bin string
	// rehearsalBin is the server built with -tags rehearsal, for panics.
	rehearsalBin string
	timings      loadtest.Timings
	rate         int
	smOutage     time.Duration // each Secrets Manager outage
	cwOutage     time.Duration // each CloudWatch outage
	instances    *instances
}

// instances lists every server instance's output file, for the sentinel
// scan; scenarios running at once add to it.
type instances struct {
	mu   sync.Mutex
	logs []string
}

// scenario is one rehearsal: it prints its figures and returns the broken
// promises.
type scenario struct {
	name string
	run  func(e *env) []string
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reliability", flag.ContinueOnError)
	only := fs.String("only", "", "comma-separated scenarios to run (default all)")
	rate := fs.Int("rate", 200, "steady load, requests per second")
	smOutage := fs.Duration("outage", 60*time.Second, "length of each Secrets Manager outage (refused, then hung)")
	cwOutage := fs.Duration("cloudwatch-outage", 12*time.Second, "length of each CloudWatch outage (refused, then hung)")
	overlay := fs.String("overlay", "k8s/overlays/prod", "kustomize overlay whose timings are replayed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	timings, err := loadtest.ReadTimings(*overlay)
	if err != nil {
		return err
	}
	if err := timings.Check(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "reliability")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Both builds before any scenario: a build takes every core.
	bin, err := loadtest.BuildServer(dir)
	if err != nil {
		return err
	}
	selected := func(name string) bool { return *only == "" || slices.Contains(strings.Split(*only, ","), name) }
	var rehearsalBin string
	if selected("panic") {
		if rehearsalBin, err = loadtest.BuildRehearsalServer(dir); err != nil {
			return err
		}
	}
	shared := &instances{}
	fmt.Fprintf(stdout, "timings: %s\n", timings)
	// Two lanes run at once, each scenario on its own servers, so that the
	// Secrets Manager outages can last the 60 s each within the
	// 5-minute budget; the load of both lanes together is a few percent
	// of one core. A scenario's output is printed whole when it ends.
	lanes := [][]scenario{
		{{"sigterm", sigterm}, {"rolling", rolling}, {"cloudwatch", cloudwatchOutage}, {"slow", slowClients}, {"panic", panics}},
		{{"secrets", secretsOutage}},
	}
	var (
		mu     sync.Mutex // stdout and failed
		failed []string
		wg     sync.WaitGroup
	)
	for _, lane := range lanes {
		wg.Go(func() {
			for _, s := range lane {
				if !selected(s.name) || ctx.Err() != nil {
					continue
				}
				t0 := time.Now()
				var out bytes.Buffer
				problems := s.run(&env{ctx: ctx, out: &out, dir: dir, bin: bin, rehearsalBin: rehearsalBin, timings: timings, rate: *rate,
					smOutage: *smOutage, cwOutage: *cwOutage, instances: shared})
				for _, p := range problems {
					fmt.Fprintf(&out, "  BROKEN: %s\n", p)
				}
				verdict := "ok"
				if len(problems) > 0 {
					verdict = "FAIL"
				}
				fmt.Fprintf(&out, "  %s (%.0fs, from %.0fs to %.0fs of the run)\n", verdict, time.Since(t0).Seconds(), t0.Sub(start).Seconds(), time.Since(start).Seconds())
				mu.Lock()
				fmt.Fprintf(stdout, "\n== %s\n%s", s.name, out.Bytes())
				if len(problems) > 0 {
					failed = append(failed, s.name)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	logs := shared.logs
	fmt.Fprintf(stdout, "\n== patient data\n")
	hits := loadtest.ScanSentinels(logs)
	lines := 0
	for _, l := range logs {
		lines += countLines(l)
	}
	fmt.Fprintf(stdout, "  scanned %d log lines of %d server instances for %d sentinel values: %d hits\n", lines, len(logs), len(loadtest.Sentinels), len(hits))
	for _, h := range hits[:min(len(hits), 10)] {
		fmt.Fprintf(stdout, "  BROKEN: sentinel in output: %s\n", h)
	}
	if len(hits) > 0 {
		failed = append(failed, "patient data")
	}
	fmt.Fprintf(stdout, "\ntotal %.0fs\n", time.Since(start).Seconds())
	if len(failed) > 0 {
		return fmt.Errorf("broken promises in: %s", strings.Join(failed, ", "))
	}
	fmt.Fprintln(stdout, "PASS")
	return nil
}

func countLines(path string) int {
	b, _ := os.ReadFile(path) // #nosec G304 -- a log file this run created
	return strings.Count(string(b), "\n")
}

// start runs one server instance with the shared settings plus extra.
func (e *env) start(extra ...string) (*loadtest.Proc, error) { return e.startBinary(e.bin, extra...) }

// startBinary is start with another build of the server.
func (e *env) startBinary(bin string, extra ...string) (*loadtest.Proc, error) {
	e.instances.mu.Lock()
	n := len(e.instances.logs) + 1
	log := filepath.Join(e.dir, fmt.Sprintf("server-%d.log", n))
	e.instances.logs = append(e.instances.logs, log)
	e.instances.mu.Unlock()
	env := slices.Concat([]string{"HOST=127.0.0.1", "PORT=0", "LOG_LEVEL=info",
		"DRAIN_DELAY=" + e.timings.DrainDelay.String(), "SHUTDOWN_TIMEOUT=" + e.timings.ShutdownTimeout.String()}, e.timings.Env, extra)
	if !slices.ContainsFunc(extra, func(s string) bool { return strings.HasPrefix(s, "API_KEYS_SECRET_ID=") }) {
		env = append(env, "API_KEYS="+loadtest.KeyID+":"+loadtest.Key)
	}
	return loadtest.Start(fmt.Sprintf("server-%d", n), log, bin, nil, env)
}

func (e *env) printf(format string, a ...any) { fmt.Fprintf(e.out, "  "+format+"\n", a...) }

// sigterm: steady load, a few requests half sent, then SIGTERM. The load
// generator stops sending new requests once /health/ready answers 503 (what
// a load balancer or the Service does when the endpoint turns unready);
// every request sent until then, and the half-sent ones finished after
// the listener has closed, must succeed, and the process must exit 0
// within DRAIN_DELAY + SHUTDOWN_TIMEOUT.
func sigterm(e *env) []string {
	var problems []string
	p, err := e.start()
	if err != nil {
		return []string{err.Error()}
	}
	defer p.Kill()
	for _, b := range loadtest.BadRequests {
		req, _ := http.NewRequest(b.Method, p.URL()+b.Path, strings.NewReader(b.Body))
		req.Header.Set("X-API-Key", loadtest.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", b.Name, err))
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != b.Status {
			problems = append(problems, fmt.Sprintf("%s: status %d, want %d", b.Name, resp.StatusCode, b.Status))
		}
		for _, s := range echoes(body) {
			problems = append(problems, fmt.Sprintf("%s: the answer echoes %s", b.Name, s))
		}
	}
	e.printf("%d refusals carrying sentinel values sent (out of range, malformed, bad unit, values in the URL, ...)", len(loadtest.BadRequests))

	var unreadyAt atomic.Int64 // UnixNano when /health/ready first failed; 0 while ready
	unready := func() bool { return unreadyAt.Load() != 0 }
	watchCtx, stopWatch := context.WithCancel(e.ctx)
	defer stopWatch()
	go func() {
		for watchCtx.Err() == nil {
			if status, err := loadtest.Get(p.URL() + "/health/ready"); err != nil || status != 200 {
				unreadyAt.Store(time.Now().UnixNano())
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	steady := loadtest.NewSteady(e.rate, p.URL)
	// GET /health answers 503 while draining, by contract: it is the load
	// balancer's probe, so here only clients' predictions are counted.
	steady.Mix = loadtest.Predictions()
	steady.Pause = unready
	before := 3 * time.Second
	total := before + e.timings.DrainDelay + 3*time.Second
	var sum loadtest.Summary
	done := make(chan struct{})
	go func() { sum = steady.Run(e.ctx, total); close(done) }()

	time.Sleep(before - 300*time.Millisecond)
	half := openHalfSent(p.Addr, 4)
	// One more is abandoned half-way: the server sees a client go away.
	if c, err := net.Dial("tcp", p.Addr); err == nil {
		body := loadtest.Mix[0].Body
		fmt.Fprintf(c, "POST /predict HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", loadtest.Key, len(body), body[:len(body)/2])
		time.Sleep(100 * time.Millisecond)
		_ = c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	termAt := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return append(problems, err.Error())
	}
	// Finish the half-sent requests after the drain delay: by then the
	// listener is closed and Shutdown waits for them.
	time.Sleep(e.timings.DrainDelay + 500*time.Millisecond)
	okHalf := 0
	for _, h := range half {
		if h.finish() == nil {
			okHalf++
		}
	}
	budget := e.timings.DrainDelay + e.timings.ShutdownTimeout
	exitErr, exited := p.Wait(budget + time.Second)
	<-done
	stopWatch()
	e.printf("steady %d rps: %s", e.rate, sum)
	if unready() {
		e.printf("readiness 503 seen %.0fms after SIGTERM; %d scheduled requests not sent after that (the endpoint is gone)",
			float64(time.Duration(unreadyAt.Load()-termAt.UnixNano()).Milliseconds()), steady.Skipped())
	}
	e.printf("requests half sent at SIGTERM, finished after the listener closed: %d/%d answered 200", okHalf, len(half))
	if exited {
		e.printf("exit %v %.2fs after SIGTERM (budget DRAIN_DELAY+SHUTDOWN_TIMEOUT = %s)", exitCode(exitErr), p.Exited().Sub(termAt).Seconds(), budget)
	}
	if sum.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d requests failed", sum.Failed, sum.Requests))
	}
	if okHalf != len(half) {
		problems = append(problems, fmt.Sprintf("%d of %d in-flight requests lost", len(half)-okHalf, len(half)))
	}
	switch {
	case !exited:
		problems = append(problems, fmt.Sprintf("still running %s after SIGTERM", budget+time.Second))
	case exitErr != nil:
		problems = append(problems, fmt.Sprintf("exit status %v, want 0", exitErr))
	}
	return problems
}

func exitCode(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// halfSent is a POST /predict whose body is half sent.
type halfSent struct {
	conn net.Conn
	rest string
}

func openHalfSent(addr string, n int) []*halfSent {
	var out []*halfSent
	for i := range n {
		body := loadtest.Mix[i%3].Body
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue
		}
		fmt.Fprintf(c, "POST /predict HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			loadtest.Key, len(body), body[:len(body)/2])
		out = append(out, &halfSent{c, body[len(body)/2:]})
	}
	return out
}

func (h *halfSent) finish() error {
	defer h.conn.Close()
	_ = h.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(h.conn, h.rest); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(h.conn), nil)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// rolling: 3 instances behind haproxy (health checks on /health/ready at
// the readiness probe's period and thresholds, retries 0) under steady
// load; each instance in turn goes through kubelet's sequence: endpoint
// removed, preStop sleep, SIGTERM, SIGKILL at the grace period, a new
// instance started, and in again once its readiness passes.
func rolling(e *env) []string {
	t := e.timings
	ports := make([]int, 3)
	procs := make([]*loadtest.Proc, 3)
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.Kill()
			}
		}
	}()
	for i := range ports {
		port, err := loadtest.FreePort()
		if err != nil {
			return []string{err.Error()}
		}
		ports[i] = port
		if procs[i], err = e.start("PORT=" + strconv.Itoa(port)); err != nil {
			return []string{err.Error()}
		}
	}
	h, err := loadtest.StartHAProxy(e.dir, ports, t)
	if err != nil {
		return []string{err.Error()}
	}
	defer h.Stop()
	if err := waitUp(h, []int{0, 1, 2}, 3*t.ReadyPeriod+5*time.Second); err != nil {
		return []string{err.Error()}
	}
	stopLoad := e.background(e.rate, func() string { return h.URL })
	var problems []string
	kills := 0
	time.Sleep(2 * time.Second)
	for i := range procs {
		t0 := time.Now()
		// The pod is deleted: its endpoint leaves the Service while the
		// preStop hook runs.
		if err := h.SetState(i, "drain"); err != nil {
			problems = append(problems, err.Error())
		}
		time.Sleep(t.PreStop)
		termAt := time.Now()
		_ = procs[i].Signal(syscall.SIGTERM)
		exitErr, exited := procs[i].Wait(t.GracePeriod - t.PreStop)
		if !exited {
			kills++
			procs[i].Kill()
			problems = append(problems, fmt.Sprintf("instance %d needed SIGKILL at the grace period", i))
		} else if exitErr != nil {
			problems = append(problems, fmt.Sprintf("instance %d exit: %v", i, exitErr))
		}
		exitAfter := procs[i].Exited().Sub(termAt)
		// The old endpoint is gone for good; the replacement is a new one
		// that must pass its readiness checks from scratch.
		if err := h.SetState(i, "maint"); err != nil {
			problems = append(problems, err.Error())
		}
		// The replacement pod: started, then in the Service once ready.
		p, err := e.start("PORT=" + strconv.Itoa(ports[i]))
		if err != nil {
			problems = append(problems, err.Error())
			break
		}
		procs[i] = p
		started := time.Now()
		if err := h.SetState(i, "ready"); err != nil {
			problems = append(problems, err.Error())
		}
		afterReady := h.Status(i)
		if err := waitUp(h, []int{i}, 3*t.ReadyPeriod*time.Duration(t.ReadySuccesses)+5*time.Second); err != nil {
			problems = append(problems, err.Error())
		}
		e.printf("instance %d: out of rotation, preStop %s, exit %v %.2fs after SIGTERM; replacement %s, then in rotation %.1fs after start (step %.1fs)",
			i, t.PreStop, exitCode(exitErr), exitAfter.Seconds(), afterReady, time.Since(started).Seconds(), time.Since(t0).Seconds())
	}
	time.Sleep(2 * time.Second)
	sum := stopLoad()
	e.printf("steady %d rps through haproxy: %s", e.rate, sum)
	e.printf("SIGKILLs needed: %d", kills)
	if sum.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d requests failed", sum.Failed, sum.Requests))
	}
	return problems
}

func waitUp(h *loadtest.HAProxy, servers []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, s := range servers {
		for h.Status(s) != "UP" {
			if time.Now().After(deadline) {
				return fmt.Errorf("haproxy server s%d is %q after %s", s, h.Status(s), timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// upPhase is the steady load with the dependency up, the reference.
const upPhase = 8 * time.Second

// p99Margin is how much worse p99 may get during an outage: 1.5x the p99
// with the dependency up, plus 5 ms for the noise of a shared 2-core
// machine at sub-millisecond latencies.
func p99Margin(base float64) float64 { return 1.5*base + 5 }

// phase runs steady load for d and samples the server's memory and
// goroutines every second.
type phaseResult struct {
	sum        loadtest.Summary
	maxRSS     int64
	maxRoutine float64
	keys       string // /health/ready api_keys at the end
}

func (e *env) phase(p *loadtest.Proc, d time.Duration) phaseResult {
	var r phaseResult
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if rss, _, err := p.Memory(); err == nil {
				r.maxRSS = max(r.maxRSS, rss)
			}
			if g, err := loadtest.Gauge(p.URL()+"/metrics", "go_goroutines"); err == nil {
				r.maxRoutine = max(r.maxRoutine, g)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
	r.sum = loadtest.NewSteady(e.rate, p.URL).Run(e.ctx, d)
	cancel()
	wg.Wait()
	r.keys = apiKeysCheck(p.URL())
	return r
}

// echoes lists the sentinel values an answer's body carries.
func echoes(body []byte) []string {
	var found []string
	for _, s := range loadtest.Sentinels {
		if bytes.Contains(body, []byte(s)) {
			found = append(found, s)
		}
	}
	return found
}

// background runs steady load at rate against url until the returned stop
// is called, which returns its summary.
func (e *env) background(rate int, url func() string) (stop func() loadtest.Summary) {
	ctx, cancel := context.WithCancel(e.ctx)
	var sum loadtest.Summary
	done := make(chan struct{})
	go func() { sum = loadtest.NewSteady(rate, url).Run(ctx, time.Hour); close(done) }()
	return func() loadtest.Summary {
		cancel()
		<-done
		return sum
	}
}

func apiKeysCheck(base string) string {
	resp, err := http.Get(base + "/health/ready") // public /health does not tell
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var h struct {
		APIKeys string `json:"api_keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&h)
	return fmt.Sprintf("%d api_keys=%s", resp.StatusCode, h.APIKeys)
}

// secretsOutage: keys come from Secrets Manager (moto), refreshed every
// second; moto is killed (connection refused), then started again, then
// paused (hung). Requests keep being authenticated from the cached keys.
func secretsOutage(e *env) []string {
	m, err := moto.Start(filepath.Join(e.dir, "moto-secrets.log"))
	if err != nil {
		return []string{err.Error()}
	}
	defer m.Kill()
	const secretID = "loadtest/api-keys"
	secret := fmt.Sprintf(`{"keys":[{"id":%q,"sha256":%q}]}`, loadtest.KeyID, secrets.Digest(loadtest.Key))
	if _, err := m.PutSecret(e.ctx, secretID, secret); err != nil {
		return []string{err.Error()}
	}
	p, err := e.start(append(m.Env(), "API_KEYS_SECRET_ID="+secretID, "API_KEYS_TTL=1s")...)
	if err != nil {
		return []string{err.Error()}
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := loadtest.WaitHTTP(ctx, p.URL()+"/health/ready", 200); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	up := e.phase(p, upPhase)
	e.printf("Secrets Manager up:      %s; /health/ready %s", up.sum, up.keys)
	m.Kill()
	refused := e.phase(p, e.smOutage)
	e.printf("refused for %s:        %s; /health/ready %s", e.smOutage, refused.sum, refused.keys)
	if err := m.Start(); err != nil {
		return append(problems, err.Error())
	}
	if _, err := m.PutSecret(e.ctx, secretID, secret); err != nil {
		return append(problems, err.Error())
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.HasSuffix(apiKeysCheck(p.URL()), "=ok") && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	if err := m.Pause(); err != nil {
		return append(problems, err.Error())
	}
	hung := e.phase(p, e.smOutage)
	_ = m.Resume() // paused just above: cannot fail
	e.printf("hung (SIGSTOP) for %s: %s; /health/ready %s", e.smOutage, hung.sum, hung.keys)
	for _, ph := range []struct {
		name string
		r    phaseResult
	}{{"up", up}, {"refused", refused}, {"hung", hung}} {
		if ph.r.sum.Failed > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d of %d requests failed", ph.name, ph.r.sum.Failed, ph.r.sum.Requests))
		}
		if ph.name != "up" && ph.r.sum.P99 > p99Margin(up.sum.P99) {
			problems = append(problems, fmt.Sprintf("%s: p99 %.2fms > 1.5 x %.2fms + 5ms", ph.name, ph.r.sum.P99, up.sum.P99))
		}
	}
	e.printf("p99 margin: outage p99 <= 1.5 x up p99 + 5 ms = %.2f ms", p99Margin(up.sum.P99))
	return problems
}

// cloudwatchOutage: metrics also go to CloudWatch (moto) every second;
// moto is killed, then started and paused, and finally the server gets
// SIGTERM while CloudWatch still hangs: its last flush is bounded, so it
// exits 0 before the grace period ends.
func cloudwatchOutage(e *env) []string {
	m, err := moto.Start(filepath.Join(e.dir, "moto-cloudwatch.log"))
	if err != nil {
		return []string{err.Error()}
	}
	defer m.Kill()
	p, err := e.start(append(m.Env(), "METRICS_CLOUDWATCH=true", "METRICS_FLUSH_INTERVAL=1s")...)
	if err != nil {
		return []string{err.Error()}
	}
	defer p.Kill()
	var problems []string
	up := e.phase(p, upPhase)
	rss0, _, _ := p.Memory()
	g0, _ := loadtest.Gauge(p.URL()+"/metrics", "go_goroutines")
	e.printf("CloudWatch up:           %s; RSS %.1f MB, goroutines %.0f", up.sum, loadtest.MB(rss0), g0)
	m.Kill()
	refused := e.phase(p, e.cwOutage)
	e.printf("refused for %s:        %s; max RSS %.1f MB, max goroutines %.0f", e.cwOutage, refused.sum, loadtest.MB(refused.maxRSS), refused.maxRoutine)
	if err := m.Start(); err != nil {
		return append(problems, err.Error())
	}
	if err := m.Pause(); err != nil {
		return append(problems, err.Error())
	}
	hung := e.phase(p, e.cwOutage)
	e.printf("hung (SIGSTOP) for %s: %s; max RSS %.1f MB, max goroutines %.0f", e.cwOutage, hung.sum, loadtest.MB(hung.maxRSS), hung.maxRoutine)
	termAt := time.Now()
	_ = p.Signal(syscall.SIGTERM)
	budget := e.timings.GracePeriod - e.timings.PreStop
	exitErr, exited := p.Wait(budget)
	_ = m.Resume() // paused just above: cannot fail
	if exited {
		e.printf("SIGTERM with CloudWatch hung: exit %s after %.1fs (budget terminationGracePeriodSeconds - preStop = %s)", exitCode(exitErr), p.Exited().Sub(termAt).Seconds(), budget)
	}
	flushErrors := countMatches(p.Log, "cloudwatch")
	e.printf("log lines about CloudWatch: %d", flushErrors)
	const rssGrowth = 10 << 20
	for _, ph := range []struct {
		name string
		r    phaseResult
	}{{"up", up}, {"refused", refused}, {"hung", hung}} {
		if ph.r.sum.Failed > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d of %d requests failed", ph.name, ph.r.sum.Failed, ph.r.sum.Requests))
		}
		if ph.name != "up" && ph.r.maxRSS > rss0+rssGrowth {
			problems = append(problems, fmt.Sprintf("%s: RSS grew from %.1f to %.1f MB (> 10 MB)", ph.name, loadtest.MB(rss0), loadtest.MB(ph.r.maxRSS)))
		}
		if ph.name != "up" && ph.r.maxRoutine > g0+50 {
			problems = append(problems, fmt.Sprintf("%s: goroutines grew from %.0f to %.0f", ph.name, g0, ph.r.maxRoutine))
		}
	}
	switch {
	case !exited:
		problems = append(problems, fmt.Sprintf("still running %s after SIGTERM: kubelet would SIGKILL it", budget))
	case exitErr != nil:
		problems = append(problems, fmt.Sprintf("exit status %v, want 0", exitErr))
	}
	return problems
}

func countMatches(path, s string) int {
	b, _ := os.ReadFile(path) // #nosec G304 -- a log file this run created
	n := 0
	for _, l := range strings.Split(strings.ToLower(string(b)), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// slowClients: 200 connections send a request's headers at one byte per
// second; the server must cut each at ReadHeaderTimeout (5s) and its
// goroutines return to where they were, while other clients are served.
// Then a 64 KiB header must get 431.
func slowClients(e *env) []string {
	const conns, readHeaderTimeout = 200, 5 * time.Second
	p, err := e.start()
	if err != nil {
		return []string{err.Error()}
	}
	defer p.Kill()
	var problems []string
	stopLoad := e.background(50, p.URL)
	time.Sleep(time.Second)
	g0, err := loadtest.Gauge(p.URL()+"/metrics", "go_goroutines")
	if err != nil {
		stopLoad()
		return []string{err.Error()}
	}
	cut := make([]time.Duration, conns)
	var wg sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			problems = append(problems, err.Error())
			break
		}
		wg.Go(func() {
			defer c.Close()
			t0 := time.Now()
			go func() {
				for _, b := range []byte("GET /health HTTP/1.1\r\nHost: slow.example\r\nUser-Agent: one-byte-per-second\r\n\r\n") {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			}()
			_ = c.SetReadDeadline(time.Now().Add(3 * readHeaderTimeout))
			_, _ = io.Copy(io.Discard, c) // returns when the server closes
			cut[i] = time.Since(t0)
		})
	}
	time.Sleep(2500 * time.Millisecond)
	g1, _ := loadtest.Gauge(p.URL()+"/metrics", "go_goroutines")
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	g2, _ := loadtest.Gauge(p.URL()+"/metrics", "go_goroutines")
	sum := stopLoad()
	slices.Sort(cut)
	e.printf("%d slow-header connections cut after %.2fs (first) to %.2fs (last); ReadHeaderTimeout %s", conns, cut[0].Seconds(), cut[len(cut)-1].Seconds(), readHeaderTimeout)
	e.printf("goroutines: %.0f before, %.0f with the slow clients, %.0f after", g0, g1, g2)
	e.printf("steady 50 rps meanwhile: %s", sum)
	if cut[len(cut)-1] > readHeaderTimeout+1500*time.Millisecond {
		problems = append(problems, fmt.Sprintf("a slow client held its connection %.1fs", cut[len(cut)-1].Seconds()))
	}
	if g2 > g0+10 {
		problems = append(problems, fmt.Sprintf("goroutines %.0f after, %.0f before", g2, g0))
	}
	if sum.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d requests failed beside the slow clients", sum.Failed, sum.Requests))
	}
	req, _ := http.NewRequest("GET", p.URL()+"/health", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("64 KiB header: %v", err))
	case resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge:
		_ = resp.Body.Close()
		problems = append(problems, fmt.Sprintf("64 KiB header: status %d, want 431", resp.StatusCode))
	default:
		_ = resp.Body.Close()
		e.printf("64 KiB header: 431")
	}
	return problems
}

// panics: the server built with -tags rehearsal has one more model, whose
// computation panics with the sentinel values on its stack and in the
// panic's value (internal/scoring/rehearsal.go). Under steady load,
// each such request must get a 500 problem carrying its request id, one
// "panic" log line each, and the server must go on serving; the sentinel
// scan then reads its output with every other instance's.
func panics(e *env) []string {
	p, err := e.startBinary(e.rehearsalBin)
	if err != nil {
		return []string{err.Error()}
	}
	defer p.Kill()
	var problems []string
	stopLoad := e.background(e.rate, p.URL)
	const n = 100
	body := `{"model":"rehearsal-panic","inputs":{"age":67.123457,"systolic_bp":143.987651}}`
	client := &http.Client{Timeout: 5 * time.Second}
	answered := 0
	for i := range n {
		time.Sleep(20 * time.Millisecond)
		req, _ := http.NewRequestWithContext(e.ctx, http.MethodPost, p.URL()+"/predict", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", loadtest.Key)
		req.Header.Set("X-Request-Id", fmt.Sprintf("rehearsal-panic-%d", i))
		resp, err := client.Do(req)
		if err != nil {
			problems = append(problems, fmt.Sprintf("panicking request %d: %v", i, err))
			continue
		}
		var pb struct {
			Type      string `json:"type"`
			RequestID string `json:"request_id"`
		}
		answer, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		_ = json.Unmarshal(answer, &pb)
		for _, s := range echoes(answer) {
			problems = append(problems, fmt.Sprintf("panicking request %d: the answer echoes %s", i, s))
		}
		// The request id is the server's own (the client's X-Request-Id is
		// logged apart as client_request_id): the body names the id the
		// response header and the log lines carry.
		if resp.StatusCode == http.StatusInternalServerError && strings.HasSuffix(pb.Type, ":internal") &&
			pb.RequestID != "" && pb.RequestID == resp.Header.Get("X-Request-Id") {
			answered++
		}
	}
	sum := stopLoad()
	ready := apiKeysCheck(p.URL())
	panicLines := countMatches(p.Log, `"msg":"panic"`)
	e.printf("%d requests to a model that panics: %d answered 500 with their request id; %d \"panic\" log lines", n, answered, panicLines)
	e.printf("steady %d rps meanwhile: %s; /health afterwards %s", e.rate, sum, ready)
	if answered != n {
		problems = append(problems, fmt.Sprintf("%d of %d panicking requests got no 500 problem with their request id", n-answered, n))
	}
	if panicLines != n {
		problems = append(problems, fmt.Sprintf("%d panic log lines, want %d", panicLines, n))
	}
	if sum.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d other requests failed", sum.Failed, sum.Requests))
	}
	if !strings.HasPrefix(ready, "200 ") {
		problems = append(problems, "after the panics /health answers "+ready)
	}
	return problems
}
