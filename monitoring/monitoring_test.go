package monitoring

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "regenerate k8s/monitoring/prometheusrule.yaml from prometheus/rules.yaml")

const (
	rulesFile     = "prometheus/rules.yaml"
	rulesTestFile = "prometheus/rules_test.yaml"
	// extrapolationTestFile evaluates rules between scrapes (15 s / 30 s).
	extrapolationTestFile = "prometheus/rules_extrapolation_test.yaml"
	alertmanagerFile      = "alertmanager/alertmanager.yml"
	dashboardFile         = "grafana/healthcare-api.json"
	readmeFile            = "README.md"
	k8sDir                = "../k8s/monitoring"
	prometheusRule        = "../k8s/monitoring/prometheusrule.yaml"
	runbookBase           = "https://github.com/healthcare-prediction/api/blob/main/monitoring/README.md#"
	repoRoot              = ".."
)

// depsHint is what to do when a tool is missing.
const depsHint = "install the monitoring tools first (see monitoring/README.md#tests): " +
	"apt-get update && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager"

// tool returns the path of a binary that these tests need. A missing tool
// fails the test: a skipped check would look like a passing one in CI.
// Alternative names are tried in order (Debian calls Alertmanager
// prometheus-alertmanager).
func tool(t *testing.T, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not on PATH: %s", strings.Join(names, " or "), depsHint)
	return ""
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	runTool(t, "promtool", "check", "rules", rulesFile)
}

func TestPromtoolTestRules(t *testing.T) {
	for _, f := range []string{rulesTestFile, extrapolationTestFile} {
		out := runTool(t, "promtool", "test", "rules", f)
		if !strings.Contains(out, "SUCCESS") {
			t.Fatalf("promtool test rules %s did not report SUCCESS:\n%s", f, out)
		}
	}
}

// TestEveryAlertHasTests: each alert name is checked by at least one
// failing and one silent case in rules_test.yaml.
func TestEveryAlertHasTests(t *testing.T) {
	var tests struct {
		Tests []struct {
			Name          string `yaml:"name"`
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, rulesTestFile, &tests)
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, a := range loadRules(t).alerts() {
		if !fires[a.Alert] {
			t.Errorf("%s: no test case where it fires", a.Alert)
		}
		if !silent[a.Alert] {
			t.Errorf("%s: no test case where it stays silent", a.Alert)
		}
	}
}

func TestAmtoolCheckConfig(t *testing.T) {
	runTool(t, "amtool", "check-config", alertmanagerFile)
	for _, tc := range []struct{ labels, want string }{
		{"service=healthcare-api severity=critical environment=eks-prod alertname=HealthcareAPITargetDown", "oncall-critical"},
		{"service=healthcare-api severity=critical environment=prod alertname=HealthcareAPIHighErrorRate", "oncall-critical"},
		// Outside production a critical alert is a Slack notice, not a page.
		{"service=healthcare-api severity=critical environment=eks-staging alertname=HealthcareAPITargetDown", "slack-warning"},
		{"service=healthcare-api severity=critical environment=staging alertname=HealthcareAPITargetDown", "slack-warning"},
		{"service=healthcare-api severity=critical environment=dev alertname=HealthcareAPITargetDown", "slack-warning"},
		{"service=healthcare-api severity=critical environment=eks-prod-canary alertname=HealthcareAPITargetDown", "slack-warning"},
		{"service=healthcare-api severity=warning environment=eks-prod alertname=HealthcareAPICPUHigh", "slack-warning"},
		// A failing jti replay store pages in production only.
		{"service=healthcare-api severity=critical environment=eks-prod namespace=healthcare-api alertname=HealthcareAPICDSHooksReplayStoreFailing", "oncall-critical"},
		{"service=healthcare-api severity=critical environment=eks-staging namespace=healthcare-api alertname=HealthcareAPICDSHooksReplayStoreFailing", "slack-warning"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerFile}, strings.Fields(tc.labels)...)
		got := strings.TrimSpace(lastLine(runTool(t, "amtool", args...)))
		if got != tc.want {
			t.Errorf("route for %s = %q, want %q", tc.labels, got, tc.want)
		}
	}
}

// TestAlertmanagerConfig checks what amtool does not: resolved notices,
// @channel on pages, e-mail only for critical, secrets from files only.
func TestAlertmanagerConfig(t *testing.T) {
	raw, err := os.ReadFile(alertmanagerFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global       map[string]any `yaml:"global"`
		InhibitRules []struct {
			SourceMatchers []string `yaml:"source_matchers"`
			TargetMatchers []string `yaml:"target_matchers"`
			Equal          []string `yaml:"equal"`
		} `yaml:"inhibit_rules"`
		Receivers []struct {
			Name         string           `yaml:"name"`
			EmailConfigs []map[string]any `yaml:"email_configs"`
			SlackConfigs []map[string]any `yaml:"slack_configs"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"slack_api_url", "smtp_auth_password", "smtp_auth_secret"} {
		if _, ok := cfg.Global[k]; ok {
			t.Errorf("global.%s holds a secret in the file; use the _file form", k)
		}
	}
	if cfg.Global["slack_api_url_file"] == nil || cfg.Global["smtp_auth_password_file"] == nil {
		t.Error("global.slack_api_url_file and global.smtp_auth_password_file must be set")
	}
	if strings.Contains(string(raw), "hooks.slack.com") {
		t.Error("a Slack webhook URL is in the file")
	}
	receivers := map[string]int{}
	for _, r := range cfg.Receivers {
		for _, c := range append(r.EmailConfigs, r.SlackConfigs...) {
			if c["send_resolved"] != true {
				t.Errorf("receiver %s: send_resolved must be true", r.Name)
			}
		}
		receivers[r.Name] = len(r.EmailConfigs)*10 + len(r.SlackConfigs)
		if r.Name == "oncall-critical" && (len(r.SlackConfigs) == 0 || !strings.Contains(fmt.Sprint(r.SlackConfigs[0]["text"]), "<!channel>")) {
			t.Error("oncall-critical: Slack text must mention <!channel>")
		}
	}
	if receivers["oncall-critical"] != 11 || receivers["slack-warning"] != 1 {
		t.Errorf("receivers (10 per e-mail, 1 per Slack config) = %v, want oncall-critical 11, slack-warning 1", receivers)
	}
	if len(cfg.InhibitRules) != 1 || !slices.Contains(cfg.InhibitRules[0].Equal, "alertname") {
		t.Errorf("inhibit_rules = %+v, want one critical-over-warning rule equal on alertname", cfg.InhibitRules)
	}
}

// rule is one rule of rules.yaml.
type rule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
	For    string `yaml:"for"`
	// KeepFiringFor needs Prometheus 2.42 or later.
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

func (f ruleFile) rules() []rule {
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

func (f ruleFile) alerts() []rule {
	var out []rule
	for _, r := range f.rules() {
		if r.Alert != "" {
			out = append(out, r)
		}
	}
	return out
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var f ruleFile
	readYAML(t, rulesFile, &f)
	return f
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestAlertsAreComplete(t *testing.T) {
	alerts := loadRules(t).alerts()
	if len(alerts) == 0 {
		t.Fatal("no alerts")
	}
	anchors := readmeAnchors(t)
	for _, a := range alerts {
		switch a.Labels["severity"] {
		case "critical", "warning":
		default:
			t.Errorf("%s: severity %q, want critical or warning", a.Alert, a.Labels["severity"])
		}
		if a.Labels["service"] != "healthcare-api" {
			t.Errorf("%s: label service=healthcare-api is missing (Alertmanager routes on it)", a.Alert)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a.Annotations[k]) == "" {
				t.Errorf("%s: annotation %s is missing", a.Alert, k)
			}
		}
		anchor, ok := strings.CutPrefix(a.Annotations["runbook_url"], runbookBase)
		if !ok {
			t.Errorf("%s: runbook_url %q does not start with %s", a.Alert, a.Annotations["runbook_url"], runbookBase)
			continue
		}
		if !anchors[anchor] {
			t.Errorf("%s: runbook anchor #%s has no heading in %s", a.Alert, anchor, readmeFile)
		}
		if anchor != strings.ToLower(a.Alert) {
			t.Errorf("%s: runbook anchor #%s, want #%s", a.Alert, anchor, strings.ToLower(a.Alert))
		}
	}
}

// TestRulesKeepEnvironment: every aggregation over our own series keeps the
// environment label, so one environment's 5xx never enters another's ratio
// and every alert names its environment; alerts over Kubernetes series
// (which lack the label) join it in. Only HealthcareAPITargetMissing has no
// series to take it from.
func TestRulesKeepEnvironment(t *testing.T) {
	byClause := regexp.MustCompile(`\bby \(([^)]*)\)`)
	for _, r := range loadRules(t).rules() {
		name := r.Record + r.Alert
		q, err := parsePromQL(r.Expr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ours := true
		for _, s := range q.selectors {
			ours = ours && strings.Contains(s.metric, "healthcare_api_")
		}
		switch {
		case ours:
			for _, m := range byClause.FindAllStringSubmatch(r.Expr, -1) {
				if !slices.Contains(strings.Split(strings.ReplaceAll(m[1], " ", ""), ","), "environment") {
					t.Errorf("%s: %s drops the environment label", name, m[0])
				}
			}
		case r.Alert == "HealthcareAPITargetMissing":
		case r.Alert != "":
			if !strings.Contains(r.Expr, "group_left (environment) namespace_pod:healthcare_api_environment:info") {
				t.Errorf("%s: over Kubernetes series, it must join environment from namespace_pod:healthcare_api_environment:info", name)
			}
		}
	}
}

// readmeAnchors are the anchors GitHub gives the README's headings: lower
// case, punctuation other than - and _ dropped, spaces to hyphens.
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// Metrics that are not ours, with the labels the expressions may use on
// them. Everything else must appear on the real server's /metrics.
var external = map[string][]string{
	// Prometheus: one sample per scrape target.
	"up": {"job", "instance", "namespace", "pod", "service", "endpoint", "container"},
	// kube-state-metrics (kube-prometheus-stack scrapes it with honorLabels).
	"kube_pod_status_phase":                     {"job", "instance", "namespace", "pod", "uid", "phase"},
	"kube_pod_status_ready":                     {"job", "instance", "namespace", "pod", "uid", "condition"},
	"kube_pod_container_resource_limits":        {"job", "instance", "namespace", "pod", "uid", "container", "node", "resource", "unit"},
	"kube_pod_container_resource_requests":      {"job", "instance", "namespace", "pod", "uid", "container", "node", "resource", "unit"},
	"kube_pod_container_status_restarts_total":  {"job", "instance", "namespace", "pod", "uid", "container"},
	"kube_deployment_status_replicas_available": {"job", "instance", "namespace", "deployment"},
	// cAdvisor, through the kubelet's /metrics/cadvisor.
	"container_cpu_usage_seconds_total":  {"job", "instance", "namespace", "pod", "container", "image", "id", "name", "cpu", "metrics_path"},
	"container_memory_working_set_bytes": {"job", "instance", "namespace", "pod", "container", "image", "id", "name", "metrics_path"},
}

// targetLabels are added to our series by the scrape (ServiceMonitor).
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "endpoint", "container"}

// namedExpr is an expression and where it comes from.
type namedExpr struct{ where, expr string }

func ruleExprs(t *testing.T) []namedExpr {
	var out []namedExpr
	for _, r := range loadRules(t).rules() {
		out = append(out, namedExpr{rulesFile + " " + r.Record + r.Alert, r.Expr})
	}
	return out
}

// grafanaVars are the dashboard's variables with a value for checking.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "${namespace}", "healthcare-api", "$namespace", "healthcare-api",
	"${environment}", testEnvironment, "$environment", testEnvironment, "${datasource}", "prometheus")

// testEnvironment is the METRICS_ENV of the server the tests start.
const testEnvironment = "monitoring-test"

type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func (d dashboard) panels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_]+)\)$`)

// dashboardExprs are the panel queries and the query variables' selectors,
// with Grafana's variables substituted.
func dashboardExprs(t *testing.T) []namedExpr {
	d := loadDashboard(t)
	var out []namedExpr
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			out = append(out, namedExpr{fmt.Sprintf("%s panel %d %q", dashboardFile, p.ID, p.Title), grafanaVars.Replace(tg.Expr)})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: definition %q is not label_values(selector, label)", v.Name, v.Definition)
			continue
		}
		// The label must exist on the selector's metric: check it as a grouping.
		out = append(out, namedExpr{dashboardFile + " variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], grafanaVars.Replace(m[1]))})
	}
	return out
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: all must be set", d.UID, d.Title, d.SchemaVersion)
	}
	hasDS, hasEnv := false, false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			hasDS = true
		}
		if v.Name == "environment" && v.Type == "query" && strings.HasSuffix(v.Definition, ", environment)") {
			hasEnv = true
		}
	}
	if !hasDS {
		t.Error("no datasource variable of type datasource with query prometheus")
	}
	if !hasEnv {
		t.Error("no environment variable of type query over label_values(..., environment)")
	}
	want := []string{"traffic", "error", "latency", "prediction", "cpu", "memory", "in-flight", "pods", "restarts", "burn", "budget", "cds hooks"}
	var titles []string
	ids := map[int]bool{}
	for _, p := range d.panels() {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		titles = append(titles, strings.ToLower(p.Title))
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource must be ${datasource} and it needs a query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a target's datasource is not ${datasource}", p.Title)
			}
			// One environment per view: dev's errors never show as prod's.
			if !strings.Contains(tg.Expr, `environment="$environment"`) {
				t.Errorf("panel %q: query %s does not select environment=\"$environment\"", p.Title, tg.Expr)
			}
		}
	}
	all := strings.Join(titles, "|")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no panel about %q", w)
		}
	}
}

// TestMetricNamesExist: every metric and label the rules and the dashboard
// name is one the real server exposes (after a few requests), a recording
// rule of ours, or an allow-listed Kubernetes / Prometheus name.
func TestMetricNamesExist(t *testing.T) {
	srv := startServer(t)
	sendTraffic(t, srv)
	exposed := scrape(t, srv)
	for _, name := range []string{"healthcare_api_requests_total", "healthcare_api_request_duration_seconds_bucket", "healthcare_api_predictions_total", "healthcare_api_in_flight_requests", "healthcare_api_build_info", "healthcare_api_cds_hook_events_total"} {
		if exposed[name] == nil {
			t.Errorf("the server does not expose %s", name)
		}
	}

	labels := map[string]map[string]bool{}
	for name, ls := range exposed {
		labels[name] = map[string]bool{}
		for l := range ls {
			labels[name][l] = true
		}
		for _, l := range targetLabels {
			labels[name][l] = true
		}
	}
	for name, ls := range external {
		if labels[name] != nil {
			t.Errorf("%s is allow-listed as external but our server exposes it", name)
		}
		labels[name] = map[string]bool{}
		for _, l := range ls {
			labels[name][l] = true
		}
	}
	// A recording rule's series carry the labels of its inputs that it keeps:
	// those of its by clauses, or of its inputs when it has none.
	for _, r := range loadRules(t).rules() {
		if r.Record == "" {
			continue
		}
		q, err := parsePromQL(r.Expr)
		if err != nil {
			t.Fatalf("%s: %v", r.Record, err)
		}
		labels[r.Record] = map[string]bool{}
		for _, l := range q.grouping {
			labels[r.Record][l] = true
		}
		if len(q.grouping) == 0 {
			for _, s := range q.selectors {
				for l := range labels[s.metric] {
					labels[r.Record][l] = true
				}
			}
		}
	}

	exprs := append(ruleExprs(t), dashboardExprs(t)...)
	for _, e := range exprs {
		q, err := parsePromQL(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		available := map[string]bool{}
		for _, s := range q.selectors {
			known := labels[s.metric]
			if s.metric == "" || known == nil {
				t.Errorf("%s: metric %q is neither exposed by the server, recorded by rules.yaml nor allow-listed", e.where, s.metric)
				continue
			}
			for l := range known {
				available[l] = true
			}
			for _, m := range s.matchers {
				if !known[m.label] {
					t.Errorf("%s: %s has no label %q", e.where, s.metric, m.label)
				}
				checkValue(t, e.where, s.metric, m, exposed)
			}
		}
		for _, l := range q.grouping {
			if !available[l] {
				t.Errorf("%s: grouping label %q is on none of the metrics it groups", e.where, l)
			}
		}
	}
}

// checkValue: a matcher on our own labels must match values the server
// really produces (route patterns, methods, models); status classes are
// 1xx..5xx (a healthy test server answers no 5xx).
func checkValue(t *testing.T, where, metric string, m matcher, exposed map[string]map[string]map[string]bool) {
	t.Helper()
	if !strings.Contains(metric, "healthcare_api_") {
		return
	}
	if m.label == "status_class" {
		if ok, _ := regexp.MatchString(`^[1-5]xx$`, m.value); !ok && m.op == "=" {
			t.Errorf("%s: status_class %q is not one of 1xx..5xx", where, m.value)
		}
		return
	}
	seen := map[string]bool{}
	for name, ls := range exposed {
		if strings.HasPrefix(name, "healthcare_api_") {
			for v := range ls[m.label] {
				seen[v] = true
			}
		}
	}
	if len(seen) == 0 { // a target label (job, namespace, pod): not on /metrics
		return
	}
	switch m.op {
	case "=":
		if !seen[m.value] {
			t.Errorf("%s: %s=%q never appears on /metrics (seen %v)", where, m.label, m.value, keys(seen))
		}
	case "=~", "!~":
		re, err := regexp.Compile("^(?:" + m.value + ")$")
		if err != nil {
			t.Errorf("%s: %s%s%q: %v", where, m.label, m.op, m.value, err)
			return
		}
		matched := false
		for v := range seen {
			matched = matched || re.MatchString(v)
		}
		if !matched {
			t.Errorf("%s: %s%s%q matches no value on /metrics (seen %v)", where, m.label, m.op, m.value, keys(seen))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPromQLScanner(t *testing.T) {
	q, err := parsePromQL(`sum by (namespace, job) (rate(healthcare_api_requests_total{job="x", route!~"/health.*"}[5m])) + max without (pod) (y) / on (job) group_left up offset 5m > 0.5 and absent(foo:bar)`)
	if err != nil {
		t.Fatal(err)
	}
	var metrics []string
	for _, s := range q.selectors {
		metrics = append(metrics, s.metric)
	}
	if want := []string{"healthcare_api_requests_total", "y", "up", "foo:bar"}; !reflect.DeepEqual(metrics, want) {
		t.Errorf("metrics = %v, want %v", metrics, want)
	}
	if want := []string{"namespace", "job", "pod", "job"}; !reflect.DeepEqual(q.grouping, want) {
		t.Errorf("grouping = %v, want %v", q.grouping, want)
	}
	if want := []matcher{{"job", "=", "x"}, {"route", "!~", "/health.*"}}; !reflect.DeepEqual(q.selectors[0].matchers, want) {
		t.Errorf("matchers = %v, want %v", q.selectors[0].matchers, want)
	}
	for _, bad := range []string{`nosuchfunc(x)`, `x{a="b"`, `x{a~"b"}`, `$x`} {
		if _, err := parsePromQL(bad); err == nil {
			t.Errorf("parsePromQL(%q): no error", bad)
		}
	}
}

// server is a running functions/server, and the CDS client it trusts.
type server struct {
	addr string
	cds  *cdsClient
}

var buildServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "monitoring-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "server")
	cmd := exec.Command("go", "build", "-o", bin, "./functions/server")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/server: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if bin, err := buildServer(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// startProcess starts cmd in its own process group and stops the group
// when the test ends.
func startProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
}

// startServer runs the real container entrypoint on a free loopback port,
// trusting a CDS client whose JWKS it serves.
func startServer(t *testing.T) server {
	t.Helper()
	return startServerFor(t, newCDSClient(t))
}

// startServerFor runs the server trusting cds, with env added to its
// environment.
func startServerFor(t *testing.T, cds *cdsClient, env ...string) server {
	t.Helper()
	bin, err := buildServer()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(bin)
	// Open on purpose: the server refuses to start without a key source.
	// CDS Hooks calls take client JWTs, so they can be refused.
	cmd.Env = append([]string{"HOST=127.0.0.1", "PORT=0", "DRAIN_DELAY=0s", "SHUTDOWN_TIMEOUT=5s", "METRICS_ENV=" + testEnvironment, "AUTH_DISABLED=true"}, append(cds.env(), env...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	startProcess(t, cmd)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		raw, _ := os.ReadFile(logPath)
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && line.Addr != "" {
				return server{addr: line.Addr, cds: cds}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	raw, _ := os.ReadFile(logPath)
	t.Fatalf("server did not log its listening address within 15s:\n%s", raw)
	return server{}
}

const predictBody = `{"model":"ascvd-pce","inputs":{"age":55,"sex":"female","race":"white","total_cholesterol":213,"hdl_cholesterol":50,"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}}`

// sendTraffic sends one round of requests: successes, client errors, a
// prediction, and the CDS Hooks calls the alerts count.
func sendTraffic(t *testing.T, s server) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + s.addr
	for _, r := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/", "", 200},
		{"GET", "/health", "", 200},
		{"GET", "/health/live", "", 200},
		{"GET", "/health/ready", "", 200},
		{"GET", "/models", "", 200},
		{"POST", "/predict", predictBody, 200},
		{"POST", "/predict", `{"model":"ascvd-pce","inputs":{"age":20}}`, 422},
		{"GET", "/predict", "", 405},
		{"GET", "/no-such-route", "", 404},
		{"GET", "/cds-services", "", 200},
	} {
		if got, _ := send(t.Context(), t, c, r.method, base+r.path, r.body, ""); got != r.want {
			t.Fatalf("%s %s = %d, want %d", r.method, r.path, got, r.want)
		}
	}
	s.cds.sendCDSTraffic(t, c, base)
}

// send makes one request to the server under test with hc and returns its
// status and body: body (when not "") goes as JSON, auth (when not "") as
// the Authorization header. An error before a response fails the test.
func send(ctx context.Context, t *testing.T, hc *http.Client, method, u, body, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// scrape reads /metrics: metric name → label → values seen.
func scrape(t *testing.T, s server) map[string]map[string]map[string]bool {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]map[string]map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		if strings.ContainsRune(name, ' ') {
			name, _, _ = strings.Cut(line, " ")
			rest = ""
		}
		if out[name] == nil {
			out[name] = map[string]map[string]bool{}
		}
		q, err := parsePromQL("x{" + rest[:max(0, strings.LastIndex(rest, "}"))] + "}")
		if err != nil || len(q.selectors) != 1 {
			t.Fatalf("cannot read exposition line %q: %v", line, err)
		}
		for _, m := range q.selectors[0].matchers {
			if out[name][m.label] == nil {
				out[name][m.label] = map[string]bool{}
			}
			out[name][m.label][m.value] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestLivePrometheus runs a real Prometheus against the real server with
// rules.yaml loaded: the target is up, our series and a recording rule have
// data, every rule evaluates without error, and every dashboard query runs.
func TestLivePrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prometheus server; not in -short")
	}
	prom := tool(t, "prometheus")
	srv := startServer(t)
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The static labels stand in for what the ServiceMonitor adds.
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: healthcare-api
    static_configs:
      - targets: [%q]
        labels:
          namespace: healthcare-api
          pod: healthcare-api-test
`, rules, srv.addr)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	runTool(t, "promtool", "check", "config", configPath)
	promAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(prom,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	startProcess(t, cmd)
	t.Cleanup(func() {
		if t.Failed() {
			raw, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", raw)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Second)
	defer cancel()
	// Traffic every 250 ms while we wait, loopback only, until the test ends.
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		c := &http.Client{Timeout: 2 * time.Second}
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			resp, err := c.Post("http://"+srv.addr+"/predict", "application/json", strings.NewReader(predictBody))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	defer func() { cancel(); <-trafficDone }()

	api := "http://" + promAddr + "/api/v1/"
	poll(ctx, t, "the target to be up", func() (bool, string) {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(ctx, api+"targets", &r); err != nil {
			return false, err.Error()
		}
		if len(r.Data.ActiveTargets) != 1 {
			return false, fmt.Sprintf("%d targets", len(r.Data.ActiveTargets))
		}
		return r.Data.ActiveTargets[0].Health == "up", r.Data.ActiveTargets[0].Health + " " + r.Data.ActiveTargets[0].LastError
	})
	for _, q := range []string{
		`healthcare_api_requests_total{job="healthcare-api", route="/predict", method="POST"}`,
		`job:healthcare_api_requests:rate5m{environment="` + testEnvironment + `"} > 0`,
		`namespace_pod:healthcare_api_environment:info{environment="` + testEnvironment + `", pod="healthcare-api-test"}`,
		`job:healthcare_api_request_errors:ratio_rate5m == 0`,
		`job_route_method:healthcare_api_request_duration_seconds:p95_rate5m{route="/predict", method="POST"}`,
		`job:healthcare_api_slo_errors:ratio_rate3d`,
	} {
		poll(ctx, t, "data for "+q, func() (bool, string) {
			n, err := query(ctx, api, q)
			if err != nil {
				return false, err.Error()
			}
			return n > 0, fmt.Sprintf("%d series", n)
		})
	}
	poll(ctx, t, "every rule evaluated without error", func() (bool, string) {
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := getJSON(ctx, api+"rules", &r); err != nil {
			return false, err.Error()
		}
		n, pending := 0, ""
		for _, g := range r.Data.Groups {
			for _, rule := range g.Rules {
				n++
				switch rule.Health {
				case "ok":
				case "unknown":
					pending = rule.Name + " not evaluated yet"
				default:
					t.Fatalf("rule %s: health %s: %s", rule.Name, rule.Health, rule.LastError)
				}
			}
		}
		if want := len(loadRules(t).rules()); n != want {
			return false, fmt.Sprintf("%d rules loaded, want %d", n, want)
		}
		return pending == "", pending
	})
	// Every dashboard query is valid PromQL on the real engine.
	for _, e := range dashboardExprs(t) {
		if _, err := query(ctx, api, e.expr); err != nil {
			t.Errorf("%s: %v", e.where, err)
		}
	}
	// Nothing pages against a healthy server.
	n, err := query(ctx, api, `ALERTS{alertname=~"HealthcareAPI.*"}`)
	if err != nil || n != 0 {
		t.Errorf("alerts pending or firing against a healthy server: %d (%v)", n, err)
	}
	checkCDSAlertsLive(ctx, t, api, srv)
}

func poll(ctx context.Context, t *testing.T, what string, f func() (bool, string)) {
	t.Helper()
	last := ""
	for {
		ok, state := f()
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, raw)
	}
	return json.Unmarshal(raw, v)
}

// query runs an instant query and returns how many series it returned.
func query(ctx context.Context, api, q string) (int, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, api+"query?query="+url.QueryEscape(q), &r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, errors.New("status " + r.Status)
	}
	return len(r.Data.Result), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestPrometheusRuleMatchesRules: the PrometheusRule that kustomize builds
// carries exactly the groups of rules.yaml. `go test ./monitoring -update`
// regenerates it.
func TestPrometheusRuleMatchesRules(t *testing.T) {
	if *update {
		writePrometheusRule(t)
	}
	var want struct {
		Groups any `yaml:"groups"`
	}
	readYAML(t, rulesFile, &want)
	var file struct {
		Spec struct {
			Groups any `yaml:"groups"`
		} `yaml:"spec"`
	}
	readYAML(t, prometheusRule, &file)
	if !reflect.DeepEqual(file.Spec.Groups, want.Groups) {
		t.Errorf("%s spec.groups differ from %s: run go test ./monitoring -run PrometheusRule -update", prometheusRule, rulesFile)
	}

	out := runTool(t, "kubectl", "kustomize", k8sDir)
	dec := yaml.NewDecoder(strings.NewReader(out))
	kinds := map[string]map[string]any{}
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		kinds[fmt.Sprint(doc["kind"])] = doc
	}
	if len(kinds) != 2 || kinds["ServiceMonitor"] == nil || kinds["PrometheusRule"] == nil {
		t.Fatalf("kubectl kustomize %s: kinds %v, want ServiceMonitor and PrometheusRule", k8sDir, keysAny(kinds))
	}
	for kind, doc := range kinds {
		if doc["apiVersion"] != "monitoring.coreos.com/v1" {
			t.Errorf("%s: apiVersion %v", kind, doc["apiVersion"])
		}
		meta := doc["metadata"].(map[string]any)
		if meta["namespace"] != "healthcare-api" || meta["name"] != "healthcare-api" {
			t.Errorf("%s: %v/%v, want healthcare-api/healthcare-api", kind, meta["namespace"], meta["name"])
		}
		if l, _ := meta["labels"].(map[string]any); l["release"] != "kube-prometheus-stack" {
			t.Errorf("%s: label release=kube-prometheus-stack is missing (kube-prometheus-stack's default selector)", kind)
		}
	}
	if got := kinds["PrometheusRule"]["spec"].(map[string]any)["groups"]; !reflect.DeepEqual(got, want.Groups) {
		t.Errorf("the built PrometheusRule's spec.groups differ from %s", rulesFile)
	}
	var sm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port     string `yaml:"port"`
				Path     string `yaml:"path"`
				Interval string `yaml:"interval"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	raw, _ := yaml.Marshal(kinds["ServiceMonitor"])
	if err := yaml.Unmarshal(raw, &sm); err != nil {
		t.Fatal(err)
	}
	if sm.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "healthcare-api" || len(sm.Spec.Endpoints) != 1 ||
		sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Interval != "30s" {
		t.Errorf("ServiceMonitor spec = %+v, want selector app.kubernetes.io/name=healthcare-api, port http, /metrics, 30s", sm.Spec)
	}
}

func keysAny[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func writePrometheusRule(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	var groups *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "groups" {
			groups = root.Content[i+1]
		}
	}
	if groups == nil {
		t.Fatalf("%s has no groups", rulesFile)
	}
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(map[string]any{"groups": groups}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.WriteString(`# GENERATED from monitoring/prometheus/rules.yaml by
#   go test ./monitoring -run PrometheusRule -update
# Do not edit: change rules.yaml and regenerate (a test compares them).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: healthcare-api
  labels:
    app.kubernetes.io/name: healthcare-api
spec:
`)
	for _, line := range strings.SplitAfter(body.String(), "\n") {
		if line != "" {
			out.WriteString("  " + line)
		}
	}
	if err := os.WriteFile(prometheusRule, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBaseMatchesMonitoring: k8s/base's Service and Deployment carry what
// the ServiceMonitor and the rules rely on.
func TestBaseMatchesMonitoring(t *testing.T) {
	out := runTool(t, "kubectl", "kustomize", "../k8s/base")
	dec := yaml.NewDecoder(strings.NewReader(out))
	found := map[string]bool{}
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string            `yaml:"name"`
				Namespace string            `yaml:"namespace"`
				Labels    map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Ports []struct {
					Name string `yaml:"name"`
				} `yaml:"ports"`
				Template struct {
					Metadata struct {
						Labels map[string]string `yaml:"labels"`
					} `yaml:"metadata"`
					Spec struct {
						Containers []struct {
							Name  string `yaml:"name"`
							Ports []struct {
								Name string `yaml:"name"`
							} `yaml:"ports"`
							Resources struct {
								Limits map[string]string `yaml:"limits"`
							} `yaml:"resources"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Metadata.Name != "healthcare-api" {
			continue
		}
		if ns := doc.Metadata.Namespace; ns != "" && ns != "healthcare-api" {
			t.Errorf("%s: namespace %q, want healthcare-api (the rules select on it)", doc.Kind, ns)
		}
		switch doc.Kind {
		case "Service":
			found["Service"] = true
			if doc.Metadata.Labels["app.kubernetes.io/name"] != "healthcare-api" {
				t.Error("Service: label app.kubernetes.io/name=healthcare-api is missing (the ServiceMonitor selects on it)")
			}
			if !slices.ContainsFunc(doc.Spec.Ports, func(p struct {
				Name string `yaml:"name"`
			}) bool {
				return p.Name == "http"
			}) {
				t.Error("Service: no port named http (the ServiceMonitor scrapes it)")
			}
		case "Deployment":
			found["Deployment"] = true
			api := -1
			for i, c := range doc.Spec.Template.Spec.Containers {
				if c.Name == "api" {
					api = i
				}
			}
			if api < 0 {
				t.Error(`Deployment: no container "api" (the CPU, memory and restart alerts select container="api")`)
				continue
			}
			if doc.Spec.Template.Spec.Containers[api].Resources.Limits["memory"] == "" {
				t.Error("Deployment: container api has no memory limit (HealthcareAPIMemoryHigh divides by it)")
			}
		}
	}
	if !found["Service"] || !found["Deployment"] {
		t.Errorf("k8s/base: found %v, want a Service and a Deployment named healthcare-api", found)
	}
}

// TestAlertmanagerDelivers runs the real Alertmanager with alertmanager.yml
// (secret paths, SMTP host and timings swapped for local ones): a critical
// alert reaches Slack with <!channel> and its runbook, a warning reaches
// Slack without it, and a critical alert inhibits the warning of the same
// name and namespace.
func TestAlertmanagerDelivers(t *testing.T) {
	ctx, api, slackMessages := localAlertmanager(t)
	alert := func(name, severity, env string) map[string]any {
		return map[string]any{
			"labels": map[string]string{"alertname": name, "severity": severity, "service": "healthcare-api", "namespace": "healthcare-api", "environment": env},
			"annotations": map[string]string{
				"summary":     name + " summary",
				"description": name + " description",
				"runbook_url": runbookBase + strings.ToLower(name),
			},
		}
	}
	postAlerts(t, api,
		alert("HealthcareAPITargetDown", "critical", "eks-prod"),
		alert("HealthcareAPICPUHigh", "warning", "eks-prod"),
		alert("HealthcareAPIErrorBudgetBurn", "critical", "eks-prod"),
		alert("HealthcareAPIErrorBudgetBurn", "warning", "eks-prod"),
		// Critical outside production: Slack without @channel, no page.
		alert("HealthcareAPITargetDown", "critical", "eks-staging"),
	)
	// One Slack message per group (alertname, environment, namespace,
	// severity), none for the inhibited warning.
	// A fifth message would be the inhibited warning.
	slack := settledSlack(ctx, t, slackMessages, 4)
	if len(slack) != 4 {
		t.Errorf("%d Slack messages, want 4 (TargetDown in eks-prod and eks-staging, CPUHigh, ErrorBudgetBurn critical):\n%s", len(slack), strings.Join(slack, "\n"))
	}
	for _, msg := range slack {
		var m struct {
			Channel     string `json:"channel"`
			Attachments []struct {
				Title     string `json:"title"`
				TitleLink string `json:"title_link"`
				Text      string `json:"text"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal([]byte(msg), &m); err != nil || len(m.Attachments) != 1 {
			t.Errorf("Slack message %s: %v", msg, err)
			continue
		}
		a := m.Attachments[0]
		prod, staging := strings.Contains(a.Title, " in eks-prod ("), strings.Contains(a.Title, " in eks-staging (")
		if !prod && !staging {
			t.Errorf("%q: the title does not name the environment", a.Title)
		}
		critical := strings.Contains(a.Title, "(critical)")
		if page := critical && prod; strings.Contains(a.Text, "<!channel>") != page {
			t.Errorf("%q: <!channel> in text = %v, want %v (pages only for production)", a.Title, !page, page)
		}
		if strings.Contains(a.Title, "ErrorBudgetBurn") && !critical {
			t.Errorf("the ErrorBudgetBurn warning reached Slack although its critical fires")
		}
		if !strings.HasPrefix(a.TitleLink, runbookBase) || !strings.Contains(a.Text, "Runbook: "+runbookBase) {
			t.Errorf("%q: no runbook link (title_link %q)", a.Title, a.TitleLink)
		}
		if m.Channel != "#healthcare-api-alerts" {
			t.Errorf("%q: channel %q", a.Title, m.Channel)
		}
	}
}

// localAlertmanager starts the real Alertmanager with alertmanager.yml,
// secret paths, SMTP host and group_wait swapped for local ones (nothing
// leaves the machine: the SMTP host is a closed local port, Slack a local
// server); it skips the test in -short. It returns a context that ends 30 s
// after the start, the v2 API's base URL and a function that returns the
// Slack messages received so far.
func localAlertmanager(t *testing.T) (context.Context, string, func() []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an Alertmanager; not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	am := tool(t, "prometheus-alertmanager", "alertmanager")
	hookURL, slackMessages := slackHook(t)

	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets") + "/"
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"slack-webhook-url": hookURL, "smtp-password": "not-a-secret"} {
		if err := os.WriteFile(secrets+name, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(alertmanagerFile)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing may leave the machine: the SMTP host becomes a closed local port.
	local := strings.NewReplacer(
		"/etc/alertmanager/secrets/", secrets,
		"smtp.example.org:587", "127.0.0.1:"+strconv.Itoa(freePort(t)),
		"group_wait: 30s", "group_wait: 1s", "group_wait: 10s", "group_wait: 1s",
	).Replace(string(raw))
	configPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(configPath, []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	return ctx, startAlertmanager(ctx, t, am, dir, configPath), slackMessages
}

// slackHook starts a local stand-in for Slack's incoming webhook, stopped
// when the test ends. It returns its URL and a function that returns the
// message bodies received so far.
func slackHook(t *testing.T) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var slack []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		slack = append(slack, string(body))
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(hook.Close)
	return hook.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(slack)
	}
}

// postAlerts sends alerts to Alertmanager's v2 API at api and fails the
// test unless Alertmanager accepts them.
func postAlerts(t *testing.T, api string, alerts ...any) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(api+"alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST alerts: %s", resp.Status)
	}
}

// settledSlack waits until slackMessages returns at least want messages,
// then 2 s more (longer than group_wait), so that a message too many has
// had time to arrive, and returns them all.
func settledSlack(ctx context.Context, t *testing.T, slackMessages func() []string, want int) []string {
	t.Helper()
	poll(ctx, t, fmt.Sprintf("%d Slack messages", want), func() (bool, string) {
		n := len(slackMessages())
		return n >= want, fmt.Sprintf("%d messages", n)
	})
	time.Sleep(2 * time.Second)
	return slackMessages()
}

// startAlertmanager runs the real Alertmanager binary am with configPath,
// its data and log in dir, on a free loopback port; it is stopped when the
// test ends (its log is printed if the test failed). It returns the base
// URL of the v2 API once Alertmanager answers there.
func startAlertmanager(ctx context.Context, t *testing.T, am, dir, configPath string) string {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	logFile, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(am, "--config.file="+configPath, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	startProcess(t, cmd)
	t.Cleanup(func() {
		if t.Failed() {
			raw, _ := os.ReadFile(logFile.Name())
			t.Logf("alertmanager log:\n%s", raw)
		}
	})
	api := "http://" + addr + "/api/v2/"
	poll(ctx, t, "alertmanager to be ready", func() (bool, string) {
		var status map[string]any
		err := getJSON(ctx, api+"status", &status)
		return err == nil, fmt.Sprint(err)
	})
	return api
}
