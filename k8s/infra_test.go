package k8s

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/replay"
	yamlv3 "gopkg.in/yaml.v3"
)

func TestCloudFormationLint(t *testing.T) {
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Fatal("cfn-lint is not installed (pip install cfn-lint): it validates infra/*.yaml")
	}
	templates, err := filepath.Glob("../infra/*.yaml")
	if err != nil || len(templates) == 0 {
		t.Fatalf("no templates in infra/: %v", err)
	}
	out, err := exec.Command("cfn-lint", templates...).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", strings.Join(templates, " "), err, out)
	}
}

// The workload role trusts exactly the ServiceAccount the manifests run
// the pods as, and lets them write exactly the metrics namespace the code
// writes to.
func TestWorkloadRoleMatchesManifests(t *testing.T) {
	src, err := os.ReadFile("../infra/eks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range overlays {
		r := build(t, dir)
		r.complete(t)
		subject := "system:serviceaccount:" + r.sa.Namespace + ":" + r.sa.Name
		if got := bytes.Count(src, []byte(`"${Issuer}:sub": "`+subject+`"`)); got != 2 {
			t.Errorf("%s: infra/eks.yaml trusts %s in %d of its 2 trust policies", dir, subject, got)
		}
		for _, want := range []string{"Namespace: " + r.sa.Namespace, "ServiceAccount: " + r.sa.Name,
			`"aws:RequestTag/kubernetes-namespace": "` + r.sa.Namespace + `"`,
			`"aws:RequestTag/kubernetes-service-account": "` + r.sa.Name + `"`} {
			if !bytes.Contains(src, []byte(want)) {
				t.Errorf("%s: infra/eks.yaml lacks %s (EKS Pod Identity)", dir, want)
			}
		}
	}
	if !bytes.Contains(src, []byte("cloudwatch:namespace: "+metrics.Namespace+"\n")) {
		t.Errorf("infra/eks.yaml does not limit PutMetricData to the namespace %s", metrics.Namespace)
	}
	for _, want := range []string{`"${Issuer}:aud": "sts.amazonaws.com"`, "Action: secretsmanager:GetSecretValue\n                Resource: !Ref ApiKeysSecretArn",
		"ImageTagMutability: IMMUTABLE", "ScanOnPush: true", "LifecyclePolicy:", "EncryptionConfiguration:"} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("infra/eks.yaml lacks %q", want)
		}
	}
}

// The sigstore policy-controller's role (infra/eks.yaml) trusts exactly
// the ServiceAccount the documented Helm install names and annotates, and
// reads only our repository: the ECR login (no resource) and pulls.
func TestPolicyControllerRole(t *testing.T) {
	raw, err := os.ReadFile("../infra/eks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type resource struct {
		Type       string `yaml:"Type"`
		Condition  string `yaml:"Condition"`
		Properties struct {
			AssumeRolePolicyDocument []any `yaml:"AssumeRolePolicyDocument"`
			Policies                 []struct {
				PolicyDocument struct {
					Statement []struct {
						Effect   string `yaml:"Effect"`
						Action   any    `yaml:"Action"`
						Resource any    `yaml:"Resource"`
					} `yaml:"Statement"`
				} `yaml:"PolicyDocument"`
			} `yaml:"Policies"`
			ManagedPolicyArns []any `yaml:"ManagedPolicyArns"`
		} `yaml:"Properties"`
	}
	var tpl struct {
		Resources map[string]yamlv3.Node `yaml:"Resources"`
		Outputs   map[string]struct {
			Condition string `yaml:"Condition"`
		} `yaml:"Outputs"`
	}
	// yaml.v3 drops CloudFormation's short-form tags (!Sub) and keeps their
	// arguments: the strings below are the template's own.
	if err := yamlv3.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	node, ok := tpl.Resources["PolicyControllerRole"]
	var role resource
	if ok {
		if err := node.Decode(&role); err != nil {
			t.Fatal(err)
		}
	}
	if !ok || role.Type != "AWS::IAM::Role" || role.Condition != "PolicyController" {
		t.Fatalf("infra/eks.yaml: PolicyControllerRole %+v, want an AWS::IAM::Role under the condition PolicyController", role)
	}
	if tpl.Outputs["PolicyControllerRoleArn"].Condition != "PolicyController" {
		t.Error("infra/eks.yaml: no output PolicyControllerRoleArn under the condition PolicyController")
	}
	const sub = "system:serviceaccount:" + policyControllerNamespace + ":" + policyControllerServiceAccount
	trust, _ := role.Properties.AssumeRolePolicyDocument[0].(string)
	if strings.Count(trust, `"${Issuer}:sub": "`+sub+`"`) != 1 || !strings.Contains(trust, `"${Issuer}:aud": "sts.amazonaws.com"`) ||
		strings.Count(trust, `"Effect"`) != 1 {
		t.Errorf("PolicyControllerRole trusts\n%s\nwant one IRSA statement for %s", trust, sub)
	}
	if len(role.Properties.ManagedPolicyArns) != 0 {
		t.Errorf("PolicyControllerRole has managed policies %v", role.Properties.ManagedPolicyArns)
	}
	const repo = "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${RepositoryName}"
	want := map[string]string{"ecr:GetAuthorizationToken": "*", "ecr:BatchGetImage": repo, "ecr:GetDownloadUrlForLayer": repo}
	got := map[string]string{}
	for _, p := range role.Properties.Policies {
		for _, st := range p.PolicyDocument.Statement {
			if st.Effect != "Allow" {
				t.Errorf("PolicyControllerRole: a statement with effect %q", st.Effect)
			}
			actions, ok := st.Action.([]any)
			if !ok {
				actions = []any{st.Action}
			}
			for _, a := range actions {
				got[fmt.Sprint(a)] = fmt.Sprint(st.Resource)
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("PolicyControllerRole allows %v, want exactly %v", got, want)
	}

	// The install the docs give names and annotates that ServiceAccount.
	doc, err := os.ReadFile("../docs/eks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--namespace " + policyControllerNamespace, "webhook.serviceAccount.name=" + policyControllerServiceAccount,
		`webhook.serviceAccount.annotations.eks\.amazonaws\.com/role-arn=`} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("docs/eks.md: the policy-controller install lacks %s", want)
		}
	}
}

// Where the sigstore policy-controller's webhook runs (docs/eks.md's Helm
// install; the chart's default name for release policy-controller).
const (
	policyControllerNamespace      = "cosign-system"
	policyControllerServiceAccount = "policy-controller-webhook"
)

// With CdsHooksReplayTableName, infra/eks.yaml creates the jti table as
// package replay uses it and lets the workload PutItem on it alone.
func TestWorkloadReplayTable(t *testing.T) {
	src, err := os.ReadFile("../infra/eks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"KeySchema: [{AttributeName: " + replay.KeyAttribute + ", KeyType: HASH}]",
		"TimeToLiveSpecification: {AttributeName: " + replay.ExpiresAttribute + ", Enabled: true}",
		"Action: dynamodb:PutItem\n                  Resource: !GetAtt CdsHooksReplayTable.Arn",
		"Condition: CdsHooksReplayTable",
	} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("infra/eks.yaml lacks %q", want)
		}
	}
	if n := bytes.Count(src, []byte("dynamodb:")) - bytes.Count(src, []byte("dynamodb:PutItem")); n != 0 {
		t.Errorf("infra/eks.yaml names %d DynamoDB actions besides dynamodb:PutItem, want none", n)
	}
	if got := replayActions(t); !slices.Equal(got, []string{"dynamodb:PutItem"}) {
		t.Errorf("internal/replay calls %v: grant exactly those to the workload role here", got)
	}
	// Its ARN is infra/vpc-endpoints.yaml's CdsHooksReplayTableArns (the
	// DynamoDB endpoint staging and prod call it through).
	out := at(cfnLong(t, "eks.yaml"), "Outputs", "CdsHooksReplayTableArn")
	if at(out, "Condition") != "CdsHooksReplayTable" || fmt.Sprint(at(out, "Value")) != "map[Fn::GetAtt:[CdsHooksReplayTable Arn]]" {
		t.Errorf("output CdsHooksReplayTableArn = %v, want !GetAtt CdsHooksReplayTable.Arn under the table's condition", out)
	}
}
