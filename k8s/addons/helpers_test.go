package addons

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// repo is the repository's root, from this package's directory.
const repo = "../.."

// kustomize runs `kubectl kustomize dir` (dir relative to the repository
// root) and returns what it prints.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatal("kubectl is not installed: the manifests are built with `kubectl kustomize`")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("kubectl", "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return stdout.Bytes()
}

// filled copies the kustomization in dir (relative to the repository root)
// with its values.env replaced by values, as an operator fills it in, and
// returns the copy's path.
func filled(t *testing.T, dir string, values map[string]string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(dir))
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(repo, dir))); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(dst, "values.env"))
	if err != nil {
		t.Fatal(err)
	}
	out := string(src)
	for k, v := range values {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k) + `=.*$`)
		if !re.MatchString(out) {
			t.Fatalf("%s/values.env has no %s=", dir, k)
		}
		out = re.ReplaceAllLiteralString(out, k+"="+v)
	}
	if regexp.MustCompile(`(?m)^[^#].*REPLACE_ME`).MatchString(out) {
		t.Fatalf("%s/values.env has keys this test does not fill in:\n%s", dir, out)
	}
	if err := os.WriteFile(filepath.Join(dst, "values.env"), []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// typeMeta is what each document says it is.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// decodeStrict splits a multi-document YAML stream and decodes each
// document strictly (no unknown or duplicate field) into what newObject
// returns for its apiVersion and kind; a kind it does not know is an error.
func decodeStrict(t *testing.T, stream []byte, newObject func(apiVersion, kind string) any) []any {
	t.Helper()
	var objs []any
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(stream), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var tm typeMeta
		if err := sigsyaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		dst := newObject(tm.APIVersion, tm.Kind)
		if dst == nil {
			t.Errorf("unexpected %s %s %q", tm.APIVersion, tm.Kind, tm.Metadata.Name)
			continue
		}
		if err := sigsyaml.UnmarshalStrict([]byte(doc), dst); err != nil {
			t.Errorf("%s %q does not decode strictly as %T: %v", tm.Kind, tm.Metadata.Name, dst, err)
			continue
		}
		objs = append(objs, dst)
	}
	return objs
}

// template is infra/eks.yaml as a YAML tree: CloudFormation's short forms
// (!Sub, !Ref, ...) are node tags that yaml.v3 keeps.
type template struct{ root *yaml.Node }

func readTemplate(t *testing.T) template {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repo, "infra/eks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	return template{root: doc.Content[0]}
}

// get walks mapping keys from n; nil when one is missing.
func get(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// resource is Resources.<id>; the test fails when it is missing.
func (tp template) resource(t *testing.T, id string) *yaml.Node {
	t.Helper()
	r := get(tp.root, "Resources", id)
	if r == nil {
		t.Fatalf("infra/eks.yaml has no resource %s", id)
	}
	return r
}

// sub resolves a !Sub string the way CloudFormation does, from vars; a
// variable it is not given is an error.
func sub(s string, vars map[string]string) (string, error) {
	var missing []string
	out := regexp.MustCompile(`\$\{([^}!]+)\}`).ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unresolved ${%s} in %q", strings.Join(missing, "}, ${"), s)
	}
	return out, nil
}

// Values a stack would be deployed with, for resolving !Sub.
const (
	testAccount = "111122223333"
	testRegion  = "eu-west-1"
	testIssuer  = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
)

// vars returns the pseudo parameters and OidcProviderArn/Issuer a !Sub
// in infra/eks.yaml may name, plus the template's parameter defaults.
func (tp template) vars() map[string]string {
	v := map[string]string{
		"AWS::Partition": "aws", "AWS::Region": testRegion, "AWS::AccountId": testAccount, "AWS::URLSuffix": "amazonaws.com",
		"OidcProviderArn": "arn:aws:iam::" + testAccount + ":oidc-provider/" + testIssuer,
		"Issuer":          testIssuer,
	}
	params := get(tp.root, "Parameters")
	for i := 0; i+1 < len(params.Content); i += 2 {
		if d := get(params.Content[i+1], "Default"); d != nil {
			v[params.Content[i].Value] = d.Value
		}
	}
	return v
}

// trustPolicy is a role's AssumeRolePolicyDocument: a !Sub of JSON whose
// ${Issuer} comes from the OIDC provider's ARN.
type trustPolicy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Principal map[string]string
		Action    string
		Condition map[string]map[string]string
	}
}

func (tp template) trust(t *testing.T, role string) trustPolicy {
	t.Helper()
	doc := get(tp.resource(t, role), "Properties", "AssumeRolePolicyDocument")
	if doc == nil || doc.Tag != "!Sub" || doc.Kind != yaml.SequenceNode || len(doc.Content) != 2 {
		t.Fatalf("%s: AssumeRolePolicyDocument is not a !Sub [json, {Issuer: ...}]", role)
	}
	if issuer := get(doc.Content[1], "Issuer"); issuer == nil || issuer.Tag != "!Select" {
		t.Fatalf("%s: Issuer is not selected from the OIDC provider's ARN", role)
	}
	js, err := sub(doc.Content[0].Value, tp.vars())
	if err != nil {
		t.Fatalf("%s: %v", role, err)
	}
	var p trustPolicy
	dec := newStrictJSON(js)
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: trust policy: %v", role, err)
	}
	return p
}

// assertIRSATrust checks that role trusts exactly one ServiceAccount,
// through the cluster's OIDC provider, for STS only.
func assertIRSATrust(t *testing.T, tp template, role, namespace, serviceAccount string) {
	t.Helper()
	p := tp.trust(t, role)
	if len(p.Statement) != 1 {
		t.Fatalf("%s trusts %d statements, want 1 (IRSA)", role, len(p.Statement))
	}
	s := p.Statement[0]
	want := map[string]string{
		testIssuer + ":sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
		testIssuer + ":aud": "sts.amazonaws.com",
	}
	if s.Effect != "Allow" || s.Action != "sts:AssumeRoleWithWebIdentity" || s.Principal["Federated"] != tp.vars()["OidcProviderArn"] || len(s.Principal) != 1 {
		t.Errorf("%s: trust statement %+v, want Allow sts:AssumeRoleWithWebIdentity to the cluster's OIDC provider only", role, s)
	}
	if len(s.Condition) != 1 || fmt.Sprint(s.Condition["StringEquals"]) != fmt.Sprint(want) {
		t.Errorf("%s: trust condition %v, want StringEquals %v", role, s.Condition, want)
	}
}

// iamMatch reports whether an IAM resource pattern matches arn: "*" is any
// run of characters, "?" exactly one (IAM JSON policy reference, Resource).
func iamMatch(pattern, arn string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(arn)
}

// newStrictJSON decodes JSON refusing unknown fields.
func newStrictJSON(s string) *json.Decoder {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	return dec
}

// nodeText is every scalar under n, space-separated.
func nodeText(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	var parts []string
	for _, c := range n.Content {
		parts = append(parts, nodeText(c))
	}
	return strings.Join(parts, " ")
}
