package ci

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// repoRoot is the module root: go test runs in the package directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", root, err)
	}
	return root
}

// workflow is one parsed workflow file: its name relative to the root, the
// raw text and the YAML node tree (which keeps comments and lines).
type workflow struct {
	path string
	text string
	doc  *yaml.Node // the top-level mapping
}

// workflowFiles reads every workflow and every local composite action.
func workflowFiles(t *testing.T) []workflow {
	t.Helper()
	root := repoRoot(t)
	var paths []string
	for _, pattern := range []string{
		".github/workflows/*.yml", ".github/workflows/*.yaml",
		".github/actions/*/action.yml", ".github/actions/*/action.yaml",
	} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Fatal("no workflow files under .github/workflows")
	}
	sort.Strings(paths)
	var out []workflow
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			t.Fatalf("%s: not a YAML mapping", p)
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, workflow{path: filepath.ToSlash(rel), text: string(b), doc: doc.Content[0]})
	}
	return out
}

// isWorkflow tells a workflow from a composite action.
func (w workflow) isWorkflow() bool { return strings.HasPrefix(w.path, ".github/workflows/") }

// get returns the value of key in a mapping node, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// pairs lists a mapping's keys and values in order.
func pairs(m *yaml.Node) [][2]*yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, [2]*yaml.Node{m.Content[i], m.Content[i+1]})
	}
	return out
}

// job is one job of a workflow.
type job struct {
	id   string
	node *yaml.Node
}

func (w workflow) jobs(t *testing.T) []job {
	t.Helper()
	jobs := get(w.doc, "jobs")
	if jobs == nil || jobs.Kind != yaml.MappingNode || len(jobs.Content) == 0 {
		t.Fatalf("%s: no jobs", w.path)
	}
	var out []job
	for _, kv := range pairs(jobs) {
		out = append(out, job{id: kv[0].Value, node: kv[1]})
	}
	return out
}

// use is one `uses:` reference and where it is.
type use struct {
	where   string // file:line
	ref     string
	comment string
}

// uses collects every `uses:` of steps and reusable-workflow jobs (and of
// a composite action's steps).
func (w workflow) uses(t *testing.T) []use {
	t.Helper()
	var out []use
	add := func(n *yaml.Node) {
		if n == nil {
			return
		}
		out = append(out, use{
			where:   fmt.Sprintf("%s:%d", w.path, n.Line),
			ref:     n.Value,
			comment: strings.TrimSpace(n.LineComment),
		})
	}
	steps := func(s *yaml.Node) {
		if s == nil {
			return
		}
		for _, st := range s.Content {
			add(get(st, "uses"))
		}
	}
	if w.isWorkflow() {
		for _, j := range w.jobs(t) {
			add(get(j.node, "uses"))
			steps(get(j.node, "steps"))
		}
	} else {
		steps(get(get(w.doc, "runs"), "steps"))
	}
	return out
}

// runScripts returns every `run:` script with its location.
func (w workflow) runScripts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	collect := func(s *yaml.Node) {
		if s == nil {
			return
		}
		for _, st := range s.Content {
			if r := get(st, "run"); r != nil {
				out[fmt.Sprintf("%s:%d", w.path, r.Line)] = r.Value
			}
		}
	}
	if w.isWorkflow() {
		for _, j := range w.jobs(t) {
			collect(get(j.node, "steps"))
		}
	} else {
		collect(get(get(w.doc, "runs"), "steps"))
	}
	return out
}

var (
	// owner/repo or owner/repo/path, at a full commit SHA.
	pinnedRef = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$`)
	// A container action at a digest.
	dockerDigest = regexp.MustCompile(`^docker://[^@\s]+@sha256:[0-9a-f]{64}$`)
	// The version the SHA stands for: "# v4.2.1", "# v3", "# 0.35.0".
	versionComment = regexp.MustCompile(`^#\s*v?[0-9]+(\.[0-9]+)*\b`)
)

// TestActionsArePinned: a tag or branch can be moved to other code (as
// happened to aquasecurity/trivy-action in March 2026); a commit cannot.
// Every third-party action is pinned by full SHA, with the version it
// stands for in a comment so that updates stay reviewable.
func TestActionsArePinned(t *testing.T) {
	for _, w := range workflowFiles(t) {
		for _, u := range w.uses(t) {
			switch {
			case strings.HasPrefix(u.ref, "./"):
				// A local action or reusable workflow: reviewed with the repository.
			case strings.HasPrefix(u.ref, "docker://"):
				if !dockerDigest.MatchString(u.ref) {
					t.Errorf("%s: %q: pin the container by digest (docker://image@sha256:...)", u.where, u.ref)
				}
			case !pinnedRef.MatchString(u.ref):
				t.Errorf("%s: %q: pin the action to a full 40-character commit SHA", u.where, u.ref)
			case !versionComment.MatchString(u.comment):
				t.Errorf("%s: %q: add the version the SHA stands for as a comment (# vX.Y.Z)", u.where, u.ref)
			}
		}
	}
}

// TestOneVersionPerAction: the same action at two SHAs in the repository is
// a half-done update.
func TestOneVersionPerAction(t *testing.T) {
	seen := map[string]use{}
	for _, w := range workflowFiles(t) {
		for _, u := range w.uses(t) {
			name, sha, ok := strings.Cut(u.ref, "@")
			if !ok || strings.HasPrefix(u.ref, "./") || strings.HasPrefix(u.ref, "docker://") {
				continue
			}
			if prev, ok := seen[name]; ok && !strings.HasSuffix(prev.ref, "@"+sha) {
				t.Errorf("%s: %s differs from %s at %s", u.where, u.ref, prev.ref, prev.where)
				continue
			}
			seen[name] = u
		}
	}
}

// TestPermissions: the default GITHUB_TOKEN is scoped down to nothing (or
// read-only) at the top, and every job states what it needs; id-token:
// write only where a job really exchanges the OIDC token (AWS or Sigstore).
func TestPermissions(t *testing.T) {
	oidcUsers := []string{"aws-actions/configure-aws-credentials@", "sigstore/cosign-installer@"}
	for _, w := range workflowFiles(t) {
		if !w.isWorkflow() {
			continue
		}
		top := get(w.doc, "permissions")
		switch {
		case top == nil:
			t.Errorf("%s: no top-level permissions (use permissions: {})", w.path)
		case top.Kind == yaml.ScalarNode && top.Value != "read-all":
			t.Errorf("%s: top-level permissions %q: use {} or read-only scopes", w.path, top.Value)
		case top.Kind == yaml.MappingNode:
			for _, kv := range pairs(top) {
				if kv[1].Value != "read" && kv[1].Value != "none" {
					t.Errorf("%s:%d: top-level permission %s: %s: grant write access per job only", w.path, kv[0].Line, kv[0].Value, kv[1].Value)
				}
			}
		}
		for _, j := range w.jobs(t) {
			perms := get(j.node, "permissions")
			if perms == nil {
				t.Errorf("%s:%d: job %s has no permissions", w.path, j.node.Line, j.id)
				continue
			}
			if perms.Kind == yaml.ScalarNode && strings.HasSuffix(perms.Value, "-all") {
				t.Errorf("%s:%d: job %s: permissions %s: list the scopes it needs", w.path, perms.Line, j.id, perms.Value)
			}
			if v := get(perms, "id-token"); v != nil && v.Value == "write" {
				var b strings.Builder
				for _, st := range contentOf(get(j.node, "steps")) {
					if u := get(st, "uses"); u != nil {
						b.WriteString(u.Value + "\n")
					}
				}
				if !slices.ContainsFunc(oidcUsers, func(p string) bool { return strings.Contains(b.String(), p) }) {
					t.Errorf("%s:%d: job %s has id-token: write but no step that uses OIDC", w.path, v.Line, j.id)
				}
			}
		}
	}
}

func contentOf(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	return n.Content
}

// TestTimeouts: a hung job otherwise holds a runner for six hours (and a
// deploy job its environment's concurrency group with it).
func TestTimeouts(t *testing.T) {
	for _, w := range workflowFiles(t) {
		if !w.isWorkflow() {
			continue
		}
		for _, j := range w.jobs(t) {
			if get(j.node, "uses") != nil {
				continue // a reusable-workflow call cannot set one; its jobs do
			}
			if get(j.node, "timeout-minutes") == nil {
				t.Errorf("%s:%d: job %s has no timeout-minutes", w.path, j.node.Line, j.id)
			}
		}
	}
}

// TestConcurrency: every workflow says what happens to overlapping runs,
// and no deploy is ever cancelled half-way.
func TestConcurrency(t *testing.T) {
	for _, w := range workflowFiles(t) {
		if !w.isWorkflow() {
			continue
		}
		if get(w.doc, "concurrency") == nil {
			t.Errorf("%s: no top-level concurrency", w.path)
		}
		if !strings.Contains(w.path, "deploy") {
			continue
		}
		groups := []*yaml.Node{get(w.doc, "concurrency")}
		for _, j := range w.jobs(t) {
			groups = append(groups, get(j.node, "concurrency"))
		}
		for _, g := range groups {
			if c := get(g, "cancel-in-progress"); c != nil && c.Value != "false" {
				t.Errorf("%s:%d: a deploy must not be cancelled in progress (cancel-in-progress: %s)", w.path, c.Line, c.Value)
			}
		}
	}
}

// triggers returns the event names of a workflow's `on:`.
func triggers(w workflow) []string {
	on := get(w.doc, "on")
	if on == nil {
		on = get(w.doc, "true") // YAML 1.1 readers turn a bare on into true
	}
	if on == nil {
		return nil
	}
	switch on.Kind {
	case yaml.ScalarNode:
		return []string{on.Value}
	case yaml.SequenceNode:
		var out []string
		for _, n := range on.Content {
			out = append(out, n.Value)
		}
		return out
	case yaml.MappingNode:
		var out []string
		for _, kv := range pairs(on) {
			out = append(out, kv[0].Value)
		}
		return out
	}
	return nil
}

// TestNoPullRequestTarget: pull_request_target runs a fork's pull request
// with the repository's secrets and a write token.
func TestNoPullRequestTarget(t *testing.T) {
	for _, w := range workflowFiles(t) {
		if !w.isWorkflow() {
			continue
		}
		ev := triggers(w)
		if len(ev) == 0 {
			t.Errorf("%s: no triggers", w.path)
		}
		if slices.Contains(ev, "pull_request_target") {
			t.Errorf("%s: pull_request_target trigger: use pull_request", w.path)
		}
	}
}

// TestDeployTriggers: the deploy workflow follows CI on main, or is started
// by hand with an environment, and its jobs guard against a fork's branch
// that happens to be called main.
func TestDeployTriggers(t *testing.T) {
	w := findWorkflow(t, ".github/workflows/deploy.yml")
	on := get(w.doc, "on")
	wr := get(on, "workflow_run")
	if wr == nil {
		t.Fatal("deploy.yml: no workflow_run trigger")
	}
	if got := seqValues(get(wr, "workflows")); !slices.Equal(got, []string{ciWorkflowName(t)}) {
		t.Errorf("deploy.yml: workflow_run.workflows = %v, want [%s] (ci.yml's name)", got, ciWorkflowName(t))
	}
	if got := seqValues(get(wr, "types")); !slices.Equal(got, []string{"completed"}) {
		t.Errorf("deploy.yml: workflow_run.types = %v, want [completed]", got)
	}
	if got := seqValues(get(wr, "branches")); !slices.Equal(got, []string{"main"}) {
		t.Errorf("deploy.yml: workflow_run.branches = %v, want [main]", got)
	}
	opts := seqValues(get(get(get(get(on, "workflow_dispatch"), "inputs"), "environment"), "options"))
	if !slices.Equal(opts, []string{"staging", "production"}) {
		t.Errorf("deploy.yml: workflow_dispatch input environment options = %v, want [staging production]", opts)
	}
	envs := map[string]string{}
	for _, j := range w.jobs(t) {
		env := get(j.node, "environment")
		if n := get(env, "name"); n != nil {
			env = n
		}
		if env == nil {
			t.Errorf("deploy.yml: job %s has no environment: the deploy role trusts environments only", j.id)
			continue
		}
		envs[env.Value] = j.id
		cond := get(j.node, "if")
		if cond == nil {
			t.Errorf("deploy.yml: job %s has no if: condition", j.id)
			continue
		}
		if env.Value == "staging" {
			for _, want := range []string{
				"github.event.workflow_run.conclusion == 'success'",
				"github.event.workflow_run.head_repository.full_name == github.repository",
				"github.event.workflow_run.event == 'push'",
			} {
				if !strings.Contains(cond.Value, want) {
					t.Errorf("deploy.yml: job %s: condition lacks %s", j.id, want)
				}
			}
		}
	}
	for _, e := range []string{"staging", "production"} {
		if envs[e] == "" {
			t.Errorf("deploy.yml: no job in environment %s", e)
		}
	}
}

// TestDeployMatchesSamconfig: each deploy job's SAM config environment
// exists in samconfig.toml with the stack name the job reads outputs from,
// and its kustomize overlay exists.
func TestDeployMatchesSamconfig(t *testing.T) {
	root := repoRoot(t)
	samconfig, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	stacks := samconfigStackNames(string(samconfig))
	w := findWorkflow(t, ".github/workflows/deploy.yml")
	for _, j := range w.jobs(t) {
		env := get(j.node, "env")
		cfg, stack, overlay := get(env, "SAM_CONFIG_ENV"), get(env, "STACK_NAME"), get(env, "OVERLAY")
		if cfg == nil || stack == nil || overlay == nil {
			t.Errorf("deploy.yml: job %s lacks SAM_CONFIG_ENV, STACK_NAME or OVERLAY", j.id)
			continue
		}
		if got, ok := stacks[cfg.Value]; !ok || got != stack.Value {
			t.Errorf("deploy.yml: job %s: samconfig.toml [%s] stack_name = %q, job's STACK_NAME = %q", j.id, cfg.Value, got, stack.Value)
		}
		overlays := filepath.Join(root, "k8s", "overlays")
		if _, err := os.Stat(overlays); err != nil {
			t.Logf("k8s/overlays does not exist yet: overlay %s of job %s not checked", overlay.Value, j.id)
			continue
		}
		if _, err := os.Stat(filepath.Join(overlays, overlay.Value, "kustomization.yaml")); err != nil {
			t.Errorf("deploy.yml: job %s deploys k8s/overlays/%s: %v", j.id, overlay.Value, err)
		}
	}
}

// samconfigStackNames maps each samconfig.toml environment to the
// stack_name of its [<env>.global.parameters] (a line-based reading is
// enough for this file's plain layout).
func samconfigStackNames(text string) map[string]string {
	out := map[string]string{}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "stack_name" {
			if env, ok := strings.CutSuffix(section, ".global.parameters"); ok {
				out[env] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
	return out
}

// TestImageFlow: CI pushes only from main, tags the image with the commit
// (deploy.yml looks the digest up by it), scans, makes an SBOM and signs by
// digest; deploy.yml verifies the signature of exactly that workflow.
func TestImageFlow(t *testing.T) {
	ci := findWorkflow(t, ".github/workflows/ci.yml")
	for _, want := range []string{
		"tags: ${{ steps.image.outputs.name }}:${{ github.sha }}",
		"platforms: linux/amd64,linux/arm64",
		"severity: HIGH,CRITICAL",
		"ignore-unfixed: true",
		"format: spdx-json",
		`cosign sign --yes "$IMAGE"`,
		"IMAGE: ${{ steps.image.outputs.name }}@${{ steps.build.outputs.digest }}",
	} {
		if !strings.Contains(ci.text, want) {
			t.Errorf("ci.yml lacks %q", want)
		}
	}
	var publish *yaml.Node
	for _, j := range ci.jobs(t) {
		if strings.Contains(yamlText(t, j.node), "push: true") {
			publish = j.node
			if c := get(j.node, "if"); c == nil || !strings.Contains(c.Value, "refs/heads/main") || !strings.Contains(c.Value, "'push'") {
				t.Errorf("ci.yml: job %s pushes the image but does not run on pushes to main only", j.id)
			}
		}
	}
	if publish == nil {
		t.Fatal("ci.yml: no job pushes the image")
	}
	deploy := findWorkflow(t, ".github/workflows/deploy.yml")
	identity := `--certificate-identity "${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/.github/workflows/ci.yml@refs/heads/main"`
	if n := strings.Count(deploy.text, identity); n != len(deploy.jobs(t)) {
		t.Errorf("deploy.yml: %d cosign verify with the CI identity, want one per job (%d)", n, len(deploy.jobs(t)))
	}
	if n := strings.Count(deploy.text, "kubectl rollout undo"); n != len(deploy.jobs(t)) {
		t.Errorf("deploy.yml: %d kubectl rollout undo, want one per job", n)
	}
}

func yamlText(t *testing.T, n *yaml.Node) string {
	t.Helper()
	b, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func seqValues(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, c.Value)
	}
	return out
}

func findWorkflow(t *testing.T, path string) workflow {
	t.Helper()
	for _, w := range workflowFiles(t) {
		if w.path == path {
			return w
		}
	}
	t.Fatalf("%s does not exist", path)
	return workflow{}
}

func ciWorkflowName(t *testing.T) string {
	t.Helper()
	n := get(findWorkflow(t, ".github/workflows/ci.yml").doc, "name")
	if n == nil {
		t.Fatal("ci.yml has no name (deploy.yml's workflow_run refers to it by name)")
	}
	return n.Value
}

// TestMakeTargetsExist: every `make <target>` a workflow runs is a target
// of the Makefile (make -n fails on an unknown one without running anything).
func TestMakeTargetsExist(t *testing.T) {
	root := repoRoot(t)
	makeCall := regexp.MustCompile(`(?m)(?:^|[;&|(]\s*|\s)make((?:\s+-[A-Za-z-]+(?:=\S+)?)*)((?:\s+[A-Za-z0-9_./%-]+(?:=\S*)?)+)`)
	targets := map[string]string{}
	for _, w := range workflowFiles(t) {
		for where, script := range w.runScripts(t) {
			for _, m := range makeCall.FindAllStringSubmatch(script, -1) {
				for _, word := range strings.Fields(m[2]) {
					if !strings.Contains(word, "=") { // VAR=value is not a target
						targets[word] = where
					}
				}
			}
		}
	}
	if len(targets) == 0 {
		t.Fatal("no make call found in the workflows (the CI workflow runs make build)")
	}
	for target, where := range targets {
		cmd := exec.Command("make", "-n", "--no-print-directory", target)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: make %s: %v\n%s", where, target, err, out)
		}
	}
}

// TestSecretsAndVariablesDocumented: every secret and variable a workflow
// reads is explained in docs/cicd.md, which is what an operator sets up.
func TestSecretsAndVariablesDocumented(t *testing.T) {
	root := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "cicd.md"))
	if err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)`)
	for _, w := range workflowFiles(t) {
		for _, m := range ref.FindAllStringSubmatch(w.text, -1) {
			name := m[2]
			if name == "GITHUB_TOKEN" {
				continue
			}
			if !bytes.Contains(doc, []byte("`"+name+"`")) {
				t.Errorf("%s uses %s.%s: document it in docs/cicd.md (as `%s`)", w.path, m[1], name, name)
			}
		}
	}
}

// goBuiltinTools are the tools of the Go distribution itself.
var goBuiltinTools = []string{"addr2line", "asm", "buildid", "cgo", "compile", "covdata", "cover", "doc", "fix", "link", "nm", "objdump", "pack", "pprof", "test2json", "trace", "vet"}

// TestGoToolsDeclared: every `go tool X` the workflows (and these tests)
// run is pinned by a tool line in go.mod, so CI and the developers run the
// same version, offline once the module cache has it.
func TestGoToolsDeclared(t *testing.T) {
	root := repoRoot(t)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	declared := goModTools(string(mod))
	need := map[string]string{"actionlint": "ci/workflows_test.go (TestActionlint)"}
	toolCall := regexp.MustCompile(`\bgo tool ([A-Za-z0-9_.-]+)`)
	for _, w := range workflowFiles(t) {
		for where, script := range w.runScripts(t) {
			for _, m := range toolCall.FindAllStringSubmatch(script, -1) {
				need[m[1]] = where
			}
		}
	}
	for name, where := range need {
		if slices.Contains(goBuiltinTools, name) {
			continue
		}
		if !slices.ContainsFunc(declared, func(p string) bool { return p == name || strings.HasSuffix(p, "/"+name) }) {
			t.Errorf("%s runs go tool %s, which go.mod does not declare (go get -tool <module>/...%s@<version>, docs/cicd.md)", where, name, name)
		}
	}
}

// goModTools lists the package paths of go.mod's tool directives.
func goModTools(mod string) []string {
	var out []string
	inBlock := false
	for _, line := range strings.Split(mod, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case inBlock && line == ")":
			inBlock = false
		case inBlock && line != "":
			out = append(out, line)
		case line == "tool (":
			inBlock = true
		case strings.HasPrefix(line, "tool "):
			out = append(out, strings.TrimSpace(strings.TrimPrefix(line, "tool ")))
		}
	}
	return out
}

// TestActionlint runs actionlint (pinned in go.mod as a tool) over every
// workflow: expression and type errors, unknown action inputs, and, where
// shellcheck is installed, the run: scripts.
func TestActionlint(t *testing.T) {
	root := repoRoot(t)
	var files []string
	for _, w := range workflowFiles(t) {
		if w.isWorkflow() {
			files = append(files, w.path)
		}
	}
	cmd := exec.Command("go", append([]string{"tool", "actionlint", "-no-color"}, files...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("no such tool")) {
			t.Fatalf("actionlint is not a tool of go.mod: go get -tool github.com/rhysd/actionlint/cmd/actionlint@v1.7.12\n%s", out)
		}
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}
