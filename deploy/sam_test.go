package deploy

// Tests of what CloudFormation deploys: template.yaml as the SAM
// translator turns it into plain CloudFormation (the same samtranslator
// cfn-lint uses), for the parameters each environment deploys with.

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/replay"
	"github.com/healthcare-prediction/api/internal/smoke"
	"github.com/healthcare-prediction/api/internal/testutil"
)

var translations sync.Map // strings.Join(params, " ") → func() (map[string]any, error)

// translated returns template.yaml translated by samtranslator with the
// given parameter overrides (Name=Value), once per set of parameters.
func translated(t *testing.T, params ...string) map[string]any {
	t.Helper()
	key := strings.Join(params, " ")
	f, _ := translations.LoadOrStore(key, sync.OnceValues(func() (map[string]any, error) {
		args := append([]string{filepath.Join("testdata", "samtranslate.py"), filepath.Join(root, "template.yaml")}, params...)
		cmd := exec.Command("python3", args...)
		cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=eu-west-1")
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if e, ok := err.(*exec.ExitError); ok {
				stderr = string(e.Stderr)
			}
			return nil, fmt.Errorf("samtranslate %s: %v\n%s", key, err, stderr)
		}
		var tpl map[string]any
		if err := json.Unmarshal(out, &tpl); err != nil {
			return nil, fmt.Errorf("samtranslate %s: %v", key, err)
		}
		return tpl, nil
	}))
	tpl, err := f.(func() (map[string]any, error))()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// deployments are the parameter sets the tests translate the template
// with: its defaults, and each samconfig.toml environment's overrides
// (prod with the AlarmEmail its rule requires).
func deployments(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{"defaults": nil}
	for env, overrides := range samconfigOverrides(t) {
		if env == "prod" {
			overrides = append(slices.Clone(overrides), "AlarmEmail=oncall@example.org")
		}
		out["samconfig "+env] = overrides
	}
	return out
}

// ------------------------------------------------------- gateway responses

// gatewayResponses are the answers API Gateway gives itself, with the
// status each must have (0: keeps its own) and whether it carries
// Retry-After.
var gatewayResponses = map[string]struct {
	status     int
	retryAfter bool
}{
	"MISSING_AUTHENTICATION_TOKEN": {404, false}, // unknown path or method
	"RESOURCE_NOT_FOUND":           {404, false},
	"INCOMPLETE_SIGNATURE":         {404, false}, // unknown path with an Authorization header
	"API_CONFIGURATION_ERROR":      {500, false},
	"THROTTLED":                    {429, true},
	"QUOTA_EXCEEDED":               {429, true},
	"WAF_FILTERED":                 {403, false},
	"ACCESS_DENIED":                {403, false},
	"REQUEST_TOO_LARGE":            {413, false},
	"UNSUPPORTED_MEDIA_TYPE":       {415, false},
	"INTEGRATION_TIMEOUT":          {504, false},
	"INTEGRATION_FAILURE":          {502, false},
	"DEFAULT_4XX":                  {0, false},
	"DEFAULT_5XX":                  {0, false},
}

var contextVar = regexp.MustCompile(`\$context\.[A-Za-z.]+`)

// TestGatewayResponses proves every answer API Gateway makes itself speaks
// our error contract: an RFC 9457 problem document with a type URN the
// README documents, no caching, the gateway's request id, Retry-After on
// 429, and never the gateway's own message (some echo request headers).
func TestGatewayResponses(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tpl := translated(t)
	responses := mapAt(tpl, "Resources", "Api", "Properties", "Body", "x-amazon-apigateway-gateway-responses")
	if responses == nil {
		t.Fatal("the translated Api has no x-amazon-apigateway-gateway-responses: GatewayResponses must stay in the inline DefinitionBody")
	}
	for typ, want := range gatewayResponses {
		t.Run(typ, func(t *testing.T) {
			r := mapAt(responses, typ)
			if r == nil {
				t.Fatalf("no gateway response %s: API Gateway answers it in its own format", typ)
			}
			status, _ := strconv.Atoi(str(r, "statusCode"))
			if status != want.status {
				t.Errorf("statusCode %d, want %d", status, want.status)
			}
			headers := mapAt(r, "responseParameters")
			for h, v := range map[string]string{
				"Content-Type":           "'application/problem+json'",
				"Cache-Control":          "'no-store'",
				"X-Content-Type-Options": "'nosniff'",
			} {
				if got := str(headers, "gatewayresponse.header."+h); got != v {
					t.Errorf("header %s = %q, want %q", h, got, v)
				}
			}
			if retry := str(headers, "gatewayresponse.header.Retry-After"); want.retryAfter != (retry != "") {
				t.Errorf("Retry-After %q; want one: %v", retry, want.retryAfter)
			} else if want.retryAfter && !regexp.MustCompile(`^'[1-9][0-9]*'$`).MatchString(retry) {
				t.Errorf("Retry-After %q is not a static number of seconds", retry)
			}
			templates := mapAt(r, "responseTemplates")
			if len(templates) != 1 || str(templates, "application/json") == "" {
				t.Fatalf("responseTemplates %v, want one application/json template", templates)
			}
			body := str(templates, "application/json")
			for _, v := range contextVar.FindAllString(body, -1) {
				if v != "$context.requestId" && v != "$context.error.responseType" {
					t.Errorf("the body uses %s: only the request id and the response type (an enum) are safe to echo", v)
				}
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(contextVar.ReplaceAllString(body, "x")), &doc); err != nil {
				t.Fatalf("body is not JSON once API Gateway fills in $context: %v\n%s", err, body)
			}
			typeURN, _ := doc["type"].(string)
			slug, ok := strings.CutPrefix(typeURN, "urn:healthcare-api:problem:")
			if !ok || !strings.Contains(string(readme), "`"+slug+"`") {
				t.Errorf("type %q is not one of the README's urn:healthcare-api:problem: types", typeURN)
			}
			for _, k := range []string{"title", "detail"} {
				if s, _ := doc[k].(string); s == "" {
					t.Errorf("no %s", k)
				}
			}
			if got, ok := doc["status"].(float64); want.status != 0 && (!ok || int(got) != want.status) {
				t.Errorf("body status %v, want %d", doc["status"], want.status)
			} else if want.status == 0 && ok {
				t.Errorf("body status %v on a response that keeps its own status", got)
			}
			if !strings.Contains(body, `"request_id":"$context.requestId"`) {
				t.Error(`body lacks "request_id":"$context.requestId"`)
			}
		})
	}
}

// TestAccessLog: the access log is one JSON object a line, joins the
// function's log line through the Lambda request id, and records no
// header, body or query value.
func TestAccessLog(t *testing.T) {
	tpl := translated(t)
	format := str(tpl, "Resources", "ApiStage", "Properties", "AccessLogSetting", "Format")
	var doc map[string]string
	if err := json.Unmarshal([]byte(format), &doc); err != nil {
		t.Fatalf("access log format is not a JSON object: %v\n%s", err, format)
	}
	if doc["integrationRequestId"] != "$context.integration.requestId" {
		t.Errorf("integrationRequestId = %q, want $context.integration.requestId (the Lambda request id in the function's log)", doc["integrationRequestId"])
	}
	if doc["requestId"] != "$context.requestId" || doc["stage"] != "$context.stage" || doc["status"] != "$context.status" {
		t.Errorf("requestId, stage and status must be logged (the 401/429 metric filters read stage and status): %v", doc)
	}
	for k, v := range doc {
		for _, bad := range []string{"$input", "$context.path", "$context.identity.user", "$context.authorizer", "$method", "header", "querystring"} {
			if strings.Contains(v, bad) {
				t.Errorf("%s = %s: the access log must not record request values", k, v)
			}
		}
	}
}

// ------------------------------------------------------------------ alarms

// TestAlarmsSelectOneEnvironment proves, on what CloudFormation deploys
// for each environment, that every alarm selects this environment only:
// our metrics by their Environment dimension, AWS metrics by this stack's
// own API stage and functions; so a 5xx in dev or on EKS never pages prod.
func TestAlarmsSelectOneEnvironment(t *testing.T) {
	for name, params := range deployments(t) {
		t.Run(name, func(t *testing.T) {
			tpl := resolveConditions(t, translated(t, params...), params)
			res := mapAt(tpl, "Resources")
			checked := 0
			for id, r := range res {
				if str(r, "Type") != "AWS::CloudWatch::Alarm" {
					continue
				}
				p := mapAt(r, "Properties")
				var metrics []map[string]any
				if str(p, "MetricName") != "" {
					metrics = append(metrics, p)
				}
				for _, m := range listAt(p, "Metrics") {
					if ms := mapAt(m, "MetricStat", "Metric"); ms != nil {
						metrics = append(metrics, ms)
					}
				}
				if len(metrics) == 0 {
					t.Errorf("%s has no metric", id)
				}
				for _, m := range metrics {
					checked++
					dims := map[string]any{}
					for _, d := range listAt(m, "Dimensions") {
						dims[str(d, "Name")] = at(d, "Value")
					}
					where := id + " " + str(m, "Namespace") + "/" + str(m, "MetricName")
					switch ns := str(m, "Namespace"); {
					case strings.HasPrefix(ns, "HealthcareAPI"):
						if str(dims["Environment"], "Ref") != "Stage" {
							t.Errorf("%s: Environment dimension %v, want !Ref Stage", where, dims["Environment"])
						}
					case ns == "AWS/ApiGateway":
						if str(dims["Stage"], "Ref") != "Stage" || str(dims["ApiName"], "Fn::Sub") != "${AWS::StackName}" {
							t.Errorf("%s: dimensions %v, want this stack's API and stage", where, dims)
						}
					case ns == "AWS/Lambda":
						fn := str(dims["FunctionName"], "Ref")
						if fn == "" && str(m, "MetricName") != "ClaimedAccountConcurrency" {
							t.Errorf("%s: no FunctionName of this stack: %v", where, dims)
						} else if fn != "" && str(res, fn, "Type") != "AWS::Lambda::Function" {
							t.Errorf("%s: FunctionName %q is no function of this stack", where, fn)
						}
					case ns == "AWS/Logs":
						if str(dims["LogGroupName"], "Ref") == "" {
							t.Errorf("%s: no LogGroupName of this stack", where)
						}
					default:
						t.Errorf("%s: namespace %q is not checked here; add it", where, ns)
					}
				}
			}
			if checked < 20 {
				t.Fatalf("checked only %d alarm metrics; the translation or the parser is broken", checked)
			}
		})
	}
}

// TestAlarmRouting: only the composite "service unhealthy" alarm pages
// (critical topic); every other alarm goes to the warning topic; the
// composite is built from the alarms clients feel.
func TestAlarmRouting(t *testing.T) {
	tpl := translated(t, "Stage=prod", "AlarmEmail=oncall@example.org")
	res := mapAt(tpl, "Resources")
	critical := 0
	for id, r := range res {
		p := mapAt(r, "Properties")
		switch str(r, "Type") {
		case "AWS::CloudWatch::CompositeAlarm":
			critical++
			for _, k := range []string{"AlarmActions", "OKActions"} {
				if got := listAt(p, k); len(got) != 1 || str(got[0], "Ref") != "AlarmTopic" {
					t.Errorf("%s: %s = %v, want [!Ref AlarmTopic] (critical)", id, k, got)
				}
			}
			rule := fmt.Sprint(at(p, "AlarmRule"))
			for _, part := range []string{"Api5xxRateAlarm", "ApiLatencyAlarm"} {
				if !strings.Contains(rule, part) {
					t.Errorf("%s: AlarmRule %s lacks %s", id, rule, part)
				}
			}
		case "AWS::CloudWatch::Alarm":
			for _, k := range []string{"AlarmActions", "OKActions"} {
				if got := listAt(p, k); len(got) != 1 || str(got[0], "Ref") != "WarningTopic" {
					t.Errorf("%s: %s = %v, want [!Ref WarningTopic]", id, k, got)
				}
			}
		}
	}
	if critical != 1 {
		t.Errorf("%d composite alarms, want the one service-unhealthy alarm", critical)
	}
	if str(res, "AlarmEmailSubscription", "Properties", "TopicArn", "Ref") != "AlarmTopic" {
		t.Error("AlarmEmail must subscribe to the critical topic")
	}
}

// TestErrorRateAlarmsNeedVolume: a rate alarm cannot fire on two errors
// among three requests at night.
func TestErrorRateAlarmsNeedVolume(t *testing.T) {
	tpl := loadTemplate(t)
	for _, id := range []string{"Api5xxRateAlarm", "Api4xxRateAlarm", "ApiLatencyAlarm"} {
		var expr string
		for _, m := range listAt(tpl, "Resources", id, "Properties", "Metrics") {
			if at(m, "ReturnData") == true {
				expr = str(m, "Expression", "Fn::Sub")
			}
		}
		if !strings.HasPrefix(expr, "IF(requests >= ${AlarmMinRequests},") {
			t.Errorf("%s: expression %q does not require AlarmMinRequests requests first", id, expr)
		}
	}
	for _, want := range []string{"UnauthorizedAlarm", "TooManyRequestsAlarm", "ApiLatencyAlarm", "Api4xxRateAlarm"} {
		if at(tpl, "Resources", want) == nil {
			t.Errorf("no %s", want)
		}
	}
	// Concurrency headroom, whichever way the functions get concurrency:
	// one alarm, each function measured against its own bound (its
	// reservation, or the account's pool).
	for _, c := range []struct {
		params []string
		want   []string
	}{
		{nil, []string{"100 * claimed / 1000", "100 * claimed / 1000"}},
		{[]string{"ReservedConcurrency=5"}, []string{"100 * MAX([info, health, predict]) / 5", "100 * claimed / 1000"}},
		{[]string{"CdsHooksReservedConcurrency=7"}, []string{"100 * claimed / 1000", "100 * cdshooks / 7"}},
		{[]string{"ReservedConcurrency=5", "CdsHooksReservedConcurrency=7"}, []string{"100 * MAX([info, health, predict]) / 5", "100 * cdshooks / 7"}},
	} {
		res := mapAt(resolveConditions(t, translated(t, c.params...), c.params), "Resources")
		ids := map[string]bool{}
		exprs := map[string]string{}
		var expr string
		for _, m := range listAt(res, "ConcurrencyHeadroomAlarm", "Properties", "Metrics") {
			ids[str(m, "Id")] = true
			switch e := at(m, "Expression").(type) {
			case nil:
			case string:
				exprs[str(m, "Id")] = e
			default:
				exprs[str(m, "Id")] = subExpression(t, e, c.params)
			}
			if at(m, "ReturnData") == true {
				expr = exprs[str(m, "Id")]
			}
		}
		// The watched expression is MAX over one expression per bound;
		// spell it out with those expressions in place.
		for _, id := range []string{"api", "cds"} {
			expr = strings.ReplaceAll(expr, id, exprs[id])
		}
		if want := "MAX([" + strings.Join(c.want, ", ") + "])"; expr != want {
			t.Errorf("parameters %q: concurrency-headroom expression %q, want %q", c.params, expr, want)
		}
		for _, id := range regexp.MustCompile(`[a-z]+`).FindAllString(expr, -1) {
			if !ids[id] {
				t.Errorf("parameters %q: the expression names %s, which the alarm does not query", c.params, id)
			}
		}
		fn := mapAt(res, "CdsHooksFunction", "Properties")
		want := map[bool]string{true: "7", false: "<nil>"}[slices.Contains(c.params, "CdsHooksReservedConcurrency=7")]
		if got := fmt.Sprint(fn["ReservedConcurrentExecutions"]); got != want && !(want == "7" && str(fn, "ReservedConcurrentExecutions", "Ref") == "CdsHooksReservedConcurrency") {
			t.Errorf("parameters %q: CdsHooksFunction reserves %v, want %s (its own parameter only)", c.params, fn["ReservedConcurrentExecutions"], want)
		}
	}
}

// subExpression resolves a (resolved-conditions) Fn::Sub of parameters and
// named inner Fn::Subs to its text, parameters at params or their defaults.
func subExpression(t *testing.T, v any, params []string) string {
	t.Helper()
	values := map[string]string{"AccountConcurrencyLimit": "1000"}
	for _, kv := range params {
		k, val, _ := strings.Cut(kv, "=")
		values[k] = val
	}
	var text string
	switch x := at(v, "Fn::Sub").(type) {
	case string:
		text = x
	case []any:
		text = fmt.Sprint(x[0])
		for k, inner := range asMap(x[1]) {
			values[k] = subExpression(t, inner, params)
		}
	default:
		t.Fatalf("cannot resolve %v", v)
	}
	return regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllStringFunc(text, func(m string) string {
		return values[m[2:len(m)-1]]
	})
}

// --------------------------------------------------------------- canaries

// TestCanaries proves, on the translated template with canaries on, that
// each function's deployment is gated by an alarm on its NEW version only
// (alias traffic it executed and its own 5xx), that the pre-traffic hook
// runs before any traffic shifts and may invoke exactly the new versions,
// and that CodeDeploy's role has a short explicit name.
func TestCanaries(t *testing.T) {
	tpl := translated(t, "Stage=prod", "AlarmEmail=oncall@example.org", "CanaryDeployments=true")
	res := mapAt(tpl, "Resources")
	hookEnv := mapAt(res, "PreTrafficFunction", "Properties", "Environment", "Variables")
	var hookInvokes []string
	for _, s := range statements(res, "PreTrafficRole") {
		if str(s, "Sid") == "InvokeNewVersions" {
			for _, r := range listAt(s, "Resource") {
				hookInvokes = append(hookInvokes, str(r, "Fn::Sub"))
			}
		}
	}
	for _, fn := range []string{"Info", "Health", "Predict", "CdsHooks"} {
		t.Run(fn, func(t *testing.T) {
			version := ""
			for id, r := range res {
				if str(r, "Type") == "AWS::Lambda::Version" && str(r, "Properties", "FunctionName", "Ref") == fn+"Function" {
					version = id
				}
			}
			if version == "" {
				t.Fatalf("no AWS::Lambda::Version of %sFunction", fn)
			}
			group := mapAt(res, fn+"FunctionDeploymentGroup", "Properties")
			alarms := listAt(group, "AlarmConfiguration", "Alarms")
			if len(alarms) != 1 || str(alarms[0], "Name", "Ref") != fn+"CanaryAlarm" {
				t.Errorf("deployment group alarms %v, want only %sCanaryAlarm (the new version's own)", alarms, fn)
			}
			if res, _ := getAtt(group["ServiceRoleArn"]); res != "CodeDeployRole" {
				t.Errorf("deployment group role %v, want CodeDeployRole", group["ServiceRoleArn"])
			}
			update := mapAt(res, fn+"FunctionAliaslive", "UpdatePolicy", "CodeDeployLambdaAliasUpdate")
			if str(update, "BeforeAllowTrafficHook", "Ref") != "PreTrafficFunction" {
				t.Errorf("alias update has no BeforeAllowTrafficHook PreTrafficFunction: %v", update)
			}
			// 1 of 3 one-minute periods: the inputs are FILLed and our EMF
			// metrics arrive late, so the newest minute alone can hide a
			// failed one ("Using metric math", FILL; TestAlarmEvaluation);
			// 3 minutes leave a version broken from its first requests
			// caught within the canary's 5. notBreaching: a minute without
			// data is no failure.
			alarm := mapAt(res, fn+"CanaryAlarm", "Properties")
			if n, m := num(alarm["EvaluationPeriods"]), num(alarm["DatapointsToAlarm"]); n != 3 || m != 1 || str(alarm, "TreatMissingData") != "notBreaching" {
				t.Errorf("%sCanaryAlarm: %v of %v, TreatMissingData %v; want 1 of 3, notBreaching", fn, m, n, alarm["TreatMissingData"])
			}
			found := map[string]bool{}
			for _, m := range listAt(res, fn+"CanaryAlarm", "Properties", "Metrics") {
				if stat := mapAt(m, "MetricStat"); stat != nil && num(stat["Period"]) != 60 {
					t.Errorf("%sCanaryAlarm %s: Period %v, want 60 (3 periods must fit the canary's 5 minutes)", fn, str(m, "Id"), stat["Period"])
				}
				ms := mapAt(m, "MetricStat", "Metric")
				if ms == nil {
					continue
				}
				dims := map[string]any{}
				for _, d := range listAt(ms, "Dimensions") {
					dims[str(d, "Name")] = at(d, "Value")
				}
				newVersion := func(k string) bool {
					res, attr := getAtt(dims[k])
					return res == version && attr == "Version"
				}
				switch str(ms, "Namespace") + " " + str(ms, "MetricName") {
				case "AWS/Lambda Errors":
					found["lambda"] = newVersion("ExecutedVersion") &&
						str(dims["Resource"], "Fn::Sub") == "${"+fn+"Function}:live" &&
						str(dims["FunctionName"], "Ref") == fn+"Function"
				case "HealthcareAPI ServerErrors":
					found["ours"] = newVersion("FunctionVersion") && str(dims["FunctionName"], "Ref") == fn+"Function" &&
						str(dims["Environment"], "Ref") == "Stage"
				case "HealthcareAPI CDSHookEvents":
					if newVersion("FunctionVersion") && str(dims["FunctionName"], "Ref") == fn+"Function" {
						found[fmt.Sprint(dims[metrics.DimEvent])] = true
					}
				}
			}
			if !found["lambda"] || !found["ours"] {
				t.Errorf("%sCanaryAlarm must watch AWS/Lambda Errors (FunctionName, Resource <fn>:live, ExecutedVersion = %s.Version) and our ServerErrors (FunctionVersion = the same): found %v", fn, version, found)
			}
			if fn == "CdsHooks" {
				// The new version's refusals and 412s, against its calls.
				for _, e := range []metrics.CDSEvent{metrics.CDSJWTRefused, metrics.CDSPrefetchMissing, metrics.CDSCall} {
					if !found[string(e)] {
						t.Errorf("CdsHooksCanaryAlarm does not watch the new version's CDSHookEvents Event=%s: found %v", e, found)
					}
				}
				// The pre-traffic hook's own refused calls (twice, should
				// Lambda retry it) reach the new version alone: they are left
				// out of its refusals, exactly so many (TestCdsHooksCanaryAlarm
				// evaluates the whole expression).
				refusedByHook := 0
				for _, c := range smoke.Checks["cdshooks"] {
					if c.Status == 401 {
						refusedByHook++
					}
				}
				var net string
				for _, m := range listAt(res, fn+"CanaryAlarm", "Properties", "Metrics") {
					if str(m, "Id") == "netRefused" {
						net = str(m, "Expression")
					}
				}
				want := fmt.Sprintf("IF(FILL(refused, 0) > %[1]d, FILL(refused, 0) - %[1]d, 0)", 2*refusedByHook)
				if net != want {
					t.Errorf("CdsHooksCanaryAlarm netRefused = %q, want %q: the pre-traffic hook sends %d token-less calls, twice if retried", net, want, refusedByHook)
				}
			}
			envName := strings.ToUpper(fn) + "_FUNCTION_NAME"
			if str(hookEnv, envName, "Ref") != fn+"Function" {
				t.Errorf("hook %s = %v, want !Ref %sFunction (its name: the version comes from the deployment)", envName, hookEnv[envName], fn)
			}
			if !slices.Contains(hookInvokes, "${"+fn+"Function.Arn}:*") {
				t.Errorf("the hook's role may not invoke the versions of %sFunction (it invokes %v)", fn, hookInvokes)
			}
		})
	}
	if len(hookInvokes) != 4 {
		t.Errorf("the hook may invoke %v; want exactly the versions of the four functions", hookInvokes)
	}
	name := at(loadTemplate(t), "Resources", "CodeDeployRole", "Properties", "RoleName", "Fn::Sub")
	if name != "${AWS::StackName}-codedeploy-${AWS::Region}" {
		t.Fatalf("CodeDeployRole RoleName %v, want !Sub ${AWS::StackName}-codedeploy-${AWS::Region} (explicit, unique per region, under the CI role's stack-name scope)", name)
	}
}

// longestRegion is the longest AWS region name (ap-southeast-N).
const longestRegion = "ap-southeast-7"

// TestNamesFitTheirLimits: IAM role and Lambda function names may have 64
// characters. CloudFormation names an unnamed one
// <stack>-<logical id>-<12 random characters> and, past 64, cuts the
// stack name short; the CI deploy role then no longer matches it
// (<stack>-*) and the first CI deploy is refused. So, for every
// samconfig.toml stack, every generated name must fit, and every name we
// set must start with the stack name and fit too.
func TestNamesFitTheirLimits(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	stacks := regexp.MustCompile(`stack_name = "([^"]+)"`).FindAllStringSubmatch(string(text), -1)
	if len(stacks) < 3 {
		t.Fatalf("found stacks %v in samconfig.toml", stacks)
	}
	res := mapAt(translated(t, "Stage=prod", "AlarmEmail=oncall@example.org", "CanaryDeployments=true", "CreateWebAcl=true"), "Resources")
	named := map[string]string{"AWS::IAM::Role": "RoleName", "AWS::Lambda::Function": "FunctionName"}
	checked := 0
	for id, r := range res {
		prop, ok := named[str(r, "Type")]
		if !ok {
			continue
		}
		checked++
		for _, m := range stacks {
			stack := m[1]
			explicit := at(r, "Properties", prop)
			var name string
			switch {
			case explicit == nil:
				name = stack + "-" + id + "-" + strings.Repeat("x", 12)
			case str(explicit, "Fn::Sub") != "":
				sub := str(explicit, "Fn::Sub")
				if !strings.HasPrefix(sub, "${AWS::StackName}-") {
					t.Errorf("%s: %s %q does not start with the stack name (the CI role's scope)", id, prop, sub)
				}
				name = strings.NewReplacer("${AWS::StackName}", stack, "${AWS::Region}", longestRegion).Replace(sub)
			default:
				t.Errorf("%s: %s %v is neither generated nor !Sub of the stack name", id, prop, explicit)
				continue
			}
			if len(name) > 64 {
				t.Errorf("stack %s: %s %s would be %q, %d characters (64 allowed)", stack, str(r, "Type"), id, name, len(name))
			}
		}
	}
	if checked < 8 {
		t.Fatalf("checked only %d roles and functions", checked)
	}
	// The longest logical id of an API function: its generated name would
	// leave the stack name no room to grow (63 characters for staging).
	if name := str(res, "CdsHooksFunction", "Properties", "FunctionName", "Fn::Sub"); name != "${AWS::StackName}-cdshooks" {
		t.Errorf("CdsHooksFunction FunctionName %q, want !Sub ${AWS::StackName}-cdshooks", name)
	}
}

// ------------------------------------------------------------- prod rules

// TestProdRules: prod cannot deploy without someone to page; staging and
// prod run the web ACL and canaries; every environment pins its region.
func TestProdRules(t *testing.T) {
	tpl := loadTemplate(t)
	rules := mapAt(tpl, "Rules")
	eval := func(params map[string]string) (failed []string) {
		for name, r := range rules {
			if !evalCondition(t, at(r, "RuleCondition"), params, tpl) {
				continue
			}
			for _, a := range listAt(r, "Assertions") {
				if !evalCondition(t, at(a, "Assert"), params, tpl) {
					failed = append(failed, name)
				}
			}
		}
		return failed
	}
	overrides := samconfigOverrides(t)
	for _, env := range []string{"prod", "staging"} {
		params := map[string]string{}
		for _, kv := range overrides[env] {
			k, v, _ := strings.Cut(kv, "=")
			params[k] = v
		}
		for _, k := range []string{"CreateWebAcl", "CanaryDeployments", "TracingEnabled"} {
			if params[k] != "true" {
				t.Errorf("samconfig %s: %s=%q, want true", env, k, params[k])
			}
		}
		if params["Stage"] != env {
			t.Errorf("samconfig %s: Stage=%q", env, params["Stage"])
		}
		if env == "prod" {
			if got := eval(params); !slices.Contains(got, "ProdPagesSomeone") {
				t.Errorf("prod without AlarmEmail passes the template's rules (failed: %v)", got)
			}
			params["AlarmEmail"] = "oncall@example.org"
			if got := eval(params); len(got) != 0 {
				t.Errorf("prod with AlarmEmail fails rules %v", got)
			}
		}
	}
	if got := eval(map[string]string{"CreateWebAcl": "true", "WafWebAclArn": "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/y"}); !slices.Contains(got, "OneWebAcl") {
		t.Errorf("CreateWebAcl with WafWebAclArn passes the rules (failed: %v)", got)
	}
	text, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for env := range overrides {
		section := regexp.MustCompile(`(?s)\[` + env + `\.global\.parameters\]\n(.*?)\n\n`).FindStringSubmatch(string(text))
		if section == nil || !regexp.MustCompile(`(?m)^region = "[a-z]{2}(-[a-z]+)+-[0-9]"$`).MatchString(section[1]) {
			t.Errorf("samconfig %s: [%s.global.parameters] must pin region", env, env)
		}
	}
}

// evalCondition evaluates the intrinsic functions Rules and Conditions of
// this template use, with parameter values (defaults where not given).
func evalCondition(t *testing.T, c any, params map[string]string, tpl map[string]any) bool {
	t.Helper()
	value := func(v any) string {
		if s, ok := v.(string); ok {
			return s
		}
		if ref := str(v, "Ref"); ref != "" {
			if p, ok := params[ref]; ok {
				return p
			}
			return fmt.Sprint(at(tpl, "Parameters", ref, "Default"))
		}
		t.Fatalf("cannot evaluate %v", v)
		return ""
	}
	m, ok := c.(map[string]any)
	if !ok || len(m) != 1 {
		t.Fatalf("cannot evaluate %v", c)
	}
	for fn, arg := range m {
		args := asList(arg)
		switch fn {
		case "Fn::Equals":
			return value(args[0]) == value(args[1])
		case "Fn::Not":
			return !evalCondition(t, args[0], params, tpl)
		case "Fn::And", "Fn::Or":
			for _, a := range args {
				if evalCondition(t, a, params, tpl) != (fn == "Fn::And") {
					return fn != "Fn::And"
				}
			}
			return fn == "Fn::And"
		case "Condition":
			return evalCondition(t, at(tpl, "Conditions", args[0].(string)), params, tpl)
		}
		t.Fatalf("cannot evaluate %s", fn)
	}
	return false
}

// ------------------------------------------------------------ environment

// runtimeVariables are set by the Lambda runtime (or are reserved), so the
// template cannot and need not declare them.
var runtimeVariables = map[string]bool{
	"AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_REGION": true,
	"AWS_DEFAULT_REGION": true, "AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_LAMBDA_RUNTIME_API": true, "_X_AMZN_TRACE_ID": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
	"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
}

// containerVariables are read by the shared configuration but mean nothing
// to a Lambda function (listening, draining, the container's metric sinks
// and rate limiter, detecting Kubernetes).
var containerVariables = map[string]bool{
	"PORT": true, "HOST": true, "SHUTDOWN_TIMEOUT": true, "DRAIN_DELAY": true,
	"RATE_LIMIT_RPS": true, "RATE_LIMIT_BURST": true, "METRICS_CLOUDWATCH": true,
	"METRICS_FLUSH_INTERVAL": true, "KUBERNETES_SERVICE_HOST": true,
	// Behind API Gateway the source address is the event's, never a header.
	"TRUSTED_PROXY_CIDRS": true,
	// Refused under Lambda (plaintext keys where keys are managed).
	"API_KEYS": true,
}

// TestFunctionsDeclareTheirVariables: `sam local` passes a function only
// the variables the template declares, so every variable the Lambda
// functions' code reads (found in the source of every package they link)
// is declared for every API function.
func TestFunctionsDeclareTheirVariables(t *testing.T) {
	read := lambdaVariables(t)
	if !read["METRICS_ENV"] && !read["LOG_LEVEL"] {
		t.Fatalf("found only %v in the functions' code; the scan is broken", slices.Sorted(maps.Keys(read)))
	}
	tpl := loadTemplate(t)
	global := mapAt(tpl, "Globals", "Function", "Environment", "Variables")
	for id, fn := range functions(t, tpl) {
		if len(mapAt(fn, "Properties", "Events")) == 0 {
			continue // the pre-traffic hook is no API function
		}
		own := mapAt(fn, "Properties", "Environment", "Variables")
		for name := range read {
			if runtimeVariables[name] || containerVariables[name] {
				continue
			}
			if name == "API_KEYS_SECRET_ID" && !api.Protected(functionGroup(t, id)) {
				continue // TestFunctionsServeTheirEvents: no protected route, no secret
			}
			_, g := global[name]
			_, o := own[name]
			if !g && !o {
				t.Errorf("%s reads %s but the template does not declare it (Globals or the function)", id, name)
			}
		}
	}
	if str(global, "METRICS_ENV", "Ref") != "Stage" {
		t.Errorf("Globals METRICS_ENV = %v, want !Ref Stage", global["METRICS_ENV"])
	}
}

// lambdaVariables returns the names the Lambda functions' packages read
// with getenv("NAME") or os.Getenv("NAME").
func lambdaVariables(t *testing.T) map[string]bool {
	t.Helper()
	files, err := testutil.LinkedSources(root, "./functions/info", "./functions/health", "./functions/predict", "./functions/cdshooks")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, path := range files {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			var fn string
			switch f := call.Fun.(type) {
			case *ast.Ident:
				fn = f.Name
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING && (fn == "getenv" || fn == "Getenv") {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					names[s] = true
				}
			}
			return true
		})
	}
	return names
}

// ------------------------------------------------------- WAF and the secret

// TestWebAcl: with CreateWebAcl=true the stage gets a web ACL with AWS
// managed rules and rate limits per source IP and per key (both ways of
// sending one), and the keys never reach the WAF log.
func TestWebAcl(t *testing.T) {
	res := mapAt(translated(t, "CreateWebAcl=true"), "Resources")
	if acl, _ := getAtt(at(res, "ApiWafAssociation", "Properties", "WebACLArn")); acl != "WebAcl" {
		t.Error("the created web ACL is not associated with the stage")
	}
	rateKeys := map[string]bool{}
	managed := map[string]bool{}
	for _, r := range listAt(res, "WebAcl", "Properties", "Rules") {
		if rb := mapAt(r, "Statement", "RateBasedStatement"); rb != nil {
			if str(rb, "AggregateKeyType") == "IP" {
				rateKeys["ip"] = true
			}
			for _, k := range listAt(rb, "CustomKeys") {
				rateKeys[strings.ToLower(str(k, "Header", "Name"))] = true
			}
			if at(r, "Action", "Block", "CustomResponse", "ResponseCode") != float64(429) {
				t.Errorf("rate rule %s answers %v, want 429", str(r, "Name"), at(r, "Action", "Block", "CustomResponse", "ResponseCode"))
			}
		}
		if g := str(r, "Statement", "ManagedRuleGroupStatement", "Name"); g != "" {
			managed[g] = true
		}
	}
	for _, k := range []string{"ip", "x-api-key", "authorization"} {
		if !rateKeys[k] {
			t.Errorf("no rate-based rule keyed on %s (has %v)", k, rateKeys)
		}
	}
	for _, g := range []string{"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"} {
		if !managed[g] {
			t.Errorf("no managed rule group %s", g)
		}
	}
	webAclBodyRules(t, listAt(res, "WebAcl", "Properties", "Rules"))
	redacted := map[string]bool{}
	for _, f := range listAt(res, "WebAclLogging", "Properties", "RedactedFields") {
		redacted[strings.ToLower(str(f, "SingleHeader", "Name"))] = true
	}
	if !redacted["x-api-key"] || !redacted["authorization"] {
		t.Errorf("WAF log redacts %v; want x-api-key and authorization", redacted)
	}
	if !strings.HasPrefix(str(loadTemplate(t), "Resources", "WebAclLogGroup", "Properties", "LogGroupName", "Fn::Sub"), "aws-waf-logs-") {
		t.Error("WAF logs only to log groups named aws-waf-logs-*")
	}
}

// TestApiKeysSecretParameters: only a full secret ARN passes (IAM matches
// the functions' policy against it), and a customer-managed key is usable
// only through Secrets Manager.
func TestApiKeysSecretParameters(t *testing.T) {
	tpl := loadTemplate(t)
	pattern := regexp.MustCompile(str(tpl, "Parameters", "ApiKeysSecretArn", "AllowedPattern"))
	for arn, ok := range map[string]bool{
		"": true,
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/api-keys-AbCdEf":   true,
		"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:keys-a1B2c3": true,
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/api-keys":          false,
		"prod/api-keys": false,
	} {
		if pattern.MatchString(arn) != ok {
			t.Errorf("ApiKeysSecretArn %q accepted: %v, want %v", arn, !ok, ok)
		}
	}
	params := []string{"ApiKeysKmsKeyArn=arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
	res := mapAt(resolveConditions(t, translated(t, params...), params), "Resources")
	if str(res, "ApiKeysSecret", "Properties", "KmsKeyId", "Ref") != "ApiKeysKmsKeyArn" {
		t.Error("the created secret is not encrypted with ApiKeysKmsKeyArn")
	}
	for _, role := range []string{"InfoRole", "PredictRole", "CdsHooksRole"} {
		ok := false
		for _, s := range statements(res, role) {
			if str(s, "Action") == "kms:Decrypt" {
				via := at(s, "Condition", "StringEquals", "kms:ViaService", "Fn::Sub")
				ok = str(s, "Resource", "Ref") == "ApiKeysKmsKeyArn" && via == "secretsmanager.${AWS::Region}.amazonaws.com"
			}
		}
		if !ok {
			t.Errorf("%s: no kms:Decrypt on ApiKeysKmsKeyArn limited by kms:ViaService secretsmanager", role)
		}
	}
	for _, s := range statements(res, "HealthRole") {
		if strings.HasPrefix(fmt.Sprint(at(s, "Action")), "kms:") {
			t.Error("HealthRole has a KMS permission; it reads no secret")
		}
	}
}

// getAtt splits {"Fn::GetAtt": [resource, attribute]}.
func getAtt(v any) (resource, attribute string) {
	l := listAt(v, "Fn::GetAtt")
	if len(l) != 2 {
		return "", ""
	}
	return fmt.Sprint(l[0]), fmt.Sprint(l[1])
}

// resolveConditions returns tpl with every Fn::If decided for the given
// parameters and every AWS::NoValue dropped, as CloudFormation would.
func resolveConditions(t *testing.T, tpl map[string]any, params []string) map[string]any {
	t.Helper()
	values := map[string]string{}
	for _, kv := range params {
		k, v, _ := strings.Cut(kv, "=")
		values[k] = v
	}
	var resolve func(v any) (any, bool)
	resolve = func(v any) (any, bool) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["Ref"]; ok && ref == "AWS::NoValue" && len(x) == 1 {
				return nil, false
			}
			if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 && len(args) == 3 {
				branch := args[2]
				if evalCondition(t, map[string]any{"Condition": args[0]}, values, tpl) {
					branch = args[1]
				}
				return resolve(branch)
			}
			out := map[string]any{}
			for k, e := range x {
				if r, keep := resolve(e); keep {
					out[k] = r
				}
			}
			return out, true
		case []any:
			out := []any{}
			for _, e := range x {
				if r, keep := resolve(e); keep {
					out = append(out, r)
				}
			}
			return out, true
		}
		return v, true
	}
	out, _ := resolve(tpl)
	return out.(map[string]any)
}

// statements lists the statements of a role's inline policies.
func statements(res map[string]any, role string) []any {
	var out []any
	for _, p := range listAt(res, role, "Properties", "Policies") {
		out = append(out, listAt(p, "PolicyDocument", "Statement")...)
	}
	return out
}

// TestApiGatewayAccountRole: infra/ holds the account-level CloudWatch
// role API Gateway needs before any stage with access logging deploys.
func TestApiGatewayAccountRole(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(root, "infra", "apigateway-account.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	for _, want := range []string{
		"Type: AWS::ApiGateway::Account",
		"CloudWatchRoleArn: !GetAtt ApiGatewayCloudWatchRole.Arn",
		"Principal: {Service: apigateway.amazonaws.com}",
		"policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
		"DeletionPolicy: Retain",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("infra/apigateway-account.yaml lacks %q", want)
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "sam.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "infra/apigateway-account.yaml") {
		t.Error("docs/sam.md does not say to deploy infra/apigateway-account.yaml before the first deploy")
	}
}

// TestCdsHooksFunction: the cdshooks function gets the trusted clients and
// the base URL from the stack's parameters (http never), and the stack
// alarms on its 412s and JWT refusals by the metric the code emits.
func TestCdsHooksFunction(t *testing.T) {
	tpl := loadTemplate(t)
	pattern := regexp.MustCompile(str(tpl, "Parameters", "CdsHooksBaseUrl", "AllowedPattern"))
	for url, ok := range map[string]bool{
		"": true, "https://abc123.execute-api.eu-west-1.amazonaws.com/prod": true, "https://risk.example.org": true,
		"http://risk.example.org": false, "https://risk.example.org/prod?x=1": false, "risk.example.org": false,
	} {
		if pattern.MatchString(url) != ok {
			t.Errorf("CdsHooksBaseUrl %q accepted: %v, want %v", url, !ok, ok)
		}
	}
	cors := regexp.MustCompile(str(tpl, "Parameters", "CdsHooksCorsOrigins", "AllowedPattern"))
	for v, ok := range map[string]bool{
		"": true, "*": true, "https://sandbox.cds-hooks.org": true, "https://ehr.example.org,http://localhost:8080": true,
		"https://ehr.example.org, https://b.example.org": true,
		"https://EHR.example.org":                        false, "https://ehr.example.org/": false, "https://ehr.example.org/app": false, "*,https://a.org": false, "ehr.example.org": false,
	} {
		if cors.MatchString(v) != ok {
			t.Errorf("CdsHooksCorsOrigins %q accepted: %v, want %v", v, !ok, ok)
		}
	}
	res := mapAt(translated(t), "Resources")
	env := mapAt(res, "CdsHooksFunction", "Properties", "Environment", "Variables")
	if str(env, "CDS_HOOKS_CORS_ORIGINS", "Ref") != "CdsHooksCorsOrigins" {
		t.Errorf("CDS_HOOKS_CORS_ORIGINS = %v, want !Ref CdsHooksCorsOrigins", env["CDS_HOOKS_CORS_ORIGINS"])
	}
	if str(env, "CDS_HOOKS_CLIENTS", "Ref") != "CdsHooksClients" || !strings.Contains(fmt.Sprint(env["CDS_HOOKS_BASE_URL"]), "Ref:CdsHooksBaseUrl") {
		t.Errorf("CdsHooksFunction environment %v, want CDS_HOOKS_CLIENTS and CDS_HOOKS_BASE_URL from the parameters", env)
	}
	if v := str(env, "CDS_HOOKS_ALLOW_HTTP"); v != "false" {
		t.Errorf("CDS_HOOKS_ALLOW_HTTP = %q, want false (http JWKS and FHIR URLs are for local runs)", v)
	}
	// A share of the calls, not a rate: a small EHR refused on every call
	// must alarm too, one refused call among two must not.
	for alarm, event := range map[string]string{"CdsHooksPrefetchMissingAlarm": string(metrics.CDSPrefetchMissing), "CdsHooksJwtRefusedAlarm": string(metrics.CDSJWTRefused)} {
		p := mapAt(res, alarm, "Properties")
		if str(p, "ComparisonOperator") != "GreaterThanThreshold" || at(p, "Threshold") != float64(50) {
			t.Errorf("%s fires at %v %v, want GreaterThanThreshold 50 (%%)", alarm, p["ComparisonOperator"], p["Threshold"])
		}
		events := map[string]string{}
		var expr string
		for _, m := range listAt(p, "Metrics") {
			if e := str(m, "Expression"); e != "" {
				expr = e
				continue
			}
			ms := mapAt(m, "MetricStat", "Metric")
			dims := map[string]string{}
			for _, d := range listAt(ms, "Dimensions") {
				dims[str(d, "Name")] = fmt.Sprint(at(d, "Value"))
			}
			if str(ms, "Namespace") != metrics.Namespace || str(ms, "MetricName") != metrics.CDSHookEvents.Name || len(dims) != 3 {
				t.Errorf("%s: %s watches %v, want %s/%s by Service, Environment, Event", alarm, str(m, "Id"), ms, metrics.Namespace, metrics.CDSHookEvents.Name)
			}
			if at(m, "MetricStat", "Period") != float64(900) || str(m, "MetricStat", "Stat") != "Sum" {
				t.Errorf("%s: %s is not a 15-minute sum", alarm, str(m, "Id"))
			}
			events[str(m, "Id")] = dims[metrics.DimEvent]
		}
		bad := map[string]string{string(metrics.CDSPrefetchMissing): "missing", string(metrics.CDSJWTRefused): "refused"}[event]
		if events[bad] != event || events["calls"] != string(metrics.CDSCall) {
			t.Errorf("%s: metrics %v, want %s = %s and calls = %s", alarm, events, bad, event, metrics.CDSCall)
		}
		floor := map[string]int{"missing": 3, "refused": deployRefusals(t) + 1}[bad]
		if !strings.HasPrefix(expr, fmt.Sprintf("IF(%s >= %d, 100 * %s / ", bad, floor, bad)) {
			t.Errorf("%s: expression %q, want the share in %% once there are %d events", alarm, expr, floor)
		}
	}
	// In prod they are part of the one page; elsewhere warnings only.
	for stage, want := range map[string]bool{"prod": true, "dev": false} {
		params := []string{"Stage=" + stage}
		if stage == "prod" {
			params = append(params, "AlarmEmail=oncall@example.org")
		}
		rule := fmt.Sprint(at(resolveConditions(t, translated(t, params...), params), "Resources", "ServiceUnhealthyAlarm", "Properties", "AlarmRule"))
		if got := strings.Contains(rule, "CdsHooksPrefetchMissingAlarm"); got != want {
			t.Errorf("%s: service-unhealthy names CdsHooksPrefetchMissingAlarm: %v, want %v (%s)", stage, got, want, rule)
		}
		// Anyone can send token-less calls: refusals never page.
		if strings.Contains(rule, "CdsHooksJwtRefusedAlarm") {
			t.Errorf("%s: service-unhealthy names CdsHooksJwtRefusedAlarm (%s)", stage, rule)
		}
	}
}

// TestCdsHooksBaseUrl: trusted clients need the URL their JWTs name in
// aud; a custom domain supplies it.
func TestCdsHooksBaseUrl(t *testing.T) {
	tpl := loadTemplate(t)
	failed := func(params map[string]string) bool {
		r := mapAt(tpl, "Rules", "CdsHooksClientsNeedBaseUrl")
		if !evalCondition(t, at(r, "RuleCondition"), params, tpl) {
			return false
		}
		for _, a := range listAt(r, "Assertions") {
			if !evalCondition(t, at(a, "Assert"), params, tpl) {
				return true
			}
		}
		return false
	}
	clients := `[{"iss":"https://ehr.example.org","jwks_url":"https://ehr.example.org/jwks"}]`
	for _, c := range []struct {
		params  map[string]string
		refused bool
	}{
		{map[string]string{}, false},
		{map[string]string{"CdsHooksClients": clients}, true},
		{map[string]string{"CdsHooksClients": clients, "CdsHooksBaseUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/prod"}, false},
		{map[string]string{"CdsHooksClients": clients, "DomainName": "risk.example.org"}, false},
	} {
		if got := failed(c.params); got != c.refused {
			t.Errorf("%v: refused %v, want %v", c.params, got, c.refused)
		}
	}
	cert := "CertificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/x"
	for _, c := range []struct {
		params []string
		want   string
	}{
		{nil, "Ref CdsHooksBaseUrl"},
		{[]string{"DomainName=risk.example.org", cert}, "Fn::Sub https://${DomainName}"},
		{[]string{"DomainName=risk.example.org", cert, "CdsHooksBaseUrl=https://other.example.org"}, "Ref CdsHooksBaseUrl"},
	} {
		res := mapAt(resolveConditions(t, translated(t, c.params...), c.params), "Resources")
		v := mapAt(res, "CdsHooksFunction", "Properties", "Environment", "Variables")["CDS_HOOKS_BASE_URL"]
		got := ""
		for k, x := range asMap(v) {
			got = k + " " + fmt.Sprint(x)
		}
		if got != c.want {
			t.Errorf("%v: CDS_HOOKS_BASE_URL = %v, want %s", c.params, v, c.want)
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// TestCdsHooksClientsParameter: the parameter takes a JSON list or
// nothing, small enough for Lambda's 4 KB of environment variables, and
// the escaped samconfig.toml example in docs/sam.md reaches
// CloudFormation as that JSON when SAM CLI reads it.
func TestCdsHooksClientsParameter(t *testing.T) {
	tpl := loadTemplate(t)
	p := mapAt(tpl, "Parameters", "CdsHooksClients")
	pattern := regexp.MustCompile(str(p, "AllowedPattern"))
	for v, ok := range map[string]bool{"": true, "[]": true, `[{"iss":"https://ehr.example.org"}]`: true,
		`{"iss":"https://ehr.example.org"}`: false, "x": false, "[] x": false} {
		if pattern.MatchString(v) != ok {
			t.Errorf("CdsHooksClients %q accepted: %v, want %v", v, !ok, ok)
		}
	}

	// Lambda: at most 4 KB for all variables of a function. Measured
	// conservatively as their JSON (quotes escaped), with each parameter at
	// the longest value it accepts and a client list quoted as usual.
	maxLen := func(name string) int {
		n, err := strconv.Atoi(fmt.Sprint(at(tpl, "Parameters", name, "MaxLength")))
		if err != nil {
			t.Fatalf("parameter %s has no MaxLength: %v", name, err)
		}
		return n
	}
	client := `{"iss":"https://ehr.example.org","jwks_url":"https://ehr.example.org/.well-known/jwks.json","fhir_servers":["https://fhir.example.org/r4"]}`
	list := "[" + client
	for len(list)+len(client)+2 <= maxLen("CdsHooksClients") {
		list += "," + client
	}
	list += "]"
	worst := map[string]string{
		"CdsHooksClients":     list,
		"CdsHooksBaseUrl":     "https://" + strings.Repeat("x", maxLen("CdsHooksBaseUrl")-8),
		"DomainName":          strings.Repeat("x", maxLen("DomainName")),
		"CdsHooksCorsOrigins": strings.Repeat("x", maxLen("CdsHooksCorsOrigins")),
		"ApiKeysSecretArn":    strings.Repeat("x", maxLen("ApiKeysSecretArn")),
		"Stage":               "staging",
		"LogLevel":            "debug",
	}
	res := mapAt(translated(t), "Resources")
	vars := map[string]string{}
	for k, v := range mapAt(res, "CdsHooksFunction", "Properties", "Environment", "Variables") {
		vars[k] = worstValue(t, v, worst)
	}
	size, _ := json.Marshal(vars)
	if len(size) > 4096 {
		t.Errorf("the cdshooks function's variables may take %d bytes (4096 allowed): lower CdsHooksClients MaxLength", len(size))
	}
	t.Logf("the cdshooks function's variables take at most %d of 4096 bytes", len(size))

	// The example in docs/sam.md, decoded as TOML and split as SAM CLI's
	// CfnParameterOverridesType does (samcli/cli/types.py).
	doc, err := os.ReadFile(filepath.Join(root, "docs", "sam.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```toml\n(parameter_overrides = [^\n]*CdsHooksClients[^\n]*)\n```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/sam.md has no ```toml block with parameter_overrides = \"... CdsHooksClients=...\"")
	}
	var conf struct {
		ParameterOverrides string `toml:"parameter_overrides"`
	}
	if _, err := toml.Decode(string(block[1]), &conf); err != nil {
		t.Fatalf("the docs/sam.md example is no TOML: %v", err)
	}
	got := samParameterOverrides(conf.ParameterOverrides)
	var parsed []map[string]any
	if err := json.Unmarshal([]byte(got["CdsHooksClients"]), &parsed); err != nil || len(parsed) == 0 {
		t.Fatalf("the docs/sam.md example gives CdsHooksClients %q, no JSON list: %v", got["CdsHooksClients"], err)
	}
	if !pattern.MatchString(got["CdsHooksClients"]) || str(parsed[0], "iss") == "" || str(parsed[0], "jwks_url") == "" {
		t.Errorf("the docs/sam.md example gives %v", parsed)
	}
	if got["CdsHooksBaseUrl"] == "" && got["DomainName"] == "" {
		t.Errorf("the docs/sam.md example sets %v: CdsHooksClients needs CdsHooksBaseUrl or DomainName", slices.Sorted(maps.Keys(got)))
	}
}

// worstValue is v (a translated environment value) with each parameter at
// its worst value.
func worstValue(t *testing.T, v any, worst map[string]string) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if ref := str(x, "Ref"); ref != "" {
			if w, ok := worst[ref]; ok {
				return w
			}
			return strings.Repeat("x", 64) // a generated resource name or ARN
		}
		if sub := str(x, "Fn::Sub"); sub != "" {
			return regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllStringFunc(sub, func(m string) string {
				return worstValue(t, map[string]any{"Ref": m[2 : len(m)-1]}, worst)
			})
		}
		if args := listAt(x, "Fn::If"); len(args) == 3 {
			a, b := worstValue(t, args[1], worst), worstValue(t, args[2], worst)
			if len(a) > len(b) {
				return a
			}
			return b
		}
	}
	t.Fatalf("cannot size %v", v)
	return ""
}

// samParameterOverrides splits a parameter_overrides string as SAM CLI's
// CfnParameterOverridesType does for Key=Value pairs: a value is a
// double- or single-quoted string (backslash escapes inside) or a run of
// non-space characters; wrapping quotes are removed and \" \' and "\ "
// unescaped.
func samParameterOverrides(s string) map[string]string {
	value := `("(?:\\.|[^"\\]+)*"|'(?:\\.|[^'\\]+)*'|(?:\\.|[^ "\\]+)+)`
	pair := regexp.MustCompile(`(?: )([A-Za-z0-9"']+)=` + value)
	unquote := func(v string) string {
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		return strings.NewReplacer(`\ `, " ", `\"`, `"`, `\'`, "'").Replace(v)
	}
	out := map[string]string{}
	for _, m := range pair.FindAllStringSubmatch(" "+strings.TrimSpace(s), -1) {
		out[unquote(m[1])] = unquote(m[2])
	}
	return out
}

// TestApiCompression: API Gateway compresses answers of 1 KiB or more for
// clients that accept gzip (the Swagger UI bundle is 1.7 MB), and the API
// declares no binary media types: the functions answer text.
func TestApiCompression(t *testing.T) {
	res := mapAt(translated(t), "Resources")
	n := 0
	for id, r := range res {
		if str(r, "Type") != "AWS::ApiGateway::RestApi" {
			continue
		}
		n++
		p := mapAt(r, "Properties")
		if got := fmt.Sprint(p["MinimumCompressionSize"]); got != "1024" {
			t.Errorf("%s: MinimumCompressionSize %s, want 1024", id, got)
		}
		if p["BinaryMediaTypes"] != nil || at(p, "Body", "x-amazon-apigateway-binary-media-types") != nil {
			t.Errorf("%s declares binary media types: text answers would arrive base64-encoded", id)
		}
	}
	if n != 1 {
		t.Fatalf("%d REST APIs, want 1", n)
	}
}

// webAclBodyRules: the common rule set's body rules would block FHIR
// prefetch (XHTML narrative, Markdown, URLs) sent to the CDS Hooks routes.
// They only count in the group, and a later rule blocks on their labels
// everywhere else (AWS WAF's label-match pattern for excluding a path).
func webAclBodyRules(t *testing.T, rules []any) {
	t.Helper()
	body := map[string]string{
		"CrossSiteScripting_BODY": "CrossSiteScripting_Body", "GenericLFI_BODY": "GenericLFI_Body",
		"GenericRFI_BODY": "GenericRFI_Body", "EC2MetaDataSSRF_BODY": "EC2MetaDataSSRF_Body",
	}
	var commonPriority float64 = -1
	var block map[string]any
	for _, r := range rules {
		if str(r, "Statement", "ManagedRuleGroupStatement", "Name") == "AWSManagedRulesCommonRuleSet" {
			commonPriority = at(r, "Priority").(float64)
			counted := map[string]bool{}
			for _, o := range listAt(r, "Statement", "ManagedRuleGroupStatement", "RuleActionOverrides") {
				if mapAt(o, "ActionToUse", "Count") != nil {
					counted[str(o, "Name")] = true
				}
			}
			for rule := range body {
				if !counted[rule] {
					t.Errorf("the common rule set blocks %s itself: FHIR prefetch to /cds-services would be refused", rule)
				}
			}
		}
		if str(r, "Name") == "aws-common-body-outside-cds-hooks" {
			block = asMap(r)
		}
	}
	if block == nil {
		t.Fatal("no rule aws-common-body-outside-cds-hooks: the counted body rules block nothing anywhere")
	}
	if p := at(block, "Priority").(float64); p <= commonPriority {
		t.Errorf("aws-common-body-outside-cds-hooks has priority %v, not after the common rule set's %v (its labels come from there)", p, commonPriority)
	}
	if mapAt(block, "Action", "Block") == nil {
		t.Errorf("aws-common-body-outside-cds-hooks action %v, want Block", block["Action"])
	}
	parts := listAt(block, "Statement", "AndStatement", "Statements")
	if len(parts) != 2 {
		t.Fatalf("aws-common-body-outside-cds-hooks: %v, want AND(labels, NOT path)", parts)
	}
	labels := map[string]bool{}
	for _, l := range listAt(parts[0], "OrStatement", "Statements") {
		if str(l, "LabelMatchStatement", "Scope") == "LABEL" {
			labels[str(l, "LabelMatchStatement", "Key")] = true
		}
	}
	for _, label := range body {
		if !labels["awswaf:managed:aws:core-rule-set:"+label] {
			t.Errorf("aws-common-body-outside-cds-hooks does not block on label %s (has %v)", label, labels)
		}
	}
	rx := mapAt(parts[1], "NotStatement", "Statement", "RegexMatchStatement")
	if mapAt(rx, "FieldToMatch", "UriPath") == nil {
		t.Fatalf("the exemption matches %v, want the URI path", rx["FieldToMatch"])
	}
	var transforms []string
	for _, tt := range listAt(rx, "TextTransformations") {
		transforms = append(transforms, str(tt, "Type"))
	}
	if !slices.Equal(transforms, []string{"URL_DECODE", "NORMALIZE_PATH"}) {
		t.Errorf("the exemption transforms the path with %v, want URL_DECODE then NORMALIZE_PATH (no ../ escape)", transforms)
	}
	re := regexp.MustCompile(strings.ReplaceAll(str(rx, "RegexString", "Fn::Sub"), "${Stage}", "prod"))
	for path, exempt := range map[string]bool{
		"/prod/cds-services": true, "/prod/cds-services/ascvd-pce": true, "/prod/cds-services/ascvd-pce/feedback": true,
		"/cds-services/meld-na": true, // custom domain: no stage in the path
		"/prod/predict":         false, "/predict": false, "/prod/cds-servicesx": false, "/prod/predict/cds-services": false,
		"/staging/cds-services/ascvd-pce": false, "/prod/docs": false,
	} {
		if re.MatchString(path) != exempt {
			t.Errorf("path %s exempt from the body rules: %v, want %v", path, !exempt, exempt)
		}
	}
}

// deployRefusals is how many CDS Hooks calls without a valid token a
// deploy itself sends: the pre-traffic hook's (twice, should Lambda retry
// it) and ci/smoke-test.sh's.
func deployRefusals(t *testing.T) int {
	t.Helper()
	n := 0
	for _, c := range smoke.Checks["cdshooks"] {
		if c.Status == 401 {
			n += 2
		}
	}
	script, err := os.ReadFile(filepath.Join(root, "ci", "smoke-test.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return n + strings.Count(string(script), `"${base}/cds-services/ascvd-pce"`)
}

// TestCdsHooksReplayTable: with CdsHooksClients the stack creates the
// shared jti table as package replay uses it (partition key and TTL
// attribute), on demand, encrypted, named under the stack (the CI role's
// scope), deleted with the stack; the cdshooks function gets its name and
// PutItem on it alone, and no other role touches DynamoDB. Without
// clients there is no table, no permission and an empty variable (the
// function then needs none: no JWT is accepted).
func TestCdsHooksReplayTable(t *testing.T) {
	dynamoActions := func(res map[string]any) map[string][]string {
		out := map[string][]string{}
		for id, r := range res {
			if str(r, "Type") != "AWS::IAM::Role" {
				continue
			}
			for _, s := range statements(res, id) {
				if a := fmt.Sprint(at(s, "Action")); strings.Contains(a, "dynamodb:") {
					out[id] = append(out[id], a)
				}
			}
		}
		return out
	}

	params := []string{"CdsHooksClients=[{\"iss\":\"https://ehr.example\",\"jwks_url\":\"https://ehr.example/jwks\"}]",
		"CdsHooksBaseUrl=https://risk.example.org"}
	res := mapAt(resolveConditions(t, translated(t, params...), params), "Resources")
	table := mapAt(res, "CdsHooksReplayTable")
	p := mapAt(table, "Properties")
	if str(table, "Condition") != "HasCdsHooksClients" || str(table, "DeletionPolicy") != "Delete" || str(table, "UpdateReplacePolicy") != "Delete" {
		t.Errorf("table condition %v, policies %v/%v; want HasCdsHooksClients, Delete/Delete", table["Condition"], table["DeletionPolicy"], table["UpdateReplacePolicy"])
	}
	if name := str(p, "TableName", "Fn::Sub"); !strings.HasPrefix(name, "${AWS::StackName}-") {
		t.Errorf("TableName %v does not start with the stack name (the CI role's scope)", p["TableName"])
	}
	keys, attrs := listAt(p, "KeySchema"), listAt(p, "AttributeDefinitions")
	if len(keys) != 1 || str(keys[0], "AttributeName") != replay.KeyAttribute || str(keys[0], "KeyType") != "HASH" ||
		len(attrs) != 1 || str(attrs[0], "AttributeName") != replay.KeyAttribute || str(attrs[0], "AttributeType") != "S" {
		t.Errorf("key %v %v, want %s (S) as the partition key alone", keys, attrs, replay.KeyAttribute)
	}
	if str(p, "TimeToLiveSpecification", "AttributeName") != replay.ExpiresAttribute || at(p, "TimeToLiveSpecification", "Enabled") != true {
		t.Errorf("TTL %v, want enabled on %s", p["TimeToLiveSpecification"], replay.ExpiresAttribute)
	}
	if str(p, "BillingMode") != "PAY_PER_REQUEST" || at(p, "SSESpecification", "SSEEnabled") != true {
		t.Errorf("billing %v, SSE %v; want on demand, encrypted with KMS", p["BillingMode"], p["SSESpecification"])
	}
	if env := mapAt(res, "CdsHooksFunction", "Properties", "Environment", "Variables"); str(env, "CDS_HOOKS_REPLAY_TABLE", "Ref") != "CdsHooksReplayTable" {
		t.Errorf("CDS_HOOKS_REPLAY_TABLE = %v, want !Ref CdsHooksReplayTable", env["CDS_HOOKS_REPLAY_TABLE"])
	}
	granted := false
	for _, s := range statements(res, "CdsHooksRole") {
		if r, attr := getAtt(at(s, "Resource")); r == "CdsHooksReplayTable" && attr == "Arn" && str(s, "Action") == "dynamodb:PutItem" && str(s, "Effect") == "Allow" {
			granted = true
		}
	}
	if !granted {
		t.Error("CdsHooksRole may not dynamodb:PutItem on the table")
	}
	if got := dynamoActions(res); len(got) != 1 || len(got["CdsHooksRole"]) != 1 {
		t.Errorf("DynamoDB permissions %v, want dynamodb:PutItem for CdsHooksRole alone", got)
	}

	// The CI deploy role may create, update and delete it: the table ARNs
	// under the stack's name.
	ci, err := os.ReadFile(filepath.Join(root, "infra", "ci.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{":table/${!aws:PrincipalTag/sam-stack}-*", "dynamodb:CreateTable", "dynamodb:UpdateTimeToLive",
		"dynamodb:DescribeTimeToLive", "dynamodb:TagResource", "dynamodb:DeleteTable", "kms:ViaService: !Sub dynamodb.${AWS::Region}.amazonaws.com"} {
		if !strings.Contains(string(ci), want) {
			t.Errorf("infra/ci.yaml lacks %q: the CI deploy role cannot manage the table", want)
		}
	}

	res = mapAt(resolveConditions(t, translated(t), nil), "Resources")
	if str(res, "CdsHooksReplayTable", "Condition") != "HasCdsHooksClients" {
		t.Error("the table is not conditional on CdsHooksClients")
	}
	if env := mapAt(res, "CdsHooksFunction", "Properties", "Environment", "Variables"); str(env, "CDS_HOOKS_REPLAY_TABLE") != "" {
		t.Errorf("without clients CDS_HOOKS_REPLAY_TABLE = %v, want empty", env["CDS_HOOKS_REPLAY_TABLE"])
	}
	if got := dynamoActions(res); len(got) != 0 {
		t.Errorf("without clients: DynamoDB permissions %v", got)
	}
}
