package smoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Event is what CodeDeploy sends a lifecycle hook function.
type Event struct {
	DeploymentID                  string `json:"DeploymentId"`
	LifecycleEventHookExecutionID string `json:"LifecycleEventHookExecutionId"`
}

// Invoker invokes a Lambda function: *lambda.Client.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// CodeDeploy is the part of CodeDeploy the hook uses: *codedeploy.Client.
type CodeDeploy interface {
	GetDeployment(ctx context.Context, in *codedeploy.GetDeploymentInput, optFns ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
	GetApplicationRevision(ctx context.Context, in *codedeploy.GetApplicationRevisionInput, optFns ...func(*codedeploy.Options)) (*codedeploy.GetApplicationRevisionOutput, error)
	PutLifecycleEventHookExecutionStatus(ctx context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, optFns ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error)
}

// Target is the function version under test.
type Target struct {
	Function string // a key of Checks
	Name     string // the qualified function name, NAME:VERSION
}

// Version is the version number at the end of the target's name.
func (t Target) Version() string { return t.Name[strings.LastIndexByte(t.Name, ':')+1:] }

// FunctionEnv maps each check group to the environment variable that
// names its function, unqualified (in template.yaml: !Ref InfoFunction).
// The hook tests whichever version a deployment moves the alias to; the
// names only say which checks apply.
var FunctionEnv = map[string]string{
	"info":     "INFO_FUNCTION_NAME",
	"health":   "HEALTH_FUNCTION_NAME",
	"predict":  "PREDICT_FUNCTION_NAME",
	"cdshooks": "CDSHOOKS_FUNCTION_NAME",
}

// Functions reads the function names through getenv and returns each
// one's check group, reporting every problem at once. All three are
// required: a misspelt variable must fail the deployments, not skip a
// function's checks.
func Functions(getenv func(string) string) (map[string]string, error) {
	groups := map[string]string{}
	var errs []error
	for _, group := range []string{"health", "info", "predict", "cdshooks"} {
		env := FunctionEnv[group]
		name := getenv(env)
		switch {
		case !functionName.MatchString(name):
			errs = append(errs, fmt.Errorf("%s must be an unqualified function name (no ARN, alias or version), got %q", env, name))
		case groups[name] != "":
			errs = append(errs, fmt.Errorf("%s names the same function as %s: %q", env, FunctionEnv[groups[name]], name))
		default:
			groups[name] = group
		}
	}
	return groups, errors.Join(errs...)
}

// reportReserve is the part of the hook's own time kept for reporting the
// status: checks still running then are cut off and count as failed.
const reportReserve = 3 * time.Second

// Hook runs the checks and reports the outcome. It reports a status for
// every lifecycle event it gets, whatever goes wrong: CodeDeploy otherwise
// waits an hour before failing the deployment.
type Hook struct {
	logger     *slog.Logger
	lambda     Invoker
	codedeploy CodeDeploy
	groups     map[string]string // check group by function name
	configErr  error             // a configuration problem: every deployment fails
}

// New builds the hook for the functions named through getenv. A
// configuration error does not stop it: each event is then answered Failed
// with the error in the log.
func New(logger *slog.Logger, invoker Invoker, cd CodeDeploy, getenv func(string) string) *Hook {
	groups, err := Functions(getenv)
	if err != nil {
		logger.Error("configuration", "error", err.Error())
	}
	return &Hook{logger: logger, lambda: invoker, codedeploy: cd, groups: groups, configErr: err}
}

// Handle is the Lambda handler. It returns an error only when the status
// could not be reported, so that Lambda retries the (asynchronous)
// invocation and the hook reports on the next try.
func (h *Hook) Handle(ctx context.Context, ev Event) error {
	if ev.DeploymentID == "" || ev.LifecycleEventHookExecutionID == "" {
		h.logger.Error("not a CodeDeploy lifecycle event: DeploymentId or LifecycleEventHookExecutionId missing")
		return errors.New("not a CodeDeploy lifecycle event")
	}
	logger := h.logger.With("deployment_id", ev.DeploymentID)
	status := cdtypes.LifecycleEventStatusSucceeded
	if !h.smokeTest(ctx, logger, ev.DeploymentID) {
		status = cdtypes.LifecycleEventStatusFailed
	}
	_, err := h.codedeploy.PutLifecycleEventHookExecutionStatus(ctx, &codedeploy.PutLifecycleEventHookExecutionStatusInput{
		DeploymentId:                  &ev.DeploymentID,
		LifecycleEventHookExecutionId: &ev.LifecycleEventHookExecutionID,
		Status:                        status,
	})
	if err != nil {
		logger.Error("status not reported", "status", string(status), "error", err.Error())
		return fmt.Errorf("report %s: %w", status, err)
	}
	logger.Info("status reported", "status", string(status))
	return nil
}

// smokeTest asks CodeDeploy which function version the deployment moves
// the alias to, runs that function's checks against that version within
// the invocation's time less reportReserve, and reports whether all
// passed. The version comes from the deployment, not from the hook's
// environment: a rollback deployment then tests the version it restores,
// and one function's deployment never tests another.
func (h *Hook) smokeTest(ctx context.Context, logger *slog.Logger, deploymentID string) bool {
	if h.configErr != nil {
		logger.Error("smoke test not run: configuration", "error", h.configErr.Error())
		return false
	}
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-reportReserve))
		defer cancel()
	}
	d, err := h.deployed(ctx, deploymentID)
	if err != nil {
		logger.Error("smoke test not run: deployment", "error", err.Error())
		return false
	}
	group, ok := h.groups[d.Function]
	if !ok {
		logger.Error("smoke test not run: the deployment's function is none of the hook's (INFO_FUNCTION_NAME, HEALTH_FUNCTION_NAME, PREDICT_FUNCTION_NAME, CDSHOOKS_FUNCTION_NAME)",
			"function_name", d.Function, "version", d.TargetVersion)
		return false
	}
	logger.Info("deployment under test", "function", group, "function_name", d.Function,
		"current_version", d.CurrentVersion, "version", d.TargetVersion)
	return h.testTarget(ctx, logger, Target{Function: group, Name: d.Function + ":" + d.TargetVersion})
}

// deployed reads the deployment's AppSpec from CodeDeploy. GetDeployment
// leaves the AppSpec's content null (CodeDeploy API reference); the
// revision it returns, with its sha256, then names the content for
// GetApplicationRevision.
func (h *Hook) deployed(ctx context.Context, deploymentID string) (Deployed, error) {
	out, err := h.codedeploy.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: &deploymentID})
	if err != nil {
		return Deployed{}, fmt.Errorf("GetDeployment: %w", err)
	}
	info := out.DeploymentInfo
	if info == nil || info.Revision == nil {
		return Deployed{}, errors.New("GetDeployment returned no revision")
	}
	content := revisionContent(info.Revision)
	if content == "" {
		rev, err := h.codedeploy.GetApplicationRevision(ctx, &codedeploy.GetApplicationRevisionInput{
			ApplicationName: info.ApplicationName,
			Revision:        info.Revision,
		})
		if err != nil {
			return Deployed{}, fmt.Errorf("GetApplicationRevision: %w", err)
		}
		content = revisionContent(rev.Revision)
	}
	if content == "" {
		return Deployed{}, fmt.Errorf("the deployment's revision (%s) holds no AppSpec", info.Revision.RevisionType)
	}
	return ParseAppSpec(content)
}

// testTarget runs t's checks in order and reports whether all passed. A
// panic is a failure, not a crash: the status must still be reported.
func (h *Hook) testTarget(ctx context.Context, logger *slog.Logger, t Target) (ok bool) {
	logger = logger.With("function", t.Function, "version", t.Version())
	defer func() {
		if p := recover(); p != nil {
			logger.Error("smoke check failed", "reason", fmt.Sprintf("panic: %v", p))
			ok = false
		}
	}()
	ok = true
	for _, c := range Checks[t.Function] {
		if ctx.Err() != nil {
			logger.Error("smoke check failed", "check", c.Name, "reason", "no time left (raise the hook function's Timeout)")
			return false
		}
		if !h.check(ctx, logger.With("check", c.Name), t, c) {
			ok = false
		}
	}
	return ok
}

// check invokes t with c's event and verifies the answer.
func (h *Hook) check(ctx context.Context, logger *slog.Logger, t Target, c Check) bool {
	event, err := c.Event(invalidKey(), time.Now())
	if err != nil {
		logger.Error("smoke check failed", "reason", err.Error())
		return false
	}
	out, err := h.lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   &t.Name,
		InvocationType: lambdatypes.InvocationTypeRequestResponse,
		Payload:        event,
	})
	switch {
	case err != nil:
		logger.Error("smoke check failed", "reason", "invoke: "+err.Error())
		return false
	case out.FunctionError != nil:
		// The payload's errorMessage may quote anything; its type is enough.
		var e struct{ ErrorType string }
		_ = json.Unmarshal(out.Payload, &e)
		logger.Error("smoke check failed", "reason", "function error: "+*out.FunctionError, "error_type", e.ErrorType)
		return false
	case out.ExecutedVersion != nil && *out.ExecutedVersion != t.Version():
		logger.Error("smoke check failed", "reason", "executed version "+*out.ExecutedVersion+", not the version under test")
		return false
	}
	r, err := c.Verify(out.Payload)
	attrs := []any{"status", r.Status, "request_id", r.RequestID}
	if r.ProblemType != "" {
		attrs = append(attrs, "problem_type", r.ProblemType)
	}
	if err != nil {
		logger.Error("smoke check failed", append(attrs, "reason", err.Error())...)
		return false
	}
	logger.Info("smoke check passed", attrs...)
	return true
}

// invalidKey is a fresh random key: no key set can hold it, and it is no
// secret.
func invalidKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "pretraffic-invalid-" + hex.EncodeToString(b)
}
