package monitoring

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	falcoRulesFile  = "../k8s/falco/healthcare-api_rules.yaml"
	falcoValuesFile = "../k8s/falco/values.yaml"
)

// falcoSeverity is falcosidekick's default map from a Falco priority to
// the Alertmanager label severity (its outputs/alertmanager.go,
// defaultSeverityMap).
var falcoSeverity = map[string]string{
	"EMERGENCY": "critical", "ALERT": "critical", "CRITICAL": "critical",
	"ERROR": "warning", "WARNING": "warning",
	"NOTICE": "information", "INFORMATIONAL": "information", "DEBUG": "information",
}

// TestFalcoAlertsRoute routes each custom Falco rule's alert, with the
// labels falcosidekick gives it (source, rule, priority, severity, the
// output fields k8s_ns_name and container_name, the release's
// extralabels), through alertmanager.yml with amtool: a critical detection
// in the API's namespace pages on-call in production only; everything else
// is a Slack notice, and none falls through to the default receiver by
// accident.
func TestFalcoAlertsRoute(t *testing.T) {
	var rules []struct {
		Rule     string `yaml:"rule"`
		Priority string `yaml:"priority"`
	}
	readYAML(t, falcoRulesFile, &rules)
	var values struct {
		Falcosidekick struct {
			Config struct {
				Alertmanager struct {
					ExtraLabels string `yaml:"extralabels"`
				} `yaml:"alertmanager"`
			} `yaml:"config"`
		} `yaml:"falcosidekick"`
	}
	raw, err := os.ReadFile(falcoValuesFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{}
	for _, kv := range strings.Split(values.Falcosidekick.Config.Alertmanager.ExtraLabels, ",") {
		k, v, _ := strings.Cut(kv, ":")
		extra[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if extra["alertname"] == "" {
		t.Fatalf("%s: falcosidekick's extralabels %v give no alertname", falcoValuesFile, extra)
	}

	pages := 0
	for _, r := range rules {
		if r.Rule == "" {
			continue // a list or a macro
		}
		severity, ok := falcoSeverity[r.Priority]
		if !ok {
			t.Errorf("rule %q: priority %q is not a Falco priority", r.Rule, r.Priority)
			continue
		}
		for _, env := range []string{"eks-prod", "eks-staging", "eks-dev"} {
			for _, ns := range []string{"healthcare-api", "kube-system"} {
				labels := []string{
					"alertname=" + extra["alertname"], "environment=" + env, "source=falco", "eventsource=syscall",
					"rule=" + strings.ReplaceAll(r.Rule, " ", "_"), "priority=" + r.Priority, "severity=" + severity,
					"k8s_ns_name=" + ns, "k8s_pod_name=healthcare-api-7d9c5b6f4-x2x7q", "container_name=api",
				}
				want := "slack-warning"
				if severity == "critical" && env == "eks-prod" && ns == "healthcare-api" {
					want = "oncall-critical"
					pages++
				}
				args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerFile}, labels...)
				if got := strings.TrimSpace(lastLine(runTool(t, "amtool", args...))); got != want {
					t.Errorf("Falco rule %q (%s) in %s/%s routes to %q, want %q", r.Rule, r.Priority, env, ns, got, want)
				}
			}
		}
	}
	if pages == 0 {
		t.Error("no custom Falco rule pages on-call: the route or the priorities lost their critical case")
	}

	// The Falco route is a child of the top route that only Falco's alerts
	// match: the API's own alerts (service="healthcare-api") never reach it.
	var cfg struct {
		Route struct {
			Routes []struct {
				Matchers []string `yaml:"matchers"`
			} `yaml:"routes"`
		} `yaml:"route"`
	}
	readYAML(t, alertmanagerFile, &cfg)
	n := 0
	for _, r := range cfg.Route.Routes {
		if slices.Contains(r.Matchers, `source="falco"`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("alertmanager.yml has %d routes for source=\"falco\", want 1", n)
	}
}

// TestFalcoAlertsDelivered posts a critical and a warning Falco detection
// of the same pod to the real Alertmanager: both reach Slack. Every Falco
// alert has the same alertname and no namespace label, so an inhibit rule
// that let Falco's critical alerts inhibit would mute every Falco warning
// of the environment.
func TestFalcoAlertsDelivered(t *testing.T) {
	ctx, api, slackMessages := localAlertmanager(t)
	detection := func(rule, priority string) map[string]any {
		return map[string]any{
			"labels": map[string]string{
				"alertname": "FalcoRuntimeEvent", "environment": "eks-prod", "source": "falco", "eventsource": "syscall",
				"rule": rule, "priority": priority, "severity": falcoSeverity[priority],
				"k8s_ns_name": "healthcare-api", "k8s_pod_name": "healthcare-api-7d9c5b6f4-x2x7q", "container_name": "api",
			},
			"annotations": map[string]string{"summary": rule, "description": rule + " in healthcare-api"},
		}
	}
	postAlerts(t, api,
		detection("Unexpected_process_in_healthcare-api_container", "CRITICAL"),
		detection("Write_attempt_in_healthcare-api_container", "WARNING"),
	)
	if msgs := settledSlack(ctx, t, slackMessages, 2); len(msgs) != 2 {
		t.Errorf("%d Slack messages, want 2 (the critical detection and the warning):\n%s", len(msgs), strings.Join(msgs, "\n"))
	}
}

// The on-call email's subject names where it happened for Falco's
// detections too: they carry k8s_ns_name and the rule, not namespace.
// amtool renders the subject of alertmanager.yml with Alertmanager's own
// template engine.
func TestFalcoEmailSubject(t *testing.T) {
	var cfg struct {
		Receivers []struct {
			Name         string `yaml:"name"`
			EmailConfigs []struct {
				Headers map[string]string `yaml:"headers"`
			} `yaml:"email_configs"`
		} `yaml:"receivers"`
	}
	readYAML(t, alertmanagerFile, &cfg)
	subject := ""
	for _, r := range cfg.Receivers {
		if r.Name == "oncall-critical" && len(r.EmailConfigs) == 1 {
			subject = r.EmailConfigs[0].Headers["Subject"]
		}
	}
	if subject == "" {
		t.Fatal("alertmanager.yml: oncall-critical has no email Subject")
	}
	dir := t.TempDir()
	glob := dir + "/empty.tmpl"
	if err := os.WriteFile(glob, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		labels map[string]string
		want   string
	}{
		"falco": {map[string]string{"alertname": "FalcoRuntimeEvent", "environment": "eks-prod", "source": "falco",
			"k8s_ns_name": "healthcare-api", "rule": "Healthcare_API_unexpected_process", "severity": "critical"},
			"[FIRING] FalcoRuntimeEvent in eks-prod (healthcare-api: Healthcare_API_unexpected_process)"},
		"api": {map[string]string{"alertname": "HealthcareAPITargetDown", "environment": "eks-prod", "namespace": "healthcare-api", "severity": "critical"},
			"[FIRING] HealthcareAPITargetDown in eks-prod (healthcare-api)"},
	} {
		data, _ := json.Marshal(map[string]any{"status": "firing", "commonLabels": tc.labels, "groupLabels": tc.labels,
			"alerts": []any{map[string]any{"status": "firing", "labels": tc.labels}}})
		file := dir + "/" + name + ".json"
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSpace(runTool(t, "amtool", "template", "render", "--template.glob="+glob, "--template.text="+subject, "--template.data="+file))
		if got != tc.want {
			t.Errorf("%s: subject %q, want %q", name, got, tc.want)
		}
	}
}
