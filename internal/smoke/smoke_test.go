package smoke

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/secrets"
)

// The functions' names, as template.yaml passes them (!Ref InfoFunction).
var testEnv = map[string]string{
	"INFO_FUNCTION_NAME":     "api-InfoFunction-AbC123",
	"HEALTH_FUNCTION_NAME":   "api-HealthFunction-DeF456",
	"PREDICT_FUNCTION_NAME":  "api-PredictFunction-GhI789",
	"CDSHOOKS_FUNCTION_NAME": "api-CdsHooksFunction-JkL012",
}

// newVersion is each function's version the test deployments move to.
var newVersion = map[string]string{"info": "7", "health": "3", "predict": "12"}

// qualified is group's function at version v (its new version if v is "").
func qualified(group, v string) string {
	if v == "" {
		v = newVersion[group]
	}
	return testEnv[FunctionEnv[group]] + ":" + v
}

// appSpecJSON is a Lambda deployment's AppSpec in JSON, shaped as the
// AppSpec reference shows it (and as the e2e test's stand-in serves it).
func appSpecJSON(name, current, target string) string {
	return `{"version":0.0,"Resources":[{"Function":{"Type":"AWS::Lambda::Function","Properties":{` +
		`"Name":"` + name + `","Alias":"live","CurrentVersion":"` + current + `","TargetVersion":"` + target + `"}}}],` +
		`"Hooks":[{"BeforeAllowTraffic":"api-PreTrafficFunction-Z9x8C7"}]}`
}

// appSpecYAML is the same in YAML, versions unquoted.
func appSpecYAML(name, current, target string) string {
	return "version: 0.0\nResources:\n  - InfoFunction:\n      Type: AWS::Lambda::Function\n      Properties:\n" +
		"        Name: " + name + "\n        Alias: live\n        CurrentVersion: " + current + "\n        TargetVersion: " + target + "\n" +
		"Hooks:\n  - BeforeAllowTraffic: api-PreTrafficFunction-Z9x8C7\n"
}

// deploymentOf is the AppSpec of group's deployment to its new version.
func deploymentOf(group string) string {
	v := newVersion[group]
	prev := fmt.Sprint(mustAtoi(v) - 1)
	return appSpecJSON(testEnv[FunctionEnv[group]], prev, v)
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// testKey is the only key the functions under test accept; the hook never
// has it.
const testKey = "smoke-test-key-VhZq3mN8pW2rT6yK9sD4fB7cX1gJ5aL0eU"

type handlerFunc = func(context.Context, json.RawMessage) (any, error)

// realFunction is a function's real handler, in process, as its main
// builds it (internal/app.RunLambda); keys nil means none are configured.
func realFunction(routes api.Group, keys *secrets.Cache) handlerFunc {
	logger := slog.New(slog.DiscardHandler)
	return api.LambdaHandler(app.NewAPI(logger, metrics.Discard{}, keys, api.RateLimit{}, nil, routes, api.NewLifecycle(), true, cdshooks.Config{}, nil))
}

func staticKeys(t *testing.T) *secrets.Cache {
	t.Helper()
	keys, err := secrets.Static("smoke-client:" + testKey)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// failingSecrets is a Secrets Manager that refuses every read, as it does
// for a role without secretsmanager:GetSecretValue.
type failingSecrets struct{}

func (failingSecrets) SecretString(context.Context, string, string) (string, error) {
	return "", errors.New("AccessDeniedException")
}

// healthyFunctions are the three real handlers, the key-holding ones with
// a loaded key set.
func healthyFunctions(t *testing.T) map[string]handlerFunc {
	return map[string]handlerFunc{
		qualified("health", ""):  realFunction(api.Health, nil),
		qualified("info", ""):    realFunction(api.Info, staticKeys(t)),
		qualified("predict", ""): realFunction(api.Predict, staticKeys(t)),
	}
}

// fakeLambda runs handlers in process as the Lambda Invoke API would:
// the handler's result marshalled as the payload, its error as a
// FunctionError with an error payload.
type fakeLambda struct {
	functions map[string]handlerFunc // by NAME:VERSION
	invokeErr error                  // returned by every Invoke when set
	executed  string                 // ExecutedVersion to answer, if set

	mu    sync.Mutex
	calls []*lambda.InvokeInput
}

func (f *fakeLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, in)
	f.mu.Unlock()
	if f.invokeErr != nil {
		return nil, f.invokeErr
	}
	h, ok := f.functions[*in.FunctionName]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: Function not found")
	}
	out := &lambda.InvokeOutput{StatusCode: 200}
	if f.executed != "" {
		out.ExecutedVersion = &f.executed
	}
	resp, err := h(ctx, in.Payload)
	if err != nil {
		unhandled := "Unhandled"
		out.FunctionError = &unhandled
		out.Payload, _ = json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "errorString"})
		return out, nil
	}
	out.Payload, err = json.Marshal(resp)
	return out, err
}

// The application SAM creates, and its sha256 of an AppSpec.
const testApp = "api-ServerlessDeploymentApplication-1A2B3C"

func sha(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// fakeCodeDeploy answers for testEvent's deployment, whose AppSpec is
// appSpec, as CodeDeploy does: GetDeployment returns the revision with
// its sha256 and no content (API reference), GetApplicationRevision the
// content. It records the statuses reported to it.
type fakeCodeDeploy struct {
	appSpec string
	// form: "" the appSpecContent revision; "string" the older String
	// revision; "inline" content already in GetDeployment's answer.
	form   string
	getErr error // returned by GetDeployment when set
	err    error // returned by PutLifecycleEventHookExecutionStatus when set

	mu       sync.Mutex
	reported []*codedeploy.PutLifecycleEventHookExecutionStatusInput
}

func (f *fakeCodeDeploy) revision(withContent bool) *cdtypes.RevisionLocation {
	raw := &cdtypes.RawString{Sha256: aws.String(sha(f.appSpec))}
	if withContent {
		raw.Content = aws.String(f.appSpec)
	}
	if f.form == "string" {
		//lint:ignore SA1019 the deprecated String revision type is the form under test
		return &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeString, String_: raw}
	}
	return &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent,
		AppSpecContent: &cdtypes.AppSpecContent{Sha256: raw.Sha256, Content: raw.Content}}
}

func (f *fakeCodeDeploy) GetDeployment(_ context.Context, in *codedeploy.GetDeploymentInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	if *in.DeploymentId != testEvent.DeploymentID {
		return nil, &cdtypes.DeploymentDoesNotExistException{Message: aws.String("no deployment " + *in.DeploymentId)}
	}
	return &codedeploy.GetDeploymentOutput{DeploymentInfo: &cdtypes.DeploymentInfo{
		ApplicationName: aws.String(testApp), DeploymentGroupName: aws.String("api-PredictFunctionDeploymentGroup-4D5E6F"),
		DeploymentId: in.DeploymentId, ComputePlatform: cdtypes.ComputePlatformLambda, Status: cdtypes.DeploymentStatusInProgress,
		Revision: f.revision(f.form == "inline"),
	}}, nil
}

func (f *fakeCodeDeploy) GetApplicationRevision(_ context.Context, in *codedeploy.GetApplicationRevisionInput, _ ...func(*codedeploy.Options)) (*codedeploy.GetApplicationRevisionOutput, error) {
	want := f.revision(false)
	if aws.ToString(in.ApplicationName) != testApp || in.Revision == nil || in.Revision.RevisionType != want.RevisionType ||
		revisionSha(in.Revision) != revisionSha(want) {
		return nil, &cdtypes.RevisionDoesNotExistException{Message: aws.String("no such revision")}
	}
	return &codedeploy.GetApplicationRevisionOutput{ApplicationName: in.ApplicationName, Revision: f.revision(true)}, nil
}

// revisionSha is the sha256 a revision names, in either form.
func revisionSha(r *cdtypes.RevisionLocation) string {
	if r.AppSpecContent != nil {
		return aws.ToString(r.AppSpecContent.Sha256)
	}
	//lint:ignore SA1019 the deprecated String revision type is a form under test
	raw := r.String_
	if raw != nil {
		return aws.ToString(raw.Sha256)
	}
	return ""
}

func (f *fakeCodeDeploy) PutLifecycleEventHookExecutionStatus(_ context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, _ ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reported = append(f.reported, in)
	if f.err != nil {
		return nil, f.err
	}
	return &codedeploy.PutLifecycleEventHookExecutionStatusOutput{LifecycleEventHookExecutionId: in.LifecycleEventHookExecutionId}, nil
}

var testEvent = Event{DeploymentID: "d-8TQ1Z2ABC", LifecycleEventHookExecutionID: "eyJlbmNyeXB0ZWREYXRhIjoiZXhhbXBsZSJ9"}

// runHook handles testEvent for cd's deployment with a hook over invoker
// and env and returns the one status reported and the hook's log.
func runHook(t *testing.T, ctx context.Context, invoker Invoker, cd *fakeCodeDeploy, env map[string]string) (string, string) {
	t.Helper()
	var log bytes.Buffer
	hook := New(slog.New(slog.NewJSONHandler(&log, nil)), invoker, cd, func(k string) string { return env[k] })
	if err := hook.Handle(ctx, testEvent); err != nil {
		t.Fatalf("Handle: %v\n%s", err, log.String())
	}
	if len(cd.reported) != 1 {
		t.Fatalf("%d statuses reported, want 1\n%s", len(cd.reported), log.String())
	}
	in := cd.reported[0]
	if *in.DeploymentId != testEvent.DeploymentID || *in.LifecycleEventHookExecutionId != testEvent.LifecycleEventHookExecutionID {
		t.Errorf("reported for %s/%s, want the event's ids", *in.DeploymentId, *in.LifecycleEventHookExecutionId)
	}
	return string(in.Status), log.String()
}

// logLines decodes the hook's JSON log.
func logLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		lines = append(lines, m)
	}
	return lines
}

// Each function's deployment tests that function's new version, and
// only it, whatever form the AppSpec comes in.
func TestEachDeploymentTestsItsOwnFunction(t *testing.T) {
	tests := []struct {
		group, form string
		appSpec     string
	}{
		{"info", "", deploymentOf("info")},
		{"health", "", appSpecYAML(testEnv["HEALTH_FUNCTION_NAME"], "2", "3")},
		{"predict", "string", deploymentOf("predict")},
		{"predict", "inline", appSpecYAML(testEnv["PREDICT_FUNCTION_NAME"], "11", "12")},
		{"info", "", appSpecJSON("arn:aws:lambda:eu-west-1:123456789012:function:"+testEnv["INFO_FUNCTION_NAME"], "6", "7")},
	}
	for _, tt := range tests {
		t.Run(tt.group+" "+tt.form, func(t *testing.T) {
			fl := &fakeLambda{functions: healthyFunctions(t)}
			status, log := runHook(t, context.Background(), fl, &fakeCodeDeploy{appSpec: tt.appSpec, form: tt.form}, testEnv)
			if status != "Succeeded" {
				t.Fatalf("status %s, want Succeeded\n%s", status, log)
			}
			if len(fl.calls) != len(Checks[tt.group]) {
				t.Errorf("%d invocations, want one per %s check (%d)", len(fl.calls), tt.group, len(Checks[tt.group]))
			}
			for _, in := range fl.calls {
				if *in.FunctionName != qualified(tt.group, "") {
					t.Errorf("invoked %s, want only %s", *in.FunctionName, qualified(tt.group, ""))
				}
				if in.InvocationType != lambdatypes.InvocationTypeRequestResponse {
					t.Errorf("invocation type %q, want RequestResponse", in.InvocationType)
				}
				if in.Qualifier != nil {
					t.Errorf("qualifier %q: the version is in the name", *in.Qualifier)
				}
				if bytes.Contains(in.Payload, []byte(testKey)) {
					t.Errorf("the hook sent the functions' key: %s", in.Payload)
				}
			}

			passed := map[string]bool{}
			for _, l := range logLines(t, log) {
				if l["msg"] == "smoke check passed" {
					passed[l["function"].(string)+" "+l["check"].(string)] = true
					if l["request_id"] == "" || l["status"] == nil || l["version"] != newVersion[tt.group] {
						t.Errorf("passed check without request id, status or the version: %v", l)
					}
				}
			}
			for _, c := range Checks[tt.group] {
				if !passed[tt.group+" "+c.Name] {
					t.Errorf("no 'smoke check passed' line for %s %s", tt.group, c.Name)
				}
			}
			if len(passed) != len(Checks[tt.group]) {
				t.Errorf("passed %v, want only %s's checks", passed, tt.group)
			}
			// Bodies are not logged: the problem detail and the index's text
			// are nowhere in the log, and neither is a key sent nor the AppSpec.
			for _, s := range []string{"send an API key", "endpoints", "pretraffic-invalid-", "detail", "Hooks", "BeforeAllowTraffic"} {
				if strings.Contains(log, s) {
					t.Errorf("log contains %q:\n%s", s, log)
				}
			}
		})
	}
}

// In a rollback, the deployment moves the alias back to the older
// version: the hook tests that one, not the newer (broken) version the
// stack had when the hook's environment was last written.
func TestRollbackTestsTheTarget(t *testing.T) {
	fl := &fakeLambda{functions: healthyFunctions(t)}
	fl.functions[qualified("predict", "13")] = func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("broken") }
	cd := &fakeCodeDeploy{appSpec: appSpecJSON(testEnv["PREDICT_FUNCTION_NAME"], "13", "12")}
	status, log := runHook(t, context.Background(), fl, cd, testEnv)
	if status != "Succeeded" {
		t.Fatalf("status %s, want Succeeded\n%s", status, log)
	}
	for _, in := range fl.calls {
		if *in.FunctionName != qualified("predict", "12") {
			t.Errorf("invoked %s, want only the rollback's target %s", *in.FunctionName, qualified("predict", "12"))
		}
	}
	if !strings.Contains(log, `"msg":"deployment under test","deployment_id":"d-8TQ1Z2ABC","function":"predict","function_name":"api-PredictFunction-GhI789","current_version":"13","version":"12"`) {
		t.Errorf("no 'deployment under test' line naming versions 13 -> 12:\n%s", log)
	}
}

// A deployment the hook cannot read, or of a function it does not know,
// fails without invoking anything, with the reason in the log.
func TestDeploymentProblemsFail(t *testing.T) {
	predict := testEnv["PREDICT_FUNCTION_NAME"]
	tests := []struct {
		name    string
		cd      *fakeCodeDeploy
		wantLog string
	}{
		{"unknown function", &fakeCodeDeploy{appSpec: appSpecJSON("api-OtherFunction-Q1", "1", "2")},
			`"msg":"smoke test not run: the deployment's function is none of the hook's`},
		{"function of another stack by ARN", &fakeCodeDeploy{appSpec: appSpecJSON("arn:aws:lambda:eu-west-1:123456789012:function:other-PredictFunction-X", "1", "2")},
			`"function_name":"other-PredictFunction-X"`},
		{"not YAML", &fakeCodeDeploy{appSpec: "Resources: [\n  - {"}, "neither JSON nor YAML"},
		{"truncated JSON", &fakeCodeDeploy{appSpec: `{"Resources":[{"Function":{"Type":"AWS::Lambda::Function"`}, "neither JSON nor YAML"},
		{"no resources", &fakeCodeDeploy{appSpec: `{"version":0.0,"Resources":[]}`}, "0 resources"},
		{"two resources", &fakeCodeDeploy{appSpec: strings.Replace(appSpecJSON(predict, "11", "12"), `}}],`,
			`}},{"Other":{"Type":"AWS::Lambda::Function","Properties":{"Name":"x","TargetVersion":"1"}}}],`, 1)}, "2 resources"},
		{"two resources in one entry", &fakeCodeDeploy{appSpec: strings.Replace(appSpecJSON(predict, "11", "12"), `}}],`,
			`},"Other":{"Type":"AWS::Lambda::Function","Properties":{"Name":"x","TargetVersion":"1"}}}],`, 1)}, "2 resources"},
		{"ECS service", &fakeCodeDeploy{appSpec: strings.Replace(appSpecJSON(predict, "11", "12"), "AWS::Lambda::Function", "AWS::ECS::Service", 1)}, "want AWS::Lambda::Function"},
		{"alias as target", &fakeCodeDeploy{appSpec: appSpecJSON(predict, "11", "live")}, `TargetVersion \"live\" is not a published version`},
		{"$LATEST as target", &fakeCodeDeploy{appSpec: appSpecJSON(predict, "11", "$LATEST")}, "is not a published version"},
		{"no name", &fakeCodeDeploy{appSpec: appSpecJSON("", "11", "12")}, "is not a function name"},
		{"qualified name", &fakeCodeDeploy{appSpec: appSpecJSON(predict+":live", "11", "12")}, "is not a function name"},
		{"list as version", &fakeCodeDeploy{appSpec: strings.Replace(appSpecJSON(predict, "11", "12"), `"12"`, `["12"]`, 1)}, "neither JSON nor YAML"},
		{"no AppSpec", &fakeCodeDeploy{appSpec: ""}, "holds no AppSpec"},
		{"GetDeployment refused", &fakeCodeDeploy{getErr: errors.New("AccessDeniedException: not authorized to perform codedeploy:GetDeployment")},
			"GetDeployment: AccessDeniedException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl := &fakeLambda{functions: healthyFunctions(t)}
			status, log := runHook(t, context.Background(), fl, tt.cd, testEnv)
			if status != "Failed" {
				t.Fatalf("status %s, want Failed\n%s", status, log)
			}
			if len(fl.calls) != 0 {
				t.Errorf("%d invocations, want none", len(fl.calls))
			}
			if !strings.Contains(log, "smoke test not run") || !strings.Contains(log, tt.wantLog) {
				t.Errorf("log does not contain %q:\n%s", tt.wantLog, log)
			}
		})
	}
}

// The events are REST API payload 1.0 proxy events with the check's route
// in every place API Gateway puts it.
func TestEventIsRESTProxyEvent(t *testing.T) {
	now := time.Date(2026, 12, 5, 7, 30, 0, 0, time.UTC)
	for _, c := range Checks["predict"] {
		raw, err := c.Event("k-123", now)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		rc := ev.RequestContext
		if ev.HTTPMethod != c.Method || rc.HTTPMethod != c.Method || ev.Path != c.Path || ev.Resource != c.Resource ||
			rc.ResourcePath != c.Resource || rc.Path != "/prod"+c.Path {
			t.Errorf("%s: route fields %s %s %s / %s %s %s", c.Name, ev.HTTPMethod, ev.Path, ev.Resource, rc.HTTPMethod, rc.ResourcePath, rc.Path)
		}
		if rc.RequestTimeEpoch != now.UnixMilli() || rc.RequestTime != "05/Dec/2026:07:30:00 +0000" {
			t.Errorf("%s: request time %q %d", c.Name, rc.RequestTime, rc.RequestTimeEpoch)
		}
		if got, want := ev.Headers["X-API-Key"], map[bool]string{true: "k-123"}[c.InvalidKey]; got != want {
			t.Errorf("%s: X-API-Key %q, want %q", c.Name, got, want)
		}
		// api-proxy reads multiValueHeaders when present: both maps agree.
		for k, v := range ev.Headers {
			if mv := ev.MultiValueHeaders[k]; len(mv) != 1 || mv[0] != v {
				t.Errorf("%s: header %s: %q vs %q", c.Name, k, v, mv)
			}
		}
		if (ev.Body != "") != (c.Method == "POST") || (c.Method == "POST" && ev.Headers["Content-Type"] != "application/json") {
			t.Errorf("%s: body %q, Content-Type %q", c.Name, ev.Body, ev.Headers["Content-Type"])
		}
	}
	// The embedded sample is not changed by building events from it.
	var sample events.APIGatewayProxyRequest
	if err := json.Unmarshal(restEvent, &sample); err != nil || sample.Path != "/hello/world" || sample.Headers["X-API-Key"] != "" {
		t.Errorf("embedded sample changed: %v %q", err, sample.Path)
	}
}

// record answers c's event with the real in-process function.
func record(t *testing.T, h handlerFunc, c Check) events.APIGatewayProxyResponse {
	t.Helper()
	ev, err := c.Event(invalidKey(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return out.(events.APIGatewayProxyResponse)
}

func payload(t *testing.T, resp events.APIGatewayProxyResponse) []byte {
	t.Helper()
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func byName(fn, name string) Check {
	for _, c := range Checks[fn] {
		if c.Name == name {
			return c
		}
	}
	panic("no check " + name)
}

// Verify on responses recorded from the real functions, and on those
// responses broken one way at a time.
func TestVerify(t *testing.T) {
	info := realFunction(api.Info, staticKeys(t))
	predict := realFunction(api.Predict, staticKeys(t))
	index := byName("info", "GET /")
	noKey := byName("predict", "POST /predict without a key")
	badKey := byName("predict", "POST /predict with an invalid key")
	get := byName("predict", "GET /predict")

	indexResp := record(t, info, index)
	unauthorized := record(t, predict, noKey)
	notAllowed := record(t, predict, get)
	// Keys that never loaded: Secrets Manager refuses the function.
	unready := record(t, realFunction(api.Predict, secrets.New(failingSecrets{}, "prod/api-keys", secrets.Options{})), badKey)
	// The predict check sent to the info function (a wrong ARN).
	wrongFunction := record(t, info, noKey)

	edit := func(r events.APIGatewayProxyResponse, f func(*events.APIGatewayProxyResponse)) events.APIGatewayProxyResponse {
		r.Headers, r.MultiValueHeaders = maps.Clone(r.Headers), maps.Clone(r.MultiValueHeaders)
		f(&r)
		return r
	}
	drop := func(name string) func(*events.APIGatewayProxyResponse) {
		return func(r *events.APIGatewayProxyResponse) {
			delete(r.Headers, name)
			delete(r.MultiValueHeaders, name)
		}
	}

	tests := []struct {
		name        string
		check       Check
		payload     []byte
		wantErr     string // "" for a pass
		wantStatus  int
		wantProblem string
	}{
		{"index", index, payload(t, indexResp), "", 200, ""},
		{"401 problem", noKey, payload(t, unauthorized), "", 401, "urn:healthcare-api:problem:unauthorized"},
		{"405 with Allow", get, payload(t, notAllowed), "", 405, "urn:healthcare-api:problem:method-not-allowed"},
		{"base64 body", index, payload(t, edit(indexResp, func(r *events.APIGatewayProxyResponse) {
			r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(r.Body)), true
		})), "", 200, ""},
		{"headers only in the single-value map", noKey, payload(t, edit(unauthorized, func(r *events.APIGatewayProxyResponse) {
			r.Headers = map[string]string{}
			for k, v := range r.MultiValueHeaders {
				r.Headers[strings.ToLower(k)] = v[0]
			}
			r.MultiValueHeaders = nil
		})), "", 401, "urn:healthcare-api:problem:unauthorized"},

		{"keys not loaded", badKey, payload(t, unready), "status 503, want 401", 503, "urn:healthcare-api:problem:not-ready"},
		{"wrong function", noKey, payload(t, wrongFunction), "status 404, want 401", 404, "urn:healthcare-api:problem:not-found"},
		{"Lambda error payload", index, []byte(`{"errorMessage":"boom","errorType":"errorString"}`), "not an API Gateway proxy response", 0, ""},
		{"not JSON", index, []byte(`null`), "not an API Gateway proxy response", 0, ""},
		{"401 without WWW-Authenticate", noKey, payload(t, edit(unauthorized, drop("Www-Authenticate"))), "WWW-Authenticate", 401, "urn:healthcare-api:problem:unauthorized"},
		{"405 without Allow", get, payload(t, edit(notAllowed, drop("Allow"))), `header Allow "", want "POST"`, 405, "urn:healthcare-api:problem:method-not-allowed"},
		{"no request id", index, payload(t, edit(indexResp, drop("X-Request-Id"))), "X-Request-Id", 200, ""},
		{"problem as plain JSON", noKey, payload(t, edit(unauthorized, func(r *events.APIGatewayProxyResponse) {
			r.MultiValueHeaders["Content-Type"] = []string{"application/json"}
		})), "want application/problem+json", 401, ""},
		{"other service", index, payload(t, edit(indexResp, func(r *events.APIGatewayProxyResponse) {
			r.Body = strings.Replace(r.Body, "healthcare-prediction-api", "hello-world", 1)
		})), `body field "service"`, 200, ""},
		{"body not JSON", index, payload(t, edit(indexResp, func(r *events.APIGatewayProxyResponse) { r.Body = "<html>" })), "not a JSON object", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.check.Verify(tt.payload)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Verify: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Verify error %v, want one containing %q", err, tt.wantErr)
			}
			if r.Status != tt.wantStatus || r.ProblemType != tt.wantProblem {
				t.Errorf("result %d %q, want %d %q", r.Status, r.ProblemType, tt.wantStatus, tt.wantProblem)
			}
		})
	}
}

// failedChecks returns "function check: reason" for each failure logged.
func failedChecks(t *testing.T, log string) []string {
	var failed []string
	for _, l := range logLines(t, log) {
		if l["msg"] == "smoke check failed" {
			fn, _ := l["function"].(string)
			c, _ := l["check"].(string)
			r, _ := l["reason"].(string)
			failed = append(failed, fn+" "+c+": "+r)
		}
	}
	return failed
}

func TestBrokenFunctionsFail(t *testing.T) {
	functionErr := func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("patient 61.48 broke it") }
	tests := []struct {
		name     string
		group    string // whose deployment
		change   func(fl *fakeLambda)
		env      map[string]string
		wantLog  string // a failed check's "function check: reason" contains it
		wantNoFn bool   // no function is invoked
	}{
		{"keys not loaded", "predict", func(fl *fakeLambda) {
			fl.functions[qualified("predict", "")] = realFunction(api.Predict, secrets.New(failingSecrets{}, "prod/api-keys", secrets.Options{}))
		}, testEnv, "predict POST /predict with an invalid key: status 503, want 401", false},
		{"function error", "health", func(fl *fakeLambda) {
			fl.functions[qualified("health", "")] = functionErr
		}, testEnv, "health GET /health/live: function error: Unhandled", false},
		{"health build serving info routes", "health", func(fl *fakeLambda) {
			fl.functions[qualified("health", "")] = realFunction(api.Info, staticKeys(t))
		}, testEnv, "health GET /health/live: status 404, want 200", false},
		{"version not found", "info", func(fl *fakeLambda) {
			delete(fl.functions, qualified("info", ""))
		}, testEnv, "info GET /: invoke: ResourceNotFoundException", false},
		{"invoke refused", "info", func(fl *fakeLambda) {
			fl.invokeErr = errors.New("AccessDeniedException: not authorized to perform lambda:InvokeFunction")
		}, testEnv, "info GET /: invoke: AccessDeniedException", false},
		{"another version ran", "info", func(fl *fakeLambda) { fl.executed = "2" }, testEnv, "info GET /: executed version 2, not the version under test", false},
		{"panic", "info", func(fl *fakeLambda) {
			fl.functions[qualified("info", "")] = func(context.Context, json.RawMessage) (any, error) { panic("boom") }
		}, testEnv, "info : panic: boom", false},
		{"ARN instead of name", "info", func(*fakeLambda) {}, map[string]string{
			"INFO_FUNCTION_NAME":    "arn:aws:lambda:eu-west-1:123456789012:function:api-InfoFunction-AbC123",
			"HEALTH_FUNCTION_NAME":  testEnv["HEALTH_FUNCTION_NAME"],
			"PREDICT_FUNCTION_NAME": testEnv["PREDICT_FUNCTION_NAME"],
		}, "", true},
		{"no configuration", "info", func(*fakeLambda) {}, map[string]string{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl := &fakeLambda{functions: healthyFunctions(t)}
			tt.change(fl)
			status, log := runHook(t, context.Background(), fl, &fakeCodeDeploy{appSpec: deploymentOf(tt.group)}, tt.env)
			if status != "Failed" {
				t.Fatalf("status %s, want Failed\n%s", status, log)
			}
			if tt.wantNoFn {
				if len(fl.calls) != 0 || !strings.Contains(log, "smoke test not run: configuration") {
					t.Errorf("%d invocations with a bad configuration, want 0 and the reason logged\n%s", len(fl.calls), log)
				}
			} else if failed := strings.Join(failedChecks(t, log), "\n"); !strings.Contains(failed, tt.wantLog) {
				t.Errorf("failed checks:\n%s\nwant one containing %q", failed, tt.wantLog)
			}
			if strings.Contains(log, "61.48") {
				t.Errorf("log quotes the function's error message:\n%s", log)
			}
		})
	}
}

// slowLambda never answers before the context ends: a function that
// hangs, or an Invoke API that does not answer.
type slowLambda struct{}

func (slowLambda) Invoke(ctx context.Context, _ *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A hanging function fails the deployment within the hook's own time:
// the status is reported before the invocation's deadline.
func TestReportsBeforeItsDeadline(t *testing.T) {
	deadline := time.Now().Add(reportReserve + 500*time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	status, log := runHook(t, ctx, slowLambda{}, &fakeCodeDeploy{appSpec: deploymentOf("predict")}, testEnv)
	if status != "Failed" {
		t.Fatalf("status %s, want Failed\n%s", status, log)
	}
	if left := time.Until(deadline); left < reportReserve-time.Second {
		t.Errorf("reported %s before the deadline, want about %s", left, reportReserve)
	}
	if !strings.Contains(log, "no time left") && !strings.Contains(log, "deadline exceeded") {
		t.Errorf("log does not say the checks ran out of time:\n%s", log)
	}
}

func TestReportFailureIsRetried(t *testing.T) {
	cd := &fakeCodeDeploy{appSpec: deploymentOf("health"), err: errors.New("ThrottlingException")}
	var log bytes.Buffer
	hook := New(slog.New(slog.NewJSONHandler(&log, nil)), &fakeLambda{functions: healthyFunctions(t)}, cd, func(k string) string { return testEnv[k] })
	// An error makes Lambda retry the asynchronous invocation.
	if err := hook.Handle(context.Background(), testEvent); err == nil {
		t.Fatal("Handle = nil when the status could not be reported")
	}
	if len(cd.reported) != 1 || !strings.Contains(log.String(), `"msg":"status not reported","deployment_id":"d-8TQ1Z2ABC","status":"Succeeded"`) {
		t.Errorf("want one attempt and the log line:\n%s", log.String())
	}
}

func TestNotALifecycleEvent(t *testing.T) {
	cd := &fakeCodeDeploy{appSpec: deploymentOf("health")}
	fl := &fakeLambda{functions: healthyFunctions(t)}
	hook := New(slog.New(slog.DiscardHandler), fl, cd, func(k string) string { return testEnv[k] })
	if err := hook.Handle(context.Background(), Event{DeploymentID: "d-1"}); err == nil {
		t.Error("Handle = nil for an event without LifecycleEventHookExecutionId")
	}
	if len(cd.reported) != 0 || len(fl.calls) != 0 {
		t.Errorf("%d reports, %d invocations for a foreign event", len(cd.reported), len(fl.calls))
	}
}

func TestFunctions(t *testing.T) {
	groups, err := Functions(func(k string) string { return testEnv[k] })
	if err != nil || len(groups) != len(FunctionEnv) {
		t.Fatalf("Functions = %v, %v", groups, err)
	}
	for group, env := range FunctionEnv {
		if groups[testEnv[env]] != group {
			t.Errorf("%s (%s): group %q, want %q", env, testEnv[env], groups[testEnv[env]], group)
		}
	}
	for _, bad := range []string{
		"", "arn:aws:lambda:eu-west-1:123456789012:function:api-InfoFunction-AbC123",
		"api-InfoFunction-AbC123:7", "api-InfoFunction-AbC123:live", "api-InfoFunction-AbC123:$LATEST",
		testEnv["HEALTH_FUNCTION_NAME"], // the same function twice
		strings.Repeat("f", 65),
	} {
		_, err := Functions(func(k string) string {
			if k == "INFO_FUNCTION_NAME" {
				return bad
			}
			return testEnv[k]
		})
		if err == nil || !strings.Contains(err.Error(), "INFO_FUNCTION_NAME") {
			t.Errorf("INFO_FUNCTION_NAME=%q: %v, want an error naming it", bad, err)
		}
	}
	if _, err := Functions(func(string) string { return "" }); err == nil || strings.Count(err.Error(), "must be an unqualified function name") != len(FunctionEnv) {
		t.Errorf("empty environment: %v, want every variable named", err)
	}
}

func TestParseAppSpec(t *testing.T) {
	tests := []struct {
		name, content string
		want          Deployed
	}{
		{"JSON", appSpecJSON("api-PredictFunction-GhI789", "11", "12"), Deployed{"api-PredictFunction-GhI789", "live", "11", "12"}},
		{"YAML, unquoted versions", appSpecYAML("api-InfoFunction-AbC123", "6", "7"), Deployed{"api-InfoFunction-AbC123", "live", "6", "7"}},
		{"JSON, numbers and tabs", "{\n\t\"Resources\": [{\"F\": {\"Type\": \"AWS::Lambda::Function\",\n\t\"Properties\": {\"Name\": \"f\", \"Alias\": \"live\", \"CurrentVersion\": 1, \"TargetVersion\": 2}}}]}",
			Deployed{"f", "live", "1", "2"}},
		{"function ARN", appSpecJSON("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f", "1", "2"), Deployed{"f", "live", "1", "2"}},
		{"YAML flow mapping", `{Resources: [{F: {Type: AWS::Lambda::Function, Properties: {Name: f, TargetVersion: 2}}}]}`, Deployed{"f", "", "", "2"}},
		{"first deployment, no current version", appSpecYAML("f", `""`, "1"), Deployed{"f", "live", "", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAppSpec(tt.content)
			if err != nil || got != tt.want {
				t.Errorf("ParseAppSpec = %+v, %v, want %+v", got, err, tt.want)
			}
		})
	}
	// YAML keys are case-sensitive: a misspelt key is a missing one.
	if _, err := ParseAppSpec(strings.Replace(appSpecYAML("f", "1", "2"), "TargetVersion", "targetversion", 1)); err == nil {
		t.Error("YAML with targetversion: no error")
	}
}

// The checks name real routes of the functions they test, with the status
// the contract gives them (internal/api/routes.go).
func TestChecksMatchRoutes(t *testing.T) {
	groups := map[string]api.Group{"info": api.Info, "health": api.Health, "predict": api.Predict, "cdshooks": api.CDSHooks}
	for fn, cs := range Checks {
		h := realFunction(groups[fn], staticKeys(t))
		if fn == "health" {
			h = realFunction(api.Health, nil)
		}
		for _, c := range cs {
			resp := record(t, h, c)
			if resp.StatusCode == http.StatusNotFound {
				t.Errorf("%s %s: no such route on the function", fn, c.Name)
			}
		}
	}
}

// Whatever CodeDeploy hands over, ParseAppSpec returns a function name and
// a published version, or an error: never a panic, never an alias.
func FuzzParseAppSpec(f *testing.F) {
	f.Add(appSpecJSON("api-PredictFunction-GhI789", "11", "12"))
	f.Add(appSpecYAML("api-InfoFunction-AbC123", "6", "7"))
	f.Add(`{Resources: [{F: {Type: AWS::Lambda::Function, Properties: {Name: f, TargetVersion: 2}}}]}`)
	f.Add("Resources:\n  - F: &a\n      Type: AWS::Lambda::Function\n  - G: *a\n")
	f.Fuzz(func(t *testing.T, content string) {
		d, err := ParseAppSpec(content)
		if err == nil && (!functionName.MatchString(d.Function) || !publishedVersion.MatchString(d.TargetVersion)) {
			t.Errorf("ParseAppSpec(%q) = %+v without an error", content, d)
		}
	})
}
