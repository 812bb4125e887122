package addons

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	apisecurity "istio.io/api/security/v1beta1"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istiosec "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	sigsyaml "sigs.k8s.io/yaml"
)

const (
	namespace   = "healthcare-api"
	apiName     = "healthcare-api"
	gatewayName = "healthcare-api-gateway"
	apiPort     = "8000"
)

// copyK8s copies the manifests under k8s/ into a temporary directory
// (with its testdata, not the Go tests) and returns its path.
func copyK8s(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "k8s")
	src := filepath.Join(repo, "k8s")
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(src, path)
		switch {
		case err != nil:
			return err
		case d.IsDir() && (rel == "addons" || rel == "tools"):
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case strings.HasSuffix(path, ".go"):
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// withComponents renders overlays/prod, its values.env filled in from
// k8s/testdata/values, with the component dirs added, in order, after its
// others.
func withComponents(t *testing.T, root string, components ...string) []byte {
	t.Helper()
	values, err := os.ReadFile(filepath.Join(root, "testdata/values/prod.env"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "overlays/prod/values.env"), values, 0o644); err != nil {
		t.Fatal(err)
	}
	kfile := filepath.Join(root, "overlays/prod/kustomization.yaml")
	k, err := os.ReadFile(kfile)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "  - ../../components/production\n"
	if !strings.Contains(string(k), anchor) {
		t.Fatalf("overlays/prod/kustomization.yaml lists no %q", strings.TrimSpace(anchor))
	}
	added := anchor
	for _, c := range components {
		added += "  - ../../components/" + c + "\n"
	}
	k = []byte(strings.Replace(string(k), anchor, added, 1))
	if err := os.WriteFile(kfile, k, 0o644); err != nil {
		t.Fatal(err)
	}
	return kustomize(t, filepath.Join(root, "overlays/prod"))
}

// meshed is overlays/prod with k8s/components/istio, decoded strictly.
type meshed struct {
	deploys   map[string]*appsv1.Deployment
	services  map[string]*corev1.Service
	configMap *corev1.ConfigMap
	ingress   *networkingv1.Ingress
	netpols   map[string]*networkingv1.NetworkPolicy
	peerAuth  []*istiosec.PeerAuthentication
	authz     []*istiosec.AuthorizationPolicy
	gateways  []*istionet.Gateway
	vservices []*istionet.VirtualService
	hpas      map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs      map[string]*policyv1.PodDisruptionBudget
}

// istioObject decodes an Istio resource strictly: the Kubernetes envelope
// with sigs.k8s.io/yaml, the spec with protojson, which (unlike the Istio
// types' own UnmarshalJSON) refuses unknown fields.
type istioObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
}

// renderMeshed is overlays/prod with k8s/components/istio (and the
// sub-components given after it), decoded strictly.
func renderMeshed(t *testing.T, sub ...string) meshed {
	t.Helper()
	out := withComponents(t, copyK8s(t), append([]string{"istio"}, sub...)...)
	m := meshed{deploys: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}, netpols: map[string]*networkingv1.NetworkPolicy{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	objs := decodeStrict(t, out, func(apiVersion, kind string) any {
		switch apiVersion + " " + kind {
		case "v1 ConfigMap":
			return &corev1.ConfigMap{}
		case "v1 ServiceAccount":
			return &corev1.ServiceAccount{}
		case "v1 Service":
			return &corev1.Service{}
		case "apps/v1 Deployment":
			return &appsv1.Deployment{}
		case "autoscaling/v2 HorizontalPodAutoscaler":
			return &autoscalingv2.HorizontalPodAutoscaler{}
		case "networking.k8s.io/v1 Ingress":
			return &networkingv1.Ingress{}
		case "networking.k8s.io/v1 NetworkPolicy":
			return &networkingv1.NetworkPolicy{}
		case "policy/v1 PodDisruptionBudget":
			return &policyv1.PodDisruptionBudget{}
		case "security.istio.io/v1 PeerAuthentication", "security.istio.io/v1 AuthorizationPolicy",
			"networking.istio.io/v1 Gateway", "networking.istio.io/v1 VirtualService":
			return &istioObject{}
		}
		return nil
	})
	for _, o := range objs {
		var meta metav1.Object
		if x, ok := o.(*istioObject); ok {
			meta = &x.Metadata
		} else {
			meta = o.(metav1.Object)
		}
		if meta.GetNamespace() != namespace {
			t.Errorf("%T %q is in namespace %q, want %s (the deployer's)", o, meta.GetName(), meta.GetNamespace(), namespace)
		}
		switch o := o.(type) {
		case *appsv1.Deployment:
			m.deploys[o.Name] = o
		case *corev1.Service:
			m.services[o.Name] = o
		case *corev1.ConfigMap:
			if o.Name != "environment-values" {
				m.configMap = o
			}
		case *networkingv1.Ingress:
			m.ingress = o
		case *networkingv1.NetworkPolicy:
			m.netpols[o.Name] = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			m.pdbs[o.Name] = o
		case *istioObject:
			var spec proto.Message
			switch o.Kind {
			case "PeerAuthentication":
				x := &istiosec.PeerAuthentication{ObjectMeta: o.Metadata}
				m.peerAuth, spec = append(m.peerAuth, x), &x.Spec
			case "AuthorizationPolicy":
				x := &istiosec.AuthorizationPolicy{ObjectMeta: o.Metadata}
				m.authz, spec = append(m.authz, x), &x.Spec
			case "Gateway":
				x := &istionet.Gateway{ObjectMeta: o.Metadata}
				m.gateways, spec = append(m.gateways, x), &x.Spec
			case "VirtualService":
				x := &istionet.VirtualService{ObjectMeta: o.Metadata}
				m.vservices, spec = append(m.vservices, x), &x.Spec
			}
			if err := protojson.Unmarshal(o.Spec, spec); err != nil {
				t.Errorf("%s %q: spec does not decode strictly into Istio's type: %v", o.Kind, o.Metadata.Name, err)
			}
		}
	}
	if m.deploys[apiName] == nil || m.deploys[gatewayName] == nil || m.services[gatewayName] == nil || m.services[apiName] == nil || m.ingress == nil || m.configMap == nil {
		t.Fatalf("overlays/prod with istio lacks the API or gateway Deployment, the gateway Service, the Ingress or the ConfigMap")
	}
	return m
}

// TestIstioMutualTLS: every workload of the namespace takes mTLS only.
func TestIstioMutualTLS(t *testing.T) {
	m := renderMeshed(t)
	if len(m.peerAuth) != 1 {
		t.Fatalf("%d PeerAuthentications, want 1", len(m.peerAuth))
	}
	pa := m.peerAuth[0]
	if pa.Namespace != namespace || pa.Spec.GetSelector() != nil || pa.Spec.GetMtls().GetMode() != apisecurity.PeerAuthentication_MutualTLS_STRICT || len(pa.Spec.GetPortLevelMtls()) > 0 {
		t.Errorf("PeerAuthentication %s/%s: want STRICT for the whole namespace, no selector, no port exceptions; got %v", pa.Namespace, pa.Name, &pa.Spec)
	}
}

// authzRequest is one mTLS request as the API pod's proxy sees it.
type authzRequest struct {
	principal, method, path string
	port                    string
}

// allowed evaluates ALLOW AuthorizationPolicies the way Istio documents
// them: a request is allowed when a rule matches; a rule matches when one
// of its from and one of its to match (an absent one matches all); within
// a source or operation every field set must match; values match exactly,
// or by a leading or trailing "*". A field this evaluator does not know
// fails the test rather than being ignored.
func allowed(t *testing.T, policies []*istiosec.AuthorizationPolicy, r authzRequest) bool {
	t.Helper()
	match := func(vals []string, s string) bool {
		return slices.ContainsFunc(vals, func(v string) bool {
			switch {
			case v == "*":
				return true
			case strings.HasSuffix(v, "*"):
				return strings.HasPrefix(s, strings.TrimSuffix(v, "*"))
			case strings.HasPrefix(v, "*"):
				return strings.HasSuffix(s, strings.TrimPrefix(v, "*"))
			}
			return v == s
		})
	}
	field := func(vals, notVals []string, s string) bool {
		return (len(vals) == 0 || match(vals, s)) && !match(notVals, s)
	}
	for _, p := range policies {
		if p.Spec.GetAction() != apisecurity.AuthorizationPolicy_ALLOW || p.Spec.GetProvider() != nil {
			t.Fatalf("AuthorizationPolicy %s: action %s; this test evaluates ALLOW policies only", p.Name, p.Spec.GetAction())
		}
		for _, rule := range p.Spec.GetRules() {
			if len(rule.GetWhen()) > 0 {
				t.Fatalf("AuthorizationPolicy %s: when conditions are not evaluated here", p.Name)
			}
			from := len(rule.GetFrom()) == 0
			for _, f := range rule.GetFrom() {
				s := f.GetSource()
				if len(s.GetNamespaces())+len(s.GetIpBlocks())+len(s.GetRemoteIpBlocks())+len(s.GetRequestPrincipals())+len(s.GetNotNamespaces())+len(s.GetServiceAccounts()) > 0 {
					t.Fatalf("AuthorizationPolicy %s: source %v uses fields this test does not evaluate", p.Name, s)
				}
				from = from || field(s.GetPrincipals(), s.GetNotPrincipals(), r.principal)
			}
			to := len(rule.GetTo()) == 0
			for _, x := range rule.GetTo() {
				o := x.GetOperation()
				if len(o.GetHosts())+len(o.GetNotHosts()) > 0 {
					t.Fatalf("AuthorizationPolicy %s: operation %v uses fields this test does not evaluate", p.Name, o)
				}
				to = to || field(o.GetPorts(), o.GetNotPorts(), r.port) && field(o.GetMethods(), o.GetNotMethods(), r.method) && field(o.GetPaths(), o.GetNotPaths(), r.path)
			}
			if from && to {
				return true
			}
		}
	}
	return false
}

// prometheusPrincipal is kube-prometheus-stack's Prometheus identity: its
// ServiceAccount is <release>-prometheus in the namespace monitoring, the
// release being the label k8s/monitoring selects on.
func prometheusPrincipal(t *testing.T) string {
	t.Helper()
	k, err := os.ReadFile(filepath.Join(repo, "k8s/monitoring/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+release: (\S+)$`).FindSubmatch(k)
	if m == nil {
		t.Fatal("k8s/monitoring/kustomization.yaml has no release label")
	}
	return "cluster.local/ns/monitoring/sa/" + string(m[1]) + "-prometheus"
}

// TestIstioAuthorization: the gateway reaches every public route and not
// /metrics; Prometheus reaches GET /metrics and nothing else; nobody else
// reaches anything.
func TestIstioAuthorization(t *testing.T) {
	m := renderMeshed(t)
	var onAPI []*istiosec.AuthorizationPolicy
	for _, p := range m.authz {
		sel := p.Spec.GetSelector().GetMatchLabels()
		if sel == nil || sel["app.kubernetes.io/name"] == apiName {
			onAPI = append(onAPI, p)
		}
	}
	if len(onAPI) == 0 {
		t.Fatal("no AuthorizationPolicy selects the API pods")
	}
	gateway := "cluster.local/ns/" + namespace + "/sa/" + m.deploys[gatewayName].Spec.Template.Spec.ServiceAccountName
	prometheus := prometheusPrincipal(t)
	cases := []struct {
		req  authzRequest
		want bool
	}{
		{authzRequest{gateway, "POST", "/predict", apiPort}, true},
		{authzRequest{gateway, "GET", "/models/ascvd-pce", apiPort}, true},
		{authzRequest{gateway, "GET", "/health/ready", apiPort}, true},
		{authzRequest{gateway, "GET", "/", apiPort}, true},
		{authzRequest{gateway, "GET", "/metrics", apiPort}, false},
		{authzRequest{gateway, "GET", "/metrics/", apiPort}, false},
		{authzRequest{prometheus, "GET", "/metrics", apiPort}, true},
		{authzRequest{prometheus, "POST", "/metrics", apiPort}, false},
		{authzRequest{prometheus, "POST", "/predict", apiPort}, false},
		{authzRequest{prometheus, "GET", "/models", apiPort}, false},
		{authzRequest{"cluster.local/ns/default/sa/default", "POST", "/predict", apiPort}, false},
		{authzRequest{"cluster.local/ns/monitoring/sa/grafana", "GET", "/metrics", apiPort}, false},
		{authzRequest{"", "GET", "/health", apiPort}, false},
	}
	for _, c := range cases {
		if got := allowed(t, onAPI, c.req); got != c.want {
			t.Errorf("%s %s %s on port %s: allowed = %v, want %v", c.req.principal, c.req.method, c.req.path, c.req.port, got, c.want)
		}
	}
}

// TestIstioIngressPath: the ALB sends every route to the gateway, which
// forwards it to the API's Service.
func TestIstioIngressPath(t *testing.T) {
	m := renderMeshed(t)
	gwSvc := m.services[gatewayName]
	for _, rule := range m.ingress.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			b := p.Backend.Service
			if b == nil || b.Name != gwSvc.Name || b.Port.Name != gwSvc.Spec.Ports[0].Name {
				t.Errorf("Ingress path %s goes to %+v, want the gateway Service %s port %s", p.Path, b, gwSvc.Name, gwSvc.Spec.Ports[0].Name)
			}
		}
	}
	pod := m.deploys[gatewayName].Spec.Template
	for k, v := range gwSvc.Spec.Selector {
		if pod.Labels[k] != v {
			t.Errorf("gateway Service selects %s=%s, the gateway pods do not carry it", k, v)
		}
	}
	if len(m.gateways) != 1 || len(m.vservices) != 1 {
		t.Fatalf("%d Gateways and %d VirtualServices, want 1 each", len(m.gateways), len(m.vservices))
	}
	gw, vs := m.gateways[0], m.vservices[0]
	for k, v := range gw.Spec.GetSelector() {
		if pod.Labels[k] != v {
			t.Errorf("Gateway selects %s=%s, the gateway pods do not carry it", k, v)
		}
	}
	target := gwSvc.Spec.Ports[0].TargetPort.String()
	var container string
	for _, p := range pod.Spec.Containers[0].Ports {
		if p.Name == target || strconv.Itoa(int(p.ContainerPort)) == target {
			container = strconv.Itoa(int(p.ContainerPort))
		}
	}
	if s := gw.Spec.GetServers(); len(s) != 1 || strconv.Itoa(int(s[0].GetPort().GetNumber())) != container || s[0].GetPort().GetProtocol() != "HTTP" {
		t.Errorf("Gateway servers %v: want one HTTP server on the gateway pod's port %s, where its Service sends", s, container)
	}
	if !slices.Equal(vs.Spec.GetGateways(), []string{gw.Name}) {
		t.Errorf("VirtualService binds to %v, want the Gateway %s", vs.Spec.GetGateways(), gw.Name)
	}
	apiSvc := m.services[apiName]
	wantHost := apiSvc.Name + "." + namespace + ".svc.cluster.local"
	for _, h := range vs.Spec.GetHttp() {
		for _, d := range h.GetRoute() {
			if d.GetDestination().GetHost() != wantHost || d.GetDestination().GetPort().GetNumber() != uint32(apiSvc.Spec.Ports[0].Port) {
				t.Errorf("VirtualService routes to %v, want %s port %d", d.GetDestination(), wantHost, apiSvc.Spec.Ports[0].Port)
			}
		}
	}
	if len(vs.Spec.GetHttp()) != 1 || len(vs.Spec.GetHttp()[0].GetRoute()) != 1 || len(vs.Spec.GetHttp()[0].GetMatch()) > 0 {
		t.Errorf("VirtualService: want one route of everything to the API (the Ingress alone lists the paths), got %v", &vs.Spec)
	}

	// The NetworkPolicies let the ALB reach the gateway, the gateway the
	// API, and the proxies istiod.
	ingress := m.netpols["healthcare-api-ingress"]
	if ingress == nil || !selects(t, ingress.Spec.PodSelector, pod.Labels) || !slices.ContainsFunc(ingress.Spec.Ingress[0].Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port.String() == container }) {
		t.Errorf("NetworkPolicy healthcare-api-ingress does not admit the ALB's subnets to the gateway pods on %s", container)
	}
	// The ALB health-checks the gateway's readiness on its status port,
	// which the policy opens to the ALB; the API's own port is closed to
	// the ALB, whose plaintext STRICT refuses anyway.
	if a := gwSvc.Annotations; a["alb.ingress.kubernetes.io/healthcheck-port"] != "15021" || a["alb.ingress.kubernetes.io/healthcheck-path"] != "/healthz/ready" {
		t.Errorf("gateway Service health check port %q path %q, want pilot-agent's 15021 /healthz/ready",
			a["alb.ingress.kubernetes.io/healthcheck-port"], a["alb.ingress.kubernetes.io/healthcheck-path"])
	}
	if ingress != nil {
		var albPorts []string
		for _, p := range ingress.Spec.Ingress[0].Ports {
			albPorts = append(albPorts, p.Port.String())
		}
		if !slices.Contains(albPorts, "15021") || slices.Contains(albPorts, apiPort) {
			t.Errorf("the ALB's subnets may reach ports %v: want the gateway's health port 15021 and not the API's %s", albPorts, apiPort)
		}
	}
	if p := m.netpols["healthcare-api-from-gateway"]; p == nil || !selects(t, p.Spec.PodSelector, m.deploys[apiName].Spec.Template.Labels) ||
		!selects(t, *p.Spec.Ingress[0].From[0].PodSelector, pod.Labels) || p.Spec.Ingress[0].Ports[0].Port.String() != apiPort {
		t.Errorf("NetworkPolicy healthcare-api-from-gateway does not admit the gateway pods to the API on %s", apiPort)
	}
	if p := m.netpols["istio-proxies-to-istiod"]; p == nil || !selects(t, p.Spec.PodSelector, pod.Labels) || !selects(t, p.Spec.PodSelector, m.deploys[apiName].Spec.Template.Labels) {
		t.Error("NetworkPolicy istio-proxies-to-istiod does not cover the gateway and API pods")
	}
}

func selects(t *testing.T, sel metav1.LabelSelector, lbls map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(lbls))
}

// injectSidecar adds to spec what Istio's sidecar injector adds with
// istio-cni on (manifests/charts/istio-control/istio-discovery/files/
// injection-template.yaml, values istio_cni.enabled=true and the defaults
// global.proxy.privileged=false, interception REDIRECT, capNetBindService
// false): the istio-validation init container, which only checks the
// redirection istio-cni set up, and the istio-proxy sidecar, as a native
// sidecar (an init container restarted always) or as a plain container.
// Without cni, the template's istio-init instead needs NET_ADMIN and root.
func injectSidecar(spec corev1.PodSpec, cni, native bool) *corev1.PodSpec {
	spec = *spec.DeepCopy()
	f, t := false, true
	uid := int64(1337)
	restricted := &corev1.SecurityContext{
		AllowPrivilegeEscalation: &f, Privileged: &f, ReadOnlyRootFilesystem: &t,
		RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: &t,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	init := corev1.Container{Name: "istio-validation", Image: "docker.io/istio/proxyv2:1.32.0",
		Args: []string{"istio-iptables", "--run-validation", "--skip-rule-apply"}, SecurityContext: restricted.DeepCopy()}
	if !cni {
		root := int64(0)
		init.Name, init.Args = "istio-init", []string{"istio-iptables"}
		init.SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: &f, Privileged: &f, ReadOnlyRootFilesystem: &f, RunAsUser: &root, RunAsGroup: &root, RunAsNonRoot: &f,
			Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}},
		}
	}
	always := corev1.ContainerRestartPolicyAlways
	init.RestartPolicy = nil
	proxy := corev1.Container{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.32.0", Args: []string{"proxy", "sidecar"},
		Ports:           []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}},
		SecurityContext: restricted.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{{Name: "istiod-ca-cert", MountPath: "/var/run/secrets/istio"}, {Name: "istio-data", MountPath: "/var/lib/istio/data"},
			{Name: "istio-envoy", MountPath: "/etc/istio/proxy"}, {Name: "istio-token", MountPath: "/var/run/secrets/tokens"}, {Name: "istio-podinfo", MountPath: "/etc/istio/pod"}},
	}
	spec.InitContainers = append(spec.InitContainers, init)
	if native {
		proxy.RestartPolicy = &always
		spec.InitContainers = append(spec.InitContainers, proxy)
	} else {
		spec.Containers = append(spec.Containers, proxy)
	}
	expiry := int64(43200)
	spec.Volumes = append(spec.Volumes,
		corev1.Volume{Name: "istio-envoy", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		corev1.Volume{Name: "istio-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "istio-podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		corev1.Volume{Name: "istio-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "istio-token", ExpirationSeconds: &expiry, Audience: "istio-ca"}}}}}},
		corev1.Volume{Name: "istiod-ca-cert", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "istio-ca-root-cert"}}}},
	)
	return &spec
}

// TestIstioPodSecurity: the API and gateway pods, as Istio's injector
// changes them under istio-cni, still pass Pod Security "restricted" (the
// namespace enforces it); the NET_ADMIN istio-init of a mesh without
// istio-cni would not.
func TestIstioPodSecurity(t *testing.T) {
	m := renderMeshed(t)
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := os.ReadFile(filepath.Join(repo, "k8s/bootstrap/namespace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var namespaceObj corev1.Namespace
	if err := sigsyaml.UnmarshalStrict(ns, &namespaceObj); err != nil {
		t.Fatal(err)
	}
	p, errs := psapi.PolicyToEvaluate(namespaceObj.Labels, psapi.Policy{})
	if len(errs) > 0 || p.Enforce.Level != psapi.LevelRestricted {
		t.Fatalf("namespace enforces %s (%v), want restricted", p.Enforce.String(), errs)
	}
	forbidden := func(pod *appsv1.Deployment, spec *corev1.PodSpec) []string {
		var why []string
		for _, lv := range []psapi.LevelVersion{p.Enforce, {Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}} {
			for _, res := range evaluator.EvaluatePod(lv, &pod.Spec.Template.ObjectMeta, spec) {
				if !res.Allowed {
					why = append(why, fmt.Sprintf("%s: %s: %s", lv.String(), res.ForbiddenReason, res.ForbiddenDetail))
				}
			}
		}
		return why
	}
	for _, name := range []string{apiName, gatewayName} {
		d := m.deploys[name]
		if d.Spec.Template.Labels["sidecar.istio.io/inject"] != "true" {
			t.Errorf("%s: pods not labelled sidecar.istio.io/inject=true", name)
		}
		for _, native := range []bool{false, true} {
			if why := forbidden(d, injectSidecar(d.Spec.Template.Spec, true, native)); len(why) > 0 {
				t.Errorf("%s with the sidecar (istio-cni, native sidecar %v) is forbidden: %v", name, native, why)
			}
		}
	}
	if why := forbidden(m.deploys[apiName], injectSidecar(m.deploys[apiName].Spec.Template.Spec, false, false)); len(why) == 0 {
		t.Error("the API pod with istio-init (NET_ADMIN, root) passes restricted: this test's injection is wrong")
	}
}

// proxyConfig is what the components set in proxy.istio.io/config.
type proxyConfig struct {
	HoldApplicationUntilProxyStarts bool              `json:"holdApplicationUntilProxyStarts"`
	TerminationDrainDuration        string            `json:"terminationDrainDuration"`
	ProxyMetadata                   map[string]string `json:"proxyMetadata"`
}

func readProxyConfig(t *testing.T, d *appsv1.Deployment) proxyConfig {
	t.Helper()
	var cfg proxyConfig
	if d.Spec.Template.Annotations["proxy.istio.io/config"] == "" {
		return cfg // the mesh's defaults
	}
	if err := newStrictJSON(d.Spec.Template.Annotations["proxy.istio.io/config"]).Decode(&cfg); err != nil {
		t.Fatalf("%s: proxy.istio.io/config: %v", d.Name, err)
	}
	return cfg
}

// proxyExit is when, counted from the pod's deletion, pilot-agent ends
// the proxy, given when it is told to stop (SIGTERM) and when the API has
// exited. pilot-agent's terminate(): with EXIT_ON_ZERO_ACTIVE_CONNECTIONS
// it sleeps MINIMUM_DRAIN_DURATION (default 5s), then checks Envoy's
// active downstream connections every second and exits at zero, which
// this model takes to be once the API has exited (it holds the gateway's
// and its AWS clients' keep-alive connections until then);
// terminationDrainDuration no longer applies. Without it, it waits
// terminationDrainDuration (default 5s).
func proxyExit(t *testing.T, cfg proxyConfig, sigterm, appExit time.Duration) time.Duration {
	t.Helper()
	dur := func(s string, def time.Duration) time.Duration {
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("proxy config duration %q: %v", s, err)
		}
		return d
	}
	if cfg.ProxyMetadata["EXIT_ON_ZERO_ACTIVE_CONNECTIONS"] == "true" {
		const check = time.Second // activeConnectionCheckDelay
		first := sigterm + dur(cfg.ProxyMetadata["MINIMUM_DRAIN_DURATION"], 5*time.Second) + check
		for first < appExit {
			first += check
		}
		return first
	}
	return sigterm + dur(cfg.TerminationDrainDuration, 5*time.Second)
}

// TestIstioDrain: the proxy starts before the API and outlives its whole
// shutdown, and exits before the kubelet's SIGKILL, in both of the
// injector's modes: as a plain container, which the kubelet stops
// together with the API (after no preStop of its own), and as a native
// sidecar (an init container restarted always; Istio >= 1.27 on
// Kubernetes >= 1.29), which it stops only once the API has exited.
func TestIstioDrain(t *testing.T) {
	m := renderMeshed(t)
	d := m.deploys[apiName]
	cfg := readProxyConfig(t, d)
	if !cfg.HoldApplicationUntilProxyStarts {
		t.Error("holdApplicationUntilProxyStarts is off: the API's start-up calls to AWS would race the proxy")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("API container has no preStop sleep")
	}
	env := func(k string) time.Duration {
		v, err := time.ParseDuration(m.configMap.Data[k])
		if err != nil {
			t.Fatalf("ConfigMap %s=%q: %v", k, m.configMap.Data[k], err)
		}
		return v
	}
	// The server serves until preStop, DRAIN_DELAY and SHUTDOWN_TIMEOUT
	// have passed; then it flushes CloudWatch, through the proxy, for as
	// long as the grace period minus k8s/'s 5s margin allows
	// (TestShutdownTimings proves the grace period covers all of it).
	const margin = 5 * time.Second
	serving := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second + env("DRAIN_DELAY") + env("SHUTDOWN_TIMEOUT")
	grace := time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	appExit := grace - margin
	if serving > appExit {
		t.Fatalf("the API serves for %s, past its exit at %s", serving, appExit)
	}
	for _, mode := range []struct {
		name    string
		sigterm time.Duration
	}{{"plain container", 0}, {"native sidecar", appExit}} {
		if exit := proxyExit(t, cfg, mode.sigterm, appExit); exit < appExit || exit > grace {
			t.Errorf("%s: the proxy exits at %s; want after the API's whole shutdown (%s) and within the grace period %s", mode.name, exit, appExit, grace)
		}
	}

	// The gateway: its proxy is the pod's main container. It serves
	// through its preStop while the ALB deregisters it, then drains the
	// requests the ALB still sends during its deregistration delay, and
	// exits within the grace period.
	gw := m.deploys[gatewayName]
	gcfg := readProxyConfig(t, gw)
	var proxy *corev1.Container
	for i := range gw.Spec.Template.Spec.Containers {
		if gw.Spec.Template.Spec.Containers[i].Name == "istio-proxy" {
			proxy = &gw.Spec.Template.Spec.Containers[i]
		}
	}
	if proxy == nil || proxy.Lifecycle == nil || proxy.Lifecycle.PreStop == nil || proxy.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("gateway's istio-proxy has no preStop sleep: it would start draining while the ALB still sends it new requests")
	}
	preStop := time.Duration(proxy.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	gwGrace := time.Duration(*gw.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	attrs := m.ingress.Annotations["alb.ingress.kubernetes.io/target-group-attributes"]
	sec := regexp.MustCompile(`deregistration_delay\.timeout_seconds=(\d+)`).FindStringSubmatch(attrs)
	if sec == nil {
		t.Fatalf("Ingress target-group-attributes %q set no deregistration delay", attrs)
	}
	n, _ := strconv.Atoi(sec[1])
	dereg := time.Duration(n) * time.Second
	exit := proxyExit(t, gcfg, preStop, 0)
	if gcfg.ProxyMetadata["EXIT_ON_ZERO_ACTIVE_CONNECTIONS"] != "" || preStop < 15*time.Second || exit < dereg || exit > gwGrace {
		t.Errorf("gateway: preStop %s, then the proxy exits at %s; want a preStop of at least 15s, a fixed drain, an exit after the ALB's deregistration delay %s and within the grace period %s",
			preStop, exit, dereg, gwGrace)
	}
}

// TestIstioGatewayScaling: every request passes a gateway pod, so the
// gateway scales and spreads like the API in production: an HPA on CPU
// from three pods, no fixed replica count for an apply to reset, spread
// over at least three zones, and a budget that lets a drain evict an
// unready pod.
func TestIstioGatewayScaling(t *testing.T) {
	m := renderMeshed(t)
	d := m.deploys[gatewayName]
	if d.Spec.Replicas != nil {
		t.Errorf("gateway Deployment sets replicas %d: every apply would reset what the HPA scaled to", *d.Spec.Replicas)
	}
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	for _, h := range m.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == gatewayName {
			hpa = h
		}
	}
	if hpa == nil {
		t.Fatal("no HorizontalPodAutoscaler scales the gateway")
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 3 || hpa.Spec.MaxReplicas <= *hpa.Spec.MinReplicas {
		t.Errorf("gateway HPA %v-%d: want at least 3 (one per zone) and room above", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if !slices.ContainsFunc(hpa.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
		return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil
	}) {
		t.Errorf("gateway HPA metrics %v: want CPU utilization", hpa.Spec.Metrics)
	}
	pod := d.Spec.Template
	zone := slices.IndexFunc(pod.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
		return c.TopologyKey == "topology.kubernetes.io/zone"
	})
	if zone < 0 {
		t.Fatal("gateway pods are not spread over zones")
	}
	c := pod.Spec.TopologySpreadConstraints[zone]
	if c.WhenUnsatisfiable != corev1.DoNotSchedule || c.MinDomains == nil || *c.MinDomains < 3 || c.MaxSkew != 1 || c.LabelSelector == nil || !selects(t, *c.LabelSelector, pod.Labels) {
		t.Errorf("gateway zone spread %+v: want maxSkew 1, DoNotSchedule over at least 3 zones, selecting the gateway pods", c)
	}
	var pdb *policyv1.PodDisruptionBudget
	for _, p := range m.pdbs {
		if p.Spec.Selector != nil && selects(t, *p.Spec.Selector, pod.Labels) {
			pdb = p
		}
	}
	if pdb == nil {
		t.Fatal("no PodDisruptionBudget covers the gateway pods")
	}
	if pdb.Spec.UnhealthyPodEvictionPolicy == nil || *pdb.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("gateway PDB %+v: want maxUnavailable 1 and unhealthyPodEvictionPolicy AlwaysAllow", pdb.Spec)
	}
}

// TestIstioPhasedRollout: the mesh can be switched on without an outage
// (docs/eks.md, "Switching it on"). Phase 1 (istio-permissive and
// istio-ingress-unchanged): the sidecars and the gateway run, the
// namespace takes plaintext too, no AuthorizationPolicy refuses a caller
// without identity, and the ALB still reaches the API pods, every Ingress
// path still going to the API's Service as without the mesh. Phase 2
// (istio-permissive): the Ingress moves to the gateway, still PERMISSIVE.
// Phase 3 (istio alone) is STRICT: TestIstioMutualTLS.
func TestIstioPhasedRollout(t *testing.T) {
	var plain networkingv1.Ingress
	for _, o := range decodeStrict(t, withComponents(t, copyK8s(t)), func(apiVersion, kind string) any {
		if kind == "Ingress" {
			return &networkingv1.Ingress{}
		}
		return &map[string]any{}
	}) {
		if ing, ok := o.(*networkingv1.Ingress); ok {
			plain = *ing
		}
	}
	if len(plain.Spec.Rules) == 0 {
		t.Fatal("overlays/prod without the mesh renders no Ingress rules")
	}
	permissive := func(t *testing.T, m meshed) {
		t.Helper()
		if len(m.peerAuth) != 1 || m.peerAuth[0].Spec.GetMtls().GetMode() != apisecurity.PeerAuthentication_MutualTLS_PERMISSIVE {
			t.Errorf("PeerAuthentications %v: want one, PERMISSIVE", m.peerAuth)
		}
		if len(m.authz) != 0 {
			t.Errorf("%d AuthorizationPolicies: under PERMISSIVE they would refuse the ALB's and Prometheus's plaintext (no identity)", len(m.authz))
		}
		np := m.netpols["healthcare-api-ingress"]
		if np == nil || !selects(t, np.Spec.PodSelector, m.deploys[apiName].Spec.Template.Labels) ||
			!slices.ContainsFunc(np.Spec.Ingress[0].Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port.String() == apiPort }) {
			t.Errorf("NetworkPolicy healthcare-api-ingress does not admit the ALB's subnets to the API pods on %s", apiPort)
		}
	}
	t.Run("phase 1", func(t *testing.T) {
		m := renderMeshed(t, "istio-permissive", "istio-ingress-unchanged")
		permissive(t, m)
		if !equalJSON(t, m.ingress.Spec, plain.Spec) {
			t.Errorf("Ingress spec %+v, want it unchanged from the overlay without the mesh %+v", m.ingress.Spec, plain.Spec)
		}
		if m.deploys[apiName].Spec.Template.Labels["sidecar.istio.io/inject"] != "true" || m.deploys[gatewayName] == nil {
			t.Error("phase 1 does not inject the API's sidecars or run the gateway")
		}
	})
	t.Run("phase 2", func(t *testing.T) {
		m := renderMeshed(t, "istio-permissive")
		permissive(t, m)
		for _, rule := range m.ingress.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil || p.Backend.Service.Name != gatewayName {
					t.Errorf("Ingress path %s goes to %+v, want the gateway", p.Path, p.Backend.Service)
				}
			}
		}
	})
}

// equalJSON reports whether a and b encode to the same JSON.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(x) == string(y)
}

// TestIstioMonitoringAsDocumented: docs/eks.md's step adds
// istio-monitoring to k8s/monitoring by a path that resolves from there,
// and the rendered ServiceMonitor then scrapes over TLS with the
// certificates where the documented Prometheus values mount them.
func TestIstioMonitoringAsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repo, "docs/eks.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("add `([^`]*istio-monitoring)` to\\s+`k8s/monitoring/kustomization.yaml`'s `components`").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/eks.md does not say which path to add to k8s/monitoring/kustomization.yaml's components")
	}
	mount := regexp.MustCompile(`(?m)^\s+- name: istio-certs\s+mountPath: (\S+)$`).FindSubmatch(doc)
	if mount == nil {
		t.Fatal("docs/eks.md's Prometheus values mount no istio-certs volume")
	}
	root := copyK8s(t)
	kfile := filepath.Join(root, "monitoring/kustomization.yaml")
	k, err := os.ReadFile(kfile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kfile, append(k, "components:\n  - "+string(m[1])+"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := kustomize(t, filepath.Join(root, "monitoring"))
	var sm struct {
		Spec struct {
			Endpoints []struct {
				Path      string `json:"path"`
				Scheme    string `json:"scheme"`
				TLSConfig struct {
					CAFile   string `json:"caFile"`
					CertFile string `json:"certFile"`
					KeyFile  string `json:"keyFile"`
				} `json:"tlsConfig"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		if strings.Contains(d, "kind: ServiceMonitor") {
			if err := sigsyaml.Unmarshal([]byte(d), &sm); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := strings.TrimSuffix(string(mount[1]), "/") + "/"
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %+v: want one", sm.Spec.Endpoints)
	}
	e := sm.Spec.Endpoints[0]
	if e.Path != "/metrics" || e.Scheme != "https" || !strings.HasPrefix(e.TLSConfig.CAFile, dir) || !strings.HasPrefix(e.TLSConfig.CertFile, dir) || !strings.HasPrefix(e.TLSConfig.KeyFile, dir) {
		t.Errorf("ServiceMonitor endpoint %+v: want https on /metrics with the certificates under %s, where the documented values mount them", e, dir)
	}
}

// TestIstioPrometheusPrincipalDocumented: the identity the
// AuthorizationPolicy lets scrape /metrics is the ServiceAccount
// docs/eks.md names for kube-prometheus-stack's Prometheus, and the one
// its release (k8s/monitoring's label) gets by default.
func TestIstioPrometheusPrincipalDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repo, "docs/eks.md"))
	if err != nil {
		t.Fatal(err)
	}
	d := regexp.MustCompile("Prometheus's identity\\s+\\(`([a-z0-9-]+)/([a-z0-9-]+)`\\)").FindSubmatch(doc)
	if d == nil {
		t.Fatal("docs/eks.md names no Prometheus identity as (`<namespace>/<service account>`)")
	}
	documented := "cluster.local/ns/" + string(d[1]) + "/sa/" + string(d[2])
	var scrapers []string
	for _, p := range renderMeshed(t).authz {
		for _, rule := range p.Spec.GetRules() {
			for _, x := range rule.GetTo() {
				if slices.Contains(x.GetOperation().GetPaths(), "/metrics") {
					for _, f := range rule.GetFrom() {
						scrapers = append(scrapers, f.GetSource().GetPrincipals()...)
					}
				}
			}
		}
	}
	if !slices.Equal(scrapers, []string{documented}) {
		t.Errorf("AuthorizationPolicy lets %v scrape /metrics; docs/eks.md documents Prometheus as %s", scrapers, documented)
	}
	if release := prometheusPrincipal(t); release != documented {
		t.Errorf("docs/eks.md documents Prometheus as %s; k8s/monitoring's release label makes it %s", documented, release)
	}
}

// TestIstioDeployerAndPrune: with k8s/components/istio-deployer the
// deployer's Role may apply (get, create, patch) and prune (list, delete)
// every Istio kind the meshed overlay renders, and the prune allowlist
// entries docs/eks.md gives for a meshed cluster are exactly those kinds.
func TestIstioDeployerAndPrune(t *testing.T) {
	root := copyK8s(t)
	kfile := filepath.Join(root, "bootstrap/kustomization.yaml")
	k, err := os.ReadFile(kfile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kfile, append(k, "components:\n  - ../components/istio-deployer\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.Role
	for _, o := range decodeStrict(t, kustomize(t, filepath.Join(root, "bootstrap")), func(apiVersion, kind string) any {
		if kind == "Role" {
			return &rbacv1.Role{}
		}
		return &map[string]any{}
	}) {
		if r, ok := o.(*rbacv1.Role); ok {
			role = r
		}
	}
	if role == nil {
		t.Fatal("k8s/bootstrap renders no Role")
	}
	allows := func(group, resource, verb string) bool {
		return slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) && len(r.ResourceNames) == 0
		})
	}
	// Every Istio kind of phase 3 (all four) and phase 1.
	kinds := map[string]bool{}
	for _, out := range [][]byte{withComponents(t, copyK8s(t), "istio"), withComponents(t, copyK8s(t), "istio", "istio-permissive", "istio-ingress-unchanged")} {
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
			var tm typeMeta
			if err := sigsyaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tm.APIVersion, "istio.io/") {
				kinds[tm.APIVersion+"/"+tm.Kind] = true
			}
		}
	}
	for kind := range kinds {
		group := strings.Split(kind, "/")[0]
		// The CRDs' plural names (Istio's manifests/charts/base CRDs).
		resource, ok := map[string]string{"PeerAuthentication": "peerauthentications", "AuthorizationPolicy": "authorizationpolicies",
			"Gateway": "gateways", "VirtualService": "virtualservices"}[kind[strings.LastIndex(kind, "/")+1:]]
		if !ok {
			t.Errorf("%s: this test does not know its resource name", kind)
			continue
		}
		for _, verb := range []string{"get", "create", "patch", "list", "delete"} {
			if !allows(group, resource, verb) {
				t.Errorf("the deployer's Role with istio-deployer may not %s %s.%s", verb, resource, group)
			}
		}
	}
	doc, err := os.ReadFile(filepath.Join(repo, "docs/eks.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)`K8S_PRUNE_ALLOWLIST` gains the four Istio\\s+kinds:\\s+```text\\n(.*?)\\n\\s*```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/eks.md gives no K8S_PRUNE_ALLOWLIST entries for a meshed cluster")
	}
	documented := strings.Fields(string(m[1]))
	want := slices.Sorted(maps.Keys(kinds))
	if slices.Sort(documented); !slices.Equal(documented, want) {
		t.Errorf("docs/eks.md's meshed prune allowlist %v, the meshed overlay renders %v", documented, want)
	}
}
