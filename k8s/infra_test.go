package k8s

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/replay"
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
}
