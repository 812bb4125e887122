package k8s

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// deployWorkflow reads .github/workflows/deploy.yml: its text and its
// workflow-level env.
func deployWorkflow(t *testing.T) (string, map[string]string) {
	t.Helper()
	src, err := os.ReadFile("../.github/workflows/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Env map[string]string `yaml:"env"`
	}
	if err := yaml.Unmarshal(src, &w); err != nil {
		t.Fatalf("deploy.yml: %v", err)
	}
	return string(src), w.Env
}

// kubectl rollout status waits at least the Deployment's progress deadline
// (so a stalled rollout is the Deployment's verdict, not a timeout's) and
// long enough for the largest HPA size to roll in waves of maxSurge, each
// through a new node (the surge pods may not fit on the nodes there are),
// the startup probe, readiness and the ALB's readiness gate. Each job's
// timeout-minutes holds SAM, a rollout, the smoke test's wait for the ALB
// and a rollback's rollout.
func TestRolloutTimeout(t *testing.T) {
	text, env := deployWorkflow(t)
	timeout, err := time.ParseDuration(env["ROLLOUT_TIMEOUT"])
	if err != nil {
		t.Fatalf("deploy.yml env ROLLOUT_TIMEOUT %q: %v", env["ROLLOUT_TIMEOUT"], err)
	}
	status := regexp.MustCompile(`kubectl rollout status [^\n]*`).FindAllString(text, -1)
	if len(status) == 0 {
		t.Fatal("deploy.yml never runs kubectl rollout status")
	}
	for _, s := range status {
		if !strings.HasSuffix(s, `--timeout="$ROLLOUT_TIMEOUT"`) {
			t.Errorf("deploy.yml: %s: want --timeout=\"$ROLLOUT_TIMEOUT\"", s)
		}
	}
	// sam build and deploy (CloudFormation, canaries), the EKS smoke test's
	// wait for the ALB (30 x 10 s) and its curl retries, checkout and tools.
	const sam, smoke, rest = 20 * time.Minute, 6 * time.Minute, 5 * time.Minute
	jobTimeouts := regexp.MustCompile(`(?m)^    timeout-minutes: (\d+)$`).FindAllStringSubmatch(text, -1)
	if len(jobTimeouts) != strings.Count(text, "\n    steps:\n") {
		t.Errorf("deploy.yml: %d jobs with timeout-minutes, want every job", len(jobTimeouts))
	}
	for _, m := range jobTimeouts {
		n, _ := strconv.Atoi(m[1])
		if need := sam + 2*timeout + smoke + rest; time.Duration(n)*time.Minute < need {
			t.Errorf("deploy.yml: timeout-minutes %d < %s: SAM %s, a rollout and a rollback's of %s each, smoke %s, the rest %s",
				n, need, sam, timeout, smoke, rest)
		}
	}
	sec := func(n int32) time.Duration { return time.Duration(n) * time.Second }
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := build(t, dir)
			r.complete(t)
			d, c, a := r.deploy, r.container(t), r.ing.Annotations
			if d.Spec.ProgressDeadlineSeconds == nil {
				t.Fatal("no progressDeadlineSeconds")
			}
			progress := sec(*d.Spec.ProgressDeadlineSeconds)
			pods := int(r.hpa.Spec.MaxReplicas)
			surge, err := strconv.Atoi(strings.TrimSuffix(d.Spec.Strategy.RollingUpdate.MaxSurge.String(), "%"))
			if err != nil {
				t.Fatal(err)
			}
			perWave := int(math.Ceil(float64(pods) * float64(surge) / 100))
			waves := (pods + perWave - 1) / perWave
			annotation := func(k string) time.Duration {
				n, err := strconv.Atoi(a["alb.ingress.kubernetes.io/"+k])
				if err != nil {
					t.Fatalf("annotation %s: %v", k, err)
				}
				return time.Duration(n) * time.Second
			}
			startup := sec(c.StartupProbe.PeriodSeconds * c.StartupProbe.FailureThreshold)
			ready := sec(c.ReadinessProbe.PeriodSeconds * c.ReadinessProbe.SuccessThreshold)
			// The readiness gate: target registration and the controller's
			// reconcile (30 s allowed), then healthy-threshold checks.
			gate := 30*time.Second + annotation("healthcheck-interval-seconds")*time.Duration(annotation("healthy-threshold-count")/time.Second)
			// Karpenter or a cluster autoscaler: a node in one to two minutes.
			const node = 120 * time.Second
			need := max(progress, time.Duration(waves)*(node+startup+ready+gate))
			if timeout < need {
				t.Errorf("ROLLOUT_TIMEOUT %s < %s: progressDeadlineSeconds %s, or %d pods in %d waves of %d x (node %s + startup %s + readiness %s + ALB gate %s)",
					timeout, need, progress, pods, waves, perWave, node, startup, ready, gate)
			}
			if r.ns.Labels["elbv2.k8s.aws/pod-readiness-gate-inject"] != "enabled" {
				t.Error("the namespace does not inject the ALB readiness gate the rollout relies on")
			}
		})
	}
}

// kubectl apply, the deploy's and the rollback's, prunes exactly the kinds
// an overlay renders (ConfigMaps aside: a rollback needs the previous
// one), among the objects that carry
// the environment's instance label; every object and pod carries it.
func TestApplyPrunesByLabel(t *testing.T) {
	text, env := deployWorkflow(t)
	allow := strings.Fields(env["K8S_PRUNE_ALLOWLIST"])
	apply := regexp.MustCompile(`kubectl apply -k "(k8s/overlays/\$\{OVERLAY\}|\$overlay)" --prune \\\n\s+-l "app\.kubernetes\.io/instance=healthcare-api-\$\{OVERLAY\}" "\$\{prune\[@\]\}"`)
	if n, jobs := len(apply.FindAllString(text, -1)), strings.Count(text, "kubectl apply -k"); n == 0 || n != jobs {
		t.Errorf("deploy.yml: %d of %d kubectl apply prune by the instance label with the allowlist", n, jobs)
	}
	if !strings.Contains(text, `for kind in $K8S_PRUNE_ALLOWLIST; do prune+=("--prune-allowlist=${kind}"); done`) {
		t.Error("deploy.yml does not pass K8S_PRUNE_ALLOWLIST to kubectl apply")
	}
	for _, dir := range overlays {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := build(t, dir)
			r.complete(t)
			instance := "healthcare-api-" + filepath.Base(dir)
			var kinds []string
			for _, o := range r.objects {
				gv := o.apiVersion
				if !strings.Contains(gv, "/") {
					gv = "core/" + gv
				}
				if k := gv + "/" + o.kind; o.kind != "ConfigMap" && o.kind != "Namespace" && !slices.Contains(kinds, k) {
					kinds = append(kinds, k)
				}
			}
			slices.Sort(kinds)
			got := slices.Sorted(slices.Values(allow))
			if !slices.Equal(kinds, got) {
				t.Errorf("K8S_PRUNE_ALLOWLIST = %v, the overlay renders %v", got, kinds)
			}
			for _, l := range labelsOf(t, r) {
				if l.labels["app.kubernetes.io/instance"] != instance || l.labels["app.kubernetes.io/part-of"] != appName {
					t.Errorf("%s labels %v, want app.kubernetes.io/instance=%s and part-of=%s", l.what, l.labels, instance, appName)
				}
			}
		})
	}
}

type labelled struct {
	what   string
	labels map[string]string
}

// labelsOf returns the labels of every object the overlay renders but the
// namespace, and of the pod template.
func labelsOf(t *testing.T, r *rendered) []labelled {
	t.Helper()
	out := []labelled{{"pod template", r.deploy.Spec.Template.Labels}}
	docs := regexp.MustCompile(`(?m)^---\s*$`).Split(string(r.raw), -1)
	for _, doc := range docs {
		var o struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name   string            `yaml:"name"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		if o.Kind != "" && o.Kind != "Namespace" {
			out = append(out, labelled{o.Kind + " " + o.Metadata.Name, o.Metadata.Labels})
		}
	}
	return out
}

// The EKS smoke test goes through the environment's own ALB (the Ingress's
// status), keeping the Ingress host for TLS: on a first deploy DNS does not
// point at the ALB yet, and API_BASE_URL would test nothing or the wrong
// thing. Never with TLS verification off.
func TestSmokeTestThroughALB(t *testing.T) {
	src, err := os.ReadFile("../.github/workflows/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	w := string(src)
	jobs := strings.Split(w, "\n    steps:\n")[1:]
	for i, job := range jobs {
		for _, want := range []string{
			`-o jsonpath='{.status.loadBalancer.ingress[0].hostname}'`,
			`-o jsonpath='{.spec.rules[0].host}'`,
			`SMOKE_CONNECT_TO="${host}:443:${alb}:443" ci/smoke-test.sh "https://${host}"`,
		} {
			if strings.Count(job, want) != 1 {
				t.Errorf("deploy.yml job %d: %q %d times, want once", i+1, want, strings.Count(job, want))
			}
		}
		if r, s := strings.Index(job, "kubectl rollout status"), strings.Index(job, "SMOKE_CONNECT_TO="); s < r {
			t.Errorf("deploy.yml job %d: the EKS smoke test (%d) runs before the rollout (%d)", i+1, s, r)
		}
	}
	for _, insecure := range []string{"--insecure", "curl -k", "CURL_CA_BUNDLE", "--cacert"} {
		if strings.Contains(w, insecure) {
			t.Errorf("deploy.yml has %q: the smoke test must verify the ALB's certificate for the host", insecure)
		}
	}
	script, err := os.ReadFile("../ci/smoke-test.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), `--connect-to "$SMOKE_CONNECT_TO"`) {
		t.Error("ci/smoke-test.sh does not pass SMOKE_CONNECT_TO to curl --connect-to")
	}
}

// A failed deploy puts back every object of what ran before, not only the
// Deployment: each job records the live Deployment's deployed commit and
// image before applying, marks its own commit only once its smoke test
// passed, and on failure re-applies the recorded commit's overlay (its
// values.env written from K8S_VALUES, its own guard) with that image, with
// the same prune, then waits for the rollout.
func TestRollbackReappliesPreviousOverlay(t *testing.T) {
	src, err := os.ReadFile("../.github/workflows/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	w := string(src)
	if !strings.Contains(w, "  K8S_COMMIT_ANNOTATION: healthcare-api/deployed-commit\n") {
		t.Error("deploy.yml does not name the deployed-commit annotation in env K8S_COMMIT_ANNOTATION")
	}
	steps := []string{
		"          fetch-depth: 0\n",
		`commit=$(get "{.metadata.annotations.${K8S_COMMIT_ANNOTATION}}")`,
		`image=$(get '{.spec.template.spec.containers[?(@.name=="api")].image}')`,
		`kubectl apply -k "k8s/overlays/${OVERLAY}" --prune`,
		`kubectl rollout status "deployment/${K8S_DEPLOYMENT}"`,
		`SMOKE_CONNECT_TO=`,
		`"${K8S_COMMIT_ANNOTATION}=${DEPLOY_SHA}"`,
		"if: ${{ failure() && steps.apply.outcome != 'skipped' }}",
		"BEFORE_COMMIT: ${{ steps.before.outputs.commit }}",
		"BEFORE_IMAGE: ${{ steps.before.outputs.image }}",
		"K8S_VALUES: ${{ vars.K8S_VALUES }}",
		`git archive "$BEFORE_COMMIT" k8s scripts | tar -x -C "$prev"`,
		`overlay="${prev}/k8s/overlays/${OVERLAY}"`,
		`scripts/k8s-values.sh "$overlay"`,
		`kustomize edit set image "${K8S_IMAGE_NAME}=${BEFORE_IMAGE}"`,
		`"${prev}/scripts/k8s-check.sh" "$overlay"`,
		`for kind in $K8S_PRUNE_ALLOWLIST; do prune+=("--prune-allowlist=${kind}"); done`,
		`kubectl apply -k "$overlay" --prune`,
		`-l "app.kubernetes.io/instance=healthcare-api-${OVERLAY}" "${prune[@]}"`,
		`kubectl rollout status "deployment/${K8S_DEPLOYMENT}" -n "$K8S_NAMESPACE" --timeout="$ROLLOUT_TIMEOUT"`,
	}
	for i, job := range strings.Split(w, "\n    steps:\n")[1:] {
		at := 0
		for _, s := range steps {
			n := strings.Index(job[at:], s)
			if n < 0 {
				t.Errorf("deploy.yml job %d: no %q after byte %d (the rollback's steps, in order)", i+1, s, at)
				continue
			}
			at += n + len(s)
		}
		if before, apply := strings.Index(job, "id: before"), strings.Index(job, "id: apply"); before < 0 || apply < before {
			t.Errorf("deploy.yml job %d: what runs now (%d) must be recorded before the apply (%d)", i+1, before, apply)
		}
	}
}

// The Ingress is pruned like the rest, and its ALB has deletion protection
// in staging and prod: a renamed Ingress would be pruned and hang, its ALB
// refusing deletion, while a second ALB came up. Its name never changes.
func TestIngressNameStable(t *testing.T) {
	_, env := deployWorkflow(t)
	if !slices.Contains(strings.Fields(env["K8S_PRUNE_ALLOWLIST"]), "networking.k8s.io/v1/Ingress") {
		return // not pruned: a rename leaves the old ALB, which is safe
	}
	for _, dir := range overlays {
		if r := build(t, dir); r.ing.Name != appName {
			t.Errorf("%s: the Ingress is %q, want %q: a rename prunes the old one, whose ALB has deletion protection (docs/eks.md)", dir, r.ing.Name, appName)
		}
	}
}
