package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// samFile is the SAM template whose CDS Hooks alarms the Prometheus
// alerts repeat.
const samFile = "../template.yaml"

// cdsAlarmTwins maps each CDS Hooks alarm of template.yaml to its
// Prometheus alert.
var cdsAlarmTwins = map[string]string{
	"CdsHooksPrefetchMissingAlarm": "HealthcareAPICDSHooksPrefetchMissing",
	"CdsHooksJwtRefusedAlarm":      "HealthcareAPICDSHooksJWTRefused",
}

// samShareAlarm is what a CDS Hooks alarm of template.yaml decides on,
// read from the template's values.
type samShareAlarm struct {
	bad       string        // the event counted against the requests (prefetch_missing, jwt_refused)
	floor     int           // at least this many bad events in the window
	share     float64       // more than this share of the requests (Threshold / 100)
	badIsCall bool          // a bad event is also counted as a call (a 412 is; a refused JWT is not)
	window    time.Duration // Period × EvaluationPeriods, one datapoint to alarm
	pagesProd bool          // the prod branch of service-unhealthy names it
	pagesElse bool          // the other stages' branch names it
}

// shareExpr is the form of both alarms' expressions:
// IF(bad >= floor, 100 * bad / denominator, 0).
var shareExpr = regexp.MustCompile(`^IF\((\w+) >= (\d+), 100 \* (\w+) / (.+), 0\)$`)

// The one deliberate difference between every CDS Hooks alert and its SAM
// twin, which alarms on one breaching datapoint (monitoring/README.md, "How
// the CDS Hooks alerts count"): a pending time, because increase()
// extrapolates a young series (2 events can read 3 for less than a scrape
// interval), and a keep-firing time, so that events at the sliding
// window's edge do not resolve and re-page.
const (
	cdsFor           = "1m"
	cdsKeepFiringFor = "5m"
)

// TestCDSHooksAlertsMatchSAM holds the Prometheus CDS Hooks alerts to the
// numbers of their SAM twins, read from template.yaml: promtool runs cases
// built from the alarm's floor, share and window against rules.yaml (under
// the floor silent, at the floor with every request refused pending for
// the alert's `for`, then firing, at exactly the share silent, just above
// it firing, at high volume the same, counted for the window and no
// longer, firing for keep_firing_for after it, then silent), and the
// severity and Alertmanager route follow whether the alarm pages in prod
// (the composite service-unhealthy). Changing a number on one side only
// fails here, and so does a CDS Hooks alert whose `for` or
// keep_firing_for is not cdsFor and cdsKeepFiringFor.
func TestCDSHooksAlertsMatchSAM(t *testing.T) {
	alarms := samCDSAlarms(t)
	alerts := map[string]rule{}
	for _, a := range loadRules(t).alerts() {
		alerts[a.Alert] = a
		if strings.HasPrefix(a.Alert, "HealthcareAPICDSHooks") && (a.For != cdsFor || a.KeepFiringFor != cdsKeepFiringFor) {
			t.Errorf("%s: for %q, keep_firing_for %q; want %s and %s (the documented deviation from the SAM alarms)",
				a.Alert, a.For, a.KeepFiringFor, cdsFor, cdsKeepFiringFor)
		}
	}
	var cases []promtoolCase
	for _, id := range slices.Sorted(maps.Keys(cdsAlarmTwins)) {
		name := cdsAlarmTwins[id]
		sam, alert := alarms[id], alerts[name]
		if alert.Alert == "" {
			t.Errorf("%s: no alert %s in %s", id, name, rulesFile)
			continue
		}
		if sam.pagesElse {
			t.Errorf("%s pages outside prod; Alertmanager pages criticals in production only", id)
		}
		severity := map[bool]string{true: "critical", false: "warning"}[sam.pagesProd]
		if got := alert.Labels["severity"]; got != severity {
			t.Errorf("%s: severity %s, want %s (%s paging in prod: %v)", name, got, severity, id, sam.pagesProd)
		}
		for _, env := range []string{"eks-prod", "prod", "eks-staging", "dev"} {
			want := "slack-warning"
			if sam.pagesProd && (env == "eks-prod" || env == "prod") {
				want = "oncall-critical"
			}
			args := []string{"config", "routes", "test", "--config.file=" + alertmanagerFile,
				"alertname=" + name, "service=healthcare-api", "severity=" + alert.Labels["severity"], "environment=" + env, "namespace=healthcare-api"}
			if got := strings.TrimSpace(lastLine(runTool(t, "amtool", args...))); got != want {
				t.Errorf("%s in %s goes to %s, want %s", name, env, got, want)
			}
		}
		cases = append(cases, sam.cases(name, severity, mustDuration(t, alert.For), mustDuration(t, alert.KeepFiringFor))...)
	}
	if t.Failed() {
		return
	}
	runPromtoolCases(t, cases)
}

// samResources reads template.yaml: its Resources, and the rules of the
// composite service-unhealthy alarm in prod and in the other stages.
func samResources(t *testing.T) (res *yaml.Node, prodRule, otherRule string) {
	t.Helper()
	raw, err := os.ReadFile(samFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", samFile, err)
	}
	res = yamlAt(t, doc.Content[0], "Resources")
	// AlarmRule: !If [IsProd, <prod rule>, <other rule>], each a !Sub.
	rule := yamlAt(t, res, "ServiceUnhealthyAlarm", "Properties", "AlarmRule")
	if rule.Tag != "!If" || len(rule.Content) != 3 || rule.Content[0].Value != "IsProd" {
		t.Fatalf("ServiceUnhealthyAlarm AlarmRule is not !If [IsProd, ..., ...] (line %d): update this test", rule.Line)
	}
	return res, rule.Content[1].Value, rule.Content[2].Value
}

// samCDSAlarms reads the CDS Hooks alarms of template.yaml.
func samCDSAlarms(t *testing.T) map[string]samShareAlarm {
	t.Helper()
	res, prodRule, otherRule := samResources(t)
	out := map[string]samShareAlarm{}
	for id := range cdsAlarmTwins {
		p := yamlAt(t, res, id, "Properties")
		scalar := func(key string) string { return yamlAt(t, p, key).Value }
		if scalar("ComparisonOperator") != "GreaterThanThreshold" || scalar("EvaluationPeriods") != "1" ||
			scalar("DatapointsToAlarm") != "1" || scalar("TreatMissingData") != "notBreaching" {
			t.Fatalf("%s: %s 1 of %s datapoints, missing data %s: want GreaterThanThreshold on 1 of 1, notBreaching; update this test",
				id, scalar("ComparisonOperator"), scalar("EvaluationPeriods"), scalar("TreatMissingData"))
		}
		threshold, err := strconv.ParseFloat(scalar("Threshold"), 64)
		if err != nil {
			t.Fatalf("%s: Threshold: %v", id, err)
		}
		a := samShareAlarm{share: threshold / 100, pagesProd: strings.Contains(prodRule, "${"+id+"}"), pagesElse: strings.Contains(otherRule, "${"+id+"}")}
		events := map[string]string{} // metric id -> Event dimension
		var expr string
		for _, m := range yamlAt(t, p, "Metrics").Content {
			if e := yamlValue(m, "Expression"); e != "" {
				expr = e
				continue
			}
			stat := yamlAt(t, m, "MetricStat")
			period, err := strconv.Atoi(yamlAt(t, stat, "Period").Value)
			if err != nil || yamlAt(t, stat, "Stat").Value != "Sum" {
				t.Fatalf("%s: metric %s is not a Sum over a period in seconds", id, yamlValue(m, "Id"))
			}
			w := time.Duration(period) * time.Second
			if a.window != 0 && a.window != w {
				t.Fatalf("%s: metrics of different periods (%v, %v)", id, a.window, w)
			}
			a.window = w
			for _, d := range yamlAt(t, stat, "Metric", "Dimensions").Content {
				if yamlValue(d, "Name") == "Event" {
					events[yamlValue(m, "Id")] = yamlValue(d, "Value")
				}
			}
		}
		m := shareExpr.FindStringSubmatch(expr)
		if m == nil || m[1] != m[3] {
			t.Fatalf("%s: expression %q is not IF(bad >= floor, 100 * bad / requests, 0): update this test", id, expr)
		}
		a.bad = events[m[1]]
		if a.floor, err = strconv.Atoi(m[2]); err != nil {
			t.Fatal(err)
		}
		// The requests: "calls", or "(refused + FILL(calls, 0))".
		var denominator []string
		requests := m[4]
		if strings.HasPrefix(requests, "(") && strings.HasSuffix(requests, ")") {
			requests = requests[1 : len(requests)-1]
		}
		for _, term := range strings.Split(requests, " + ") {
			term = strings.TrimSuffix(strings.TrimPrefix(term, "FILL("), ", 0)")
			denominator = append(denominator, events[term])
		}
		switch strings.Join(denominator, "+") {
		case "call":
			a.badIsCall = true
		case a.bad + "+call":
		default:
			t.Fatalf("%s: requests %q (events %v): want calls, or %s + calls; update this test", id, m[4], denominator, a.bad)
		}
		if a.bad == "" || a.window == 0 {
			t.Fatalf("%s: no bad event or no period (%+v)", id, a)
		}
		out[id] = a
	}
	return out
}

// yamlAt follows mapping keys from n; it fails the test on a missing key.
func yamlAt(t *testing.T, n *yaml.Node, keys ...string) *yaml.Node {
	t.Helper()
	for _, k := range keys {
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			t.Fatalf("%s: no %s (in %s)", samFile, k, strings.Join(keys, "."))
		}
		n = next
	}
	return n
}

// yamlValue is the scalar under key of mapping n, or "".
func yamlValue(n *yaml.Node, key string) string {
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// promtoolCase is one promtool test: events at minute 5 in eks-prod, the
// alert's ALERTS series expected at minute at.
type promtoolCase struct {
	name     string
	alert    string
	series   map[string]string // event -> promtool values
	at       int               // minutes
	severity string            // "" when the alert must be silent
	state    string            // the expected alertstate: "firing" or "pending"
	// counted, when not nil, is the bad event's count the recording rule
	// must read at minute at.
	counted *int
	bad     string
}

// cdsEvents are the events the alerts read. The server exports each at 0
// from its start (prom.Recorder.InitCDSHooks), so every case has all four.
var cdsEvents = []string{"call", "prefetch_missing", "jwt_refused", "replay_failed"}

// cases are the promtool cases of a: its floor, its share and its window,
// for alert, which is pending for pending and keeps firing for keep.
//
// Every evaluation time keeps the 0 before the events (minute 4) off a
// window's lower edge: at minute start+win-1 the range would start on it,
// which Prometheus 2.x includes and 3.x (left-open ranges) does not.
func (a samShareAlarm) cases(alert, severity string, pending, keep time.Duration) []promtoolCase {
	const start = 5 // minute of the events
	win := int(a.window / time.Minute)
	keepMin := int(keep / time.Minute)
	// good requests that put bad ones exactly at the share
	atShare := func(bad int) float64 { return float64(bad) * (1 - a.share) / a.share }
	c := func(name string, bad, good int, fresh bool, at int, fires bool) promtoolCase {
		calls := good
		if a.badIsCall {
			calls += bad
		}
		values := func(n int) string {
			if fresh { // the pod's first scrape, at 0, one minute before its events
				return fmt.Sprintf("_x%d 0 %dx%d", start-1, n, win+10)
			}
			return fmt.Sprintf("0x%d %dx%d", start-1, n, win+10)
		}
		pc := promtoolCase{name: fmt.Sprintf("%s: %s (%d %s, %d other requests)", alert, name, bad, a.bad, good), alert: alert,
			series: map[string]string{}, at: at, state: "firing", bad: a.bad}
		for _, e := range cdsEvents {
			n := 0
			switch e {
			case a.bad:
				n = bad
			case "call":
				n = calls
			}
			pc.series[e] = values(n)
		}
		if fires {
			pc.severity = severity
		}
		return pc
	}
	soon := start + 5
	counted := func(pc promtoolCase, n int) promtoolCase { pc.counted = &n; return pc }
	first := c("at the floor, at the first evaluation that sees it: pending for the alert's `for`", a.floor, 0, false, start, true)
	first.state = "pending"
	afterFor := c("at the floor, `for` after the first evaluation: fires", a.floor, 0, false, start+int(pending/time.Minute), true)
	out := []promtoolCase{
		c("one under the floor, no other request: silent", a.floor-1, 0, false, soon, false),
		first,
		afterFor,
		c("at the floor, no other request: fires", a.floor, 0, false, soon, true),
		c("at the floor on a fresh pod (its series at 0 from its first scrape, one minute before): fires", a.floor, 0, true, soon, true),
		counted(c("still inside the window (counted whole): fires", a.floor, 0, false, start+win-2, true), a.floor),
		counted(c("the window has passed (counted 0), kept firing for keep_firing_for", a.floor, 0, false, start+win+1, true), 0),
		c("kept firing until keep_firing_for after the window", a.floor, 0, false, start+win+keepMin-2, true),
		c("the events older than the window and keep_firing_for: silent", a.floor, 0, false, start+win+keepMin+1, false),
	}
	// At exactly the share (when a whole number of requests makes it):
	// silent, one request fewer: above it, fires. At the floor and at 20
	// times the floor (high volume).
	for _, bad := range []int{a.floor, 20 * a.floor} {
		g := atShare(bad)
		if g == math.Trunc(g) {
			out = append(out, c("exactly the share: silent", bad, int(g), false, soon, false))
		}
		if above := int(math.Ceil(g)) - 1; above >= 0 {
			out = append(out, c("just above the share: fires", bad, above, false, soon, true))
		}
		out = append(out, c("well under the share: silent", bad, 2*int(math.Ceil(g))+1, false, soon, false))
	}
	return out
}

// runPromtoolCases writes cases as one promtool test file over rules.yaml
// and runs it.
func runPromtoolCases(t *testing.T, cases []promtoolCase) {
	t.Helper()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		Labels string `yaml:"labels"`
		Value  int    `yaml:"value"`
	}
	type exprTest struct {
		Expr       string   `yaml:"expr"`
		EvalTime   string   `yaml:"eval_time"`
		ExpSamples []sample `yaml:"exp_samples"`
	}
	type series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	type test struct {
		Name           string     `yaml:"name"`
		Interval       string     `yaml:"interval"`
		InputSeries    []series   `yaml:"input_series"`
		PromQLExprTest []exprTest `yaml:"promql_expr_test"`
	}
	file := struct {
		RuleFiles          []string `yaml:"rule_files"`
		EvaluationInterval string   `yaml:"evaluation_interval"`
		Tests              []test   `yaml:"tests"`
	}{RuleFiles: []string{rules}, EvaluationInterval: "1m"}
	// Each case in its own namespace, which promtool's failure report
	// shows (it does not name a promql_expr_test's test).
	var index strings.Builder
	for i, c := range cases {
		ns := fmt.Sprintf("case-%02d", i)
		fmt.Fprintf(&index, "%s: %s at %dm, firing %q\n", ns, c.name, c.at, c.severity)
		tc := test{Name: c.name, Interval: "1m"}
		for _, event := range cdsEvents {
			tc.InputSeries = append(tc.InputSeries, series{fmt.Sprintf(
				`healthcare_api_cds_hook_events_total{job="healthcare-api",environment="eks-prod",namespace=%q,pod="healthcare-api-a",cds_service="ascvd-pce",event=%q}`, ns, event), c.series[event]})
		}
		et := exprTest{Expr: fmt.Sprintf(`ALERTS{alertname=%q,namespace=%q}`, c.alert, ns), EvalTime: fmt.Sprintf("%dm", c.at), ExpSamples: []sample{}}
		if c.severity != "" {
			et.ExpSamples = append(et.ExpSamples, sample{fmt.Sprintf(`ALERTS{alertname=%q,alertstate=%q,environment="eks-prod",namespace=%q,service="healthcare-api",severity=%q}`, c.alert, c.state, ns, c.severity), 1})
		}
		tc.PromQLExprTest = append(tc.PromQLExprTest, et)
		if c.counted != nil {
			const rec = "environment_namespace_event:healthcare_api_cds_hook_events:increase15m"
			tc.PromQLExprTest = append(tc.PromQLExprTest, exprTest{Expr: fmt.Sprintf(`%s{namespace=%q,event=%q}`, rec, ns, c.bad), EvalTime: et.EvalTime,
				ExpSamples: []sample{{fmt.Sprintf(`%s{environment="eks-prod",namespace=%q,event=%q}`, rec, ns, c.bad), *c.counted}}})
		}
		file.Tests = append(file.Tests, tc)
	}
	out, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cdshooks_sam_test.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(tool(t, "promtool"), "test", "rules", path).CombinedOutput()
	if err != nil || !strings.Contains(string(res), "SUCCESS") {
		t.Fatalf("promtool test rules on the cases from %s: %v\n%s\nthe cases:\n%s", samFile, err, res, index.String())
	}
	t.Logf("the cases from %s, all passed:\n%s", samFile, index.String())
}

// mustDuration parses a Prometheus duration of whole minutes or seconds.
func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

// checkCDSAlertsLive sends CDS Hooks calls to the real server srv, whose
// real Prometheus (1 s scrape and evaluation, rules.yaml) answers at api.
// Before any call, every service the server discovers has its call,
// prefetch_missing and jwt_refused series at 0 (the server creates them at
// start), so the recording rule's plain increase() counts the first
// events: 5 token-less calls count as 5 and stay silent, a 6th makes the
// JWT warning active and nothing critical, and 3 trusted calls without
// their prefetch (every call a 412) make the critical 412 alert active.
// Active means pending: the alerts' `for: 1m` would add a minute to the
// test, and promtool covers pending to firing (TestCDSHooksAlertsMatchSAM).
func checkCDSAlertsLive(ctx context.Context, t *testing.T, api string, srv server) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	body := `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/example","patientId":"example"}}`
	call := func(auth string, want int) {
		t.Helper()
		if got, _ := send(ctx, t, hc, http.MethodPost, "http://"+srv.addr+"/cds-services/ascvd-pce", body, auth); got != want {
			t.Fatalf("POST /cds-services/ascvd-pce = %d, want %d", got, want)
		}
	}
	waitFor := func(q string, want int) {
		t.Helper()
		poll(ctx, t, q, func() (bool, string) {
			n, err := query(ctx, api, q)
			if err != nil {
				return false, err.Error()
			}
			return n == want, fmt.Sprintf("%d series", n)
		})
	}
	services := discoveredServices(ctx, t, hc, srv)
	for _, e := range cdsEvents {
		waitFor(fmt.Sprintf(`healthcare_api_cds_hook_events_total{environment=%q, namespace="healthcare-api", event=%q} == 0`, testEnvironment, e), len(services))
	}
	// increase() extrapolates from the last scrape to the evaluation, by at
	// most a scrape interval over the series' age: after 15 scrapes, 5
	// events read less than 5.4, under the floor of 6 as they must.
	waitFor(`count_over_time(healthcare_api_cds_hook_events_total{cds_service="ascvd-pce", event="jwt_refused"}[1m]) >= 15`, 1)
	const counted = `environment_namespace_event:healthcare_api_cds_hook_events:increase15m{environment="` + testEnvironment + `", namespace="healthcare-api", event=%q} >= %d < %d`
	jwtAlert := `ALERTS{alertname="HealthcareAPICDSHooksJWTRefused", alertstate="pending", severity="warning", environment="` + testEnvironment + `", namespace="healthcare-api"}`
	for range 5 {
		call("", http.StatusUnauthorized)
	}
	waitFor(fmt.Sprintf(counted, "jwt_refused", 5, 6), 1)
	// Two more evaluations of the alerts group, still under the floor.
	time.Sleep(2500 * time.Millisecond)
	waitFor(`ALERTS{alertname=~"HealthcareAPICDSHooks.*"}`, 0)

	call("", http.StatusUnauthorized)
	waitFor(jwtAlert, 1)
	waitFor(`ALERTS{severity="critical"}`, 0)

	for range 3 {
		call("Bearer "+srv.cds.token(t, "ascvd-pce"), http.StatusPreconditionFailed)
	}
	waitFor(fmt.Sprintf(counted, "prefetch_missing", 3, 4), 1)
	waitFor(`ALERTS{alertname="HealthcareAPICDSHooksPrefetchMissing", alertstate="pending", severity="critical", environment="`+testEnvironment+`", namespace="healthcare-api"}`, 1)
}

// discoveredServices lists the service ids of srv's GET /cds-services.
func discoveredServices(ctx context.Context, t *testing.T, hc *http.Client, srv server) []string {
	t.Helper()
	status, body := send(ctx, t, hc, http.MethodGet, "http://"+srv.addr+"/cds-services", "", "")
	var d struct{ Services []struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &d); err != nil || len(d.Services) == 0 {
		t.Fatalf("GET /cds-services: %d, %d services (%v)", status, len(d.Services), err)
	}
	ids := make([]string, len(d.Services))
	for i, s := range d.Services {
		ids[i] = s.ID
	}
	return ids
}

// TestCDSHooksReplayFailedMatchesSAM holds the replay-store alert to its
// SAM twin, a plain count: the same event, floor and window, and it pages
// in prod (the composite service-unhealthy) and nowhere else, as the
// alert's critical severity does through Alertmanager (amtool, above).
func TestCDSHooksReplayFailedMatchesSAM(t *testing.T) {
	res, prodRule, otherRule := samResources(t)
	p := yamlAt(t, res, "CdsHooksReplayFailedAlarm", "Properties")
	scalar := func(key string) string { return yamlAt(t, p, key).Value }
	var event string
	for _, d := range yamlAt(t, p, "Dimensions").Content {
		if yamlValue(d, "Name") == "Event" {
			event = yamlValue(d, "Value")
		}
	}
	period, _ := strconv.Atoi(scalar("Period"))
	periods, _ := strconv.Atoi(scalar("EvaluationPeriods"))
	window := time.Duration(period*periods) * time.Second
	if scalar("ComparisonOperator") != "GreaterThanOrEqualToThreshold" || scalar("Statistic") != "Sum" ||
		scalar("DatapointsToAlarm") != "1" || periods != 1 || scalar("TreatMissingData") != "notBreaching" {
		t.Fatalf("CdsHooksReplayFailedAlarm is not a Sum >= threshold on 1 of 1 datapoint, notBreaching: update this test")
	}
	if !strings.Contains(prodRule, "${CdsHooksReplayFailedAlarm}") || strings.Contains(otherRule, "${CdsHooksReplayFailedAlarm}") {
		t.Errorf("service-unhealthy: want CdsHooksReplayFailedAlarm in the prod rule only")
	}

	var alert rule
	rules := loadRules(t)
	for _, a := range rules.alerts() {
		if a.Alert == "HealthcareAPICDSHooksReplayStoreFailing" {
			alert = a
		}
	}
	m := regexp.MustCompile(`:increase(\d+m)\{event="(\w+)"\}\) >= (\d+)$`).FindStringSubmatch(strings.TrimSpace(alert.Expr))
	if m == nil {
		t.Fatalf("HealthcareAPICDSHooksReplayStoreFailing: expression %q is not sum(...:increase<window>{event=...}) >= floor: update this test", alert.Expr)
	}
	if d := mustDuration(t, m[1]); d != window {
		t.Errorf("alert window %v, SAM alarm window %v", d, window)
	}
	counted := false
	for _, r := range rules.rules() {
		if r.Record == "environment_namespace_event:healthcare_api_cds_hook_events:increase"+m[1] {
			counted = strings.Contains(r.Expr, "replay_failed") && strings.Contains(r.Expr, "["+m[1]+"]")
		}
	}
	if !counted {
		t.Errorf("the recording rule increase%s does not count replay_failed over [%s]", m[1], m[1])
	}
	if m[2] != event || m[3] != scalar("Threshold") {
		t.Errorf("alert counts %s >= %s; SAM alarm counts %s >= %s", m[2], m[3], event, scalar("Threshold"))
	}
	if alert.Labels["severity"] != "critical" {
		t.Errorf("alert severity %q, want critical: its SAM twin pages in prod", alert.Labels["severity"])
	}
}
