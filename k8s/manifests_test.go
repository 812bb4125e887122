package k8s

import (
	"github.com/healthcare-prediction/api/internal/metrics/cloudwatch"
	"maps"

	"bytes"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/metrics"
)

// The names other parts of the project rely on (k8s/monitoring, infra/,
// docs/eks.md): changing one here means changing them there.
const (
	namespace     = "healthcare-api"
	appName       = "healthcare-api" // Deployment, Service, ServiceAccount, Ingress, HPA, PDB
	containerName = "api"
	portName      = "http"
	nonRootID     = 65532
)

var podLabels = map[string]string{"app.kubernetes.io/name": appName}

// Where each overlay stands. base is built and checked too, but it is not
// deployable on its own (placeholder image).
var (
	overlays = []string{"overlays/dev", "overlays/staging", "overlays/prod"}
	allDirs  = append([]string{"base"}, overlays...)
)

// bootstrapDir holds what a cluster administrator applies once: the
// Namespace and the deployer's Role.
const bootstrapDir = "bootstrap"

// rendered is one kustomize build, decoded strictly by kind.
type rendered struct {
	raw        []byte
	dir        string
	committed  bool              // base as committed: its per-environment values are placeholders
	values     map[string]string // the filled-in values.env it was rendered with
	objects    []object
	ns         *corev1.Namespace
	sa         *corev1.ServiceAccount
	cm         *corev1.ConfigMap
	deploy     *appsv1.Deployment
	svc        *corev1.Service
	ing        *networkingv1.Ingress
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	pdb        *policyv1.PodDisruptionBudget
	netpols    map[string]*networkingv1.NetworkPolicy
	roles      []*rbacv1.Role
	bindings   []*rbacv1.RoleBinding
	decodeErrs []error
}

type object struct {
	apiVersion, kind, name, namespace string
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*rendered{}
)

// build renders dir (relative to k8s/) once per test binary and decodes
// what it prints. An overlay renders as it deploys: from a copy of k8s/
// with its values.env filled in (testdata/values) and the image pinned by
// digest, as deploy.yml does; base renders as committed.
func build(t *testing.T, dir string) *rendered {
	t.Helper()
	buildsMu.Lock()
	defer buildsMu.Unlock()
	if r, ok := builds[dir]; ok {
		return r
	}
	root := "."
	if dir != "base" {
		root = filledTree(t)
	}
	r := decode(kustomize(t, filepath.Join(root, dir)))
	r.dir, r.committed, r.values = dir, root == ".", map[string]string{}
	if dir != bootstrapDir {
		// The namespace is the cluster administrator's (k8s/bootstrap): the
		// deployer cannot create it, so no overlay may hold it.
		if r.ns != nil {
			r.decodeErrs = append(r.decodeErrs, fmt.Errorf("%s holds the Namespace; it belongs in k8s/bootstrap", dir))
		}
		b, ok := builds[bootstrapDir]
		if !ok {
			b = decode(kustomize(t, bootstrapDir))
			b.dir, b.committed = bootstrapDir, true
			builds[bootstrapDir] = b
		}
		r.ns = b.ns
	}
	if !r.committed {
		kvs, err := readEnv(filepath.Join(root, dir, "values.env"))
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			r.values[kv[0]] = kv[1]
		}
	}
	builds[dir] = r
	return r
}

// kustomize runs `kubectl kustomize dir` and returns what it prints.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatal("kubectl is not installed: the manifests are built with `kubectl kustomize`")
	}
	var stderr bytes.Buffer
	cmd := exec.Command("kubectl", "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

// decode splits a multi-document YAML stream and decodes every document
// strictly (unknown or duplicate fields are errors) into its k8s.io/api type.
func decode(out []byte) *rendered {
	r := &rendered{raw: out, netpols: map[string]*networkingv1.NetworkPolicy{}}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var tm struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			r.decodeErrs = append(r.decodeErrs, fmt.Errorf("document: %w", err))
			continue
		}
		o := object{tm.APIVersion, tm.Kind, tm.Metadata.Name, tm.Metadata.Namespace}
		r.objects = append(r.objects, o)
		var dst any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 Namespace":
			r.ns = &corev1.Namespace{}
			dst = r.ns
		case "v1 ServiceAccount":
			r.sa = &corev1.ServiceAccount{}
			dst = r.sa
		case "v1 ConfigMap":
			r.cm = &corev1.ConfigMap{}
			dst = r.cm
		case "apps/v1 Deployment":
			r.deploy = &appsv1.Deployment{}
			dst = r.deploy
		case "v1 Service":
			r.svc = &corev1.Service{}
			dst = r.svc
		case "networking.k8s.io/v1 Ingress":
			r.ing = &networkingv1.Ingress{}
			dst = r.ing
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			dst = r.hpa
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			dst = r.pdb
		case "rbac.authorization.k8s.io/v1 Role":
			role := &rbacv1.Role{}
			r.roles = append(r.roles, role)
			dst = role
		case "rbac.authorization.k8s.io/v1 RoleBinding":
			rb := &rbacv1.RoleBinding{}
			r.bindings = append(r.bindings, rb)
			dst = rb
		case "networking.k8s.io/v1 NetworkPolicy":
			np := &networkingv1.NetworkPolicy{}
			r.netpols[o.name] = np
			dst = np
		default:
			r.decodeErrs = append(r.decodeErrs, fmt.Errorf("%s %s/%s: a kind these tests do not know", o.apiVersion, o.kind, o.name))
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), dst); err != nil {
			r.decodeErrs = append(r.decodeErrs, fmt.Errorf("%s %s: %w", o.kind, o.name, err))
		}
	}
	return r
}

// complete fails the test unless every kind the deployment needs is there.
func (r *rendered) complete(t *testing.T) {
	t.Helper()
	for _, err := range r.decodeErrs {
		t.Error(err)
	}
	missing := []string{}
	for name, ok := range map[string]bool{
		"Namespace": r.ns != nil, "ServiceAccount": r.sa != nil, "ConfigMap": r.cm != nil,
		"Deployment": r.deploy != nil, "Service": r.svc != nil, "Ingress": r.ing != nil,
		"HorizontalPodAutoscaler": r.hpa != nil, "PodDisruptionBudget": r.pdb != nil,
		"NetworkPolicy": len(r.netpols) > 0,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("missing objects: %s", strings.Join(missing, ", "))
	}
}

func (r *rendered) container(t *testing.T) *corev1.Container {
	t.Helper()
	for i, c := range r.deploy.Spec.Template.Spec.Containers {
		if c.Name == containerName {
			return &r.deploy.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatalf("Deployment has no container %q", containerName)
	return nil
}

// config loads the ConfigMap through app.Load, as the server would see it
// under Kubernetes, and reports which variables Load asked for.
func (r *rendered) config(t *testing.T) (app.Config, map[string]bool) {
	t.Helper()
	env := map[string]string{"KUBERNETES_SERVICE_HOST": "10.100.0.1"}
	if r.committed {
		env["METRICS_ENV"] = "base" // each overlay names its environment; base is never deployed
	}
	for k, v := range r.cm.Data {
		env[k] = v
	}
	asked := map[string]bool{}
	cfg, err := app.Load(func(k string) string { asked[k] = true; return env[k] })
	if err != nil {
		t.Fatalf("the ConfigMap does not load: %v", err)
	}
	return cfg, asked
}

func eachDir(t *testing.T, dirs []string, f func(t *testing.T, r *rendered)) {
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := build(t, dir)
			r.complete(t)
			f(t, r)
		})
	}
}

func TestKustomizeBuildsAndDecodesStrictly(t *testing.T) {
	eachDir(t, allDirs, func(t *testing.T, r *rendered) {
		for _, o := range r.objects {
			if o.namespace != namespace {
				t.Errorf("%s %s is in namespace %q, want %q", o.kind, o.name, o.namespace, namespace)
			}
		}
		if strings.Contains(string(r.raw), "kind: Secret") {
			t.Error("the manifests hold a Secret: API keys live in Secrets Manager, never in Kubernetes")
		}
		if len(r.roles)+len(r.bindings) > 0 {
			t.Error("an overlay holds RBAC objects: they belong in k8s/bootstrap (the deployer may not create them)")
		}
	})
	t.Run(bootstrapDir, func(t *testing.T) {
		b := decode(kustomize(t, bootstrapDir))
		for _, err := range b.decodeErrs {
			t.Error(err)
		}
		if b.ns == nil || b.ns.Name != namespace || len(b.roles) != 1 || len(b.bindings) != 1 || len(b.objects) != 3 {
			t.Fatalf("k8s/bootstrap renders %v, want the Namespace %s, one Role and one RoleBinding", b.objects, namespace)
		}
		for _, o := range b.objects {
			if o.kind != "Namespace" && o.namespace != namespace {
				t.Errorf("%s %s is in namespace %q, want %q", o.kind, o.name, o.namespace, namespace)
			}
		}
	})
}

// minKubernetes is the oldest Kubernetes the manifests support: the
// namespace's Pod Security enforce-version, kube-score's target and the
// minimum docs/eks.md names. Raise all three together.
const minKubernetes = "v1.30"

// docs/eks.md names the same minimum as the tests and the namespace.
func TestMinimumKubernetesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/eks.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`- Kubernetes (1\.\d+) or newer`).FindSubmatch(doc)
	if m == nil || "v"+string(m[1]) != minKubernetes {
		t.Errorf("docs/eks.md's minimum Kubernetes = %q, the namespace's enforce-version and kube-score use %s", m, minKubernetes)
	}
}

func TestPodSecurityRestricted(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		t.Fatal(err)
	}
	eachDir(t, allDirs, func(t *testing.T, r *rendered) {
		p, errs := psapi.PolicyToEvaluate(r.ns.Labels, psapi.Policy{})
		if len(errs) > 0 {
			t.Errorf("namespace labels: %v", errs.ToAggregate())
		}
		// Enforce is pinned to a minor version (a control-plane upgrade
		// must not tighten it under running pods); audit and warn follow
		// the latest, to show what the next bump would reject.
		if p.Enforce.Level != psapi.LevelRestricted || p.Enforce.Version.Latest() || p.Enforce.Version.String() != minKubernetes {
			t.Errorf("namespace enforce is %s, want restricted at %s (the oldest Kubernetes the manifests support)", p.Enforce.String(), minKubernetes)
		}
		for mode, lv := range map[string]psapi.LevelVersion{"audit": p.Audit, "warn": p.Warn} {
			if lv.Level != psapi.LevelRestricted || !lv.Version.Latest() {
				t.Errorf("namespace %s level is %s, want restricted:latest", mode, lv.String())
			}
		}
		tmpl := r.deploy.Spec.Template
		pods := map[string]*corev1.PodSpec{"as written": &tmpl.Spec, "as the EKS IRSA webhook mutates it": withIRSA(tmpl.Spec)}
		for _, lv := range []psapi.LevelVersion{p.Enforce, {Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}} {
			for name, spec := range pods {
				for _, res := range evaluator.EvaluatePod(lv, &tmpl.ObjectMeta, spec) {
					if !res.Allowed {
						t.Errorf("pod %s: %s forbids %s: %s", name, lv.String(), res.ForbiddenReason, res.ForbiddenDetail)
					}
				}
			}
		}
	})
}

// withIRSA adds what the EKS pod identity webhook adds for an annotated
// ServiceAccount: a projected token volume and the AWS_* variables.
func withIRSA(spec corev1.PodSpec) *corev1.PodSpec {
	spec = *spec.DeepCopy()
	expiry := int64(86400)
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "aws-iam-token", VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "sts.amazonaws.com", ExpirationSeconds: &expiry, Path: "token"},
		}}},
	}})
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.Env = append(c.Env,
			corev1.EnvVar{Name: "AWS_ROLE_ARN", Value: "arn:aws:iam::111122223333:role/x"},
			corev1.EnvVar{Name: "AWS_WEB_IDENTITY_TOKEN_FILE", Value: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "aws-iam-token", ReadOnly: true,
			MountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount"})
	}
	return &spec
}

// kubeScoreIgnored lists the kube-score checks switched off, each with why.
var kubeScoreIgnored = map[string]string{
	// Tags are immutable in ECR (infra/eks.yaml) and deploys pin a digest,
	// so IfNotPresent always runs the intended image, and a node that has it
	// can start pods while ECR is unreachable.
	"container-image-pull-policy": "immutable tags and digests",
	// Spreading is done with topologySpreadConstraints (zone and hostname),
	// which kube-score v1.20 does not count as anti-affinity; a second,
	// anti-affinity rule would only fight them. TestDeploymentShape checks
	// the constraints.
	"deployment-has-host-podantiaffinity": "topologySpreadConstraints",
}

// kubeScoreOptional lists the optional checks switched on.
var kubeScoreOptional = []string{
	"container-seccomp-profile",
	"container-ports-check",
	"container-memory-requests-equal-limits",
}

func TestKubeScore(t *testing.T) {
	eachDir(t, overlays, func(t *testing.T, r *rendered) { kubeScore(t, r.raw) })
}

// kubeScore runs kube-score on rendered manifests: a CRITICAL finding
// fails the test.
func kubeScore(t *testing.T, raw []byte) {
	t.Helper()
	args := []string{"tool", "kube-score", "score", "--output-format", "ci", "--kubernetes-version", minKubernetes}
	for check := range kubeScoreIgnored {
		args = append(args, "--ignore-test", check)
	}
	for _, check := range kubeScoreOptional {
		args = append(args, "--enable-optional-test", check)
	}
	args = append(args, "-")
	cmd := exec.Command("go", args...)
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("go tool kube-score: %v\n%s", err, stderr.String())
	}
	var critical, warning int
	for line := range strings.Lines(string(out)) {
		switch {
		case strings.HasPrefix(line, "[CRITICAL]"):
			critical++
			t.Error(strings.TrimSpace(line))
		case strings.HasPrefix(line, "[WARNING]"):
			warning++
			t.Log(strings.TrimSpace(line))
		}
	}
	if err != nil && critical == 0 {
		t.Fatalf("kube-score failed without a CRITICAL line: %v\n%s%s", err, out, stderr.String())
	}
	if !strings.Contains(string(out), "[OK]") {
		t.Fatalf("kube-score scored nothing:\n%s%s", out, stderr.String())
	}
	t.Logf("kube-score: %d critical, %d warnings", critical, warning)
}

// publicPaths are the paths of every endpoint of the container, with path
// parameters filled in.
func publicPaths(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, e := range api.Routes(api.All) {
		p := strings.NewReplacer("{id}", "ascvd-pce", "{file}", "swagger-ui.css").Replace(e.Path)
		if strings.Contains(p, "{") {
			t.Fatalf("route %s has a path parameter this test cannot fill in", e.Path)
		}
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		t.Fatal("api.Routes(api.All) is empty")
	}
	return paths
}

// route reports whether an ALB made by the AWS Load Balancer Controller
// from ing forwards path p: Exact matches itself only, Prefix matches
// itself and everything below it (an ALB path-pattern "/x" plus "/x/*").
func routed(t *testing.T, ing *networkingv1.Ingress, p string) bool {
	t.Helper()
	for _, rule := range ing.Spec.Rules {
		for _, hp := range rule.HTTP.Paths {
			switch {
			case hp.PathType == nil:
				t.Fatalf("ingress path %s has no pathType", hp.Path)
			case *hp.PathType == networkingv1.PathTypeExact:
				if p == hp.Path {
					return true
				}
			case *hp.PathType == networkingv1.PathTypePrefix:
				if p == hp.Path || strings.HasPrefix(p, strings.TrimSuffix(hp.Path, "/")+"/") {
					return true
				}
			default:
				t.Fatalf("ingress path %s: pathType %s means something else to every controller", hp.Path, *hp.PathType)
			}
		}
	}
	return false
}

func findEndpoint(path string) (api.Endpoint, bool) {
	for _, e := range api.Routes(api.All) {
		if e.Method == "GET" && e.Path == path {
			return e, true
		}
	}
	return api.Endpoint{}, false
}

func TestManifestsMatchServer(t *testing.T) {
	eachDir(t, allDirs, func(t *testing.T, r *rendered) {
		cfg, _ := r.config(t)
		c := r.container(t)

		// The port: the server's own (PORT default or the ConfigMap's).
		if len(c.Ports) != 1 || c.Ports[0].Name != portName || int(c.Ports[0].ContainerPort) != cfg.Port {
			t.Errorf("container ports = %+v, want one named %q on %d (the server's port)", c.Ports, portName, cfg.Port)
		}
		if cfg.Port != 8000 {
			t.Errorf("the server listens on %d; k8s/monitoring and docs/eks.md say 8000", cfg.Port)
		}

		// Probes: public GET routes of the server, readiness distinct from
		// liveness, all on the named port.
		probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
		for name, p := range probes {
			if p == nil || p.HTTPGet == nil {
				t.Fatalf("%s probe missing or not httpGet", name)
			}
			e, ok := findEndpoint(p.HTTPGet.Path)
			if !ok || e.Protected {
				t.Errorf("%s probe path %s is not a public GET route of the server", name, p.HTTPGet.Path)
			}
			if p.HTTPGet.Port != intstr.FromString(portName) {
				t.Errorf("%s probe port = %s, want %q", name, p.HTTPGet.Port.String(), portName)
			}
		}
		if got := c.ReadinessProbe.HTTPGet.Path; got != "/health/ready" {
			t.Errorf("readiness probe path = %s, want /health/ready (503 while draining or without keys)", got)
		}
		if got := c.LivenessProbe.HTTPGet.Path; got != "/health/live" {
			t.Errorf("liveness probe path = %s, want /health/live (a draining pod must not be restarted)", got)
		}

		// The Service and the Ingress reach that port by name.
		if r.svc.Name != appName || len(r.svc.Spec.Ports) != 1 {
			t.Fatalf("Service %s ports = %+v, want one", r.svc.Name, r.svc.Spec.Ports)
		}
		sp := r.svc.Spec.Ports[0]
		if sp.Name != portName || sp.Port != 80 || sp.TargetPort != intstr.FromString(portName) {
			t.Errorf("Service port = %+v, want http 80 -> targetPort http", sp)
		}
		if !labels.SelectorFromSet(r.svc.Spec.Selector).Matches(labels.Set(r.deploy.Spec.Template.Labels)) || len(r.svc.Spec.Selector) == 0 {
			t.Errorf("Service selector %v does not select the pods %v", r.svc.Spec.Selector, r.deploy.Spec.Template.Labels)
		}
		for _, rule := range r.ing.Spec.Rules {
			for _, hp := range rule.HTTP.Paths {
				b := hp.Backend.Service
				if b == nil || b.Name != r.svc.Name || b.Port.Name != sp.Name {
					t.Errorf("ingress path %s backend = %+v, want service %s port %s", hp.Path, hp.Backend, r.svc.Name, sp.Name)
				}
			}
		}

		// The ALB routes the public contract and nothing else.
		for _, p := range publicPaths(t) {
			if !routed(t, r.ing, p) {
				t.Errorf("the Ingress does not route %s", p)
			}
		}
		for _, p := range []string{"/metrics", "/metrics/", "/metricsx", "/debug/pprof/", "/healthz"} {
			if routed(t, r.ing, p) {
				t.Errorf("the Ingress routes %s to the pods; only the public contract belongs on the ALB", p)
			}
		}
		if got := r.ing.Annotations["alb.ingress.kubernetes.io/healthcheck-path"]; got != c.ReadinessProbe.HTTPGet.Path {
			t.Errorf("ALB health check path = %q, want the readiness path %s", got, c.ReadinessProbe.HTTPGet.Path)
		}
	})
}

func TestProbesMeanWhatTheManifestsSay(t *testing.T) {
	lifecycle := api.NewLifecycle()
	h := app.NewAPI(app.Config{}.Logger(&bytes.Buffer{}), metrics.Discard{}, nil, api.RateLimit{}, nil, api.All, lifecycle, false, cdshooks.Config{}, nil)
	status := func(path string) int {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if got := status("/health/ready"); got != 200 {
		t.Errorf("serving: /health/ready = %d, want 200", got)
	}
	lifecycle.Drain()
	if got := status("/health/ready"); got != 503 {
		t.Errorf("draining: /health/ready = %d, want 503", got)
	}
	if got := status("/health/live"); got != 200 {
		t.Errorf("draining: /health/live = %d, want 200 (the kubelet must not restart a draining pod)", got)
	}
}

func TestShutdownTimings(t *testing.T) {
	const margin = 5 * time.Second
	flush := cloudwatch.DefaultFlushTimeout // the last CloudWatch flush after the server stops
	eachDir(t, allDirs, func(t *testing.T, r *rendered) {
		cfg, _ := r.config(t)
		c := r.container(t)
		spec := r.deploy.Spec.Template.Spec
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
			t.Fatal("no preStop sleep action (the image has no shell for exec: sleep)")
		}
		preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		// The endpoint removal must reach the AWS Load Balancer Controller
		// and the ALB before the server drains: a few seconds, often more
		// under API-server load.
		if preStop < 10*time.Second {
			t.Errorf("preStop sleep = %s, want at least 10s for the ALB to deregister the pod", preStop)
		}
		if cfg.DrainDelay <= 0 {
			t.Errorf("DRAIN_DELAY = %s, want > 0: readiness 503 before the listener closes catches late ALB health checks", cfg.DrainDelay)
		}
		need := preStop + cfg.DrainDelay + cfg.ShutdownTimeout + flush + margin
		if spec.TerminationGracePeriodSeconds == nil {
			t.Fatal("no terminationGracePeriodSeconds")
		}
		grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		if grace < need {
			t.Errorf("terminationGracePeriodSeconds = %s, want >= preStop %s + DRAIN_DELAY %s + SHUTDOWN_TIMEOUT %s + last CloudWatch flush %s + margin %s = %s",
				grace, preStop, cfg.DrainDelay, cfg.ShutdownTimeout, flush, margin, need)
		}
		attrs := r.ing.Annotations["alb.ingress.kubernetes.io/target-group-attributes"]
		m := regexp.MustCompile(`deregistration_delay\.timeout_seconds=(\d+)`).FindStringSubmatch(attrs)
		if m == nil {
			t.Fatalf("target-group-attributes %q set no deregistration_delay.timeout_seconds", attrs)
		}
		n, _ := strconv.Atoi(m[1])
		dereg := time.Duration(n) * time.Second
		if alive := preStop + cfg.DrainDelay + cfg.ShutdownTimeout; dereg <= 0 || dereg >= alive {
			t.Errorf("ALB deregistration delay = %s, want > 0 and < %s (preStop + DRAIN_DELAY + SHUTDOWN_TIMEOUT): the ALB must be done with a pod before it can exit", dereg, alive)
		}
	})
}

func TestConfigMapIsConfigNotSecrets(t *testing.T) {
	// Read by the AWS SDK, not by app.Load; METRICS_ENV: issue 14 adds it
	// to app.Load (the environment label of every metric) on another branch.
	sdk := map[string]bool{"AWS_REGION": true, "METRICS_ENV": true}
	secretID := regexp.MustCompile(`^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$`)
	eachDir(t, allDirs, func(t *testing.T, r *rendered) {
		cfg, asked := r.config(t)
		for k := range r.cm.Data {
			if !asked[k] && !sdk[k] {
				t.Errorf("ConfigMap key %s is read neither by app.Load nor by the AWS SDK", k)
			}
		}
		if !cfg.Managed || cfg.AuthDisabled || cfg.LocalKeys || cfg.APIKeysSecretID == "" {
			t.Errorf("config = managed %v, auth disabled %v, local keys %v, secret id %q; want keys from Secrets Manager",
				cfg.Managed, cfg.AuthDisabled, cfg.LocalKeys, cfg.APIKeysSecretID)
		}
		if !secretID.MatchString(cfg.APIKeysSecretID) {
			t.Errorf("API_KEYS_SECRET_ID %q is not a secret name or ARN", cfg.APIKeysSecretID)
		}
		// infra/eks.yaml lets the workload role read exactly the ARN it is
		// given (suffix included): a name, or an ARN elsewhere, is refused
		// and readiness stays 503.
		if arn := `^arn:aws[a-z-]*:secretsmanager:` + regexp.QuoteMeta(r.cm.Data["AWS_REGION"]) + `:\d{12}:secret:.+-[A-Za-z0-9]{6}$`; !r.committed &&
			!regexp.MustCompile(arn).MatchString(cfg.APIKeysSecretID) {
			t.Errorf("API_KEYS_SECRET_ID %q is not the full ARN of a secret in %s (infra/eks.yaml's ApiKeysSecretArn)", cfg.APIKeysSecretID, r.cm.Data["AWS_REGION"])
		}
		if !r.committed && cfg.APIKeysSecretID != r.values["API_KEYS_SECRET_ID"] {
			t.Errorf("API_KEYS_SECRET_ID = %q, want values.env's %q", cfg.APIKeysSecretID, r.values["API_KEYS_SECRET_ID"])
		}
		if r.cm.Data["AWS_REGION"] == "" {
			t.Error("AWS_REGION is not set: the SDK clients for Secrets Manager and CloudWatch need it")
		}
		if strings.Contains(string(r.raw), "secretKeyRef") || strings.Contains(string(r.raw), "secretRef") {
			t.Error("the manifests read a Kubernetes Secret into the environment")
		}
		c := r.container(t)
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil || strings.HasPrefix(e.Name, "API_KEY") {
				t.Errorf("container env %s: API keys come from Secrets Manager only", e.Name)
			}
		}
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != r.cm.Name {
			t.Errorf("envFrom = %+v, want the ConfigMap %s", c.EnvFrom, r.cm.Name)
		}
	})
	for dir, want := range map[string]string{"overlays/dev": "false", "overlays/staging": "true", "overlays/prod": "true"} {
		if got := build(t, dir).cm.Data["METRICS_CLOUDWATCH"]; got != want {
			t.Errorf("%s: METRICS_CLOUDWATCH = %q, want %q", dir, got, want)
		}
	}
	// Every overlay labels its metrics with its own name, in the form the
	// config accepts, prefixed eks-: the SAM stacks publish dev, staging
	// and prod, and an EKS prod sending to CloudWatch under "prod" would
	// move the SAM prod stack's alarms (issue 14).
	envName := regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	for _, dir := range overlays {
		got, want := build(t, dir).cm.Data["METRICS_ENV"], "eks-"+filepath.Base(dir)
		if got != want || !envName.MatchString(got) {
			t.Errorf("%s: METRICS_ENV = %q, want %q", dir, got, want)
		}
	}
	if _, ok := build(t, "base").cm.Data["METRICS_ENV"]; ok {
		t.Error("base sets METRICS_ENV: an overlay that forgot its own would report another environment's name")
	}
}

func TestDeploymentShape(t *testing.T) {
	eachDir(t, allDirs, func(t *testing.T, r *rendered) {
		d := r.deploy
		spec := d.Spec.Template.Spec
		c := r.container(t)
		if d.Name != appName || d.Spec.Replicas != nil {
			t.Errorf("Deployment %s replicas = %v, want %s without replicas (the HPA owns them)", d.Name, d.Spec.Replicas, appName)
		}
		for k, v := range podLabels {
			if d.Spec.Selector.MatchLabels[k] != v || d.Spec.Template.Labels[k] != v {
				t.Errorf("selector/pod label %s = %q/%q, want %q", k, d.Spec.Selector.MatchLabels[k], d.Spec.Template.Labels[k], v)
			}
		}
		ru := d.Spec.Strategy.RollingUpdate
		if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
			ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" || ru.MaxSurge == nil || ru.MaxSurge.String() != "25%" {
			t.Errorf("strategy = %+v, want RollingUpdate maxUnavailable 0, maxSurge 25%%", d.Spec.Strategy)
		}
		keys := map[string]bool{}
		for _, tsc := range spec.TopologySpreadConstraints {
			keys[tsc.TopologyKey] = true
			if tsc.LabelSelector == nil || !labels.SelectorFromSet(tsc.LabelSelector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("topology spread on %s does not select the pods", tsc.TopologyKey)
			}
		}
		if !keys["topology.kubernetes.io/zone"] || !keys["kubernetes.io/hostname"] {
			t.Errorf("topology spread keys = %v, want zone and hostname", keys)
		}

		// Service account: IRSA, no Kubernetes API token.
		if spec.ServiceAccountName != r.sa.Name || r.sa.Name != appName {
			t.Errorf("serviceAccountName = %q, ServiceAccount = %q, want %s", spec.ServiceAccountName, r.sa.Name, appName)
		}
		if role := r.sa.Annotations["eks.amazonaws.com/role-arn"]; r.committed && role != placeholder ||
			!r.committed && !regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+`).MatchString(role) {
			t.Errorf("ServiceAccount role-arn annotation = %q, want an IAM role ARN", r.sa.Annotations["eks.amazonaws.com/role-arn"])
		}
		if f := false; r.sa.AutomountServiceAccountToken == nil || *r.sa.AutomountServiceAccountToken != f ||
			spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken != f {
			t.Error("automountServiceAccountToken must be false on the ServiceAccount and the pod")
		}

		// Security context, beyond what Pod Security "restricted" demands.
		psc, sc := spec.SecurityContext, c.SecurityContext
		if psc == nil || sc == nil {
			t.Fatal("pod or container securityContext missing")
		}
		checks := []struct {
			name string
			ok   bool
		}{
			{"pod runAsNonRoot", psc.RunAsNonRoot != nil && *psc.RunAsNonRoot},
			{"pod runAsUser 65532", psc.RunAsUser != nil && *psc.RunAsUser == nonRootID},
			{"pod runAsGroup 65532", psc.RunAsGroup != nil && *psc.RunAsGroup == nonRootID},
			{"pod seccomp RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
			{"container runAsNonRoot", sc.RunAsNonRoot != nil && *sc.RunAsNonRoot},
			{"container runAsUser 65532", sc.RunAsUser != nil && *sc.RunAsUser == nonRootID},
			{"container runAsGroup 65532", sc.RunAsGroup != nil && *sc.RunAsGroup == nonRootID},
			{"readOnlyRootFilesystem", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
			{"allowPrivilegeEscalation false", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
			{"privileged false", sc.Privileged == nil || !*sc.Privileged},
			{"capabilities drop ALL", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0},
			{"container seccomp RuntimeDefault", sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		}
		for _, ch := range checks {
			if !ch.ok {
				t.Errorf("securityContext: want %s", ch.name)
			}
		}

		// Resources, and a Go memory limit below the container's.
		lim, req := c.Resources.Limits, c.Resources.Requests
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			if _, ok := req[name]; !ok {
				t.Errorf("no %s request", name)
			}
			if _, ok := lim[name]; !ok {
				t.Errorf("no %s limit", name)
			}
		}
		var gomemlimit string
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" {
				gomemlimit = e.Value
			}
		}
		soft, err := parseGoMemLimit(gomemlimit)
		memLimit := lim[corev1.ResourceMemory]
		if err != nil {
			t.Errorf("GOMEMLIMIT %q: %v", gomemlimit, err)
		} else if ratio := float64(soft) / float64(memLimit.Value()); ratio < 0.8 || ratio > 0.95 {
			t.Errorf("GOMEMLIMIT %s is %.0f%% of limits.memory %s, want 80-95%%", gomemlimit, 100*ratio, memLimit.String())
		}

		// Sized from the measured RSS: the HPA's memory target (a share of
		// the request) fires on a real growth, below GOMEMLIMIT, and the
		// limit leaves room for three times the peak.
		memReq := req[corev1.ResourceMemory]
		var memTarget int32
		for _, m := range r.hpa.Spec.Metrics {
			if m.ContainerResource != nil && m.ContainerResource.Name == corev1.ResourceMemory && m.ContainerResource.Target.AverageUtilization != nil {
				memTarget = *m.ContainerResource.Target.AverageUtilization
			}
		}
		target := memReq.Value() * int64(memTarget) / 100
		if memReq.Cmp(memLimit) != 0 || target < measuredPeakRSS*3/2 || target > measuredPeakRSS*3 || target >= soft || memLimit.Value() < 3*measuredPeakRSS {
			t.Errorf("memory request %s (HPA target %d%% = %d MB), GOMEMLIMIT %s, limit %s: want request = limit >= 3x the measured peak RSS (%d MB), "+
				"and the HPA target between 1.5x and 3x it and below GOMEMLIMIT", memReq.String(), memTarget, target/1_000_000, gomemlimit, memLimit.String(), measuredPeakRSS/1_000_000)
		}

		// GOMAXPROCS follows the CPU limit, a whole number of CPUs (the
		// resourceFieldRef rounds a fraction up, back into throttling).
		cpuLimit := lim[corev1.ResourceCPU]
		var gomaxprocs *corev1.EnvVar
		for i, e := range c.Env {
			if e.Name == "GOMAXPROCS" {
				gomaxprocs = &c.Env[i]
			}
		}
		if gomaxprocs == nil || gomaxprocs.ValueFrom == nil || gomaxprocs.ValueFrom.ResourceFieldRef == nil {
			t.Errorf("GOMAXPROCS = %+v, want it from the container's limits.cpu", gomaxprocs)
		} else if ref := gomaxprocs.ValueFrom.ResourceFieldRef; ref.ContainerName != containerName || ref.Resource != "limits.cpu" ||
			ref.Divisor.Cmp(resource.MustParse("1")) != 0 {
			t.Errorf("GOMAXPROCS resourceFieldRef = %+v, want limits.cpu of %q, divisor 1", ref, containerName)
		}
		if cpuLimit.MilliValue()%1000 != 0 || cpuLimit.MilliValue() < 1000 {
			t.Errorf("limits.cpu = %s, want a whole number of CPUs (GOMAXPROCS rounds up)", cpuLimit.String())
		}
	})
}

// measuredPeakRSS is the server's highest resident set, in bytes, in
// docs/PERFORMANCE.md: 30.2 MB under load with GOGC=200, 31.0 MB with
// CloudWatch hung (make load, make reliability).
const measuredPeakRSS = 31_000_000

// parseGoMemLimit parses a GOMEMLIMIT value as the Go runtime does: bytes,
// with an optional B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func TestAutoscalingAndDisruption(t *testing.T) {
	want := map[string][2]int32{"base": {2, 6}, "overlays/dev": {1, 3}, "overlays/staging": {3, 20}, "overlays/prod": {3, 20}}
	for _, dir := range allDirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := build(t, dir)
			r.complete(t)
			h := r.hpa
			if ref := h.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != r.deploy.Name || ref.APIVersion != "apps/v1" {
				t.Errorf("HPA targets %+v, want the Deployment", ref)
			}
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != want[dir][0] || h.Spec.MaxReplicas != want[dir][1] {
				t.Errorf("HPA replicas = %v..%d, want %d..%d", h.Spec.MinReplicas, h.Spec.MaxReplicas, want[dir][0], want[dir][1])
			}
			if public := dir == "overlays/staging" || dir == "overlays/prod"; public {
				zones := r.deploy.Spec.Template.Spec.TopologySpreadConstraints[0]
				if zones.TopologyKey != "topology.kubernetes.io/zone" || zones.WhenUnsatisfiable != corev1.DoNotSchedule ||
					zones.MinDomains == nil || *zones.MinDomains != 3 || *h.Spec.MinReplicas < *zones.MinDomains {
					t.Errorf("zone spread = %+v with minReplicas %d, want DoNotSchedule over minDomains 3 and at least one pod per zone",
						zones, *h.Spec.MinReplicas)
				}
			}
			// The API container's own use, not the pod's: a sidecar (Istio)
			// must not blend into the thresholds.
			resources := map[corev1.ResourceName]bool{}
			for _, m := range h.Spec.Metrics {
				if c := m.ContainerResource; m.Type == autoscalingv2.ContainerResourceMetricSourceType && c != nil && c.Container == containerName && c.Target.AverageUtilization != nil {
					resources[c.Name] = true
				} else {
					t.Errorf("HPA metric %+v: want the %s container's utilization only (ContainerResource)", m, containerName)
				}
			}
			if !resources[corev1.ResourceCPU] || !resources[corev1.ResourceMemory] {
				t.Errorf("HPA metrics = %v, want the %s container's CPU and memory utilization", resources, containerName)
			}
			p := r.pdb.Spec
			one := intstr.FromInt32(1)
			if p.MaxUnavailable == nil || *p.MaxUnavailable != one || p.MinAvailable != nil {
				t.Errorf("PDB = %+v, want maxUnavailable 1", p)
			}
			// A running but unready pod serves nothing: a drain may evict it
			// even while the budget is spent, instead of hanging.
			if p.UnhealthyPodEvictionPolicy == nil || *p.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow {
				t.Errorf("PDB unhealthyPodEvictionPolicy = %v, want AlwaysAllow", p.UnhealthyPodEvictionPolicy)
			}
			sel, err := metav1.LabelSelectorAsSelector(p.Selector)
			if err != nil || !sel.Matches(labels.Set(r.deploy.Spec.Template.Labels)) {
				t.Errorf("PDB selector does not select the pods: %v", err)
			}
		})
	}
}

// The audit believes X-Forwarded-For from the ALB only: each overlay's
// TRUSTED_PROXY_CIDRS is its ALB subnets' CIDRs (A, B, C), the same the
// NetworkPolicy admits, and app.Load parses them. Base names no proxy: run
// on its own, the server takes the TCP peer as the source.
func TestTrustedProxiesAreTheALB(t *testing.T) {
	for _, dir := range overlays {
		r := build(t, dir)
		want := []string{r.values["ALB_SUBNET_CIDR_A"], r.values["ALB_SUBNET_CIDR_B"], r.values["ALB_SUBNET_CIDR_C"]}
		if got := r.cm.Data["TRUSTED_PROXY_CIDRS"]; got != strings.Join(want, ",") {
			t.Errorf("%s: TRUSTED_PROXY_CIDRS = %q, want ALB_SUBNET_CIDR_A,_B,_C %q", dir, got, strings.Join(want, ","))
		}
		var admitted []string
		if np := r.netpols["healthcare-api-ingress"]; np != nil {
			for _, peer := range np.Spec.Ingress[0].From {
				if peer.IPBlock != nil {
					admitted = append(admitted, peer.IPBlock.CIDR)
				}
			}
		}
		if !slices.Equal(admitted, want) {
			t.Errorf("%s: the ingress NetworkPolicy admits %v, the trusted proxies are %v", dir, admitted, want)
		}
		cfg, _ := r.config(t)
		var got []string
		for _, p := range cfg.TrustedProxies {
			got = append(got, p.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: app.Load reads trusted proxies %v, want %v", dir, got, want)
		}
	}
	if _, ok := build(t, "base").cm.Data["TRUSTED_PROXY_CIDRS"]; ok {
		t.Error("base sets TRUSTED_PROXY_CIDRS: only an overlay knows its ALB's subnets")
	}
}

func TestNetworkPolicies(t *testing.T) {
	eachDir(t, allDirs, func(t *testing.T, r *rendered) {
		checkNetworkPolicies(t, r, slices.Contains(publicOverlays, "overlays/"+filepath.Base(r.dir)))
	})
}

// checkNetworkPolicies: default deny; ingress from the ALB and Prometheus
// only; egress DNS to CoreDNS and HTTPS, which in a public (staging, prod)
// environment goes to the VPC's CIDR, or, through the optional
// cds-hooks-egress component, to the EHR's CDS_EHR_CIDR.
func checkNetworkPolicies(t *testing.T, r *rendered, public bool) {
	t.Helper()
	pods := labels.Set(r.deploy.Spec.Template.Labels)
	podPort := r.container(t).Ports[0].ContainerPort
	deny, ok := r.netpols["default-deny-all"]
	if !ok {
		t.Fatal("no default-deny-all NetworkPolicy")
	}
	if len(deny.Spec.PodSelector.MatchLabels)+len(deny.Spec.PodSelector.MatchExpressions) != 0 ||
		len(deny.Spec.Ingress)+len(deny.Spec.Egress) != 0 ||
		!slices.Contains(deny.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) ||
		!slices.Contains(deny.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("default-deny-all = %+v, want every pod, ingress and egress, no rules", deny.Spec)
	}
	// The AWS network policy agent has mishandled named ports: numbers only.
	numeric := func(name string, ports []networkingv1.NetworkPolicyPort) {
		for _, p := range ports {
			if p.Port == nil || p.Port.Type != intstr.Int || p.Protocol == nil {
				t.Errorf("%s: port %+v, want a protocol and a port number", name, p)
			}
		}
	}
	var fromALB, fromMonitoring, dnsUDP, dnsTCP, https bool
	var albCIDRs []string
	for name, np := range r.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatal(err)
		}
		if name == "default-deny-all" || !sel.Matches(pods) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			numeric(name, rule.Ports)
			if len(rule.From) == 0 {
				t.Errorf("%s: an ingress rule without from admits everyone", name)
			}
			onPod := len(rule.Ports) == 1 && rule.Ports[0].Port != nil && *rule.Ports[0].Port == intstr.FromInt32(podPort)
			if !onPod {
				t.Errorf("%s: ingress ports = %+v, want only the pod's %d", name, rule.Ports, podPort)
			}
			for _, peer := range rule.From {
				switch {
				case peer.IPBlock != nil && peer.IPBlock.CIDR != "0.0.0.0/0" && peer.IPBlock.CIDR != "::/0":
					fromALB = onPod
					albCIDRs = append(albCIDRs, peer.IPBlock.CIDR)
				case peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" &&
					peer.PodSelector != nil && len(peer.PodSelector.MatchExpressions) == 0 &&
					maps.Equal(peer.PodSelector.MatchLabels, map[string]string{"app.kubernetes.io/name": "prometheus"}):
					fromMonitoring = onPod
				default:
					t.Errorf("%s: unexpected ingress peer %+v (the monitoring peer must name the Prometheus pods)", name, peer)
				}
			}
		}
		for _, rule := range np.Spec.Egress {
			numeric(name, rule.Ports)
			for _, port := range rule.Ports {
				if port.Port == nil || port.Protocol == nil {
					continue
				}
				toDNS := len(rule.To) == 1 && rule.To[0].PodSelector != nil && rule.To[0].PodSelector.MatchLabels["k8s-app"] == "kube-dns"
				switch {
				case port.Port.IntValue() == 53 && *port.Protocol == corev1.ProtocolUDP:
					dnsUDP = toDNS
				case port.Port.IntValue() == 53 && *port.Protocol == corev1.ProtocolTCP:
					dnsTCP = toDNS
				case port.Port.IntValue() == 443 && *port.Protocol == corev1.ProtocolTCP:
					https = true
					want, what := r.values["VPC_CIDR"], "the VPC's CIDR %s only (the AWS API endpoints)"
					if name == cdsEgressPolicy {
						want, what = r.values["CDS_EHR_CIDR"], "the EHR's CDS_EHR_CIDR %s only"
					}
					if public && (len(rule.To) != 1 || rule.To[0].IPBlock == nil || want == "" || rule.To[0].IPBlock.CIDR != want || len(rule.To[0].IPBlock.Except) > 0) {
						t.Errorf("%s: HTTPS egress to %+v, want "+what, name, rule.To, want)
					}
				default:
					t.Errorf("%s: unexpected egress port %s/%s", name, *port.Protocol, port.Port.String())
				}
			}
		}
	}
	// An ALB has a node in each of its two or three subnets, and each
	// connects to the pods: one ipBlock per subnet, as values.env says.
	if want := []string{r.values["ALB_SUBNET_CIDR_A"], r.values["ALB_SUBNET_CIDR_B"], r.values["ALB_SUBNET_CIDR_C"]}; !r.committed && !slices.Equal(albCIDRs, want) {
		t.Errorf("ingress from the ALB's %v, want values.env's ALB_SUBNET_CIDR_A/B/C %v", albCIDRs, want)
	}
	for what, ok := range map[string]bool{"ingress from the ALB's addresses": fromALB, "ingress from the Prometheus pods": fromMonitoring,
		"egress DNS/UDP to kube-dns": dnsUDP, "egress DNS/TCP to kube-dns": dnsTCP, "egress HTTPS": https} {
		if !ok {
			t.Errorf("no NetworkPolicy allows %s on the right port", what)
		}
	}
	if public && regexp.MustCompile(`(^|[^0-9])0\.0\.0\.0/0|::/0`).Match(r.raw) {
		t.Error("a public environment's manifests name 0.0.0.0/0 or ::/0: egress goes to the VPC only")
	}
}

func TestIngressForALB(t *testing.T) {
	scheme := map[string]string{"base": "internal", "overlays/dev": "internal", "overlays/staging": "internet-facing", "overlays/prod": "internet-facing"}
	for _, dir := range allDirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := build(t, dir)
			r.complete(t)
			ing := r.ing
			if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "alb" {
				t.Errorf("ingressClassName = %v, want alb", ing.Spec.IngressClassName)
			}
			a := ing.Annotations
			want := map[string]string{
				"alb.ingress.kubernetes.io/scheme":           scheme[dir],
				"alb.ingress.kubernetes.io/target-type":      "ip",
				"alb.ingress.kubernetes.io/ssl-policy":       "ELBSecurityPolicy-TLS13-1-2-2021-06",
				"alb.ingress.kubernetes.io/success-codes":    "200",
				"alb.ingress.kubernetes.io/backend-protocol": "HTTP",
			}
			for k, v := range want {
				if a[k] != v {
					t.Errorf("%s = %q, want %q", k, a[k], v)
				}
			}
			if cert := a["alb.ingress.kubernetes.io/certificate-arn"]; r.committed && cert != placeholder ||
				!r.committed && !regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$`).MatchString(cert) {
				t.Errorf("certificate-arn = %q, want an ACM certificate ARN", a["alb.ingress.kubernetes.io/certificate-arn"])
			}
			if len(ing.Spec.Rules) == 0 || ing.Spec.Rules[0].Host == "" {
				t.Error("the Ingress rule has no host: the ALB would answer for any name")
			}
			if ing.Spec.DefaultBackend != nil {
				t.Error("a default backend would route /metrics and every unknown path to the pods")
			}
		})
	}
	// No two environments share a certificate, host, role or key secret.
	for i, a := range overlays {
		for _, b := range overlays[i+1:] {
			ra, rb := build(t, a), build(t, b)
			for what, v := range map[string][2]string{
				"a certificate":     {ra.ing.Annotations["alb.ingress.kubernetes.io/certificate-arn"], rb.ing.Annotations["alb.ingress.kubernetes.io/certificate-arn"]},
				"a host name":       {ra.ing.Spec.Rules[0].Host, rb.ing.Spec.Rules[0].Host},
				"an IAM role":       {ra.sa.Annotations["eks.amazonaws.com/role-arn"], rb.sa.Annotations["eks.amazonaws.com/role-arn"]},
				"an API key secret": {ra.cm.Data["API_KEYS_SECRET_ID"], rb.cm.Data["API_KEYS_SECRET_ID"]},
			} {
				if v[0] == v[1] {
					t.Errorf("%s and %s share %s: %s", a, b, what, v[0])
				}
			}
		}
	}
}
