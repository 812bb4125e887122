package main

import (
	"github.com/healthcare-prediction/api/internal/testutil"

	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is the built binary running on a free loopback port.
type server struct {
	cmd  *exec.Cmd
	addr string
	logs *testutil.Buffer
	done chan error
}

// binary is this command, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "server-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "server")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the test runner's environment without the variables that
// choose the key source or the platform: each test says its own.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "API_KEYS", "API_KEYS_SECRET_ID", "AUTH_DISABLED", "AWS_LAMBDA_FUNCTION_NAME", "KUBERNETES_SERVICE_HOST", "TRUSTED_PROXY_CIDRS":
			return true
		}
		return false
	})
}

// start runs bin with HOST=127.0.0.1 PORT=0 and waits for its "listening"
// log line, which carries the address. Without a key source in env it
// runs open on purpose (AUTH_DISABLED=true): the server refuses to start
// otherwise.
func start(t *testing.T, bin string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(bin)
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "API_KEYS") }) {
		env = append(env, "AUTH_DISABLED=true")
	}
	cmd.Env = append(cleanEnv(), append([]string{"HOST=127.0.0.1", "PORT=0"}, env...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &testutil.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.logs.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.addr = <-addr:
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not log its address; logs:\n%s", s.logs)
	}
	return s
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

const news2Body = `{"model":"news2","inputs":{"respiratory_rate":22,"spo2":95,"on_oxygen":false,` +
	`"systolic_bp":105,"pulse":105,"consciousness":"alert","temperature":38.5}}`

func TestServerRoutes(t *testing.T) {
	s := start(t, binary)
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/", "", 200},
		{"GET", "/health", "", 200},
		{"GET", "/health/live", "", 200},
		{"GET", "/health/ready", "", 200},
		{"GET", "/models", "", 200},
		{"GET", "/models/news2", "", 200},
		{"GET", "/openapi.json", "", 200},
		{"POST", "/predict", news2Body, 200},
		{"GET", "/predict", "", 405},
		{"GET", "/nope", "", 404},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.url(tt.path), strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, resp.StatusCode, tt.want, body)
		}
	}
	// RCP NEWS2 Chart 1: respiration 22 → 2, SpO2 95 (scale 1) → 1, air → 0,
	// SBP 105 → 1, pulse 105 → 1, alert → 0, 38.5 °C → 1; total 6, medium.
	resp, err := http.Post(s.url("/predict"), "application/json", strings.NewReader(news2Body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Result struct{ Value float64 } }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Result.Value != 6 {
		t.Errorf("news2 = %v (%v), want 6", got.Result.Value, err)
	}
}

func TestOversizedHeaderIs431(t *testing.T) {
	s := start(t, binary)
	req, _ := http.NewRequest("GET", s.url("/health"), nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header = %d, want 431", resp.StatusCode)
	}
}

// TestGracefulShutdown sends SIGTERM while a request is half sent: readiness
// must turn 503 at once, the request must still complete, and the process
// must exit 0.
func TestGracefulShutdown(t *testing.T) {
	s := start(t, binary, "DRAIN_DELAY=1s", "SHUTDOWN_TIMEOUT=10s")

	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := len(news2Body) / 2
	fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		len(news2Body), news2Body[:half])
	time.Sleep(200 * time.Millisecond) // the server is now reading the body

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	resp, err := http.Get(s.url("/health/ready"))
	if err != nil {
		t.Fatalf("readiness during the drain delay: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/health/ready while draining = %d, want 503", resp.StatusCode)
	}

	time.Sleep(1500 * time.Millisecond) // past DRAIN_DELAY: Shutdown has begun
	if _, err := io.WriteString(conn, news2Body[half:]); err != nil {
		t.Fatalf("finishing the slow request: %v", err)
	}
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("slow request got no response: %v", err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Errorf("slow request = %d, want 200", r.StatusCode)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("exit: %v, want 0\n%s", err, s.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
	for _, msg := range []string{`"msg":"draining"`, `"msg":"stopped"`} {
		if !strings.Contains(s.logs.String(), msg) {
			t.Errorf("logs lack %s:\n%s", msg, s.logs)
		}
	}
}

// TestNoPatientDataEscapes sends distinctive clinical values through every
// path a request can take (success, 401, 405 with values in the URL, 413,
// 415, 422, 429) and looks for them in everything the process wrote and in
// /metrics.
func TestNoPatientDataEscapes(t *testing.T) {
	s := start(t, binary, "API_KEYS=clinic-a:sentinel-sBwrKclqkQ1OqPRJD3NKoF9WOLmqhxtZp5yew0BI", "RATE_LIMIT_RPS=0.01", "RATE_LIMIT_BURST=4") // success, 413, 415 and 422 spend the four tokens
	const age, sbp = "67.123457", "143.987651"
	valid := `{"model":"ascvd-pce","inputs":{"age":` + age + `,"sex":"female","race":"white","total_cholesterol":213,` +
		`"hdl_cholesterol":50,"systolic_bp":` + sbp + `,"on_bp_treatment":true,"diabetes":false,"current_smoker":false}}`
	outOfRange := `{"model":"prevent-30y","inputs":{"age":` + age + `,"systolic_bp":` + sbp + `}}`
	huge := valid[:len(valid)-2] + `,"x":"` + strings.Repeat(age, 10000) + `"}}`
	send := func(method, path, contentType, key, body string) int {
		req, _ := http.NewRequest(method, s.url(path), strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const key = "sentinel-sBwrKclqkQ1OqPRJD3NKoF9WOLmqhxtZp5yew0BI"
	for _, c := range []struct {
		name                           string
		method, path, ctype, key, body string
		want                           int
	}{
		{"success", "POST", "/predict", "application/json", key, valid, 200},
		{"unauthorized", "POST", "/predict", "application/json", "", valid, 401},
		{"values in the URL", "GET", "/predict?age=" + age + "&systolic_bp=" + sbp, "", "", "", 405},
		{"too large", "POST", "/predict", "application/json", key, huge, 413},
		{"wrong media type", "POST", "/predict", "text/plain", key, valid, 415},
		{"out of range", "POST", "/predict", "application/json", key, outOfRange, 422},
		{"rate limited", "POST", "/predict", "application/json", key, valid, 429},
	} {
		if got := send(c.method, c.path, c.ctype, c.key, c.body); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	resp, err := http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	time.Sleep(200 * time.Millisecond) // the last log lines
	for where, text := range map[string]string{"logs": s.logs.String(), "/metrics": string(metricsText)} {
		for _, v := range []string{age, sbp, "67%2E123457", key} {
			if strings.Contains(text, v) {
				t.Errorf("%s contain %q", where, v)
			}
		}
	}
	if !strings.Contains(s.logs.String(), `"audit":true`) {
		t.Error("no audit line: the scan looked at the wrong output")
	}
}

// Fail closed on every platform: without a key source and without
// AUTH_DISABLED=true the server exits non-zero before listening, and says
// how to fix it; plaintext keys are refused where keys are managed.
func TestRefusesToStartWithoutKeys(t *testing.T) {
	const key = "clinic-a:sentinel-sBwrKclqkQ1OqPRJD3NKoF9WOLmqhxtZp5yew0BI"
	for _, tc := range []struct {
		name string
		env  []string
		want []string // parts of the error on stderr
	}{
		{"no key source (docker, ECS, EC2, a laptop)", nil, []string{"refusing to start without API keys", "API_KEYS_SECRET_ID", "API_KEYS=", "AUTH_DISABLED=true"}},
		{"plaintext keys under lambda", []string{"AWS_LAMBDA_FUNCTION_NAME=server", "METRICS_ENV=dev", "API_KEYS=" + key}, []string{"refused under Lambda or Kubernetes", "API_KEYS_SECRET_ID"}},
		{"plaintext keys under kubernetes", []string{"KUBERNETES_SERVICE_HOST=10.100.0.1", "METRICS_ENV=dev", "API_KEYS=" + key}, []string{"refused under Lambda or Kubernetes", "API_KEYS_SECRET_ID"}},
		{"malformed trusted proxies", []string{"API_KEYS=" + key, "TRUSTED_PROXY_CIDRS=10.0.0.0/22,alb"}, []string{"TRUSTED_PROXY_CIDRS must be CIDRs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary)
			cmd.Env = append(cleanEnv(), append([]string{"HOST=127.0.0.1", "PORT=0"}, tc.env...)...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("exit %v, want a non-zero exit", err)
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("the server did not exit; stdout:\n%s", stdout.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(stdout.String(), `"msg":"listening"`) || strings.Contains(stderr.String(), "sBwrKclqkQ1OqPRJD3") {
				t.Errorf("listened, or echoed the key:\n%s%s", stdout.String(), stderr.String())
			}
		})
	}
}

// `make run` is the newcomer's first command: it still serves, open on
// purpose, and says so in a warning line.
func TestMakeRunServes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the test that builds the server through make run")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed")
	}
	cmd := exec.Command("make", "--no-print-directory", "run")
	cmd.Dir = filepath.Join("..", "..") // the Makefile's directory
	cmd.Env = append(cleanEnv(), "HOST=127.0.0.1", "PORT=0")
	// make runs go run, which runs the server: one process group to stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	var a string
	select {
	case a = <-addr:
	case <-exited:
		t.Fatalf("make run exited; output:\n%s", logs)
	case <-time.After(3 * time.Minute): // go run builds first, on a busy machine
		t.Fatalf("make run did not log its address; output:\n%s", logs)
	}
	resp, err := http.Get("http://" + a + "/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health/live = %d, want 200", resp.StatusCode)
	}
	if out := logs.String(); !strings.Contains(out, "AUTHENTICATION IS OFF") || !strings.Contains(out, "AUTH_DISABLED=true") {
		t.Errorf("make run does not say out loud that authentication is off:\n%s", out)
	}
}

// The audit line of the real server: the server's request id, the
// client's apart, and X-Forwarded-For believed only from a peer inside
// TRUSTED_PROXY_CIDRS (here the test itself, on loopback).
func TestAuditSourceFromTrustedHopsOnly(t *testing.T) {
	const key = "sentinel-sBwrKclqkQ1OqPRJD3NKoF9WOLmqhxtZp5yew0BI"
	for _, tc := range []struct {
		name, trusted, want string
	}{
		{"no trusted proxy: the forged header is ignored", "", "127.0.0.1"},
		{"peer not trusted: the forged header is ignored", "TRUSTED_PROXY_CIDRS=10.0.0.0/8", "127.0.0.1"},
		{"trusted peer: the right-most untrusted address", "TRUSTED_PROXY_CIDRS=127.0.0.0/8,10.0.0.0/8", "203.0.113.50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"API_KEYS=clinic-a:" + key}
			if tc.trusted != "" {
				env = append(env, tc.trusted)
			}
			s := start(t, binary, env...)
			req, _ := http.NewRequest("GET", s.url("/models"), nil)
			req.Header.Set("X-API-Key", key)
			req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.50, 10.1.2.3")
			req.Header.Set("X-Request-Id", "ticket-4711")
			req.Header.Set("User-Agent", "Go-http-client/1.1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			serverID := resp.Header.Get("X-Request-Id")
			if resp.StatusCode != 200 || serverID == "" || serverID == "ticket-4711" {
				t.Fatalf("status %d, X-Request-Id %q; want 200 and the server's id", resp.StatusCode, serverID)
			}
			var line map[string]any
			deadline := time.Now().Add(5 * time.Second)
			for line == nil && time.Now().Before(deadline) {
				for _, l := range strings.Split(s.logs.String(), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) == nil && m["audit"] == true {
						line = m
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if line == nil {
				t.Fatalf("no audit line:\n%s", s.logs)
			}
			want := map[string]any{"request_id": serverID, "client_request_id": "ticket-4711", "source_ip": tc.want,
				"key_id": "clinic-a", "route": "/models", "status": float64(200), "outcome": "ok", "user_agent_class": "go"}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %v, want %v", k, line[k], v)
				}
			}
		})
	}
}
