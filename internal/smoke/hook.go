package smoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
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

// Reporter tells CodeDeploy how a lifecycle hook went: *codedeploy.Client.
type Reporter interface {
	PutLifecycleEventHookExecutionStatus(ctx context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, optFns ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error)
}

// Target is one function version under test.
type Target struct {
	Function string // a key of Checks
	ARN      string // the version's ARN (arn:...:function:NAME:VERSION)
}

// Version is the version number at the end of the target's ARN.
func (t Target) Version() string { return t.ARN[strings.LastIndexByte(t.ARN, ':')+1:] }

// TargetEnv maps each function under test to the environment variable that
// holds its new version's ARN (in template.yaml: !Ref InfoFunction.Version).
var TargetEnv = map[string]string{
	"info":    "INFO_VERSION_ARN",
	"health":  "HEALTH_VERSION_ARN",
	"predict": "PREDICT_VERSION_ARN",
}

// versionARN is a qualified function ARN whose qualifier is a published
// version: an alias or $LATEST would smoke-test something other than what
// CodeDeploy is about to shift traffic to.
var versionARN = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}:[0-9]+$`)

// Targets reads every function's version ARN through getenv and reports
// every problem at once. All three are required: a misspelt variable must
// fail the deployment, not skip a function's checks.
func Targets(getenv func(string) string) ([]Target, error) {
	var targets []Target
	var errs []error
	for _, fn := range []string{"health", "info", "predict"} {
		name := TargetEnv[fn]
		arn := getenv(name)
		if !versionARN.MatchString(arn) {
			errs = append(errs, fmt.Errorf("%s must be the ARN of a published version (arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION), got %q", name, arn))
			continue
		}
		targets = append(targets, Target{Function: fn, ARN: arn})
	}
	return targets, errors.Join(errs...)
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
	codedeploy Reporter
	targets    []Target
	configErr  error // a configuration problem: every deployment fails
}

// New builds the hook for the targets named through getenv. A
// configuration error does not stop it: each event is then answered Failed
// with the error in the log.
func New(logger *slog.Logger, invoker Invoker, reporter Reporter, getenv func(string) string) *Hook {
	targets, err := Targets(getenv)
	if err != nil {
		logger.Error("configuration", "error", err.Error())
	}
	return &Hook{logger: logger, lambda: invoker, codedeploy: reporter, targets: targets, configErr: err}
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
	if !h.smokeTest(ctx, logger) {
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

// smokeTest runs every target's checks, the targets at once, within the
// invocation's time less reportReserve, and reports whether all passed.
func (h *Hook) smokeTest(ctx context.Context, logger *slog.Logger) bool {
	if h.configErr != nil {
		logger.Error("smoke test not run: configuration", "error", h.configErr.Error())
		return false
	}
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-reportReserve))
		defer cancel()
	}
	passed := make([]bool, len(h.targets))
	var wg sync.WaitGroup
	for i, t := range h.targets {
		wg.Go(func() { passed[i] = h.testTarget(ctx, logger, t) })
	}
	wg.Wait()
	for _, ok := range passed {
		if !ok {
			return false
		}
	}
	return len(h.targets) > 0
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
		FunctionName:   &t.ARN,
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
