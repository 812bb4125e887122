//go:build unix

package functions_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

// The CodeDeploy application SAM creates in a stack called "api".
const deploymentApp = "api-ServerlessDeploymentApplication-1A2B3C"

// The functions' names, as template.yaml passes them to the hook
// (!Ref InfoFunction, ...), and the version each test deployment moves
// the alias to.
var (
	functionNames = map[string]string{
		"health":   "api-HealthFunction-Q1w2E3",
		"info":     "api-InfoFunction-R4t5Y6",
		"predict":  "api-PredictFunction-U7i8O9",
		"cdshooks": "api-CdsHooksFunction-P0a1S2",
	}
	newVersions = map[string]string{"health": "4", "info": "9", "predict": "21", "cdshooks": "3"}
)

// deploymentGroup is fn's deployment group, named as SAM names it.
func deploymentGroup(fn string) string {
	return "api-" + strings.ToUpper(fn[:1]) + fn[1:] + "FunctionDeploymentGroup-4D5E6F"
}

// qualifiedName is fn's function at version v, as the hook invokes it.
func qualifiedName(fn, v string) string { return functionNames[fn] + ":" + v }

// lambdaFront is the Lambda Invoke API in front of the emulators: it
// routes POST /2015-03-31/functions/{FunctionName}/invocations to the
// emulator running that function version, which itself only answers the
// fixed name "function". It refuses unsigned calls and unknown functions
// as Lambda does, and keeps every event it passes on.
type lambdaFront struct {
	mu     sync.Mutex
	routes map[string]*emulator // NAME:VERSION -> emulator
	events []string
}

func (f *lambdaFront) route(name string, e *emulator) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[name] = e
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
// PutLifecycleEventHookExecutionStatus (it answers 500 NotImplementedError)
// nor GetApplicationRevision, and its GetDeployment answers with string
// timestamps, which the SDK refuses. This front answers those three calls
// itself, for the deployments the test created in moto (checked there, as
// CodeDeploy answers DeploymentDoesNotExistException), and passes every
// other call to moto. It is a stand-in for those calls only: GetDeployment
// answers as the API reference documents, the revision's sha256 without
// its content, and GetApplicationRevision the AppSpec for that sha256.
type codeDeployFront struct {
	moto        *codedeploy.Client
	proxy       http.Handler
	mu          sync.Mutex
	status      map[string][]string        // deployment id -> statuses reported
	deployments map[string]frontDeployment // deployment id -> what the test created
	revisions   int                        // GetApplicationRevision calls answered
}

// frontDeployment is a deployment the test created in moto.
type frontDeployment struct {
	group, appSpec string
	created        time.Time
}

func (f *codeDeployFront) add(id, group, appSpec string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deployments[id] = frontDeployment{group: group, appSpec: appSpec, created: time.Now()}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (f *codeDeployFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "CodeDeploy_20141006.")
	if op != "PutLifecycleEventHookExecutionStatus" && op != "GetDeployment" && op != "GetApplicationRevision" {
		f.proxy.ServeHTTP(w, r)
		return
	}
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
	}
	answer := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(v)
	}
	if !strings.Contains(r.Header.Get("Authorization"), "/codedeploy/aws4_request") {
		fail(http.StatusBadRequest, "MissingAuthenticationTokenException", "request not signed for codedeploy")
		return
	}
	var in struct {
		DeploymentID    string `json:"deploymentId"`
		ExecutionID     string `json:"lifecycleEventHookExecutionId"`
		Status          string `json:"status"`
		ApplicationName string `json:"applicationName"`
		Revision        struct {
			RevisionType   string `json:"revisionType"`
			AppSpecContent struct {
				Sha256 string `json:"sha256"`
			} `json:"appSpecContent"`
		} `json:"revision"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	// revision is how CodeDeploy names an AppSpecContent revision.
	revision := func(d frontDeployment, withContent bool) map[string]any {
		content := map[string]any{"sha256": sha256Hex(d.appSpec)}
		if withContent {
			content["content"] = d.appSpec
		}
		return map[string]any{"revisionType": "AppSpecContent", "appSpecContent": content}
	}

	if op == "GetApplicationRevision" {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, d := range f.deployments {
			if in.ApplicationName == deploymentApp && in.Revision.RevisionType == "AppSpecContent" &&
				in.Revision.AppSpecContent.Sha256 == sha256Hex(d.appSpec) {
				f.revisions++
				answer(map[string]any{"applicationName": deploymentApp, "revision": revision(d, true),
					"revisionInfo": map[string]any{"deploymentGroups": []string{d.group}, "registerTime": d.created.Unix()}})
				return
			}
		}
		fail(http.StatusBadRequest, "RevisionDoesNotExistException", "no such revision of "+in.ApplicationName)
		return
	}

	f.mu.Lock()
	d, ok := f.deployments[in.DeploymentID]
	f.mu.Unlock()
	if ok {
		// ListDeployments, not GetDeployment: moto answers the latter with
		// string timestamps, which the SDK refuses.
		list, err := f.moto.ListDeployments(r.Context(), &codedeploy.ListDeploymentsInput{
			ApplicationName: aws.String(deploymentApp), DeploymentGroupName: aws.String(d.group)})
		if err != nil {
			fail(http.StatusInternalServerError, "InternalFailure", "moto ListDeployments: "+err.Error())
			return
		}
		ok = slices.Contains(list.Deployments, in.DeploymentID)
	}
	if !ok {
		fail(http.StatusBadRequest, "DeploymentDoesNotExistException", "no deployment "+in.DeploymentID)
		return
	}
	if op == "GetDeployment" {
		answer(map[string]any{"deploymentInfo": map[string]any{
			"applicationName": deploymentApp, "deploymentGroupName": d.group, "deploymentId": in.DeploymentID,
			"computePlatform": "Lambda", "status": "InProgress", "creator": "user", "createTime": d.created.Unix(),
			"deploymentStyle": map[string]string{"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
			"revision":        revision(d, false),
		}})
		return
	}
	if in.ExecutionID == "" || (in.Status != "Succeeded" && in.Status != "Failed") {
		fail(http.StatusBadRequest, "InvalidLifecycleEventHookExecutionStatusException", "status "+in.Status)
		return
	}
	f.mu.Lock()
	f.status[in.DeploymentID] = append(f.status[in.DeploymentID], in.Status)
	f.mu.Unlock()
	answer(map[string]string{"lifecycleEventHookExecutionId": in.ExecutionID})
}

func (f *codeDeployFront) reported(deploymentID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[deploymentID]
}

// TestPreTrafficHook runs the hook's real bootstrap under aws-lambda-rie
// against the real info, health and predict bootstraps, each under its own
// emulator, with CodeDeploy deployments in moto_server, one deployment
// group per function as SAM makes them; the hook holds no API key. Each
// deployment must test its own function's target version and nothing
// else.
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

	// CodeDeploy: an application, a deployment group per function and, per
	// scenario, a deployment in moto, shaped as SAM creates them.
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
	for fn := range functionNames {
		if _, err := cd.CreateDeploymentGroup(ctx, &codedeploy.CreateDeploymentGroupInput{
			ApplicationName:     aws.String(deploymentApp),
			DeploymentGroupName: aws.String(deploymentGroup(fn)),
			ServiceRoleArn:      aws.String("arn:aws:iam::123456789012:role/api-codedeploy"),
			DeploymentStyle:     &cdtypes.DeploymentStyle{DeploymentType: cdtypes.DeploymentTypeBlueGreen, DeploymentOption: cdtypes.DeploymentOptionWithTrafficControl},
		}); err != nil {
			t.Fatal(err)
		}
	}

	cdFront := &codeDeployFront{moto: cd, status: map[string][]string{}, deployments: map[string]frontDeployment{}}
	motoURL, _ := url.Parse(srv.URL)
	cdFront.proxy = httputil.NewSingleHostReverseProxy(motoURL)
	cdServer := httptest.NewServer(cdFront)
	t.Cleanup(cdServer.Close)

	// newDeployment creates, in fn's deployment group, the deployment that
	// moves fn's alias from version current to target (name is fn's
	// function unless given).
	newDeployment := func(t *testing.T, fn, name, current, target string) string {
		t.Helper()
		if name == "" {
			name = functionNames[fn]
		}
		appSpec := fmt.Sprintf(`{"version":0.0,"Resources":[{%q:{"Type":"AWS::Lambda::Function","Properties":`+
			`{"Name":%q,"Alias":"live","CurrentVersion":%q,"TargetVersion":%q}}}],`+
			`"Hooks":[{"BeforeAllowTraffic":"api-PreTrafficFunction-Z9x8C7"}]}`, strings.ToUpper(fn[:1])+fn[1:]+"Function", name, current, target)
		out, err := cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{
			ApplicationName:     aws.String(deploymentApp),
			DeploymentGroupName: aws.String(deploymentGroup(fn)),
			Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent,
				AppSpecContent: &cdtypes.AppSpecContent{Content: &appSpec}},
		})
		if err != nil {
			t.Fatal(err)
		}
		cdFront.add(*out.DeploymentId, deploymentGroup(fn), appSpec)
		return *out.DeploymentId
	}

	front := &lambdaFront{routes: map[string]*emulator{}}
	mux := http.NewServeMux()
	mux.Handle("POST /2015-03-31/functions/{name}/invocations", front)
	lambdaServer := httptest.NewServer(mux)
	t.Cleanup(lambdaServer.Close)

	// The functions as deployed: info and predict with keys, health
	// without; each answers as its new version.
	functions := map[string]*emulator{}
	for fn := range functionNames {
		functions[fn] = startEmulator(t, bins["rie"], bins[fn], fn)
		front.route(qualifiedName(fn, newVersions[fn]), functions[fn])
	}

	// The hook: the functions' names, the two endpoints and dummy
	// credentials; no key, no key secret, no version.
	hookEnv := []string{
		"INFO_FUNCTION_NAME=" + functionNames["info"],
		"HEALTH_FUNCTION_NAME=" + functionNames["health"],
		"PREDICT_FUNCTION_NAME=" + functionNames["predict"],
		"CDSHOOKS_FUNCTION_NAME=" + functionNames["cdshooks"],
		"AWS_ENDPOINT_URL_LAMBDA=" + lambdaServer.URL,
		"AWS_ENDPOINT_URL_CODEDEPLOY=" + cdServer.URL,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
	hook := startEmulator(t, bins["rie"], hookBin, "pretraffic", hookEnv...)

	// runHook sends the hook CodeDeploy's event for deployment id and
	// returns the statuses reported for it and the hook's log lines of it.
	runHook := func(t *testing.T, id string) ([]string, []map[string]any) {
		t.Helper()
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
	// checked is the "function version" of every check line.
	checked := func(lines []map[string]any) map[string]int {
		m := map[string]int{}
		for _, l := range lines {
			if l["msg"] == "smoke check passed" || l["msg"] == "smoke check failed" {
				m[fmt.Sprint(l["function"], " ", l["version"])]++
			}
		}
		return m
	}
	requests := func(fn string) int {
		return strings.Count(functions[fn].output.String(), `"msg":"request"`)
	}

	t.Run("healthy", func(t *testing.T) {
		cdFront.mu.Lock()
		revisionsBefore := cdFront.revisions
		cdFront.mu.Unlock()
		for _, fn := range []string{"health", "info", "predict", "cdshooks"} {
			before := map[string]int{}
			for f := range functions {
				before[f] = requests(f)
			}
			v := newVersions[fn]
			status, lines := runHook(t, newDeployment(t, fn, "", fmt.Sprint(mustAtoi(t, v)-1), v))
			if len(status) != 1 || status[0] != "Succeeded" {
				t.Fatalf("%s: reported %v, want [Succeeded]\n%s", fn, status, hook.output)
			}
			want := map[string]int{fn + " " + v: len(smoke.Checks[fn])}
			if got := checked(lines); !maps.Equal(got, want) {
				t.Errorf("%s's deployment checked %v, want only %v", fn, got, want)
			}
			// The function saw the hook's requests, one access-log line each
			// and none with a 5xx; the other functions saw none.
			out := functions[fn].waitFor(func(string) bool { return requests(fn)-before[fn] >= len(smoke.Checks[fn]) })
			if strings.Contains(out, `"status":5`) {
				t.Errorf("%s answered a 5xx:\n%s", fn, out)
			}
			for f := range functions {
				if n, want := requests(f)-before[f], map[bool]int{true: len(smoke.Checks[fn])}[f == fn]; n != want {
					t.Errorf("%s's deployment: %s logged %d requests, want %d", fn, f, n, want)
				}
			}
		}
		// GetDeployment names the revision without its content: the hook
		// asked for each deployment's AppSpec.
		cdFront.mu.Lock()
		revisions := cdFront.revisions - revisionsBefore
		cdFront.mu.Unlock()
		if revisions != 4 {
			t.Errorf("%d GetApplicationRevision calls for 4 deployments, want 4", revisions)
		}
		// No event carried the functions' key.
		front.mu.Lock()
		events := strings.Join(front.events, "\n")
		front.mu.Unlock()
		if strings.Contains(events, e2eKey) {
			t.Error("the hook sent the functions' API key")
		}
	})

	t.Run("predict fails to start", func(t *testing.T) {
		// A configuration error: the bootstrap exits in its init phase.
		// (API_KEYS is refused under Lambda, so a secret id with a bad TTL.)
		broken := startEmulator(t, bins["rie"], bins["predict"], "predict", "API_KEYS_SECRET_ID=prod/api-keys", "API_KEYS_TTL=forever")
		front.route(qualifiedName("predict", "22"), broken)

		status, lines := runHook(t, newDeployment(t, "predict", "", "21", "22"))
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

		// The broken predict fails only its own deployment: info's passes.
		status, _ = runHook(t, newDeployment(t, "info", "", "8", "9"))
		if len(status) != 1 || status[0] != "Succeeded" {
			t.Errorf("info's deployment reported %v while predict 22 is broken, want [Succeeded]", status)
		}

		// The stack rolls back: CodeDeploy moves the alias from 22 back to
		// 21 with the same hook, before CloudFormation reverts anything
		// else. The hook tests 21, the version the deployment restores, not
		// the broken 22.
		status, lines = runHook(t, newDeployment(t, "predict", "", "22", "21"))
		if len(status) != 1 || status[0] != "Succeeded" {
			t.Fatalf("rollback reported %v, want [Succeeded]\n%s", status, hook.output)
		}
		if got, want := checked(lines), map[string]int{"predict 21": len(smoke.Checks["predict"])}; !maps.Equal(got, want) {
			t.Errorf("rollback checked %v, want %v", got, want)
		}
	})

	t.Run("predict cannot read its keys", func(t *testing.T) {
		// The function starts, but the key secret does not exist: it cannot
		// tell a key from another, and answers 503 where a key is sent.
		broken := startEmulator(t, bins["rie"], bins["predict"], "predict", "API_KEYS_SECRET_ID=prod/api-keys",
			"AWS_ENDPOINT_URL="+srv.URL, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
		front.route(qualifiedName("predict", "23"), broken)

		status, lines := runHook(t, newDeployment(t, "predict", "", "21", "23"))
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

	t.Run("version not found", func(t *testing.T) {
		// A deployment to a version Lambda does not have.
		status, lines := runHook(t, newDeployment(t, "health", "", "4", "5"))
		if len(status) != 1 || status[0] != "Failed" {
			t.Fatalf("reported %v, want [Failed]\n%s", status, hook.output)
		}
		if r := failed(lines)["health GET /health/live"]; !strings.Contains(r, "ResourceNotFoundException") {
			t.Errorf("reason %q, want ResourceNotFoundException", r)
		}
	})

	t.Run("function not the hook's", func(t *testing.T) {
		// A deployment group of the application whose function the hook was
		// not configured for: Failed, nothing invoked.
		front.mu.Lock()
		before := len(front.events)
		front.mu.Unlock()
		status, lines := runHook(t, newDeployment(t, "predict", "api-ReportFunction-P0o9I8", "1", "2"))
		if len(status) != 1 || status[0] != "Failed" {
			t.Fatalf("reported %v, want [Failed]\n%s", status, hook.output)
		}
		found := false
		for _, l := range lines {
			found = found || (strings.HasPrefix(fmt.Sprint(l["msg"]), "smoke test not run: the deployment's function is none of the hook's") &&
				l["function_name"] == "api-ReportFunction-P0o9I8")
		}
		front.mu.Lock()
		after := len(front.events)
		front.mu.Unlock()
		if !found || after != before {
			t.Errorf("want the log line naming the function and no invocation (%d made)\n%s", after-before, hook.output)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
