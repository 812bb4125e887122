//go:build unix

package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/smoke"
)

// buildHook compiles the PreTraffic hook for the host, once per test binary.
var buildHook = sync.OnceValues(func() (string, error) {
	out := filepath.Join(binDir, "pretraffic", "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./functions/pretraffic")
	cmd.Dir = ".."
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/pretraffic: %v\n%s", err, b)
	}
	return out, nil
})

// The CodeDeploy application and deployment group, named as SAM names
// them in a stack called "api".
const (
	deploymentApp   = "api-ServerlessDeploymentApplication-1A2B3C"
	deploymentGroup = "api-PredictFunctionDeploymentGroup-4D5E6F"
)

// The version ARNs the hook is configured with, as template.yaml passes
// them (!Ref InfoFunction.Version, ...).
var hookTargets = map[string]string{
	"health":  "arn:aws:lambda:us-east-1:123456789012:function:api-HealthFunction-Q1w2E3:4",
	"info":    "arn:aws:lambda:us-east-1:123456789012:function:api-InfoFunction-R4t5Y6:9",
	"predict": "arn:aws:lambda:us-east-1:123456789012:function:api-PredictFunction-U7i8O9:21",
}

// lambdaFront is the Lambda Invoke API in front of the emulators: it
// routes POST /2015-03-31/functions/{FunctionName}/invocations to the
// emulator running that function version, which itself only answers the
// fixed name "function". It refuses unsigned calls and unknown functions
// as Lambda does, and keeps every event it passes on.
type lambdaFront struct {
	mu     sync.Mutex
	routes map[string]*emulator // version ARN -> emulator
	events []string
}

func (f *lambdaFront) route(arn string, e *emulator) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[arn] = e
}

func (f *lambdaFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !strings.Contains(r.Header.Get("Authorization"), "/lambda/aws4_request") {
		http.Error(w, `{"message":"Missing Authentication Token"}`, http.StatusForbidden)
		return
	}
	if got := r.Header.Get("X-Amz-Invocation-Type"); got != "RequestResponse" {
		http.Error(w, `{"message":"want a RequestResponse invocation, got `+got+`"}`, http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	e, ok := f.routes[name]
	f.events = append(f.events, string(body))
	f.mu.Unlock()
	if !ok {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"Type":"User","message":"Function not found: %s"}`, name)
		return
	}
	resp, err := http.Post(e.invokeURL, "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	// The emulator's answer as it is: 200 with the function's payload, or
	// 502 when the function failed to start (where Lambda answers 200 with
	// X-Amz-Function-Error, which the unit tests cover).
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// codeDeployFront is CodeDeploy for the hook: moto_server 5.2.1 implements
// CodeDeploy's applications, deployment groups and deployments but not
// PutLifecycleEventHookExecutionStatus (it answers 500 NotImplementedError).
// This front answers that one call itself, after checking the deployment
// exists in moto, as CodeDeploy does (DeploymentDoesNotExistException),
// and passes every other call to moto.
type codeDeployFront struct {
	moto   *codedeploy.Client
	proxy  http.Handler
	mu     sync.Mutex
	status map[string][]string // deployment id -> statuses reported
}

func (f *codeDeployFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus" {
		f.proxy.ServeHTTP(w, r)
		return
	}
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
	}
	if !strings.Contains(r.Header.Get("Authorization"), "/codedeploy/aws4_request") {
		fail(http.StatusBadRequest, "MissingAuthenticationTokenException", "request not signed for codedeploy")
		return
	}
	var in struct {
		DeploymentID string `json:"deploymentId"`
		ExecutionID  string `json:"lifecycleEventHookExecutionId"`
		Status       string `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	// ListDeployments, not GetDeployment: moto answers the latter with
	// string timestamps, which the SDK refuses.
	list, err := f.moto.ListDeployments(r.Context(), &codedeploy.ListDeploymentsInput{
		ApplicationName: aws.String(deploymentApp), DeploymentGroupName: aws.String(deploymentGroup)})
	if err != nil {
		fail(http.StatusInternalServerError, "InternalFailure", "moto ListDeployments: "+err.Error())
		return
	}
	if !slices.Contains(list.Deployments, in.DeploymentID) {
		fail(http.StatusBadRequest, "DeploymentDoesNotExistException", "no deployment "+in.DeploymentID)
		return
	}
	if in.ExecutionID == "" || (in.Status != "Succeeded" && in.Status != "Failed") {
		fail(http.StatusBadRequest, "InvalidLifecycleEventHookExecutionStatusException", "status "+in.Status)
		return
	}
	f.mu.Lock()
	f.status[in.DeploymentID] = append(f.status[in.DeploymentID], in.Status)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fmt.Fprintf(w, `{"lifecycleEventHookExecutionId":%q}`, in.ExecutionID)
}

func (f *codeDeployFront) reported(deploymentID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[deploymentID]
}

// TestPreTrafficHook runs the hook's real bootstrap under aws-lambda-rie
// against the real info, health and predict bootstraps, each under its own
// emulator, with CodeDeploy deployments in moto_server; the hook holds no
// API key.
func TestPreTrafficHook(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the end-to-end test that builds the functions and runs them under aws-lambda-rie")
	}
	bins, err := build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	hookBin, err := buildHook()
	if err != nil {
		t.Fatal(err)
	}

	// CodeDeploy: an application, a deployment group and, per scenario, a
	// deployment in moto, shaped as SAM creates them.
	srv := mototest.Start(t)
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, srv.ConfigOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	cd := codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.RetryMaxAttempts = 1 })
	if _, err := cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String(deploymentApp), ComputePlatform: cdtypes.ComputePlatformLambda}); err != nil {
		t.Fatal(err)
	}
	if _, err := cd.CreateDeploymentGroup(ctx, &codedeploy.CreateDeploymentGroupInput{
		ApplicationName:     aws.String(deploymentApp),
		DeploymentGroupName: aws.String(deploymentGroup),
		ServiceRoleArn:      aws.String("arn:aws:iam::123456789012:role/api-codedeploy"),
		DeploymentStyle:     &cdtypes.DeploymentStyle{DeploymentType: cdtypes.DeploymentTypeBlueGreen, DeploymentOption: cdtypes.DeploymentOptionWithTrafficControl},
	}); err != nil {
		t.Fatal(err)
	}
	newDeployment := func(t *testing.T) string {
		appSpec := fmt.Sprintf(`{"version":0.0,"Resources":[{"PredictFunction":{"Type":"AWS::Lambda::Function","Properties":`+
			`{"Name":"api-PredictFunction-U7i8O9","Alias":"live","CurrentVersion":"20","TargetVersion":"21"}}}],`+
			`"Hooks":[{"BeforeAllowTraffic":%q}]}`, "api-PreTrafficFunction-Z9x8C7")
		out, err := cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{
			ApplicationName:     aws.String(deploymentApp),
			DeploymentGroupName: aws.String(deploymentGroup),
			Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent,
				AppSpecContent: &cdtypes.AppSpecContent{Content: &appSpec}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return *out.DeploymentId
	}

	cdFront := &codeDeployFront{moto: cd, status: map[string][]string{}}
	motoURL, _ := url.Parse(srv.URL)
	cdFront.proxy = httputil.NewSingleHostReverseProxy(motoURL)
	cdServer := httptest.NewServer(cdFront)
	t.Cleanup(cdServer.Close)

	front := &lambdaFront{routes: map[string]*emulator{}}
	mux := http.NewServeMux()
	mux.Handle("POST /2015-03-31/functions/{name}/invocations", front)
	lambdaServer := httptest.NewServer(mux)
	t.Cleanup(lambdaServer.Close)

	// The functions as deployed: info and predict with keys, health
	// without.
	functions := map[string]*emulator{}
	for _, fn := range []string{"health", "info", "predict"} {
		functions[fn] = startEmulator(t, bins["rie"], bins[fn], fn)
		front.route(hookTargets[fn], functions[fn])
	}

	// The hook: its targets, the two endpoints and dummy credentials; no
	// key, no key secret.
	hookEnv := []string{
		"INFO_VERSION_ARN=" + hookTargets["info"],
		"HEALTH_VERSION_ARN=" + hookTargets["health"],
		"PREDICT_VERSION_ARN=" + hookTargets["predict"],
		"AWS_ENDPOINT_URL_LAMBDA=" + lambdaServer.URL,
		"AWS_ENDPOINT_URL_CODEDEPLOY=" + cdServer.URL,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
	hook := startEmulator(t, bins["rie"], hookBin, "pretraffic", hookEnv...)

	// runHook sends the hook CodeDeploy's event for a new deployment and
	// returns the statuses reported for it and the hook's log lines of it.
	runHook := func(t *testing.T) ([]string, []map[string]any) {
		t.Helper()
		id := newDeployment(t)
		event := fmt.Sprintf(`{"DeploymentId":%q,"LifecycleEventHookExecutionId":"eyJlbmNyeXB0ZWREYXRhIjoi%s"}`, id, id[:8])
		client := &http.Client{Timeout: 60 * time.Second}
		resp, err := client.Post(hook.invokeURL, "application/json", strings.NewReader(event))
		if err != nil {
			t.Fatalf("invoke hook: %v\n%s", err, hook.output)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "null" {
			t.Fatalf("hook answered %d %s, want 200 null (the status reported)\n%s", resp.StatusCode, body, hook.output)
		}
		out := hook.waitFor(func(out string) bool {
			return strings.Contains(out, `"msg":"status reported","deployment_id":"`+id+`"`)
		})
		var lines []map[string]any
		for _, l := range strings.Split(out, "\n") {
			var m map[string]any
			if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &m) == nil && m["deployment_id"] == id {
				lines = append(lines, m)
			}
		}
		return cdFront.reported(id), lines
	}
	failed := func(lines []map[string]any) map[string]string {
		m := map[string]string{}
		for _, l := range lines {
			if l["msg"] == "smoke check failed" {
				m[fmt.Sprint(l["function"], " ", l["check"])] = fmt.Sprint(l["reason"])
			}
		}
		return m
	}

	t.Run("healthy", func(t *testing.T) {
		status, lines := runHook(t)
		if len(status) != 1 || status[0] != "Succeeded" {
			t.Fatalf("reported %v, want [Succeeded]\n%s", status, hook.output)
		}
		passed := 0
		for _, l := range lines {
			if l["msg"] == "smoke check passed" {
				passed++
			}
		}
		want := 0
		for _, cs := range smoke.Checks {
			want += len(cs)
		}
		if passed != want {
			t.Errorf("%d checks passed, want %d\n%s", passed, want, hook.output)
		}
		// No event carried the functions' key, and the functions saw the
		// hook's requests: one access-log line each, none with a 5xx.
		front.mu.Lock()
		events := strings.Join(front.events, "\n")
		front.mu.Unlock()
		if strings.Contains(events, e2eKey) {
			t.Error("the hook sent the functions' API key")
		}
		for fn, e := range functions {
			out := e.waitFor(func(out string) bool { return strings.Count(out, `"msg":"request"`) >= len(smoke.Checks[fn]) })
			if n := strings.Count(out, `"msg":"request"`); n != len(smoke.Checks[fn]) {
				t.Errorf("%s: %d access-log lines, want %d\n%s", fn, n, len(smoke.Checks[fn]), out)
			}
			if strings.Contains(out, `"status":5`) {
				t.Errorf("%s answered a 5xx:\n%s", fn, out)
			}
		}
	})

	t.Run("predict fails to start", func(t *testing.T) {
		// A configuration error: the bootstrap exits in its init phase.
		broken := startEmulator(t, bins["rie"], bins["predict"], "predict", "API_KEYS_SECRET_ID=prod/api-keys", "API_KEYS_TTL=forever")
		front.route(hookTargets["predict"], broken)
		t.Cleanup(func() { front.route(hookTargets["predict"], functions["predict"]) })

		status, lines := runHook(t)
		if len(status) != 1 || status[0] != "Failed" {
			t.Fatalf("reported %v, want [Failed]\n%s", status, hook.output)
		}
		f := failed(lines)
		for _, c := range smoke.Checks["predict"] {
			if !strings.HasPrefix(f["predict "+c.Name], "invoke: ") {
				t.Errorf("predict %s: reason %q, want the failed invocation", c.Name, f["predict "+c.Name])
			}
		}
		if len(f) != len(smoke.Checks["predict"]) {
			t.Errorf("failed checks %v, want only predict's", f)
		}
	})

	t.Run("predict cannot read its keys", func(t *testing.T) {
		// The function starts, but the key secret does not exist: it cannot
		// tell a key from another, and answers 503 where a key is sent.
		broken := startEmulator(t, bins["rie"], bins["predict"], "predict", "API_KEYS_SECRET_ID=prod/api-keys",
			"AWS_ENDPOINT_URL="+srv.URL, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
		front.route(hookTargets["predict"], broken)
		t.Cleanup(func() { front.route(hookTargets["predict"], functions["predict"]) })

		status, lines := runHook(t)
		if len(status) != 1 || status[0] != "Failed" {
			t.Fatalf("reported %v, want [Failed]\n%s", status, hook.output)
		}
		f := failed(lines)
		if len(f) != 1 || f["predict POST /predict with an invalid key"] != "status 503, want 401" {
			t.Errorf("failed checks %v, want only predict's invalid-key check with status 503", f)
		}
		for _, l := range lines {
			if l["check"] == "POST /predict with an invalid key" && l["problem_type"] != "urn:healthcare-api:problem:not-ready" {
				t.Errorf("problem type %v, want not-ready: %v", l["problem_type"], l)
			}
		}
	})

	t.Run("function not found", func(t *testing.T) {
		// The hook configured with a version Lambda does not have.
		front.mu.Lock()
		delete(front.routes, hookTargets["health"])
		front.mu.Unlock()
		t.Cleanup(func() { front.route(hookTargets["health"], functions["health"]) })

		status, lines := runHook(t)
		if len(status) != 1 || status[0] != "Failed" {
			t.Fatalf("reported %v, want [Failed]\n%s", status, hook.output)
		}
		if r := failed(lines)["health GET /health/live"]; !strings.Contains(r, "ResourceNotFoundException") {
			t.Errorf("reason %q, want ResourceNotFoundException", r)
		}
	})
}
