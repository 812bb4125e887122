package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestCfnLintInfraCI lints infra/ci.yaml with its defaults and with every
// option on. Warnings fail too.
func TestCfnLintInfraCI(t *testing.T) {
	root := repoRoot(t)
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is not on PATH (pip install 'cfn-lint==1.51.*'): %v", err)
	}
	cases := map[string][]string{
		"defaults": {"GitHubOrg=example-org", "GitHubRepo=api"},
		"existing provider, EKS access entry": {
			"GitHubOrg=example-org", "GitHubRepo=api",
			"ExistingOidcProviderArn=arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
			"StagingEksClusterName=clinical-staging", "ProductionEksClusterName=clinical", "CreateEksAccessEntry=true",
		},
	}
	for name, params := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--parameters"}, append(params, "--", "infra/ci.yaml")...)
			cmd := exec.Command(bin, args...)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cfn-lint %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// cfnTemplate parses a CloudFormation template into nodes; the short-form
// intrinsic functions (!Sub, !Ref, ...) stay as tagged nodes.
func cfnTemplate(t *testing.T, rel string) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return doc.Content[0]
}

// scalars returns every scalar under n (the strings of !Sub, list items...).
func scalars(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, scalars(c)...)
	}
	return out
}

// TestCIRolesTrust: both roles trust only GitHub's OIDC tokens for this
// repository, for sts.amazonaws.com, and for exact subjects: the publish
// role pushes to main, the deploy role the two environments. No wildcards.
func TestCIRolesTrust(t *testing.T) {
	resources := get(cfnTemplate(t, "infra/ci.yaml"), "Resources")
	want := map[string][]string{
		"ImagePublishRole": {"repo:${GitHubOrg}/${GitHubRepo}:ref:refs/heads/main"},
		// One role per environment: staging cannot deploy production.
		"StagingDeployRole":    {"repo:${GitHubOrg}/${GitHubRepo}:environment:staging"},
		"ProductionDeployRole": {"repo:${GitHubOrg}/${GitHubRepo}:environment:production"},
	}
	for role, subjects := range want {
		r := get(resources, role)
		if r == nil {
			t.Errorf("infra/ci.yaml: no %s", role)
			continue
		}
		stmts := get(get(get(r, "Properties"), "AssumeRolePolicyDocument"), "Statement")
		if stmts == nil || len(stmts.Content) != 1 {
			t.Errorf("%s: want exactly one trust statement", role)
			continue
		}
		st := stmts.Content[0]
		if a := get(st, "Action"); a == nil || a.Value != "sts:AssumeRoleWithWebIdentity" {
			t.Errorf("%s: trust action %v, want sts:AssumeRoleWithWebIdentity", role, scalars(a))
		}
		eq := get(get(st, "Condition"), "StringEquals")
		if got := scalars(get(eq, "token.actions.githubusercontent.com:aud")); !slices.Equal(got, []string{"sts.amazonaws.com"}) {
			t.Errorf("%s: aud %v, want [sts.amazonaws.com]", role, got)
		}
		got := scalars(get(eq, "token.actions.githubusercontent.com:sub"))
		if !slices.Equal(got, subjects) {
			t.Errorf("%s: sub %v, want %v", role, got, subjects)
		}
		for k := range strings.SplitSeq(yamlText(t, get(st, "Condition")), "\n") {
			if strings.Contains(k, "StringLike") || strings.Contains(k, "*") {
				t.Errorf("%s: wildcard in the trust condition: %s", role, strings.TrimSpace(k))
			}
		}
	}
}

// TestCIRolesWildcards: "*" as a resource only in the statements that
// explain why IAM allows nothing narrower, and no Allow of every action.
func TestCIRolesWildcards(t *testing.T) {
	// TagNewKmsKeys: KMS checks tags at CreateKey against no particular
	// key; its condition on the request's tags narrows it instead.
	allowed := []string{"EcrLogin", "CallsWithoutResourceType", "TagNewKmsKeys"}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		if n.Kind == yaml.MappingNode && get(n, "Effect") != nil {
			sid := ""
			if s := get(n, "Sid"); s != nil {
				sid = s.Value
			}
			for _, a := range scalars(get(n, "Action")) {
				if a == "*" || a == "iam:*" || a == "sts:*" {
					t.Errorf("statement %q allows %s", sid, a)
				}
			}
			if slices.Contains(scalars(get(n, "Resource")), "*") && !slices.Contains(allowed, sid) {
				t.Errorf("statement %q has Resource \"*\": scope it, or explain it and add it to this test", sid)
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(get(cfnTemplate(t, "infra/ci.yaml"), "Resources"))
}

// TestCIStackNamesMatchDeploy: the deploy role's IAM scopes (stack-name
// prefixes) name the stacks the deploy jobs really deploy, or the first
// CI deploy of a stack is refused half-way.
func TestCIStackNamesMatchDeploy(t *testing.T) {
	params := get(cfnTemplate(t, "infra/ci.yaml"), "Parameters")
	want := map[string]string{} // job's STACK_NAME → parameter
	w := findWorkflow(t, ".github/workflows/deploy.yml")
	for _, j := range w.jobs(t) {
		stack := get(get(j.node, "env"), "STACK_NAME")
		if stack == nil {
			continue
		}
		switch {
		case strings.Contains(j.id, "staging"):
			want[stack.Value] = "StagingStackName"
		case strings.Contains(j.id, "prod"):
			want[stack.Value] = "ProductionStackName"
		}
	}
	if len(want) != 2 {
		t.Fatalf("found stacks %v in deploy.yml, want a staging and a production job", want)
	}
	for stack, param := range want {
		if got := get(get(params, param), "Default"); got == nil || got.Value != stack {
			t.Errorf("infra/ci.yaml %s default %v, but deploy.yml deploys %s", param, scalars(got), stack)
		}
	}
}

// TestDeployRolesReachOneStackEach: the deploy policies name stacks only
// through the role's sam-stack tag, and each role's tag is its own
// environment's stack, so the staging role cannot touch the prod stack.
func TestDeployRolesReachOneStackEach(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "infra", "ci.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(text), "\n") {
		if strings.Contains(line, "arn:") && (strings.Contains(line, "${StagingStackName}") || strings.Contains(line, "${ProductionStackName}")) {
			t.Errorf("infra/ci.yaml names a stack directly in a policy, so both roles reach it: %s", strings.TrimSpace(line))
		}
	}
	resources := get(cfnTemplate(t, "infra/ci.yaml"), "Resources")
	for role, param := range map[string]string{"StagingDeployRole": "StagingStackName", "ProductionDeployRole": "ProductionStackName"} {
		tags := get(get(resources, role), "Properties")
		found := false
		for _, tag := range get(tags, "Tags").Content {
			if v := get(tag, "Value"); get(tag, "Key").Value == "sam-stack" && v.Tag == "!Ref" && v.Value == param {
				found = true
			}
		}
		if !found {
			t.Errorf("%s has no tag sam-stack = !Ref %s", role, param)
		}
	}
	if !strings.Contains(string(text), "${!aws:PrincipalTag/sam-stack}") {
		t.Error("no policy scopes by ${aws:PrincipalTag/sam-stack}")
	}
}

// TestTemplateTagsWhatTheRoleScopesByTag: the deploy roles reach the key
// secret and the alarm topics' KMS key only through their sam-stack tag
// (CloudFormation puts no stack tag on KMS keys, and the secret's generated
// name does not carry the stack name), so template.yaml must tag them.
func TestTemplateTagsWhatTheRoleScopesByTag(t *testing.T) {
	resources := get(cfnTemplate(t, "template.yaml"), "Resources")
	for _, id := range []string{"AlarmTopicKey", "ApiKeysSecret"} {
		found := false
		for _, tag := range get(get(get(resources, id), "Properties"), "Tags").Content {
			if v := get(tag, "Value"); get(tag, "Key").Value == "sam-stack" && v.Tag == "!Ref" && v.Value == "AWS::StackName" {
				found = true
			}
		}
		if !found {
			t.Errorf("template.yaml %s has no tag sam-stack = !Ref AWS::StackName; infra/ci.yaml's roles scope it by that tag", id)
		}
	}
}
