//go:build unix

// Package functions_test runs each Lambda function's real bootstrap under
// the AWS Lambda Runtime Interface Emulator and sends it real API Gateway
// events, as API Gateway would.
package functions_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/testutil"
)

// eventsDir holds the API Gateway events shared with internal/api's tests.
var eventsDir = filepath.Join("..", "internal", "api", "testdata", "events")

// inputValues are the distinctive ascvd-pce inputs in the events' bodies and
// query strings: no log line may carry one.
var inputValues = []string{"61.4827", "217.3719", "43.9163", "131.7742"}

// binDir receives the bootstraps and the emulator; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "functions-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles, once per test binary, the four bootstraps for the host
// (as the SAM Makefile does for Lambda, but with the host's GOOS/GOARCH) and
// the emulator pinned in go.mod. It returns the paths by name: "rie",
// "info", "health", "predict", "cdshooks".
var build = sync.OnceValues(func() (map[string]string, error) {
	type job struct{ name, pkg, out string }
	jobs := []job{{"rie", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie", filepath.Join(binDir, "rie")}}
	for _, fn := range []string{"info", "health", "predict", "cdshooks"} {
		jobs = append(jobs, job{fn, "./functions/" + fn, filepath.Join(binDir, fn, "bootstrap")})
	}
	paths := map[string]string{}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		paths[j.name] = j.out
		wg.Go(func() {
			args := []string{"build", "-o", j.out}
			env := os.Environ()
			if j.name != "rie" {
				args = append(args, "-tags", "lambda.norpc", "-trimpath")
				env = append(env, "CGO_ENABLED=0")
			}
			cmd := exec.Command("go", append(args, j.pkg)...)
			cmd.Dir = ".." // the module root
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
			}
		})
	}
	wg.Wait()
	return paths, errors.Join(errs...)
})

// emulator is one aws-lambda-rie process running one function.
type emulator struct {
	invokeURL string
	output    *testutil.Buffer // the emulator's and the function's stdout and stderr
}

// freeLoopbackAddrs returns n loopback addresses with different ports
// nobody listens on.
func freeLoopbackAddrs(t *testing.T, n int) []string {
	t.Helper()
	ports, err := testutil.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, p := range ports {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	return addrs
}

// startEmulator runs bootstrap under aws-lambda-rie on two loopback ports
// and waits until it accepts connections. The emulator, and the bootstrap it
// starts, are killed when the test ends.
func startEmulator(t *testing.T, rie, bootstrap, name string, keysEnv ...string) *emulator {
	t.Helper()
	// As in template.yaml: the functions with protected routes read their
	// keys from Secrets Manager (here moto, holding e2eKey's digest) unless
	// keysEnv says otherwise; the health function gets none and must start
	// without them. Plaintext API_KEYS is refused under Lambda.
	switch {
	case len(keysEnv) > 0:
	case name != "health":
		keysEnv = keySecretEnv(t)
	}
	return runEmulator(t, rie, bootstrap, name, keysEnv)
}

// keySecretEnv starts a moto_server for the test holding a key secret with
// e2eKey's digest (id e2e-client) and returns a function's environment
// reading it, as deployed.
func keySecretEnv(t *testing.T) []string {
	t.Helper()
	srv := mototest.Start(t)
	text, err := secrets.MarshalSecret([]secrets.Entry{{ID: "e2e-client", SHA256: secrets.Digest(e2eKey)}})
	if err != nil {
		t.Fatal(err)
	}
	srv.PutSecret("e2e/api-keys", string(text))
	return []string{"API_KEYS_SECRET_ID=e2e/api-keys", "AWS_ENDPOINT_URL=" + srv.URL,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"}
}

// runEmulator runs bootstrap under aws-lambda-rie with a small, fixed
// environment plus env, and no AWS credentials.
func runEmulator(t *testing.T, rie, bootstrap, name string, env []string) *emulator {
	t.Helper()
	addrs := freeLoopbackAddrs(t, 2)
	invokeAddr, runtimeAddr := addrs[0], addrs[1]
	// Both addresses are always given: without them the emulator listens on
	// 0.0.0.0:8080 (shared/TOOLS.md).
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	// A small, fixed environment: the function's configuration comes from
	// the environment, and the test runner's must not leak into it.
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"TZ=UTC",
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
		"AWS_REGION=us-east-1",
		// Required under Lambda: SAM sets it from Stage.
		"METRICS_ENV=" + e2eEnvironment,
	}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// The emulator starts the bootstrap in a process group of its own,
		// so the bootstrap is killed by its pid, then the emulator's group.
		for _, pid := range testutil.ChildPIDs(cmd.Process.Pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", invokeAddr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("emulator exited before listening on %s:\n%s", invokeAddr, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator not listening on %s after 10s:\n%s", invokeAddr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &emulator{
		invokeURL: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations",
		output:    out,
	}
}

// proxyResponse is the union of the payload 1.0 and 2.0 responses.
type proxyResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

func (p proxyResponse) header(name string) string {
	for k, v := range p.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range p.MultiValueHeaders {
		if strings.EqualFold(k, name) {
			return strings.Join(v, ", ")
		}
	}
	return ""
}

// invoke sends an event file to the emulator, with requestID as the Lambda
// request id unless it is empty, and decodes the function's response.
// e2eKey is the API key the functions are started with; invoke sends it.
const e2eKey = "e2e-FsMnnJI1bU3NwICRxcYkO6WvMSptJgdf3DvWwTBY"

// invoke sends the event, with the API key added to its headers (both maps
// of a REST event: api-proxy reads multiValueHeaders when present).
func (e *emulator) invoke(t *testing.T, eventFile, requestID string) proxyResponse {
	t.Helper()
	return e.invokeWithKey(t, eventFile, requestID, e2eKey)
}

func (e *emulator) invokeWithKey(t *testing.T, eventFile, requestID, key string) proxyResponse {
	t.Helper()
	return e.invokeFile(t, filepath.Join(eventsDir, eventFile), requestID, key)
}

// invokeFile sends the event in path, with key added unless it is empty.
func (e *emulator) invokeFile(t *testing.T, path, requestID, key string) proxyResponse {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if key != "" {
		if h, ok := ev["headers"].(map[string]any); ok {
			h["X-API-Key"] = key
		} else {
			ev["headers"] = map[string]any{"X-API-Key": key}
		}
		if mv, ok := ev["multiValueHeaders"].(map[string]any); ok {
			mv["X-API-Key"] = []any{key}
		}
	}
	event, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", e.invokeURL, bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	if requestID != "" {
		req.Header.Set("X-Amzn-RequestId", requestID)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, e.output)
	}
	defer res.Body.Close()
	raw, err = io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("emulator answered %s: %s\n%s", res.Status, raw, e.output)
	}
	var resp proxyResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("function response is not a proxy response: %v\n%s", err, raw)
	}
	return resp
}

// waitForLogs returns the output once it holds a line for every request id,
// or after 5s.
func (e *emulator) waitForLogs(requestIDs map[string]string) string {
	// Both lines of each request: the log line and the EMF document, which
	// the function writes one after the other and can reach the pipe apart.
	return e.waitFor(func(out string) bool {
		for id := range requestIDs {
			if !strings.Contains(out, `"request_id":"`+id+`"`) || !strings.Contains(out, `"RequestId":"`+id+`"`) {
				return false
			}
		}
		return true
	})
}

// waitFor returns the output once done says it is complete, or after 5s:
// the function's and the emulator's output reach the buffer through a
// pipe, and can come after the response.
func (e *emulator) waitFor(done func(out string) bool) string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := e.output.String()
		if done(out) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// field follows a dotted path ("model.id") into a decoded JSON object.
func field(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// wantPCE is what the model computes for the events' POST body.
func wantPCE(t *testing.T) float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(eventsDir, "rest-post-predict.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Body string }
	var req struct {
		Model  string
		Inputs map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(e.Body), &req); err != nil {
		t.Fatal(err)
	}
	m, ok := scoring.NewCatalog().Model(req.Model)
	if !ok {
		t.Fatalf("no model %q", req.Model)
	}
	p, err := m.Predict(req.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	return p.Result.Value
}

// call is one invocation and what must come back.
type call struct {
	event      string
	wantStatus int
	wantAllow  string
	want       map[string]any // dotted path in the JSON body -> value
	wantRoute  string         // route in the access log
}

// The predict function reads its keys from Secrets Manager as deployed:
// API_KEYS_SECRET_ID and the role's credentials in its environment, no
// AWS SDK in the bootstrap. moto_server checks every request's SigV4
// signature and the IAM policy, as Secrets Manager does.
func TestPredictKeysFromSecretsManager(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the end-to-end test that builds the functions and runs them under aws-lambda-rie")
	}
	bins, err := build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := mototest.Start(t)
	keyID, secretKey := srv.IAMUser("predict-function")
	text, err := secrets.MarshalSecret([]secrets.Entry{{ID: "e2e-client", SHA256: secrets.Digest(e2eKey)}})
	if err != nil {
		t.Fatal(err)
	}
	srv.PutSecret("prod/api-keys", string(text))
	srv.EnforceAuth()

	e := startEmulator(t, bins["rie"], bins["predict"], "predict", "API_KEYS_SECRET_ID=prod/api-keys",
		"AWS_ENDPOINT_URL="+srv.URL, "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secretKey)
	if resp := e.invoke(t, "http-post-predict.json", "keys-from-secret-1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("with the key in the secret: %d %s\n%s", resp.StatusCode, resp.Body, e.output)
	}
	if resp := e.invokeWithKey(t, "http-post-predict.json", "keys-from-secret-2", e2eKey+"x"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("with a key not in the secret: %d, want 401", resp.StatusCode)
	}
	out := e.output.String()
	if !strings.Contains(out, `"msg":"api keys loaded"`) || strings.Contains(out, secretKey) {
		t.Errorf("want one 'api keys loaded' line and no credential in the output:\n%s", out)
	}

	// With credentials Secrets Manager does not know, the function still
	// starts, and protected routes answer 503 until keys load.
	e = startEmulator(t, bins["rie"], bins["predict"], "predict", "API_KEYS_SECRET_ID=prod/api-keys",
		"AWS_ENDPOINT_URL="+srv.URL, "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY=wrong"+secretKey[5:])
	if resp := e.invoke(t, "http-post-predict.json", "keys-from-secret-3"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("with a refused signature: %d, want 503\n%s", resp.StatusCode, e.output)
	}
}

func TestFunctionsUnderEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the end-to-end test that builds the functions and runs them under aws-lambda-rie")
	}
	start := time.Now()
	bins, err := build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("built the bootstraps and the emulator in %s", time.Since(start).Round(time.Millisecond))

	const problem = "urn:healthcare-api:problem:"
	healthy := map[string]any{"status": "ok", "service": "healthcare-prediction-api"}
	model := map[string]any{"id": "ascvd-pce", "version": "2013-table-a"}
	prediction := map[string]any{"model.id": "ascvd-pce", "result.unit": "%", "result.value": wantPCE(t)}
	notAllowed := map[string]any{"type": problem + "method-not-allowed", "status": float64(405)}
	notFound := map[string]any{"type": problem + "not-found", "status": float64(404)}

	functions := []struct {
		name  string
		calls []call
	}{
		{"info", []call{
			{"rest-get-model.json", 200, "", model, "/models/{id}"},
			{"http-get-model.json", 200, "", model, "/models/{id}"},
			{"sam-local-get-model-proxy.json", 200, "", model, "/models/{id}"},
			{"rest-get-health.json", 404, "", notFound, "unmatched"},
			{"http-post-predict.json", 404, "", notFound, "unmatched"},
		}},
		{"health", []call{
			{"rest-get-health.json", 200, "", healthy, "/health"},
			{"http-get-health.json", 200, "", healthy, "/health"},
			{"rest-forged-context-multivalue.json", 200, "", healthy, "/health"},
			{"http-forged-context.json", 200, "", healthy, "/health"},
			{"rest-post-predict.json", 404, "", notFound, "unmatched"},
		}},
		{"predict", []call{
			{"rest-post-predict.json", 200, "", prediction, "/predict"},
			{"rest-post-predict-base64.json", 200, "", prediction, "/predict"},
			{"rest-post-predict-custom-domain.json", 200, "", prediction, "/predict"},
			{"sam-local-post-predict.json", 200, "", prediction, "/predict"},
			{"http-post-predict.json", 200, "", prediction, "/predict"},
			{"http-post-predict-base64.json", 200, "", prediction, "/predict"},
			{"http-post-predict-stage.json", 200, "", prediction, "/predict"},
			{"rest-get-predict.json", 405, "POST", notAllowed, "/predict"},
			{"http-get-predict.json", 405, "POST", notAllowed, "/predict"},
			{"rest-get-model.json", 404, "", notFound, "unmatched"},
		}},
	}
	for _, fn := range functions {
		t.Run(fn.name, func(t *testing.T) {
			t.Parallel()
			fnStart := time.Now()
			emu := startEmulator(t, bins["rie"], bins[fn.name], fn.name)
			wantRoutes := map[string]string{} // request id -> route
			for i, c := range fn.calls {
				id := fmt.Sprintf("e2e-%s-%02d", fn.name, i)
				wantRoutes[id] = c.wantRoute
				t.Run(c.event, func(t *testing.T) {
					resp := emu.invoke(t, c.event, id)
					checkResponse(t, resp, c, id)
				})
			}

			// Without a request id from the caller, the emulator makes one up;
			// it is the function's X-Request-Id.
			resp := emu.invoke(t, fn.calls[0].event, "")
			id := resp.header("X-Request-Id")
			start := "START RequestId: " + id + " "
			if out := emu.waitFor(func(out string) bool { return strings.Contains(out, start) }); !strings.Contains(out, start) {
				t.Errorf("X-Request-Id %q is not the emulator's request id:\n%s", id, out)
			}
			wantRoutes[id] = fn.calls[0].wantRoute

			// Protected routes refuse a call without the key.
			if fn.name != "health" {
				id := "e2e-" + fn.name + "-nokey"
				resp := emu.invokeWithKey(t, fn.calls[0].event, id, "")
				if resp.StatusCode != 401 || resp.header("WWW-Authenticate") == "" {
					t.Errorf("%s without a key = %d (WWW-Authenticate %q), want 401", fn.calls[0].event, resp.StatusCode, resp.header("WWW-Authenticate"))
				}
				wantRoutes[id] = fn.calls[0].wantRoute
			}

			output := emu.waitForLogs(wantRoutes)
			checkLogs(t, output, wantRoutes)
			checkEMF(t, output, fn.name, wantRoutes)
			t.Logf("%s: %d invocations in %s", fn.name, len(fn.calls)+1, time.Since(fnStart).Round(time.Millisecond))
		})
	}
}

// checkResponse compares a function's proxy response with what c wants.
func checkResponse(t *testing.T, resp proxyResponse, c call, requestID string) {
	t.Helper()
	if resp.StatusCode != c.wantStatus {
		t.Fatalf("statusCode = %d, want %d; body %s", resp.StatusCode, c.wantStatus, resp.Body)
	}
	wantType := "application/json"
	if c.wantStatus >= 400 {
		wantType = "application/problem+json"
	}
	for name, want := range map[string]string{
		"Content-Type":           wantType,
		"X-Request-Id":           requestID,
		"Allow":                  c.wantAllow,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.header(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if resp.IsBase64Encoded {
		t.Fatalf("body is base64-encoded, want JSON text: %q", resp.Body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, resp.Body)
	}
	for path, want := range c.want {
		if got := field(body, path); got != want {
			t.Errorf("body %s = %v, want %v", path, got, want)
		}
	}
	if c.wantStatus >= 400 && body["request_id"] != requestID {
		t.Errorf("problem request_id = %v, want %q", body["request_id"], requestID)
	}
}

// checkLogs wants exactly one JSON access-log line per invocation, with its
// request id and route, and no input value anywhere in the output.
func checkLogs(t *testing.T, output string, wantRoutes map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(output, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the emulator's own lines
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("log line is not JSON: %v\n%s", err, line)
			continue
		}
		if entry["msg"] != "request" {
			continue
		}
		id, _ := entry["request_id"].(string)
		want, ok := wantRoutes[id]
		switch {
		case !ok:
			t.Errorf("access log for an unknown request id %q: %s", id, line)
		case seen[id]:
			t.Errorf("second access-log line for %q: %s", id, line)
		case entry["route"] != want:
			t.Errorf("access log route = %v, want %q: %s", entry["route"], want, line)
		}
		seen[id] = true
		for _, k := range []string{"method", "status", "duration_us"} {
			if _, ok := entry[k]; !ok {
				t.Errorf("access log has no %s: %s", k, line)
			}
		}
	}
	for id := range wantRoutes {
		if !seen[id] {
			t.Errorf("no access-log line for request %q", id)
		}
	}
	for _, v := range inputValues {
		if strings.Contains(output, v) {
			t.Errorf("output contains the input value %q:\n%s", v, output)
		}
	}
	if re := regexp.MustCompile(`(?i)golambdaproxy|forged|666666666666`); re.MatchString(output) {
		t.Errorf("output mentions the forged gateway context:\n%s", output)
	}
}

// e2eEnvironment is the METRICS_ENV the functions run with here.
const e2eEnvironment = "e2e"

// checkEMF wants one CloudWatch EMF document per invocation, with the
// vocabulary's dimensions, the environment and the function version (the
// emulator runs $LATEST), Requests and ServerErrors also per function
// version (what canary gates read), and exactly one ColdStart in the process.
func checkEMF(t *testing.T, output, function string, wantRoutes map[string]string) {
	t.Helper()
	docs, coldStarts := 0, 0
	for _, line := range strings.Split(output, "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Errorf("EMF line is not JSON: %v\n%s", err, line)
			continue
		}
		docs++
		if doc["Service"] != "healthcare-prediction-api" || doc["FunctionName"] != function ||
			doc["Environment"] != e2eEnvironment || doc["FunctionVersion"] != "$LATEST" {
			t.Errorf("EMF dimensions: Service %v, FunctionName %v, Environment %v (want %s), FunctionVersion %v (want $LATEST): %s",
				doc["Service"], doc["FunctionName"], doc["Environment"], e2eEnvironment, doc["FunctionVersion"], line)
		}
		if !emfPublishes(doc, "ServerErrors", "Service", "Environment", "FunctionName", "FunctionVersion") ||
			!emfPublishes(doc, "Requests", "Service", "Environment", "FunctionName", "FunctionVersion") {
			t.Errorf("EMF does not publish Requests and ServerErrors per function version: %s", line)
		}
		id, _ := doc["RequestId"].(string)
		route, ok := wantRoutes[id]
		if !ok {
			t.Errorf("EMF document for an unknown request id %q", id)
		}
		if op, _ := doc["Operation"].(string); !strings.HasSuffix(op, " "+route) {
			t.Errorf("EMF Operation %q, want the route %q", op, route)
		}
		if doc["Requests"] != float64(1) {
			t.Errorf("EMF Requests = %v, want 1: %s", doc["Requests"], line)
		}
		if _, ok := doc["ColdStart"]; ok {
			coldStarts++
		}
	}
	if docs != len(wantRoutes) {
		t.Errorf("%d EMF documents for %d invocations", docs, len(wantRoutes))
	}
	if coldStarts != 1 {
		t.Errorf("%d ColdStart metrics in one execution environment, want 1", coldStarts)
	}
}

// emfPublishes reports whether an EMF document publishes metric under the
// dimension set dims.
func emfPublishes(doc map[string]any, metric string, dims ...string) bool {
	raw, _ := json.Marshal(doc["_aws"])
	var aws struct {
		CloudWatchMetrics []struct {
			Dimensions [][]string
			Metrics    []struct{ Name string }
		}
	}
	if json.Unmarshal(raw, &aws) != nil {
		return false
	}
	for _, d := range aws.CloudWatchMetrics {
		if slices.ContainsFunc(d.Metrics, func(m struct{ Name string }) bool { return m.Name == metric }) &&
			slices.ContainsFunc(d.Dimensions, func(set []string) bool { return slices.Equal(set, dims) }) {
			return true
		}
	}
	return false
}

// The Lambda functions link no AWS SDK client, configuration or
// credentials chain: their package initialisation is a cold start's cost
// (docs/PERFORMANCE.md). The SigV4 signer envclient uses is allowed. Only
// the info function carries the /docs page's assets (internal/docs, about
// 2 MB): the predict function's size and cold start have targets.
func TestLambdaFunctionsLinkNoSDKClient(t *testing.T) {
	sdk := regexp.MustCompile(`^github\.com/aws/aws-sdk-go-v2/(service|config|credentials|feature)/`)
	const docsPkg = "github.com/healthcare-prediction/api/internal/docs"
	for _, fn := range []string{"info", "health", "predict", "cdshooks"} {
		cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "./functions/"+fn)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", fn, err)
		}
		var linked []string
		for _, pkg := range strings.Fields(string(out)) {
			if sdk.MatchString(pkg + "/") {
				linked = append(linked, pkg)
			}
		}
		if len(linked) > 0 {
			t.Errorf("%s links %s", fn, strings.Join(linked, ", "))
		}
		if got, want := slices.Contains(strings.Fields(string(out)), docsPkg), fn == "info"; got != want {
			t.Errorf("%s links %s: %v, want %v (only the info function serves /docs)", fn, docsPkg, got, want)
		}
	}
}
