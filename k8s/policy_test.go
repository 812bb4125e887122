package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// Gatekeeper (k8s/policy): the ConstraintTemplates and Constraints run in
// Gatekeeper's own CLI, gator, and their Rego in OPA, both pinned in
// tools/policy.mod, apart from go.mod: Gatekeeper v3.23.1 needs k8s.io
// v0.36, kube-score (go.mod) builds only against v0.32.
const policyToolsModfile = "tools/policy.mod"

// The kustomizations of k8s/policy, relative to k8s/.
const (
	policyTemplates   = "policy/templates"
	policyConstraints = "policy/constraints" // every cluster
	policyProduction  = "policy/production"  // production's shape: adds the egress rule
	policyRendered    = "policy/rendered"    // written by renderedPolicy, read by suite.yaml
	policySignatures  = "policy/signatures"  // sigstore policy-controller
	gatekeeperModule  = "github.com/open-policy-agent/gatekeeper/v3"
	policyCtrlModule  = "github.com/sigstore/policy-controller"
	sigstoreModfile   = "tools/sigstore.mod"
	gatekeeperTarget  = "admission.k8s.gatekeeper.sh"
	constraintsAPI    = "constraints.gatekeeper.sh/v1beta1"
	constraintTplAPI  = "templates.gatekeeper.sh/v1"
	imagePolicyAPI    = "policy.sigstore.dev/v1beta1"
	sigstoreOptInKey  = "policy.sigstore.dev/include"
	gatorSuite        = "policy/suite.yaml"
	regoTestsDir      = "policy/rego"
	repositoryValue   = "IMAGE_REPOSITORY"
	policyValuesFile  = "policy/values/values.env" // constraints and signatures
	enforcementAction = "deny"
)

// policyConstraintsFor is what each overlay's cluster applies: dev's base
// egress (HTTPS anywhere) is allowed there, not in production's shape.
var policyConstraintsFor = map[string]string{
	"overlays/dev":     policyConstraints,
	"overlays/staging": policyProduction,
	"overlays/prod":    policyProduction,
}

// policyTools builds gator and opa from tools/policy.mod once per test
// binary (go build's cache makes later builds a link).
var policyTools = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "policy-tools-")
	if err != nil {
		return "", err
	}
	filledMu.Lock()
	filledDirs = append(filledDirs, dir)
	filledMu.Unlock()
	out, err := exec.Command("go", "build", "-modfile="+policyToolsModfile, "-o", dir+"/",
		gatekeeperModule+"/cmd/gator", "github.com/open-policy-agent/opa").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build gator and opa (%s): %v\n%s", policyToolsModfile, err, out)
	}
	return dir, nil
})

// policyTool runs gator or opa (tools/policy.mod) with args and returns
// what it printed and whether it exited 0.
func policyTool(t *testing.T, name string, args ...string) (string, bool) {
	t.Helper()
	dir, err := policyTools()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(dir, name), args...).CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), err == nil
}

// moduleDir is where the go command keeps module path of modfile's
// requirements: the source of the projects' own schemas.
func moduleDir(t *testing.T, modfile, path string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-modfile="+modfile, "-json", path).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", path, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", path, err, out)
	}
	return m.Dir
}

var (
	policyOnce sync.Once
	policyErr  error
)

// renderedPolicy returns the deployable copy of k8s/ (filledTree) with
// policy/values/values.env filled in as a cluster administrator does:
// the repository of the image the overlays pin. Each constraint of
// policy/production is written to policy/rendered/<template>.yaml there,
// where suite.yaml reads it.
func renderedPolicy(t *testing.T) string {
	t.Helper()
	root := filledTree(t)
	policyOnce.Do(func() {
		repo, _, _ := strings.Cut(testImage, "@")
		if policyErr = os.WriteFile(filepath.Join(root, policyValuesFile), []byte(repositoryValue+"="+repo+"\n"), 0o644); policyErr != nil {
			return
		}
		out, err := exec.Command("kubectl", "kustomize", filepath.Join(root, policyProduction)).Output()
		if err != nil {
			policyErr = fmt.Errorf("kubectl kustomize %s: %w", policyProduction, err)
			return
		}
		if policyErr = os.MkdirAll(filepath.Join(root, policyRendered), 0o755); policyErr != nil {
			return
		}
		for _, doc := range splitDocs(out) {
			var o struct{ Kind string }
			if policyErr = yaml.Unmarshal([]byte(doc), &o); policyErr != nil {
				return
			}
			if policyErr = os.WriteFile(filepath.Join(root, policyRendered, strings.ToLower(o.Kind)+".yaml"), []byte(doc), 0o644); policyErr != nil {
				return
			}
		}
	})
	if policyErr != nil {
		t.Fatal(policyErr)
	}
	return root
}

func splitDocs(out []byte) []string {
	var docs []string
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		if strings.TrimSpace(doc) != "" {
			docs = append(docs, doc)
		}
	}
	return docs
}

// objects renders dir and decodes each document as a generic object.
func objects(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, doc := range splitDocs(kustomize(t, dir)) {
		var o map[string]any
		if err := yaml.UnmarshalStrict([]byte(doc), &o); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// schema is the part of an OpenAPI v3 schema (a CRD's, or a template's
// parameters) that decides which fields exist and what they hold.
type schema struct {
	Type                 string             `json:"type"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	PreserveUnknown      bool               `json:"x-kubernetes-preserve-unknown-fields"`
	IntOrString          bool               `json:"x-kubernetes-int-or-string"`
	Required             []string           `json:"required"`
	Enum                 []any              `json:"enum"`
}

// check returns every field of v that s does not define (the API server
// with strict field validation refuses those; Gatekeeper would prune a
// misspelt parameter silently) and every value of the wrong type.
func (s *schema) check(path string, v any) []string {
	if s == nil {
		return nil
	}
	var errs []string
	switch v := v.(type) {
	case map[string]any:
		if s.Type != "" && s.Type != "object" {
			return []string{fmt.Sprintf("%s: an object, want %s", path, s.Type)}
		}
		var additional *schema
		if len(s.AdditionalProperties) > 0 && string(s.AdditionalProperties) != "false" && string(s.AdditionalProperties) != "true" {
			additional = &schema{}
			if err := json.Unmarshal(s.AdditionalProperties, additional); err != nil {
				return []string{fmt.Sprintf("%s: additionalProperties: %v", path, err)}
			}
		}
		keys := mapsKeys(v)
		sort.Strings(keys)
		for _, k := range keys {
			switch p, ok := s.Properties[k]; {
			case ok:
				errs = append(errs, p.check(path+"."+k, v[k])...)
			case additional != nil:
				errs = append(errs, additional.check(path+"."+k, v[k])...)
			case s.PreserveUnknown || string(s.AdditionalProperties) == "true":
			default:
				errs = append(errs, fmt.Sprintf("%s.%s: unknown field", path, k))
			}
		}
		for _, r := range s.Required {
			if _, ok := v[r]; !ok {
				errs = append(errs, fmt.Sprintf("%s.%s: required", path, r))
			}
		}
	case []any:
		if s.Type != "" && s.Type != "array" {
			return []string{fmt.Sprintf("%s: an array, want %s", path, s.Type)}
		}
		for i, item := range v {
			errs = append(errs, s.Items.check(fmt.Sprintf("%s[%d]", path, i), item)...)
		}
	case string:
		if s.Type != "" && s.Type != "string" && !s.IntOrString {
			errs = append(errs, fmt.Sprintf("%s: a string, want %s", path, s.Type))
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, any(v)) {
			errs = append(errs, fmt.Sprintf("%s: %q is not one of %v", path, v, s.Enum))
		}
	case bool:
		if s.Type != "" && s.Type != "boolean" {
			errs = append(errs, fmt.Sprintf("%s: a boolean, want %s", path, s.Type))
		}
	case float64, int64, int:
		if s.Type != "" && s.Type != "integer" && s.Type != "number" && !s.IntOrString {
			errs = append(errs, fmt.Sprintf("%s: a number, want %s", path, s.Type))
		}
	}
	return errs
}

func mapsKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// crdSchema reads the openAPIV3Schema of version from a CRD document.
func crdSchema(t *testing.T, crd []byte, version string) *schema {
	t.Helper()
	var c struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema *schema `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(crd, &c); err != nil {
		t.Fatal(err)
	}
	for _, v := range c.Spec.Versions {
		if s := v.Schema.OpenAPIV3Schema; v.Name == version && s != nil {
			// The API server checks metadata as ObjectMeta, whatever the
			// CRD's schema says.
			if s.Properties["metadata"] != nil {
				s.Properties["metadata"] = &schema{Type: "object", PreserveUnknown: true}
			}
			return s
		}
	}
	t.Fatalf("the CRD has no schema for version %s", version)
	return nil
}

// gatekeeperSchemas returns Gatekeeper's own schemas from its module: the
// ConstraintTemplate CRD and the match block every constraint kind gets
// (generated from its Go types into pkg/target/matchcrd_constant.go).
func gatekeeperSchemas(t *testing.T) (template, match *schema) {
	t.Helper()
	dir := moduleDir(t, policyToolsModfile, gatekeeperModule)
	crd := readFile(t, filepath.Join(dir, "config/crd/bases/constrainttemplate-customresourcedefinition.yaml"))
	src := readFile(t, filepath.Join(dir, "pkg/target/matchcrd_constant.go"))
	// A raw string literal with each backquote spliced in as +"`"+.
	const quote = "`+\"`\"+`"
	src = bytes.ReplaceAll(src, []byte(quote), []byte("\x00"))
	m := regexp.MustCompile("(?s)const matchYAML = `\n---\n([^`]*)`").FindSubmatch(src)
	if m == nil {
		t.Fatal("gatekeeper's pkg/target/matchcrd_constant.go holds no matchYAML")
	}
	dummy := crdSchema(t, bytes.ReplaceAll(m[1], []byte("\x00"), []byte("`")), "match")
	return crdSchema(t, crd, "v1"), dummy.Properties["embeddedMatch"]
}

// template is what the tests read from a ConstraintTemplate.
type template struct {
	name, kind string
	params     *schema
	rego       string
}

func templates(t *testing.T, tplSchema *schema) map[string]template {
	t.Helper()
	out := map[string]template{}
	for _, o := range objects(t, policyTemplates) {
		var ct struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				CRD struct {
					Spec struct {
						Names struct {
							Kind string `json:"kind"`
						} `json:"names"`
						Validation struct {
							OpenAPIV3Schema *schema `json:"openAPIV3Schema"`
						} `json:"validation"`
					} `json:"spec"`
				} `json:"crd"`
				Targets []struct {
					Target string `json:"target"`
					Code   []struct {
						Engine string `json:"engine"`
						Source struct {
							Version string `json:"version"`
							Rego    string `json:"rego"`
						} `json:"source"`
					} `json:"code"`
				} `json:"targets"`
			} `json:"spec"`
		}
		raw, _ := json.Marshal(o)
		if err := json.Unmarshal(raw, &ct); err != nil {
			t.Fatal(err)
		}
		where := "ConstraintTemplate " + ct.Metadata.Name
		if ct.APIVersion != constraintTplAPI || ct.Kind != "ConstraintTemplate" {
			t.Errorf("%s: %s %s, want %s ConstraintTemplate", where, ct.APIVersion, ct.Kind, constraintTplAPI)
		}
		for _, e := range tplSchema.check(where, o) {
			t.Error(e)
		}
		kind := ct.Spec.CRD.Spec.Names.Kind
		if ct.Metadata.Name != strings.ToLower(kind) {
			t.Errorf("%s: Gatekeeper wants the name %q, the kind in lower case", where, strings.ToLower(kind))
		}
		if len(ct.Spec.Targets) != 1 || ct.Spec.Targets[0].Target != gatekeeperTarget || len(ct.Spec.Targets[0].Code) != 1 ||
			ct.Spec.Targets[0].Code[0].Engine != "Rego" || ct.Spec.Targets[0].Code[0].Source.Version != "v1" {
			t.Errorf("%s: want one target %s with one Rego v1 source", where, gatekeeperTarget)
			continue
		}
		rego := ct.Spec.Targets[0].Code[0].Source.Rego
		if !strings.HasPrefix(rego, "package "+ct.Metadata.Name+"\n") {
			t.Errorf("%s: the Rego's package is not %s (the Rego unit tests import data.%s)", where, ct.Metadata.Name, ct.Metadata.Name)
		}
		out[kind] = template{ct.Metadata.Name, kind, ct.Spec.CRD.Spec.Validation.OpenAPIV3Schema, rego}
	}
	return out
}

// The templates and constraints are what Gatekeeper and the API server
// accept: the ConstraintTemplate CRD's schema, the constraint's match block
// and parameters against Gatekeeper's match schema and the template's own
// parameter schema, each field known, each kind with its template.
func TestPolicyDecodesStrictly(t *testing.T) {
	tplSchema, matchSchema := gatekeeperSchemas(t)
	tpls := templates(t, tplSchema)
	if len(tpls) == 0 {
		t.Fatal("k8s/policy/templates renders no ConstraintTemplate")
	}
	root := renderedPolicy(t)
	for _, dir := range []string{policyConstraints, policyProduction} {
		t.Run(dir, func(t *testing.T) {
			kinds := []string{}
			for _, o := range objects(t, filepath.Join(root, dir)) {
				kind, _ := o["kind"].(string)
				md, _ := o["metadata"].(map[string]any)
				where := fmt.Sprintf("%s %v", kind, md["name"])
				if kind == "ConfigMap" {
					t.Errorf("%s: the values ConfigMap is emitted; it must stay local-config", where)
					continue
				}
				kinds = append(kinds, kind)
				tpl, ok := tpls[kind]
				if !ok || o["apiVersion"] != constraintsAPI {
					t.Errorf("%s (%v): no ConstraintTemplate in %s defines it", where, o["apiVersion"], policyTemplates)
					continue
				}
				spec, _ := o["spec"].(map[string]any)
				constraint := &schema{Type: "object", Required: []string{"apiVersion", "kind", "metadata", "spec"}, Properties: map[string]*schema{
					"apiVersion": {Type: "string"}, "kind": {Type: "string"}, "metadata": {Type: "object", PreserveUnknown: true},
					"spec": {Type: "object", Properties: map[string]*schema{
						"enforcementAction": {Type: "string"}, "match": matchSchema, "parameters": tpl.params,
					}},
				}}
				if tpl.params == nil {
					constraint.Properties["spec"].Properties["parameters"] = &schema{Type: "object"}
				}
				for _, e := range constraint.check(where, o) {
					t.Error(e)
				}
				if spec["enforcementAction"] != enforcementAction {
					t.Errorf("%s: enforcementAction %v, want %s", where, spec["enforcementAction"], enforcementAction)
				}
				match, _ := spec["match"].(map[string]any)
				if fmt.Sprint(match["namespaces"]) != "["+namespace+"]" {
					t.Errorf("%s: match.namespaces = %v, want [%s] only", where, match["namespaces"], namespace)
				}
			}
			want := []string{}
			for kind := range tpls {
				if dir == policyProduction || kind != "NoOpenEgress" {
					want = append(want, kind)
				}
			}
			sort.Strings(kinds)
			sort.Strings(want)
			if !slices.Equal(kinds, want) {
				t.Errorf("constraints %v, want one per template %v", kinds, want)
			}
		})
	}
	// The committed values.env is a template, as an overlay's.
	values, err := readEnv(policyValuesFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(values) != 1 || values[0] != [2]string{repositoryValue, placeholder} {
		t.Errorf("%s = %v, want only %s=%s", policyValuesFile, values, repositoryValue, placeholder)
	}
}

// suite is the part of suite.yaml the cross-check reads.
type suite struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Tests []struct {
		Name       string `json:"name"`
		Template   string `json:"template"`
		Constraint string `json:"constraint"`
		Cases      []struct {
			Name       string `json:"name"`
			Object     string `json:"object"`
			Assertions []struct {
				Violations any    `json:"violations"`
				Message    string `json:"message"`
			} `json:"assertions"`
		} `json:"cases"`
	} `json:"tests"`
}

// gatorResult is one violation of `gator test -o json`.
type gatorResult struct {
	Msg        string `json:"msg"`
	Constraint struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	} `json:"constraint"`
	EnforcementAction string `json:"enforcementAction"`
}

// gatorTest runs `gator test` on objects against the templates and the
// rendered constraints in constraintsDir and returns the violations.
func gatorTest(t *testing.T, root, constraintsDir string, objects ...string) []gatorResult {
	t.Helper()
	args := []string{"test", "-o", "json", "-f", filepath.Join(root, policyTemplates), "-f", constraintsDir}
	for _, o := range objects {
		args = append(args, "-f", o)
	}
	out, _ := policyTool(t, "gator", args...)
	trimmed := strings.TrimSpace(out)
	if trimmed == "" || trimmed == "null" {
		return nil
	}
	var results []gatorResult
	if err := json.Unmarshal([]byte(trimmed), &results); err != nil {
		t.Fatalf("gator test %v: %v\n%s", objects, err, out)
	}
	return results
}

// TestGatorVerify runs the suite with Gatekeeper's CLI, then each fixture
// against every constraint at once: a fixture meant to break one rule must
// break that one only, and a passing one none.
func TestGatorVerify(t *testing.T) {
	root := renderedPolicy(t)
	out, ok := policyTool(t, "gator", "verify", "-v", filepath.Join(root, gatorSuite))
	t.Logf("gator verify:\n%s", out)
	if !ok {
		t.Fatal("gator verify failed")
	}

	raw := readFile(t, gatorSuite)
	var s suite
	if err := yaml.UnmarshalStrict(raw, &s); err != nil {
		t.Fatal(err)
	}
	// The constraints with every template; a probe-less Pod is no violation
	// (ContainerProbes matches workloads only).
	all := filepath.Join(root, policyRendered)
	seen := map[string]bool{}
	for _, tc := range s.Tests {
		var c struct {
			Kind string `json:"kind"`
		}
		craw := readFile(t, filepath.Join(root, "policy", tc.Constraint))
		if err := yaml.Unmarshal(craw, &c); err != nil {
			t.Fatal(err)
		}
		for _, cs := range tc.Cases {
			if len(cs.Assertions) != 1 {
				t.Errorf("%s/%s: want exactly one assertion", tc.Name, cs.Name)
				continue
			}
			a := cs.Assertions[0]
			got := gatorTest(t, root, all, filepath.Join(root, "policy", cs.Object))
			switch a.Violations {
			case "no", false:
				if len(got) != 0 {
					t.Errorf("%s/%s (%s): %d violations against all constraints, want none: %+v", tc.Name, cs.Name, cs.Object, len(got), got)
				}
			case 1.0, 2.0, 3.0:
				seen[c.Kind] = true
				n := int(a.Violations.(float64))
				ok := len(got) == n
				for _, v := range got {
					ok = ok && v.Constraint.Kind == c.Kind && regexp.MustCompile(a.Message).MatchString(v.Msg)
				}
				if !ok {
					t.Errorf("%s/%s (%s): violations %+v against all constraints, want exactly %d of %s matching %q", tc.Name, cs.Name, cs.Object, got, n, c.Kind, a.Message)
				}
			default:
				t.Errorf("%s/%s: violations %v (%T); the suite asserts no or a count of 1 to 3", tc.Name, cs.Name, a.Violations, a.Violations)
			}
		}
	}
	tplSchema, _ := gatekeeperSchemas(t)
	for kind := range templates(t, tplSchema) {
		if !seen[kind] {
			t.Errorf("%s has no fixture in %s that breaks it", kind, gatorSuite)
		}
	}
}

// TestRegoUnitTests runs OPA's own test runner on each template's Rego
// (extracted from the template: one copy of it) and policy/rego/*_test.rego.
func TestRegoUnitTests(t *testing.T) {
	tplSchema, _ := gatekeeperSchemas(t)
	dir := t.TempDir()
	for _, tpl := range templates(t, tplSchema) {
		if err := os.WriteFile(filepath.Join(dir, tpl.name+".rego"), []byte(tpl.rego), 0o644); err != nil {
			t.Fatal(err)
		}
		test, err := os.ReadFile(filepath.Join(regoTestsDir, tpl.name+"_test.rego"))
		if err != nil {
			t.Errorf("ConstraintTemplate %s has no Rego unit tests: %v", tpl.name, err)
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, tpl.name+"_test.rego"), test, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, ok := policyTool(t, "opa", "test", "-v", dir)
	t.Logf("opa test:\n%s", out)
	if !ok {
		t.Fatal("opa test failed")
	}
	if m := regexp.MustCompile(`(?m)^PASS: (\d+)/(\d+)$`).FindStringSubmatch(out); m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("opa test: %v, want every test to pass", m)
	}
}

// TestOverlaysPassGatekeeper: each overlay, rendered as it deploys, has no
// violation of what its cluster applies; dev's HTTPS-anywhere egress is a
// violation in production's shape (the egress rule bites on real
// manifests, not only on fixtures).
func TestOverlaysPassGatekeeper(t *testing.T) {
	root := renderedPolicy(t)
	constraintsOnly := t.TempDir()
	for _, o := range objects(t, filepath.Join(root, policyConstraints)) {
		raw, _ := yaml.Marshal(o)
		md, _ := o["metadata"].(map[string]any)
		if err := os.WriteFile(filepath.Join(constraintsOnly, fmt.Sprint(md["name"])+".yaml"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dirs := map[string]string{policyConstraints: constraintsOnly, policyProduction: filepath.Join(root, policyRendered)}
	for _, overlay := range overlays {
		t.Run(filepath.Base(overlay), func(t *testing.T) {
			r := build(t, overlay)
			r.complete(t)
			file := filepath.Join(t.TempDir(), "rendered.yaml")
			if err := os.WriteFile(file, r.raw, 0o644); err != nil {
				t.Fatal(err)
			}
			if got := gatorTest(t, root, dirs[policyConstraintsFor[overlay]], file); len(got) != 0 {
				t.Errorf("%s against %s: %+v, want no violation", overlay, policyConstraintsFor[overlay], got)
			}
			if policyConstraintsFor[overlay] == policyConstraints {
				got := gatorTest(t, root, dirs[policyProduction], file)
				if len(got) != 1 || got[0].Constraint.Kind != "NoOpenEgress" || !strings.Contains(got[0].Msg, "0.0.0.0/0") {
					t.Errorf("%s against %s: %+v, want exactly the egress violation", overlay, policyProduction, got)
				}
			}
		})
	}
}

// policyTester builds the sigstore policy-controller's tester (its own
// admission code, offline) from tools/sigstore.mod: policy-controller
// v0.13.1 needs k8s.io v0.32.3 and knative, kept out of go.mod.
var policyTester = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "policy-tester-")
	if err != nil {
		return "", err
	}
	filledMu.Lock()
	filledDirs = append(filledDirs, dir)
	filledMu.Unlock()
	bin := filepath.Join(dir, "tester")
	out, err := exec.Command("go", "build", "-modfile="+sigstoreModfile, "-o", bin, policyCtrlModule+"/cmd/tester").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build the policy-controller tester (%s): %v\n%s", sigstoreModfile, err, out)
	}
	return bin, nil
})

// renderSignatures renders k8s/policy/signatures with IMAGE_REPOSITORY
// set to repo, as a cluster administrator applies it.
func renderSignatures(t *testing.T, repo string) []byte {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "policy"), os.DirFS("policy")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, policyValuesFile), []byte(repositoryValue+"="+repo+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return kustomize(t, filepath.Join(root, policySignatures))
}

// The admission policy for signatures is what the policy-controller
// accepts (its tester decodes it strictly into its own Go type and runs
// the webhook's validation), opts our namespace in, and trusts exactly the
// issuer and workflow identity the deploy workflow verifies with cosign.
func TestImagePolicyMatchesDeploy(t *testing.T) {
	repo, _, _ := strings.Cut(testImage, "@")
	rendered := renderSignatures(t, repo)
	file := filepath.Join(t.TempDir(), "clusterimagepolicy.yaml")
	if err := os.WriteFile(file, rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	tester, err := policyTester()
	if err != nil {
		t.Fatal(err)
	}
	// A reference the tester cannot parse stops it after validating the
	// policy and before it would fetch Sigstore's roots from the internet.
	out, _ := exec.Command(tester, "-policy", file, "-image", "not a reference").CombinedOutput()
	if !strings.Contains(string(out), "Policy was successfully validated") || strings.Contains(string(out), "CIP is invalid") {
		t.Errorf("policy-controller tester refuses %s:\n%s", file, out)
	}

	var cip struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Images []struct {
				Glob string `json:"glob"`
			} `json:"images"`
			Authorities []struct {
				Keyless struct {
					URL        string `json:"url"`
					Identities []struct {
						Issuer        string `json:"issuer"`
						Subject       string `json:"subject"`
						IssuerRegExp  string `json:"issuerRegExp"`
						SubjectRegExp string `json:"subjectRegExp"`
					} `json:"identities"`
				} `json:"keyless"`
				CTLog struct {
					URL string `json:"url"`
				} `json:"ctlog"`
			} `json:"authorities"`
		} `json:"spec"`
	}
	if docs := splitDocs(rendered); len(docs) != 1 {
		t.Fatalf("%s renders %d objects, want the ClusterImagePolicy", policySignatures, len(docs))
	}
	if err := yaml.Unmarshal(rendered, &cip); err != nil {
		t.Fatal(err)
	}
	// Our repository by digest only: a sidecar's image (Istio's proxy) is
	// not required to carry CI's signature. The tester, whose no-match
	// policy is deny, reports such an image as uncovered without fetching
	// anything; it is run only once the glob is known not to cover it.
	if len(cip.Spec.Images) != 1 || cip.Spec.Images[0].Glob != repo+"@**" {
		t.Errorf("%s: images %+v, want the one glob %s@** (IMAGE_REPOSITORY from %s)", policySignatures, cip.Spec.Images, repo, policyValuesFile)
	} else {
		proxy := "docker.io/istio/proxyv2@sha256:" + strings.Repeat("ab", 32)
		out, err := exec.Command(tester, "-policy", file, "-image", proxy, "-log-level", "warn").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "is uncovered by policy") {
			t.Errorf("policy-controller tester, %s: err %v, want uncovered by the policy\n%s", proxy, err, out)
		}
	}
	if cip.APIVersion != imagePolicyAPI || cip.Kind != "ClusterImagePolicy" || len(cip.Spec.Authorities) != 1 || len(cip.Spec.Authorities[0].Keyless.Identities) != 1 {
		t.Fatalf("%s: want one %s ClusterImagePolicy with one keyless authority and one identity: %+v", file, imagePolicyAPI, cip)
	}
	id := cip.Spec.Authorities[0].Keyless.Identities[0]
	if id.IssuerRegExp != "" || id.SubjectRegExp != "" {
		t.Errorf("%s: the identity uses regular expressions; want the exact issuer and subject", file)
	}
	if cip.Spec.Authorities[0].CTLog.URL == "" {
		t.Errorf("%s: no Rekor (ctlog): CI's signatures are in the public transparency log", file)
	}

	// deploy.yml: every cosign verify names the same issuer and identity.
	wf := readFile(t, "../.github/workflows/deploy.yml")
	issuers := regexp.MustCompile(`--certificate-oidc-issuer (\S+)`).FindAllSubmatch(wf, -1)
	identities := regexp.MustCompile(`--certificate-identity "([^"]+)"`).FindAllSubmatch(wf, -1)
	if len(issuers) == 0 || len(issuers) != len(identities) {
		t.Fatalf("deploy.yml: %d issuers, %d identities in its cosign verify", len(issuers), len(identities))
	}
	// GITHUB_REPOSITORY is the repository the module path names.
	gomod := readFile(t, "../go.mod")
	module := regexp.MustCompile(`(?m)^module github\.com/(\S+)$`).FindSubmatch(gomod)
	if module == nil {
		t.Fatal("go.mod's module is not on github.com")
	}
	subject := strings.NewReplacer("${GITHUB_SERVER_URL}", "https://github.com", "${GITHUB_REPOSITORY}", string(module[1]))
	for i := range issuers {
		if got := string(issuers[i][1]); got != id.Issuer {
			t.Errorf("deploy.yml verifies issuer %s, the ClusterImagePolicy %s", got, id.Issuer)
		}
		if got := subject.Replace(string(identities[i][1])); got != id.Subject {
			t.Errorf("deploy.yml verifies identity %s, the ClusterImagePolicy %s", got, id.Subject)
		}
	}

	// The namespace opts in.
	b := decode(kustomize(t, bootstrapDir))
	if b.ns == nil || b.ns.Labels[sigstoreOptInKey] != "true" {
		t.Errorf("namespace %s lacks the label %s: \"true\" (the policy-controller would not check it)", namespace, sigstoreOptInKey)
	}
}

// The documented applies of k8s/policy (docs/eks.md) are guarded: each
// line that applies a kustomization reading values.env refuses while it
// holds REPLACE_ME and applies once it is filled in. The lines run in bash
// from the repository's root with kubectl replaced by a script that
// records its arguments: the guard is what is under test, not kubectl.
func TestPolicyApplyGuard(t *testing.T) {
	doc := readFile(t, "../docs/eks.md")
	var lines []string
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.Contains(l, "kubectl apply -k k8s/policy/production") || strings.Contains(l, "kubectl apply -k k8s/policy/signatures") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("docs/eks.md: %d lines apply k8s/policy/production or signatures, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	run := func(values string) []string {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "k8s", filepath.Dir(policyValuesFile)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "k8s", policyValuesFile), []byte(values), 0o644); err != nil {
			t.Fatal(err)
		}
		bin, record := filepath.Join(root, "bin"), filepath.Join(root, "kubectl.log")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		stub := "#!/bin/sh\necho \"$*\" >>" + record + "\n"
		if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
		var applied []string
		for _, l := range lines {
			cmd := exec.Command("bash", "-c", l)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			raw, _ := os.ReadFile(record)
			_ = os.Remove(record)
			if got := strings.TrimSpace(string(raw)); got != "" {
				applied = append(applied, got)
			} else if err == nil {
				t.Errorf("%q applied nothing and exited 0: a script would carry on\n%s", l, out)
			}
		}
		return applied
	}
	if got := run(repositoryValue + "=" + placeholder + "\n"); len(got) != 0 {
		t.Errorf("with %s=%s the documented lines ran kubectl %q", repositoryValue, placeholder, got)
	}
	repo, _, _ := strings.Cut(testImage, "@")
	if got := run(repositoryValue + "=" + repo + "\n"); len(got) != 2 {
		t.Errorf("with %s filled in the documented lines ran kubectl %q, want both applies", repositoryValue, got)
	}
}

// The mesh and the admission policies do not combine yet (docs/eks.md,
// "Not with the Istio component yet"): prod with k8s/components/istio is
// refused by production's constraints, before istiod even injects its
// sidecars (the gateway's `image: auto` is not our repository by digest).
// When this passes without violations, the docs' exclusion is stale.
func TestIstioRefusedByPolicy(t *testing.T) {
	filled := renderedPolicy(t)
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filled)); err != nil {
		t.Fatal(err)
	}
	kfile := filepath.Join(root, "overlays/prod/kustomization.yaml")
	k := readFile(t, kfile)
	const anchor = "  - ../../components/production\n"
	if !bytes.Contains(k, []byte(anchor)) {
		t.Fatalf("overlays/prod/kustomization.yaml lists no %q", strings.TrimSpace(anchor))
	}
	k = bytes.Replace(k, []byte(anchor), []byte(anchor+"  - ../../components/istio\n"), 1)
	if err := os.WriteFile(kfile, k, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "meshed.yaml")
	if err := os.WriteFile(file, kustomize(t, filepath.Join(root, "overlays/prod")), 0o644); err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, v := range gatorTest(t, root, filepath.Join(root, policyRendered), file) {
		if v.Constraint.Kind == "ImageFromRepository" {
			images = append(images, v.Msg)
		}
	}
	t.Logf("ImageFromRepository on prod with Istio: %q", images)
	if len(images) == 0 {
		t.Error("prod with the Istio component passes ImageFromRepository: the docs' exclusion of the mesh is stale")
	}
	doc := readFile(t, "../docs/eks.md")
	if !bytes.Contains(doc, []byte("**Not with the Istio component yet.**")) {
		t.Error("docs/eks.md does not say the Istio component and the admission policies do not combine")
	}
}

// readFile returns the contents of path; the test fails when it cannot be
// read.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
