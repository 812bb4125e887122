package addons

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The add-on is installed with a pinned version and its own role, which
// only its CloudWatch agent can assume and which holds AWS's policy for
// that agent and nothing else. (cfn-lint checks the template as a whole:
// k8s/infra_test.go.)
func TestContainerInsightsAddon(t *testing.T) {
	tp := readTemplate(t)
	addon := tp.resource(t, "ContainerInsightsAddon")
	want := map[string]string{
		"Type":                             "AWS::EKS::Addon",
		"Condition":                        "ContainerInsights",
		"Properties.AddonName":             "amazon-cloudwatch-observability",
		"Properties.AddonVersion":          "!Ref ContainerInsightsAddonVersion",
		"Properties.ClusterName":           "!Ref ContainerInsightsClusterName",
		"Properties.ServiceAccountRoleArn": "!GetAtt ContainerInsightsRole.Arn",
	}
	for path, w := range want {
		n := get(addon, strings.Split(path, ".")...)
		got := ""
		if n != nil {
			got = n.Value
			if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") { // a CloudFormation short form
				got = n.Tag + " " + n.Value
			}
		}
		if got != w {
			t.Errorf("ContainerInsightsAddon %s = %q, want %q", path, got, w)
		}
	}

	// The configuration is pinned (the add-on's defaults change between
	// versions): Container Insights and container logs, no Application
	// Signals (it does not instrument Go), no accelerated-compute metrics.
	var conf struct {
		Agent struct {
			Config map[string]any `json:"config"`
		} `json:"agent"`
		ContainerLogs struct {
			Enabled *bool `json:"enabled"`
		} `json:"containerLogs"`
	}
	raw := get(addon, "Properties", "ConfigurationValues")
	if raw == nil {
		t.Fatal("ContainerInsightsAddon has no ConfigurationValues: the add-on's defaults (Application Signals on) would apply")
	}
	dec := json.NewDecoder(strings.NewReader(raw.Value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&conf); err != nil {
		t.Fatalf("ConfigurationValues: %v\n%s", err, raw.Value)
	}
	if conf.ContainerLogs.Enabled == nil || !*conf.ContainerLogs.Enabled {
		t.Error("ConfigurationValues: containerLogs.enabled is not set to true")
	}
	agent, _ := json.Marshal(conf.Agent.Config)
	if strings.Contains(string(agent), "application_signals") || conf.Agent.Config["traces"] != nil {
		t.Errorf("the agent's configuration collects Application Signals or traces: %s", agent)
	}
	k8s, _ := conf.Agent.Config["logs"].(map[string]any)["metrics_collected"].(map[string]any)["kubernetes"].(map[string]any)
	if k8s["enhanced_container_insights"] != true || k8s["accelerated_compute_metrics"] != false {
		t.Errorf("the agent's kubernetes metrics %v, want enhanced_container_insights true, accelerated_compute_metrics false", k8s)
	}
	// The role trusts one OIDC provider: the parameter says the cluster
	// must be that provider's.
	if d := get(tp.root, "Parameters", "ContainerInsightsClusterName", "Description"); d == nil || !strings.Contains(d.Value, "OidcProviderArn") {
		t.Error("ContainerInsightsClusterName does not say it must be the cluster of OidcProviderArn")
	}

	// The add-on's agent runs as amazon-cloudwatch/cloudwatch-agent (EKS
	// user guide, "Amazon CloudWatch Observability agent").
	assertIRSATrust(t, tp, "ContainerInsightsRole", "amazon-cloudwatch", "cloudwatch-agent")
	role := get(tp.resource(t, "ContainerInsightsRole"), "Properties")
	policies := get(role, "ManagedPolicyArns")
	if get(role, "Policies") != nil || policies == nil || len(policies.Content) != 1 {
		t.Fatal("ContainerInsightsRole: want exactly one managed policy and no inline one")
	}
	if arn, err := sub(policies.Content[0].Value, tp.vars()); err != nil || arn != "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy" {
		t.Errorf("ContainerInsightsRole's policy is %q (%v), want AWS's CloudWatchAgentServerPolicy", arn, err)
	}

	// A version is pinned whenever the add-on is installed.
	rule := get(tp.root, "Rules", "ContainerInsightsVersionPinned")
	if rule == nil || !strings.Contains(nodeText(rule), "ContainerInsightsClusterName") || !strings.Contains(nodeText(get(rule, "Assertions")), "ContainerInsightsAddonVersion") {
		t.Error("no rule ties ContainerInsightsAddonVersion to ContainerInsightsClusterName")
	}
	pattern := regexp.MustCompile(get(tp.root, "Parameters", "ContainerInsightsAddonVersion", "AllowedPattern").Value)
	for v, ok := range map[string]bool{"v4.1.0-eksbuild.1": true, "": true, "latest": false, "4.1.0": false, "v4.1.0-eksbuild.1 ": false} {
		if pattern.MatchString(v) != ok {
			t.Errorf("ContainerInsightsAddonVersion %q accepted = %v, want %v", v, !ok, ok)
		}
	}

	// The docs say how to turn it on and what it feeds.
	for file, words := range map[string][]string{
		"docs/eks.md":          {"amazon-cloudwatch-observability", "ContainerInsightsClusterName", "ContainerInsightsAddonVersion"},
		"monitoring/README.md": {"Container Insights", "ContainerInsights"},
	} {
		b, err := os.ReadFile(filepath.Join(repo, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range words {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s does not mention %s", file, w)
			}
		}
	}
}
