// Package deploy holds the tests of the SAM deployment: template.yaml and
// samconfig.toml at the repository root, checked against the code they
// deploy. They run offline; cfn-lint must be on PATH.
package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
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
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/secrets"
)

const root = ".." // the repository root, seen from this package

// cfnLintVersion is the version this template was checked with (TOOLS.md).
const cfnLintVersion = "1.51"

// ------------------------------------------------------------- cfn-lint

// TestCfnLint lints the template with its defaults, with every optional
// feature switched on, and with each samconfig.toml environment's
// parameter overrides. Warnings fail too: fix them, or silence one rule in
// the template's Metadata with a reason.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is not on PATH (pip install 'cfn-lint==%s.*'): %v", cfnLintVersion, err)
	}
	cases := map[string][]string{
		"defaults": nil,
		"every option": {
			"Stage=prod", "CanaryDeployments=true", "TracingEnabled=true", "ReservedConcurrency=5",
			"LogKmsKeyArn=arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			"ApiKeysSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-keys-AbCdEf",
			"WafWebAclArn=arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/api/a1b2c3",
			"DomainName=risk.example.org",
			"CertificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab",
			"AlarmEmail=oncall@example.org",
		},
	}
	for env, overrides := range samconfigOverrides(t) {
		cases["samconfig "+env] = overrides
	}
	for name, params := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--", "template.yaml"}
			if len(params) > 0 {
				args = append([]string{"--parameters"}, append(params, args...)...)
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				var exit *exec.ExitError
				if !errors.As(err, &exit) {
					t.Fatalf("cfn-lint: %v", err)
				}
				// Exit code bits: 2 errors, 4 warnings, 8 informational.
				t.Fatalf("cfn-lint %s: exit %d (bit 2 = errors, 4 = warnings)\n%s", strings.Join(params, " "), exit.ExitCode(), out)
			}
		})
	}
}

// samconfigOverrides reads the parameter_overrides of each environment in
// samconfig.toml. The file is ours and uses one plain form:
// [env.deploy.parameters] then parameter_overrides = "K=V K=V".
func samconfigOverrides(t *testing.T) map[string][]string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile(`^\[([a-z_]+)\.deploy\.parameters\]$`)
	override := regexp.MustCompile(`^parameter_overrides\s*=\s*"(.*)"$`)
	out := map[string][]string{}
	env := ""
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			env = ""
			if m := section.FindStringSubmatch(line); m != nil {
				env = m[1]
			}
		}
		if m := override.FindStringSubmatch(line); m != nil && env != "" {
			out[env] = strings.Fields(m[1])
		}
	}
	for _, env := range []string{"default", "prod"} {
		if len(out[env]) == 0 {
			t.Errorf("samconfig.toml: [%s.deploy.parameters] has no parameter_overrides", env)
		}
	}
	return out
}

// TestSamconfig checks the SAM CLI settings the README promises.
func TestSamconfig(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl := loadTemplate(t)
	params := mapAt(tpl, "Parameters")
	for env, overrides := range samconfigOverrides(t) {
		for _, kv := range overrides {
			k, v, ok := strings.Cut(kv, "=")
			p, known := params[k].(map[string]any)
			if !ok || !known {
				t.Errorf("samconfig %s: override %q names no template parameter", env, kv)
				continue
			}
			if allowed, ok := p["AllowedValues"].([]any); ok && !slices.Contains(stringsOf(allowed), v) {
				t.Errorf("samconfig %s: %s=%s is not one of %v", env, k, v, allowed)
			}
		}
	}
	for _, want := range []string{
		"version = 0.1",
		"[prod.deploy.parameters]",
		`warm_containers = "EAGER"`,
		// CodeDeployRole has an explicit name.
		`capabilities = "CAPABILITY_IAM CAPABILITY_NAMED_IAM"`,
		"resolve_s3 = true",
		"cached = true",
		"parallel = true",
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("samconfig.toml lacks %s", want)
		}
	}
	prod := string(text)[strings.Index(string(text), "[prod.deploy.parameters]"):]
	if !strings.Contains(prod, "confirm_changeset = true") {
		t.Error("samconfig.toml: prod deploys must confirm the changeset")
	}
}

// ------------------------------------------------------ routes and functions

var groups = map[string]api.Group{"Info": api.Info, "Health": api.Health, "Predict": api.Predict, "CDSHooks": api.CDSHooks, "All": api.All}

// TestFunctionsServeTheirEvents proves that each function's API events are
// exactly the routes its main.go asks internal/api for, that together they
// are every route of the API, and that only functions with protected
// routes can read the API-key secret.
func TestFunctionsServeTheirEvents(t *testing.T) {
	tpl := loadTemplate(t)
	fns := apiFunctions(t, tpl)
	if len(fns) == 0 {
		t.Fatal("template.yaml has no AWS::Serverless::Function")
	}
	seen := map[string]string{} // "GET /models" → function
	for _, id := range slices.Sorted(maps.Keys(fns)) {
		fn := fns[id]
		group := functionGroup(t, id)
		want := map[string]bool{}
		protected := false
		for _, e := range api.Routes(group) {
			want[e.Method+" "+e.Path] = true
			protected = protected || e.Protected
		}
		got := map[string]bool{}
		for name, ev := range mapAt(fn, "Properties", "Events") {
			if str(ev, "Type") != "Api" {
				continue
			}
			p := mapAt(ev, "Properties")
			op := strings.ToUpper(str(p, "Method")) + " " + str(p, "Path")
			if ref := str(p, "RestApiId", "Ref"); ref != "Api" {
				t.Errorf("%s event %s: RestApiId is %q, want !Ref Api", id, name, ref)
			}
			if other, dup := seen[op]; dup {
				t.Errorf("%s and %s both claim %s", other, id, op)
			}
			seen[op] = id
			got[op] = true
		}
		for op := range want {
			if !got[op] {
				t.Errorf("%s serves %s (its main.go routes) but has no Api event for it", id, op)
			}
		}
		for op := range got {
			if !want[op] {
				t.Errorf("%s has an Api event %s that its routes do not serve", id, op)
			}
		}

		env := mapAt(fn, "Properties", "Environment", "Variables")
		_, hasSecretEnv := env["API_KEYS_SECRET_ID"]
		canRead := roleReadsSecret(t, tpl, fn)
		if protected && (!hasSecretEnv || !canRead) {
			t.Errorf("%s has protected routes: it needs API_KEYS_SECRET_ID (has %v) and secretsmanager:GetSecretValue (has %v)", id, hasSecretEnv, canRead)
		}
		if !protected && (hasSecretEnv || canRead) {
			t.Errorf("%s has no protected route, so it must not see the API-key secret", id)
		}
	}
	for _, e := range api.Routes(api.All) {
		if _, ok := seen[e.Method+" "+e.Path]; !ok {
			t.Errorf("route %s %s is served by no function in template.yaml", e.Method, e.Path)
		}
	}
}

// functionGroup reads which route group functions/<name>/main.go starts.
func functionGroup(t *testing.T, logicalID string) api.Group {
	t.Helper()
	dir := functionDir(t, logicalID)
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, dir, "main.go"), nil, 0)
	if err != nil {
		t.Fatalf("%s: %v", logicalID, err)
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "api" {
				if _, ok := groups[sel.Sel.Name]; ok {
					found = append(found, sel.Sel.Name)
				}
			}
		}
		return true
	})
	if len(found) != 1 {
		t.Fatalf("%s/main.go: want exactly one route group (api.Info, ...), found %v", dir, found)
	}
	return groups[found[0]]
}

// functionDir asks the Makefile which package build-<LogicalId> builds, so
// the main.go read above is the one SAM deploys.
func functionDir(t *testing.T, logicalID string) string {
	t.Helper()
	cmd := exec.Command("make", "-n", "--no-print-directory", "build-"+logicalID, "ARTIFACTS_DIR=/artifacts")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Makefile has no working target build-%s (SAM BuildMethod makefile calls it): %v\n%s", logicalID, err, out)
	}
	m := regexp.MustCompile(`go build .*-o /artifacts/bootstrap (\./functions/[a-z0-9_-]+)\s*$`).FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		t.Fatalf("make -n build-%s: no go build of ./functions/<name> to $(ARTIFACTS_DIR)/bootstrap in\n%s", logicalID, out)
	}
	return m[1]
}

// roleReadsSecret reports whether the function's role allows
// secretsmanager:GetSecretValue, and checks it allows nothing broader.
func roleReadsSecret(t *testing.T, tpl map[string]any, fn any) bool {
	t.Helper()
	roleID := ""
	if ga, ok := at(fn, "Properties", "Role", "Fn::GetAtt").([]any); ok && len(ga) == 2 {
		roleID, _ = ga[0].(string)
	}
	role := mapAt(tpl, "Resources", roleID)
	if str(role, "Type") != "AWS::IAM::Role" {
		t.Fatalf("function role %q is not an AWS::IAM::Role of this template", roleID)
	}
	if _, ok := mapAt(role, "Properties")["ManagedPolicyArns"]; ok {
		t.Errorf("%s: no managed policies; inline statements only", roleID)
	}
	reads := false
	for _, p := range listAt(role, "Properties", "Policies") {
		for _, st := range listAt(p, "PolicyDocument", "Statement") {
			if stm, ok := st.(map[string]any); ok && stm["Fn::If"] != nil {
				st = stm["Fn::If"].([]any)[1] // the statement when its condition holds
			}
			actions := stringsOf(asList(at(st, "Action")))
			for _, a := range actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: action %q is a wildcard", roleID, a)
				}
				if strings.HasPrefix(a, "secretsmanager:") {
					if a != "secretsmanager:GetSecretValue" {
						t.Errorf("%s: %s: only secretsmanager:GetSecretValue", roleID, a)
					}
					if at(st, "Resource") == "*" {
						t.Errorf("%s: the secret permission must name the secret, not *", roleID)
					}
					reads = true
				}
			}
		}
	}
	return reads
}

// TestMakefileBuildsArm64 runs SAM's build step for each function (make
// build-<LogicalId> ARTIFACTS_DIR=...) and checks the bootstrap is a static
// linux/arm64 executable, as provided.al2023 on arm64 needs.
func TestMakefileBuildsArm64(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three binaries; skipped with -short")
	}
	tpl := loadTemplate(t)
	for id, fn := range functions(t, tpl) {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			if got := str(fn, "Metadata", "BuildMethod"); got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %q, want makefile", got)
			}
			if got := str(fn, "Properties", "CodeUri"); got != "." {
				t.Errorf("CodeUri = %q, want . (the Makefile is at the root)", got)
			}
			dir := t.TempDir()
			cmd := exec.Command("make", "--no-print-directory", "build-"+id, "ARTIFACTS_DIR="+dir)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", id, err, out)
			}
			path := filepath.Join(dir, "bootstrap")
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode()&0o111 == 0 {
				t.Errorf("bootstrap is not executable: %v", info.Mode())
			}
			f, err := elf.Open(path)
			if err != nil {
				t.Fatalf("bootstrap is not an ELF file: %v", err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
				t.Errorf("bootstrap is %v %v %v, want EM_AARCH64 ELFCLASS64 ET_EXEC", f.Machine, f.Class, f.Type)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("bootstrap is dynamically linked; want CGO_ENABLED=0")
				}
			}
		})
	}
}

// TestFunctionSettings checks what every function must have: the runtime
// and architecture the Makefile builds for, a timeout API Gateway can wait
// for, and its own log group.
func TestFunctionSettings(t *testing.T) {
	tpl := loadTemplate(t)
	global := mapAt(tpl, "Globals", "Function")
	for id, fn := range functions(t, tpl) {
		prop := func(k string) any {
			if v, ok := mapAt(fn, "Properties")[k]; ok {
				return v
			}
			return global[k]
		}
		if prop("Runtime") != "provided.al2023" || prop("Handler") != "bootstrap" {
			t.Errorf("%s: Runtime %v Handler %v, want provided.al2023 and bootstrap", id, prop("Runtime"), prop("Handler"))
		}
		if a := stringsOf(asList(prop("Architectures"))); !slices.Equal(a, []string{"arm64"}) {
			t.Errorf("%s: Architectures %v, want [arm64]", id, a)
		}
		// API Gateway's integration timeout is 29 s; the hook answers
		// CodeDeploy, not clients.
		if to := timeout(t, tpl, id); (to < 1 || to > 10) && id != "PreTrafficFunction" {
			t.Errorf("%s: Timeout %d s, want 1 to 10", id, to)
		}
		lg := str(fn, "Properties", "LoggingConfig", "LogGroup", "Ref")
		if str(tpl, "Resources", lg, "Type") != "AWS::Logs::LogGroup" {
			t.Errorf("%s: LoggingConfig.LogGroup must !Ref its own AWS::Logs::LogGroup, got %q", id, lg)
		}
		if at(tpl, "Resources", lg, "Properties", "RetentionInDays") == nil {
			t.Errorf("%s: log group %s has no retention", id, lg)
		}
		if _, ok := mapAt(fn, "Properties", "Environment", "Variables")["LOG_LEVEL"]; !ok && mapAt(global, "Environment", "Variables")["LOG_LEVEL"] == nil {
			t.Errorf("%s: no LOG_LEVEL", id)
		}
	}
}

// TestApiKeysSecretFormat checks the secret the template creates parses as
// the key store expects.
func TestApiKeysSecretFormat(t *testing.T) {
	tpl := loadTemplate(t)
	text := str(tpl, "Resources", "ApiKeysSecret", "Properties", "SecretString")
	entries, err := secrets.ParseSecret([]byte(text))
	if err != nil {
		t.Fatalf("ApiKeysSecret SecretString %q: %v", text, err)
	}
	if len(entries) != 0 {
		t.Errorf("the created secret must start with no keys, has %d", len(entries))
	}
}

// ---------------------------------------------------- alarms and dashboard

// TestAlarms checks every alarm is explicit about missing data and M of N,
// notifies the topic both ways, and that the Duration alarms sit at 80% of
// their function's timeout.
func TestAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	alarms := resourcesOfType(tpl, "AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Fatal("no alarms")
	}
	for id, a := range alarms {
		p := mapAt(a, "Properties")
		for _, k := range []string{"TreatMissingData", "EvaluationPeriods", "DatapointsToAlarm", "AlarmDescription"} {
			if _, ok := p[k]; !ok {
				t.Errorf("%s: no %s", id, k)
			}
		}
		// Which topic is TestAlarmRouting's (critical or warning); both
		// directions go to the same one.
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if got := listAt(p, k); len(got) != 1 || str(got[0], "Ref") == "" {
				t.Errorf("%s: %s = %v, want one topic", id, k, got)
			}
		}
		if m, n := num(p["DatapointsToAlarm"]), num(p["EvaluationPeriods"]); m < 1 || m > n {
			t.Errorf("%s: DatapointsToAlarm %v of EvaluationPeriods %v", id, m, n)
		}
		if str(p, "Namespace") == "AWS/Lambda" && str(p, "MetricName") == "Duration" {
			fn := str(listAt(p, "Dimensions")[0], "Value", "Ref")
			want := float64(timeout(t, tpl, fn) * 800) // 80% of the timeout, in ms
			if got := num(p["Threshold"]); got != want {
				t.Errorf("%s: threshold %v ms, want 80%% of %s's timeout = %v ms", id, got, fn, want)
			}
		}
	}
	for _, fn := range slices.Sorted(maps.Keys(apiFunctions(t, tpl))) {
		for _, metric := range []string{"Errors", "Throttles", "Duration"} {
			if !hasLambdaAlarm(alarms, fn, metric) {
				t.Errorf("no alarm on AWS/Lambda %s of %s", metric, fn)
			}
		}
	}
}

func hasLambdaAlarm(alarms map[string]any, fn, metric string) bool {
	for _, a := range alarms {
		p := mapAt(a, "Properties")
		if str(p, "Namespace") == "AWS/Lambda" && str(p, "MetricName") == metric {
			for _, d := range listAt(p, "Dimensions") {
				if str(d, "Name") == "FunctionName" && str(d, "Value", "Ref") == fn {
					return true
				}
			}
		}
	}
	return false
}

// metricUse is one reference to a metric: where, which, and with which
// dimension names and literal values.
type metricUse struct {
	where, namespace, name string
	dims                   map[string]string
}

// TestMetricsAreEmitted proves alarms and the dashboard name only metrics
// of namespace HealthcareAPI that the code emits (metrics.Vocabulary), with
// one of the dimension sets it publishes them under (the Lambda-only
// per-version sets included: this template deploys Lambda functions), and
// only real values for the dimensions we control. Every set names the
// Environment, and its value must be this stack's ${Stage} (or "*" in a
// SEARCH schema): an alarm of one stage never reads another's metrics.
func TestMetricsAreEmitted(t *testing.T) {
	tpl := loadTemplate(t)
	var uses []metricUse
	for id, a := range resourcesOfType(tpl, "AWS::CloudWatch::Alarm") {
		p := mapAt(a, "Properties")
		if name := str(p, "MetricName"); name != "" {
			uses = append(uses, metricUse{id, str(p, "Namespace"), name, cfnDims(listAt(p, "Dimensions"))})
		}
		for _, m := range listAt(p, "Metrics") {
			if ms := mapAt(m, "MetricStat", "Metric"); ms != nil {
				uses = append(uses, metricUse{id + "/" + str(m, "Id"), str(ms, "Namespace"), str(ms, "MetricName"), cfnDims(listAt(ms, "Dimensions"))})
			}
		}
	}
	uses = append(uses, dashboardMetrics(t, tpl)...)

	vocab := map[string]metrics.Metric{}
	for _, m := range metrics.Vocabulary() {
		vocab[m.Name] = m
	}
	ops := map[string]bool{}
	for _, e := range api.Routes(api.All) {
		ops[e.Method+" "+e.Path] = true
	}
	fns := functions(t, tpl)
	logGroups := map[string]bool{}
	for _, fn := range fns {
		logGroups["${"+str(fn, "Properties", "LoggingConfig", "LogGroup", "Ref")+"}"] = true
	}
	apiName := str(tpl, "Resources", "Api", "Properties", "Name", "Fn::Sub")
	ours := 0
	for _, u := range uses {
		switch u.namespace {
		case "AWS/ApiGateway":
			if u.dims["ApiName"] != apiName || u.dims["Stage"] != "${Stage}" || len(u.dims) != 2 {
				t.Errorf("%s: AWS/ApiGateway %s dimensions %v, want ApiName %q (the Api's Name) and Stage ${Stage}", u.where, u.name, u.dims, apiName)
			}
		case "AWS/Lambda":
			// Per function; per version of the alias live (the canary
			// gates); or the account's claimed concurrency, which has no
			// dimension.
			fn := strings.TrimSuffix(strings.TrimPrefix(u.dims["FunctionName"], "${"), "}")
			switch {
			case len(u.dims) == 0 && u.name == "ClaimedAccountConcurrency":
			case len(u.dims) == 1 && fns[fn] != nil:
			case len(u.dims) == 3 && fns[fn] != nil && u.dims["Resource"] == "${"+fn+"}:live" &&
				u.dims["ExecutedVersion"] == "${"+fn+".Version.Version}":
			default:
				t.Errorf("%s: AWS/Lambda %s dimensions %v, want FunctionName ${<a function>} (and Resource ${<it>}:live, ExecutedVersion ${<it>.Version.Version})", u.where, u.name, u.dims)
			}
		case "AWS/Logs":
			if len(u.dims) != 1 || !logGroups[u.dims["LogGroupName"]] {
				t.Errorf("%s: AWS/Logs %s dimensions %v, want LogGroupName of a function's log group", u.where, u.name, u.dims)
			}
		}
		if u.namespace != metrics.Namespace {
			continue
		}
		ours++
		m, ok := vocab[u.name]
		if !ok {
			t.Errorf("%s: %s/%s is not in metrics.Vocabulary()", u.where, u.namespace, u.name)
			continue
		}
		keys := slices.Sorted(maps.Keys(u.dims))
		sets := m.AllDimensions()
		if !slices.ContainsFunc(sets, func(set []string) bool { return slices.Equal(slices.Sorted(slices.Values(set)), keys) }) {
			t.Errorf("%s: %s with dimensions %v; the code publishes it with %v", u.where, u.name, keys, sets)
		}
		fn := strings.TrimSuffix(strings.TrimPrefix(u.dims[metrics.DimFunctionName], "${"), "}")
		for k, v := range u.dims {
			switch {
			case v == "*": // a SEARCH over every value
			case k == metrics.DimService && v != metrics.Service:
				t.Errorf("%s: Service %q, the code says %q", u.where, v, metrics.Service)
			case k == metrics.DimEnvironment && v != "${Stage}":
				t.Errorf("%s: Environment %q, want ${Stage} (the functions' METRICS_ENV)", u.where, v)
			case k == metrics.DimOperation && !ops[v]:
				t.Errorf("%s: Operation %q is no route of the API", u.where, v)
			case k == metrics.DimFunctionName && fns[fn] == nil:
				t.Errorf("%s: FunctionName %q is not ${<a function of this template>}", u.where, v)
			case k == metrics.DimFunctionVersion && v != "${"+fn+".Version.Version}":
				// The version number of the function named beside it: what
				// AWS_LAMBDA_FUNCTION_VERSION holds in the new version.
				t.Errorf("%s: FunctionVersion %q, want ${%s.Version.Version} (the version number of the FunctionName beside it)", u.where, v, fn)
			}
		}
	}
	if ours == 0 {
		t.Fatal("found no HealthcareAPI metric in alarms or dashboard; the parser is broken")
	}
	// The functions label their metrics with METRICS_ENV: it must be the
	// Stage the alarms select, or they watch nothing.
	global := cfnDims([]any{map[string]any{"Name": "v", "Value": at(tpl, "Globals", "Function", "Environment", "Variables", "METRICS_ENV")}})["v"]
	for id, fn := range fns {
		v := global
		if own := at(fn, "Properties", "Environment", "Variables", "METRICS_ENV"); own != nil {
			v = cfnDims([]any{map[string]any{"Name": "v", "Value": own}})["v"]
		}
		if v != "${Stage}" {
			t.Errorf("%s: METRICS_ENV = %q, want !Ref Stage (the Environment the alarms and dashboard select)", id, v)
		}
	}
}

// cfnDims turns [{Name, Value}] into a map; a value that is an intrinsic
// becomes its ${...} spelling.
func cfnDims(list []any) map[string]string {
	out := map[string]string{}
	for _, d := range list {
		v := at(d, "Value")
		switch x := v.(type) {
		case string:
			out[str(d, "Name")] = x
		case map[string]any:
			if r, ok := x["Ref"].(string); ok {
				out[str(d, "Name")] = "${" + r + "}"
			} else if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
				out[str(d, "Name")] = fmt.Sprintf("${%v.%v}", ga[0], ga[1])
			} else if sub, ok := x["Fn::Sub"].(string); ok {
				out[str(d, "Name")] = sub
			} else {
				out[str(d, "Name")] = "${?}"
			}
		}
	}
	return out
}

var (
	subRef      = regexp.MustCompile(`\$\{([A-Za-z0-9:.]+)\}`)
	searchTerms = regexp.MustCompile(`SEARCH\('\{([^}]*)\}([^']*)'`)
	searchKV    = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// dashboardMetrics parses the dashboard body (a Fn::Sub string) as JSON and
// lists its metrics: plain metric rows and the schemas of SEARCH
// expressions. It also checks every ${...} names something that exists.
func dashboardMetrics(t *testing.T, tpl map[string]any) []metricUse {
	t.Helper()
	dashboards := resourcesOfType(tpl, "AWS::CloudWatch::Dashboard")
	if len(dashboards) != 1 {
		t.Fatalf("want one dashboard, found %d", len(dashboards))
	}
	var uses []metricUse
	for id, d := range dashboards {
		body := str(d, "Properties", "DashboardBody", "Fn::Sub")
		if body == "" {
			t.Fatalf("%s: DashboardBody must be !Sub of a JSON string", id)
		}
		for _, m := range subRef.FindAllStringSubmatch(body, -1) {
			name, _, _ := strings.Cut(m[1], ".")
			if !strings.HasPrefix(name, "AWS::") && at(tpl, "Resources", name) == nil && at(tpl, "Parameters", name) == nil {
				t.Errorf("%s: ${%s} names no resource or parameter", id, m[1])
			}
		}
		var doc struct {
			Widgets []struct {
				Type       string `json:"type"`
				Properties struct {
					Title   string  `json:"title"`
					Metrics [][]any `json:"metrics"`
				} `json:"properties"`
			} `json:"widgets"`
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("%s: DashboardBody is not JSON: %v", id, err)
		}
		for _, w := range doc.Widgets {
			where := id + " widget " + strconv.Quote(w.Properties.Title)
			for _, row := range w.Properties.Metrics {
				if len(row) == 0 {
					continue
				}
				if opts, ok := row[0].(map[string]any); ok {
					expr, _ := opts["expression"].(string)
					for _, s := range searchTerms.FindAllStringSubmatch(expr, -1) {
						schema := strings.Split(s[1], ",")
						u := metricUse{where: where, namespace: strings.TrimSpace(schema[0]), dims: map[string]string{}}
						for _, k := range schema[1:] {
							u.dims[strings.TrimSpace(k)] = "*"
						}
						for _, kv := range searchKV.FindAllStringSubmatch(s[2], -1) {
							if kv[1] == "MetricName" {
								u.name = kv[2]
							} else if _, ok := u.dims[kv[1]]; ok {
								u.dims[kv[1]] = kv[2]
							} else {
								t.Errorf("%s: SEARCH filters on %s, which is not in its schema", where, kv[1])
							}
						}
						if u.name == "" {
							t.Errorf("%s: SEARCH without MetricName=\"...\"", where)
						}
						uses = append(uses, u)
					}
					continue
				}
				var parts []string
				for _, x := range row {
					if s, ok := x.(string); ok {
						parts = append(parts, s)
					}
				}
				if len(parts) < 2 || len(parts)%2 != 0 || parts[0] == "." {
					t.Errorf("%s: metric row %v: want [namespace, name, dim, value, ..., {options}] spelled out", where, row)
					continue
				}
				u := metricUse{where: where, namespace: parts[0], name: parts[1], dims: map[string]string{}}
				for i := 2; i < len(parts); i += 2 {
					u.dims[parts[i]] = parts[i+1]
				}
				uses = append(uses, u)
			}
		}
	}
	return uses
}

// TestDashboardWidgets checks the dashboard shows what the README says.
func TestDashboardWidgets(t *testing.T) {
	tpl := loadTemplate(t)
	uses := dashboardMetrics(t, tpl)
	shown := map[string]bool{}
	for _, u := range uses {
		shown[u.namespace+" "+u.name] = true
	}
	for _, want := range []string{
		"HealthcareAPI Requests", "HealthcareAPI ClientErrors", "HealthcareAPI ServerErrors",
		"HealthcareAPI Latency", "HealthcareAPI Predictions", "HealthcareAPI ColdStart",
		"AWS/Lambda ConcurrentExecutions", "AWS/Lambda Throttles",
		"AWS/ApiGateway Count", "AWS/ApiGateway 4XXError", "AWS/ApiGateway 5XXError",
	} {
		if !shown[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}

// ------------------------------------------------------------- helpers

// loadTemplate reads template.yaml into plain Go values, with the
// CloudFormation short tags turned into their long forms (!Ref x becomes
// {"Ref": "x"}, !GetAtt a.b becomes {"Fn::GetAtt": ["a", "b"]}).
func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(text)).Decode(&doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	v, err := plain(&doc)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatal("template.yaml is not a mapping")
	}
	return m
}

func plain(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return plain(n.Content[0])
	case yaml.AliasNode:
		return plain(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := plain(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := plain(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if isShortTag(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !isShortTag(n.Tag) {
		return v, nil
	}
	switch name := n.Tag[1:]; name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + name: v}, nil
	}
}

func isShortTag(tag string) bool { return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") }

func functions(t *testing.T, tpl map[string]any) map[string]any {
	t.Helper()
	return resourcesOfType(tpl, "AWS::Serverless::Function")
}

// apiFunctions are the functions that serve API routes (all but the
// pre-traffic hook, which has no Api event).
func apiFunctions(t *testing.T, tpl map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for id, fn := range functions(t, tpl) {
		if len(mapAt(fn, "Properties", "Events")) > 0 {
			out[id] = fn
		}
	}
	return out
}

func resourcesOfType(tpl map[string]any, typ string) map[string]any {
	out := map[string]any{}
	for id, r := range mapAt(tpl, "Resources") {
		if str(r, "Type") == typ {
			out[id] = r
		}
	}
	return out
}

// timeout is a function's Timeout in seconds (its own, or the global one).
func timeout(t *testing.T, tpl map[string]any, fn string) int {
	t.Helper()
	v := at(tpl, "Resources", fn, "Properties", "Timeout")
	if v == nil {
		v = at(tpl, "Globals", "Function", "Timeout")
	}
	n, ok := v.(int)
	if !ok {
		t.Fatalf("%s: Timeout %v is not a literal number of seconds", fn, v)
	}
	return n
}

func at(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func mapAt(v any, path ...string) map[string]any {
	m, _ := at(v, path...).(map[string]any)
	return m
}

func listAt(v any, path ...string) []any { return asList(at(v, path...)) }

func str(v any, path ...string) string {
	s, _ := at(v, path...).(string)
	return s
}

func asList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	default:
		return []any{x}
	}
}

func stringsOf(l []any) []string {
	var out []string
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	sort.Strings(out)
	return out
}

func num(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	return -1
}
