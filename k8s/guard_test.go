package k8s

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testImage is what deploy.yml sets with `kustomize edit set image`: the
// repository of infra/eks.yaml and the digest CI pushed.
const testImage = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/healthcare-prediction-api@sha256:" +
	"4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

// placeholder is what every value of a committed values.env holds until an
// operator fills it in.
const placeholder = "REPLACE_ME"

// filledDirs remembers the temporary copies of k8s/ for TestMain to remove.
var (
	filledMu   sync.Mutex
	filledDirs []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range filledDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

var (
	filledOnce sync.Once
	filledRoot string
	filledErr  error
)

// filledTree returns a copy of k8s/ made deployable as an operator and the
// deploy workflow make it: every overlay's values.env replaced by
// testdata/values/<env>.env, the image pinned by digest. Built once.
func filledTree(t *testing.T) string {
	t.Helper()
	filledOnce.Do(func() {
		filledRoot, filledErr = copyTree()
		for _, dir := range overlays {
			if filledErr == nil {
				filledErr = fill(filledRoot, dir, nil, true)
			}
		}
	})
	if filledErr != nil {
		t.Fatal(filledErr)
	}
	return filledRoot
}

// copyTree copies the manifests under k8s/ (not the tests, testdata or
// tools) into a new temporary directory.
func copyTree() (string, error) {
	dst, err := os.MkdirTemp("", "k8s-manifests-")
	if err != nil {
		return "", err
	}
	filledMu.Lock()
	filledDirs = append(filledDirs, dst)
	filledMu.Unlock()
	return dst, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (path == "testdata" || path == "tools"):
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, path), 0o755)
		case strings.HasSuffix(path, ".go"):
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, path), b, 0o644)
	})
}

// fill writes testdata/values/<env>.env, with the values in override
// replaced, as the values.env of overlay dir under root, and pins the image
// by digest when pin is set.
func fill(root, dir string, override map[string]string, pin bool) error {
	values, err := readEnv(filepath.Join("testdata", "values", filepath.Base(dir)+".env"))
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, kv := range values {
		if v, ok := override[kv[0]]; ok {
			kv[1] = v
		}
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	for k, v := range override {
		if !slices.ContainsFunc(values, func(kv [2]string) bool { return kv[0] == k }) {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
	}
	if err := os.WriteFile(filepath.Join(root, dir, "values.env"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if !pin {
		return nil
	}
	kfile := filepath.Join(root, dir, "kustomization.yaml")
	k, err := os.ReadFile(kfile)
	if err != nil {
		return err
	}
	name, digest, _ := strings.Cut(testImage, "@")
	const unset = "    newTag: set-by-deploy\n"
	if !bytes.Contains(k, []byte(unset)) {
		return fmt.Errorf("%s: no %q to pin", kfile, strings.TrimSpace(unset))
	}
	k = bytes.Replace(k, []byte(unset), []byte("    newName: "+name+"\n    digest: "+digest+"\n"), 1)
	return os.WriteFile(kfile, k, 0o644)
}

// readEnv reads KEY=value lines in order, skipping comments and blanks.
func readEnv(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not KEY=value", path, line)
		}
		out = append(out, [2]string{k, v})
	}
	return out, sc.Err()
}

// guard runs scripts/k8s-check.sh on dir and returns whether it passed and
// what it said.
func guard(t *testing.T, dir string) (bool, string) {
	t.Helper()
	out, err := exec.Command("../scripts/k8s-check.sh", dir).CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("scripts/k8s-check.sh %s: %v", dir, err)
	}
	return err == nil, string(out)
}

// Each committed values.env holds the keys the tests fill in, and nothing
// but the placeholder: real values are the operator's, never examples that
// look real.
func TestValuesFilesArePlaceholders(t *testing.T) {
	for _, dir := range overlays {
		committed, err := readEnv(filepath.Join(dir, "values.env"))
		if err != nil {
			t.Fatal(err)
		}
		filled, err := readEnv(filepath.Join("testdata", "values", filepath.Base(dir)+".env"))
		if err != nil {
			t.Fatal(err)
		}
		var keys, want []string
		for _, kv := range committed {
			keys = append(keys, kv[0])
			if kv[1] != placeholder {
				t.Errorf("%s/values.env: %s=%s, want %s until an operator fills it in", dir, kv[0], kv[1], placeholder)
			}
		}
		for _, kv := range filled {
			want = append(want, kv[0])
		}
		if !slices.Equal(keys, want) {
			t.Errorf("%s/values.env keys = %v, testdata/values has %v", dir, keys, want)
		}
	}
}

// The committed overlays are not deployable, and the guard says why; once
// values.env is filled in and the image pinned, it passes.
func TestGuardRefusesCommittedAndPassesFilled(t *testing.T) {
	root := filledTree(t)
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ok, out := guard(t, dir)
			if ok {
				t.Fatalf("the guard passed the committed %s:\n%s", dir, out)
			}
			for _, want := range []string{"not filled in (REPLACE_ME)", "the image is not set", "not pinned by digest"} {
				if !strings.Contains(out, want) {
					t.Errorf("the guard on the committed %s does not say %q:\n%s", dir, want, out)
				}
			}
			if ok, out := guard(t, filepath.Join(root, dir)); !ok {
				t.Errorf("the guard refused %s filled in:\n%s", dir, out)
			}
			if n := strings.Count(string(build(t, dir).raw), placeholder); n != 0 {
				t.Errorf("%s filled in still renders %d %s", dir, n, placeholder)
			}
		})
	}
}

// The guard fires on each marker, and on each value of values.env left
// unfilled (which also proves each value reaches the manifests).
func TestGuardFiresOnEachMarker(t *testing.T) {
	type tc struct {
		name     string
		override map[string]string
		pin      bool
		tag      string // instead of set-by-deploy, when not pinned
		want     string
	}
	var cases []tc
	for _, dir := range overlays {
		values, err := readEnv(filepath.Join(dir, "values.env"))
		if err != nil {
			t.Fatal(err)
		}
		filled, err := readEnv(filepath.Join("testdata", "values", filepath.Base(dir)+".env"))
		if err != nil {
			t.Fatal(err)
		}
		for i, kv := range values {
			cases = append(cases,
				tc{dir + " " + kv[0] + " unfilled", map[string]string{kv[0]: placeholder}, true, "", "not filled in (REPLACE_ME)"},
				// kustomize takes either as the value: an empty annotation,
				// or quotes inside an ARN.
				tc{dir + " " + kv[0] + " empty", map[string]string{kv[0]: ""}, true, "", "values.env: " + kv[0] + " is not"},
				tc{dir + " " + kv[0] + " quoted", map[string]string{kv[0]: `"` + filled[i][1] + `"`}, true, "", "values.env: " + kv[0] + " is not"},
			)
		}
	}
	const region, account = "eu-west-1", "345678901234"
	for key, v := range map[string]string{
		"AWS_REGION":         "Ireland",
		"API_KEYS_SECRET_ID": "healthcare-api/prod/api-keys",
		"WORKLOAD_ROLE_ARN":  "arn:aws:iam::" + account + ":user/deployer",
		"HOST":               "Risk-API.northwind-health.net",
		"CERTIFICATE_ARN":    "arn:aws:acm:" + region + ":" + account + ":certificate/not-an-id",
		"WAF_WEB_ACL_ARN":    "arn:aws:wafv2:" + region + ":" + account + ":global/webacl/healthcare-api-prod/a1b2c3d4-5678-40ab-8def-1234567890ab",
		"ACCESS_LOG_BUCKET":  "Logs_Bucket",
		"ALB_SUBNET_CIDR_A":  "10.20.0.0",
		"ALB_SUBNET_CIDR_B":  "10.20.300.0/22",
		"ALB_SUBNET_CIDR_C":  "0.0.0.0/0",
		"VPC_CIDR":           "10.20.0.0/33",
	} {
		cases = append(cases, tc{"malformed " + key, map[string]string{key: v}, true, "", "values.env: " + key + " is not"})
	}
	// Every ARN names the cluster's region, and one account.
	for key, v := range map[string]string{
		"API_KEYS_SECRET_ID": "arn:aws:secretsmanager:us-east-1:" + account + ":secret:ApiKeysSecret-Zx4Cv5PROD-Zx4Cv5",
		"CERTIFICATE_ARN":    "arn:aws:acm:us-east-1:" + account + ":certificate/9b8e7d6c-5a4b-4c3d-8e2f-1a0b9c8d7e6f",
		"WAF_WEB_ACL_ARN":    "arn:aws:wafv2:us-east-1:" + account + ":regional/webacl/healthcare-api-prod/a1b2c3d4-5678-40ab-8def-1234567890ab",
	} {
		cases = append(cases, tc{"other region " + key, map[string]string{key: v}, true, "", "values.env: " + key + " is not"})
	}
	cases = append(cases,
		tc{"other account", map[string]string{"CERTIFICATE_ARN": "arn:aws:acm:" + region + ":456789012345:certificate/9b8e7d6c-5a4b-4c3d-8e2f-1a0b9c8d7e6f"}, true, "", "in the account"},
		tc{"another environment's web ACL", map[string]string{"WAF_WEB_ACL_ARN": "arn:aws:wafv2:" + region + ":" + account + ":regional/webacl/healthcare-api-staging/a1b2c3d4-5678-40ab-8def-1234567890ab"}, true, "", "values.env: WAF_WEB_ACL_ARN is not"},
		tc{"unknown key", map[string]string{"EXTRA_KEY": "x"}, true, "", "not a key the guard knows"},
	)
	cases = append(cases,
		tc{"example account 111122223333", map[string]string{"WORKLOAD_ROLE_ARN": "arn:aws:iam::111122223333:role/healthcare-api-prod-workload"}, true, "", "example account id"},
		tc{"example account 123456789012", map[string]string{"CERTIFICATE_ARN": "arn:aws:acm:eu-west-1:123456789012:certificate/9b8e7d6c-5a4b-4c3d-8e2f-1a0b9c8d7e6f"}, true, "", "example account id"},
		tc{"host .invalid", map[string]string{"HOST": "healthcare-api.example.invalid"}, true, "", "example host name"},
		tc{"host .test", map[string]string{"HOST": "risk-api.clinic.test"}, true, "", "example host name"},
		tc{"host .example", map[string]string{"HOST": "risk-api.clinic.example"}, true, "", "example host name"},
		tc{"host .localhost", map[string]string{"HOST": "risk-api.localhost"}, true, "", "example host name"},
		tc{"host example.com", map[string]string{"HOST": "api.example.com"}, true, "", "example host name"},
		tc{"all-zero certificate", map[string]string{"CERTIFICATE_ARN": "arn:aws:acm:eu-west-1:345678901234:certificate/00000000-0000-0000-0000-000000000000"}, true, "", "all-zero certificate id"},
		tc{"image not set", nil, false, "", "the image is not set"},
		tc{"image by tag", nil, false, "1.4.0", "not pinned by digest"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := "overlays/prod"
			if d, _, ok := strings.Cut(c.name, " "); ok && slices.Contains(overlays, d) {
				dir = d
			}
			root, err := copyTree()
			if err != nil {
				t.Fatal(err)
			}
			if err := fill(root, dir, c.override, c.pin); err != nil {
				t.Fatal(err)
			}
			if c.tag != "" {
				kfile := filepath.Join(root, dir, "kustomization.yaml")
				k, err := os.ReadFile(kfile)
				if err != nil {
					t.Fatal(err)
				}
				k = bytes.Replace(k, []byte("newTag: set-by-deploy"), []byte("newTag: "+c.tag), 1)
				if err := os.WriteFile(kfile, k, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ok, out := guard(t, filepath.Join(root, dir))
			if ok || !strings.Contains(out, c.want) {
				t.Errorf("guard passed = %v, want a failure saying %q:\n%s", ok, c.want, out)
			}
		})
	}
}

// Each deploy job runs the guard on the overlay it applies, after setting
// the image and before kubectl apply.
func TestDeployRunsGuard(t *testing.T) {
	src, err := os.ReadFile("../.github/workflows/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	w := string(src)
	// Staging deploys the overlay that mirrors production.
	for _, want := range []string{"environment:\n      name: staging", "OVERLAY: staging\n", "environment:\n      name: production", "OVERLAY: prod\n"} {
		if !strings.Contains(w, want) {
			t.Errorf("deploy.yml lacks %q", want)
		}
	}
	jobs := strings.Count(w, "\n    steps:\n")
	if jobs == 0 {
		t.Fatal("deploy.yml has no jobs with steps")
	}
	const set, check, apply = `kustomize edit set image`, `make k8s-check ENV="$OVERLAY"`, `kubectl apply`
	if strings.Count(w, check) != jobs {
		t.Errorf("deploy.yml runs %q %d times, want once in each of its %d jobs", check, strings.Count(w, check), jobs)
	}
	for _, job := range strings.Split(w, "\n    steps:\n")[1:] {
		s, c, a := strings.Index(job, set), strings.Index(job, check), strings.Index(job, apply)
		if a >= 0 && (s < 0 || c < s || a < c) {
			t.Errorf("deploy.yml: a job applies without setting the image, then running the guard, first (set %d, guard %d, apply %d)", s, c, a)
		}
	}
}

// Staging rehearses production: given the same values, the two overlays
// render the same objects, but for the environment's name (instance label,
// key secret) and the ConfigMap's content hash.
func TestStagingMirrorsProd(t *testing.T) {
	root, err := copyTree()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"overlays/staging", "overlays/prod"} {
		if err := fill(root, dir, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	values, err := os.ReadFile(filepath.Join(root, "overlays/prod/values.env"))
	if err != nil {
		t.Fatal(err)
	}
	values = bytes.ReplaceAll(values, []byte("prod"), []byte("shared")) // the role's name
	for _, dir := range []string{"overlays/staging", "overlays/prod"} {
		if err := os.WriteFile(filepath.Join(root, dir, "values.env"), values, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hash := regexp.MustCompile(`healthcare-api-[a-z0-9]{10}\b`)
	norm := func(dir, env string) string {
		out := string(kustomize(t, filepath.Join(root, dir)))
		if !strings.Contains(out, env) {
			t.Fatalf("%s does not name its environment %q", dir, env)
		}
		return hash.ReplaceAllString(strings.ReplaceAll(out, env, "ENV"), "healthcare-api-HASH")
	}
	staging, prod := norm("overlays/staging", "staging"), norm("overlays/prod", "prod")
	if staging != prod {
		a, b := strings.Split(staging, "\n"), strings.Split(prod, "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("staging and prod differ beyond their names, first at line %d:\nstaging: %s\nprod:    %s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("staging renders %d lines, prod %d", len(a), len(b))
	}
}

// valuesScript runs scripts/k8s-values.sh on overlay dir under root with
// K8S_VALUES set to values, and returns whether it passed and what it said.
func valuesScript(t *testing.T, root, dir, values string) (bool, string) {
	t.Helper()
	cmd := exec.Command("../scripts/k8s-values.sh", filepath.Join(root, dir))
	cmd.Env = append(os.Environ(), "K8S_VALUES="+values)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("scripts/k8s-values.sh: %v", err)
	}
	return err == nil, string(out)
}

// The deploy job writes values.env from the environment's K8S_VALUES (the
// committed file stays a template): exactly the template's keys, in its
// order, and the guard then passes; a missing key fails, an extra one is
// left out.
func TestValuesScriptWritesTemplateKeys(t *testing.T) {
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			template, err := os.ReadFile(filepath.Join(dir, "values.env"))
			if err != nil {
				t.Fatal(err)
			}
			filled, err := os.ReadFile(filepath.Join("testdata", "values", filepath.Base(dir)+".env"))
			if err != nil {
				t.Fatal(err)
			}
			root, err := copyTree()
			if err != nil {
				t.Fatal(err)
			}
			// The image pinned as deploy.yml does, values.env the template.
			if err := fill(root, dir, nil, true); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(root, dir, "values.env")
			if err := os.WriteFile(file, template, 0o644); err != nil {
				t.Fatal(err)
			}
			if ok, out := guard(t, filepath.Join(root, dir)); ok {
				t.Fatalf("the guard passed the template:\n%s", out)
			}

			ok, out := valuesScript(t, root, dir, string(filled)+"\nUNUSED_KEY=1\n")
			if !ok || !strings.Contains(out, "UNUSED_KEY, which") {
				t.Fatalf("k8s-values.sh passed = %v, want a pass that warns of UNUSED_KEY:\n%s", ok, out)
			}
			written, err := readEnv(file)
			if err != nil {
				t.Fatal(err)
			}
			want, err := readEnv(filepath.Join("testdata", "values", filepath.Base(dir)+".env"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(written, want) {
				t.Errorf("values.env written = %v, want %v", written, want)
			}
			if ok, out := guard(t, filepath.Join(root, dir)); !ok {
				t.Errorf("the guard refused the values written from K8S_VALUES:\n%s", out)
			}

			for name, values := range map[string]string{
				"a key missing": regexp.MustCompile(`(?m)^HOST=.*$`).ReplaceAllString(string(filled), ""),
				"a key twice":   string(filled) + "HOST=other.northwind-health.net\n",
				"empty":         "",
			} {
				if err := os.WriteFile(file, template, 0o644); err != nil {
					t.Fatal(err)
				}
				if ok, out := valuesScript(t, root, dir, values); ok {
					t.Errorf("k8s-values.sh passed with %s:\n%s", name, out)
				}
				if b, _ := os.ReadFile(file); !bytes.Equal(b, template) {
					t.Errorf("k8s-values.sh with %s changed values.env", name)
				}
			}
		})
	}
}

// Each deploy job writes values.env from the environment's K8S_VALUES
// after checking out the commit and before the guard.
func TestDeployWritesValues(t *testing.T) {
	src, err := os.ReadFile("../.github/workflows/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	const write = "        env:\n          K8S_VALUES: ${{ vars.K8S_VALUES }}\n        run: scripts/k8s-values.sh \"k8s/overlays/${OVERLAY}\"\n"
	for i, job := range strings.Split(string(src), "\n    steps:\n")[1:] {
		co, w, c := strings.Index(job, "uses: actions/checkout@"), strings.Index(job, write), strings.Index(job, `make k8s-check ENV="$OVERLAY"`)
		if co < 0 || w < co || c < w || strings.Count(job, write) != 1 {
			t.Errorf("deploy.yml job %d: checkout %d, write values.env %d, guard %d: want each once, in that order", i+1, co, w, c)
		}
	}
}
