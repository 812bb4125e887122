package k8s

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	psapi "k8s.io/pod-security-admission/api"
	"sigs.k8s.io/yaml"
)

// Falco (k8s/falco): no Falco engine runs here (none builds offline), so
// the custom rules file is linted against Falco's rules-file format
// (falco.org/docs/concepts/rules/basic-elements) and tied to the
// manifests it watches.
const (
	falcoDir       = "falco"
	falcoRulesFile = "falco/healthcare-api_rules.yaml"
	falcoValues    = "falco/values.yaml"
	falcoNamespace = "falco"
	falcoPrefix    = "healthcare_api_" // of every list and macro of the file

	// The documented install: render, then hand the result to Helm.
	// The rules go to a file of mktemp, and the script and Helm use the
	// same kubectl context.
	falcoRender  = `KUBE_CONTEXT="$ctx" scripts/falco-rules.sh k8s/overlays/prod >"$rules" &&`
	falcoSetFile = `--set-file "customRules.healthcare-api_rules\.yaml=$rules"`
)

// falcoPriorities are Falco's rule priorities, highest first.
var falcoPriorities = []string{"EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG"}

// falcoDefaults are the macros of Falco's default ruleset
// (falco_rules.yaml, loaded before this file) that the rules use.
var falcoDefaults = []string{"container", "spawned_process"}

// falcoItem is one element of a rules file: exactly one of rule, macro or
// list, with the keys Falco defines for it.
type falcoItem struct {
	Rule      string   `json:"rule"`
	Macro     string   `json:"macro"`
	List      string   `json:"list"`
	Desc      string   `json:"desc"`
	Condition string   `json:"condition"`
	Output    string   `json:"output"`
	Priority  string   `json:"priority"`
	Tags      []string `json:"tags"`
	Items     []any    `json:"items"`
	Enabled   *bool    `json:"enabled"`
	Source    string   `json:"source"`
}

func falcoRules(t *testing.T, path string) []falcoItem {
	t.Helper()
	raw := readFile(t, path)
	var items []falcoItem
	if err := yaml.UnmarshalStrict(raw, &items); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return items
}

// falcoRefs returns the bare names a condition uses as macros (outside
// parentheses of a list operator) and as lists (inside them), ignoring
// field names (they hold a dot), quoted strings and Falco's operators.
func falcoRefs(cond string) (macros, lists []string) {
	cond = regexp.MustCompile(`"[^"]*"|'[^']*'`).ReplaceAllString(cond, " ")
	keywords := map[string]bool{"and": true, "or": true, "not": true, "in": true, "intersects": true, "pmatch": true,
		"startswith": true, "endswith": true, "contains": true, "icontains": true, "glob": true, "exists": true, "bcontains": true}
	listOp := regexp.MustCompile(`\b(in|intersects|pmatch)\s*\(([^()]*)\)`)
	for _, m := range listOp.FindAllStringSubmatch(cond, -1) {
		for _, item := range strings.Split(m[2], ",") {
			item = strings.TrimSpace(item)
			if strings.HasPrefix(item, falcoPrefix) {
				lists = append(lists, item)
			}
		}
	}
	cond = listOp.ReplaceAllString(cond, " ")
	// What follows a comparison is a value (connect, tcp, EINPROGRESS), not
	// a macro.
	cond = regexp.MustCompile(`(=|!=|<=|>=|<|>)\s*[\w./-]+`).ReplaceAllString(cond, " ")
	for _, w := range regexp.MustCompile(`[A-Za-z_][\w.]*`).FindAllString(cond, -1) {
		if !strings.Contains(w, ".") && !keywords[w] {
			macros = append(macros, w)
		}
	}
	return macros, lists
}

// The template, and what scripts/falco-rules.sh makes of it for each
// environment, are well-formed rules files.
func TestFalcoRulesLint(t *testing.T) {
	lintFalco(t, falcoRules(t, falcoRulesFile))
	for _, overlay := range overlays {
		t.Run(filepath.Base(overlay), func(t *testing.T) {
			lintFalco(t, renderFalco(t, filepath.Join(filledTree(t), overlay), testDNS))
		})
	}
}

func lintFalco(t *testing.T, items []falcoItem) {
	t.Helper()
	macros, lists := map[string]bool{}, map[string]bool{}
	for _, d := range falcoDefaults {
		macros[d] = true
	}
	used := map[string]bool{}
	var rules []falcoItem
	for i, it := range items {
		kinds := 0
		for _, s := range []string{it.Rule, it.Macro, it.List} {
			if s != "" {
				kinds++
			}
		}
		if kinds != 1 {
			t.Errorf("item %d: has %d of rule, macro, list; want exactly one", i, kinds)
			continue
		}
		switch {
		case it.List != "":
			if !strings.HasPrefix(it.List, falcoPrefix) || len(it.Items) == 0 || it.Condition != "" || it.Output != "" {
				t.Errorf("list %s: want a %s name, items and nothing else", it.List, falcoPrefix)
			}
			if lists[it.List] {
				t.Errorf("list %s is defined twice", it.List)
			}
			lists[it.List] = true
		case it.Macro != "":
			if !strings.HasPrefix(it.Macro, falcoPrefix) || it.Condition == "" || it.Output != "" || len(it.Items) > 0 {
				t.Errorf("macro %s: want a %s name, a condition and nothing else", it.Macro, falcoPrefix)
			}
			if macros[it.Macro] {
				t.Errorf("macro %s is defined twice (or shadows Falco's default)", it.Macro)
			}
			macros[it.Macro] = true
		default:
			rules = append(rules, it)
			if it.Desc == "" || it.Condition == "" || it.Output == "" || it.Priority == "" {
				t.Errorf("rule %q: rule, desc, condition, output and priority are all required", it.Rule)
			}
			if !slices.Contains(falcoPriorities, it.Priority) {
				t.Errorf("rule %q: priority %q is not one of %v", it.Rule, it.Priority, falcoPriorities)
			}
			if len(it.Items) > 0 || (it.Source != "" && it.Source != "syscall") || (it.Enabled != nil && !*it.Enabled) {
				t.Errorf("rule %q: items, a source other than syscall, or disabled", it.Rule)
			}
			// falcosidekick turns these output fields into the Alertmanager
			// labels the route (monitoring/alertmanager) and the on-call
			// need: k8s_ns_name, k8s_pod_name, container_name.
			for _, f := range []string{"k8s.ns.name=%k8s.ns.name", "k8s.pod.name=%k8s.pod.name", "container.name=%container.name"} {
				if !strings.Contains(it.Output, f) {
					t.Errorf("rule %q: output lacks %s", it.Rule, f)
				}
			}
		}
		if it.Condition != "" {
			// Macros may only use what is defined before them; rules anything.
			ms, ls := falcoRefs(it.Condition)
			for _, m := range ms {
				if !macros[m] {
					t.Errorf("%s%s: macro %q is not defined above (nor one of Falco's defaults %v)", it.Rule, it.Macro, m, falcoDefaults)
				}
				used[m] = true
			}
			for _, l := range ls {
				if !lists[l] {
					t.Errorf("%s%s: list %q is not defined above", it.Rule, it.Macro, l)
				}
				used[l] = true
			}
		}
	}
	for name := range macros {
		if !used[name] {
			t.Errorf("macro %s is defined (or listed as a default) but never used", name)
		}
	}
	for name := range lists {
		if !used[name] {
			t.Errorf("list %s is defined but never used", name)
		}
	}
	if len(rules) != 4 {
		t.Errorf("%d rules, want 4: unexpected process, write, outbound, token read", len(rules))
	}
	for _, r := range rules {
		if !strings.Contains(r.Condition, "healthcare_api_container") {
			t.Errorf("rule %q does not limit itself to the API container (macro healthcare_api_container)", r.Rule)
		}
	}
}

// The rules watch exactly the namespace, container and binary the
// manifests and image recipes define, and allow the connections the
// NetworkPolicy of production's shape allows.
func TestFalcoRulesMatchManifests(t *testing.T) {
	items := falcoRules(t, falcoRulesFile)
	byName := map[string]falcoItem{}
	for _, it := range items {
		byName[it.Rule+it.Macro+it.List] = it
	}

	r := build(t, "overlays/prod")
	r.complete(t)
	c := r.container(t)
	want := `container and k8s.ns.name = "` + r.deploy.Namespace + `" and container.name = "` + c.Name + `"`
	if got := byName["healthcare_api_container"].Condition; got != want {
		t.Errorf("macro healthcare_api_container = %q, want %q (the Deployment's namespace and container)", got, want)
	}

	// The binary: the Dockerfile's ENTRYPOINT and ko's /ko-app/<main>.
	dockerfile := readFile(t, "../Dockerfile")
	m := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"`).FindSubmatch(dockerfile)
	if m == nil {
		t.Fatal("Dockerfile has no exec-form ENTRYPOINT")
	}
	var ko struct {
		Builds []struct {
			Main string `json:"main"`
		} `json:"builds"`
	}
	raw := readFile(t, "../.ko.yaml")
	if err := yaml.Unmarshal(raw, &ko); err != nil || len(ko.Builds) != 1 {
		t.Fatalf(".ko.yaml: %v", err)
	}
	binaries := []string{string(m[1]), "/ko-app/" + filepath.Base(ko.Builds[0].Main)}
	got := []string{}
	for _, it := range byName["healthcare_api_binaries"].Items {
		got = append(got, it.(string))
	}
	sort.Strings(got)
	sort.Strings(binaries)
	if !slices.Equal(got, binaries) {
		t.Errorf("list healthcare_api_binaries = %v, want the image's entrypoints %v", got, binaries)
	}
	if c.Command != nil || c.Args != nil {
		t.Errorf("the container overrides the image's entrypoint (%v %v): the binary list no longer holds", c.Command, c.Args)
	}

	// Allowed ports: DNS and HTTPS, the only ones the egress policy opens,
	// each to its own list (DNS to the cluster's DNS Service, HTTPS to
	// where the policy sends it).
	clauses := map[string]string{
		"53":  "not (fd.sport = 53 and fd.sip in (healthcare_api_dns_servers))",
		"443": "not (fd.sport = 443 and fd.l4proto = tcp and fd.snet in (healthcare_api_https_networks))",
	}
	ports := map[string]bool{}
	for _, rule := range r.netpols["healthcare-api-egress"].Spec.Egress {
		for _, p := range rule.Ports {
			ports[p.Port.String()] = true
		}
	}
	conn := byName["Healthcare API disallowed outbound connection"].Condition
	for port := range ports {
		if clauses[port] == "" {
			t.Errorf("the egress NetworkPolicy opens port %s, which the outbound rule does not allow", port)
		}
	}
	for port, clause := range clauses {
		if !ports[port] {
			t.Errorf("the outbound rule allows port %s, which the egress NetworkPolicy does not open", port)
		}
		if !strings.Contains(conn, clause) {
			t.Errorf("the outbound rule lacks, for port %s:\n  %s\nin:\n%s", port, clause, conn)
		}
	}

	// The token paths: the service account token is not mounted, and the
	// IRSA token is where EKS's webhook mounts it (the server reads it).
	if ptrFalse := r.deploy.Spec.Template.Spec.AutomountServiceAccountToken; ptrFalse == nil || *ptrFalse {
		t.Error("the pod mounts the Kubernetes API token: the token rule assumes it does not")
	}
	// EKS Pod Identity mounts its token under pods.eks.amazonaws.com
	// (docs/eks.md, "EKS Pod Identity instead of IRSA").
	for list, dirs := range map[string][]string{
		"healthcare_api_k8s_token_dirs":  {"/var/run/secrets/kubernetes.io/serviceaccount"},
		"healthcare_api_irsa_token_dirs": {"/var/run/secrets/eks.amazonaws.com", "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"},
	} {
		for _, dir := range dirs {
			if !slices.Contains(byName[list].Items, any(dir)) {
				t.Errorf("list %s = %v, want %s among them", list, byName[list].Items, dir)
			}
		}
	}
}

// The rules' exemptions and reach, as the security review asked: the
// server is its binary as PID 1 (another exec of the same path is not
// exempt); every rule that exempts the binary does so through that macro;
// EKS Pod Identity's agent is allowed to the server only, on port 80;
// writes include creating, renaming, removing and linking; credential
// theft and exfiltration page (CRITICAL); no output carries the command
// line (falcosidekick turns each output field into a label).
func TestFalcoRulesExemptions(t *testing.T) {
	byName := map[string]falcoItem{}
	for _, it := range falcoRules(t, falcoRulesFile) {
		byName[it.Rule+it.Macro+it.List] = it
	}
	const server = "healthcare_api_server"
	if got := byName[server].Condition; got != "proc.exepath in (healthcare_api_binaries) and proc.vpid = 1" {
		t.Errorf("macro %s = %q, want the binary as the container's PID 1", server, got)
	}
	for name, it := range byName {
		if it.Rule == "" {
			continue
		}
		if strings.Contains(it.Condition, "healthcare_api_binaries") {
			t.Errorf("rule %q exempts the binary by path alone; use %s", name, server)
		}
		if strings.Contains(it.Output, "%proc.cmdline") {
			t.Errorf("rule %q outputs %%proc.cmdline: falcosidekick would make it an Alertmanager label", name)
		}
		tags := strings.Join(it.Tags, " ")
		if (strings.Contains(tags, "mitre_exfiltration") || strings.Contains(tags, "mitre_credential_access")) && it.Priority != "CRITICAL" {
			t.Errorf("rule %q (%s) is %s, want CRITICAL: it should page", name, tags, it.Priority)
		}
	}
	conn := byName["Healthcare API disallowed outbound connection"].Condition
	if agent := byName["healthcare_api_pod_identity_agent"].Items; !slices.Equal(agent, []any{"169.254.170.23"}) ||
		!strings.Contains(conn, "not ("+server+" and fd.sip in (healthcare_api_pod_identity_agent) and fd.sport = 80)") {
		t.Errorf("the outbound rule does not allow EKS Pod Identity's agent (%v) to the server alone on port 80:\n%s", agent, conn)
	}
	write := byName["healthcare_api_open_for_write"].Condition
	for _, ev := range []string{"creat", "rename", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat", "link", "symlink"} {
		if !regexp.MustCompile(`\b` + ev + `\b`).MatchString(write) {
			t.Errorf("macro healthcare_api_open_for_write lacks the event %s:\n%s", ev, write)
		}
	}
}

// Falco's namespace admits its privileged DaemonSet (Pod Security
// "privileged") and is not the API's; the Helm values name the custom
// rules file the docs install, the modern eBPF driver, and falcosidekick's
// Alertmanager output.
func TestFalcoDeployment(t *testing.T) {
	var ns corev1.Namespace
	for _, doc := range splitDocs(kustomize(t, falcoDir)) {
		if err := yaml.UnmarshalStrict([]byte(doc), &ns); err != nil {
			t.Fatal(err)
		}
	}
	if ns.Name != falcoNamespace || ns.Name == namespace {
		t.Fatalf("k8s/falco renders namespace %q, want %q", ns.Name, falcoNamespace)
	}
	p, errs := psapi.PolicyToEvaluate(ns.Labels, psapi.Policy{})
	if len(errs) > 0 || p.Enforce.Level != psapi.LevelPrivileged {
		t.Errorf("namespace %s: Pod Security enforce = %v (%v), want privileged (Falco loads an eBPF probe)", ns.Name, p.Enforce, errs)
	}

	var values struct {
		Driver struct {
			Kind       string `json:"kind"`
			ModernEbpf struct {
				LeastPrivileged bool `json:"leastPrivileged"`
			} `json:"modernEbpf"`
		} `json:"driver"`
		Collectors struct {
			Enabled bool `json:"enabled"`
		} `json:"collectors"`
		Falco struct {
			JSONOutput                bool   `json:"json_output"`
			JSONIncludeOutputProperty bool   `json:"json_include_output_property"`
			Priority                  string `json:"priority"`
		} `json:"falco"`
		Falcosidekick struct {
			Enabled      bool `json:"enabled"`
			ReplicaCount int  `json:"replicaCount"`
			Config       struct {
				Alertmanager struct {
					Hostport        string `json:"hostport"`
					Endpoint        string `json:"endpoint"`
					MinimumPriority string `json:"minimumpriority"`
					ExpiresAfter    int    `json:"expiresafter"`
					ExtraLabels     string `json:"extralabels"`
				} `json:"alertmanager"`
			} `json:"config"`
		} `json:"falcosidekick"`
	}
	raw := readFile(t, falcoValues)
	if err := yaml.UnmarshalStrict(raw, &values); err != nil {
		t.Fatalf("%s: %v", falcoValues, err)
	}
	if values.Driver.Kind != "modern_ebpf" || !values.Driver.ModernEbpf.LeastPrivileged || !values.Collectors.Enabled || !values.Falco.JSONOutput {
		t.Errorf("%s: want the modern eBPF driver with least privilege, the collectors (k8s.ns.name) and JSON output: %+v", falcoValues, values)
	}
	am := values.Falcosidekick.Config.Alertmanager
	if !values.Falcosidekick.Enabled || !strings.HasPrefix(am.Hostport, "http://") || am.Endpoint != "/api/v2/alerts" {
		t.Errorf("%s: falcosidekick must post to Alertmanager's v2 API: %+v", falcoValues, values.Falcosidekick)
	}
	if !slices.Contains(falcoPriorities, strings.ToUpper(am.MinimumPriority)) {
		t.Errorf("%s: minimumpriority %q is not a Falco priority", falcoValues, am.MinimumPriority)
	}
	labels := map[string]string{}
	for _, kv := range strings.Split(am.ExtraLabels, ",") {
		k, v, _ := strings.Cut(kv, ":")
		labels[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if labels["alertname"] == "" || labels["environment"] != placeholder {
		t.Errorf("%s: extralabels %v, want an alertname and environment %s (set per cluster)", falcoValues, labels, placeholder)
	}
	// Every rule reaches Alertmanager.
	for _, it := range falcoRules(t, falcoRulesFile) {
		if it.Rule != "" && slices.Index(falcoPriorities, it.Priority) > slices.Index(falcoPriorities, strings.ToUpper(am.MinimumPriority)) {
			t.Errorf("rule %q (%s) is below falcosidekick's minimumpriority %s: it never alerts", it.Rule, it.Priority, am.MinimumPriority)
		}
	}
	// The install command of the values file and docs/eks.md loads the
	// rules that scripts/falco-rules.sh rendered for the cluster, and only
	// once they are rendered (&&: a refusal stops the install).
	doc := readFile(t, "../docs/eks.md")
	for name, text := range map[string]string{falcoValues: string(raw), "docs/eks.md": string(doc)} {
		if !strings.Contains(text, falcoRender) || !strings.Contains(text, falcoSetFile) {
			t.Errorf("%s does not install the rendered rules with\n  %s\n  %s", name, falcoRender, falcoSetFile)
		}
		if !strings.Contains(text, `rules=$(mktemp)`) || !strings.Contains(text, `--kube-context "$ctx"`) || strings.Contains(text, "/tmp/healthcare-api_rules") {
			t.Errorf("%s: want the rendered rules in rules=$(mktemp), no fixed /tmp path, and helm --kube-context \"$ctx\"", name)
		}
		if strings.Contains(text, "=k8s/"+falcoRulesFile) {
			t.Errorf("%s installs the template %s itself", name, falcoRulesFile)
		}
	}
}

// Each overlay's cluster has its falcosidekick values: the environment
// label its Alertmanager route reads (eks-<overlay>), the same alertname
// as values.yaml, and nothing else; the docs install one of them.
func TestFalcoValuesPerEnvironment(t *testing.T) {
	doc := readFile(t, "../docs/eks.md")
	for _, overlay := range overlays {
		env := "eks-" + filepath.Base(overlay)
		file := filepath.Join(falcoDir, "values-"+env+".yaml")
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", overlay, err)
			continue
		}
		var v struct {
			Falcosidekick struct {
				Config struct {
					Alertmanager struct {
						ExtraLabels string `json:"extralabels"`
					} `json:"alertmanager"`
				} `json:"config"`
			} `json:"falcosidekick"`
		}
		if err := yaml.UnmarshalStrict(raw, &v); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if got, want := v.Falcosidekick.Config.Alertmanager.ExtraLabels, "alertname:FalcoRuntimeEvent,environment:"+env; got != want {
			t.Errorf("%s: extralabels %q, want %q", file, got, want)
		}
	}
	if !strings.Contains(string(doc), "helm repo update falcosecurity\n") {
		t.Error("docs/eks.md: the Falco install does not update the chart repository's index (helm repo update)")
	}
	if !strings.Contains(string(doc), "-f k8s/falco/values.yaml -f k8s/falco/values-eks-prod.yaml") {
		t.Error("docs/eks.md: the Falco install does not layer values-eks-<env>.yaml over values.yaml")
	}
}

// testDNS is a cluster DNS Service address in tests: the kube-dns ClusterIP
// of an EKS cluster whose Service block is the default 172.20.0.0/16.
const testDNS = "172.20.0.10"

// renderFalco runs scripts/falco-rules.sh on an overlay directory and
// decodes the rules file it prints.
func renderFalco(t *testing.T, dir, dns string) []falcoItem {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("../scripts/falco-rules.sh", dir, dns)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/falco-rules.sh %s %s: %v\n%s", dir, dns, err, stderr.String())
	}
	var items []falcoItem
	if err := yaml.UnmarshalStrict(out, &items); err != nil {
		t.Fatalf("scripts/falco-rules.sh %s: %v", dir, err)
	}
	return items
}

// falcoList returns the items of a list of the rules file, as strings.
func falcoList(t *testing.T, items []falcoItem, name string) []string {
	t.Helper()
	for _, it := range items {
		if it.List == name {
			var out []string
			for _, v := range it.Items {
				s, ok := v.(string)
				if !ok {
					t.Fatalf("list %s: item %v is not a string", name, v)
				}
				out = append(out, s)
			}
			return out
		}
	}
	t.Fatalf("no list %s", name)
	return nil
}

// httpsEgress returns the CIDRs the rendered NetworkPolicies let the API
// pods reach on TCP 443, sorted.
func httpsEgress(t *testing.T, r *rendered) []string {
	t.Helper()
	pods := labels.Set(r.deploy.Spec.Template.Labels)
	var cidrs []string
	for _, np := range r.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatal(err)
		}
		if sel.Empty() || !sel.Matches(pods) {
			continue
		}
		for _, rule := range np.Spec.Egress {
			https := slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool {
				return p.Port != nil && p.Port.IntValue() == 443 && p.Protocol != nil && *p.Protocol == corev1.ProtocolTCP
			})
			for _, peer := range rule.To {
				if https && peer.IPBlock != nil {
					cidrs = append(cidrs, peer.IPBlock.CIDR)
				}
			}
		}
	}
	sort.Strings(cidrs)
	return cidrs
}

// Each environment's rendered rules allow HTTPS exactly where its egress
// NetworkPolicies send it, and DNS to the cluster's DNS Service alone.
// Staging and prod: VPC_CIDR (and CDS_EHR_CIDR with the cds-hooks-egress
// component), nothing wider than a VPC (EC2 takes /16 to /28), so never
// 0.0.0.0/0, 10.0.0.0/8 or 172.16.0.0/12: a connection to a peered VPC, a
// transit gateway's range or another cluster alerts. Dev: 0.0.0.0/0, as
// its NetworkPolicy (public AWS endpoints; docs/eks.md says so).
func TestFalcoNetworksPerEnvironment(t *testing.T) {
	dirs := map[string]string{}
	for _, o := range overlays {
		dirs[filepath.Base(o)] = filepath.Join(filledTree(t), o)
	}
	cds, write := cdsOverlay(t)
	write(testEHRCIDR)
	dirs["prod with cds-hooks-egress"] = cds
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			r := decode(kustomize(t, dir))
			kvs, err := readEnv(filepath.Join(dir, "values.env"))
			if err != nil {
				t.Fatal(err)
			}
			values := map[string]string{}
			for _, kv := range kvs {
				values[kv[0]] = kv[1]
			}
			items := renderFalco(t, dir, testDNS)
			if dns := falcoList(t, items, "healthcare_api_dns_servers"); !slices.Equal(dns, []string{testDNS}) {
				t.Errorf("healthcare_api_dns_servers = %v, want the cluster DNS Service [%s]", dns, testDNS)
			}
			https := falcoList(t, items, "healthcare_api_https_networks")
			sort.Strings(https)
			if want := httpsEgress(t, r); !slices.Equal(https, want) {
				t.Errorf("healthcare_api_https_networks = %v, want where the egress NetworkPolicies allow HTTPS: %v", https, want)
			}
			if filepath.Base(dir) == "dev" {
				if !slices.Equal(https, []string{"0.0.0.0/0"}) {
					t.Errorf("dev: healthcare_api_https_networks = %v, want 0.0.0.0/0 (its pods reach AWS's public endpoints)", https)
				}
				return
			}
			want := []string{values["VPC_CIDR"]}
			if ehr, ok := values["CDS_EHR_CIDR"]; ok {
				want = append(want, ehr)
			}
			sort.Strings(want)
			if !slices.Equal(https, want) || want[0] == "" {
				t.Errorf("healthcare_api_https_networks = %v, want exactly values.env's VPC_CIDR (and CDS_EHR_CIDR) %v", https, want)
			}
			for _, c := range https {
				_, n, err := net.ParseCIDR(c)
				if err != nil {
					t.Errorf("%s: %v", c, err)
					continue
				}
				if ones, _ := n.Mask.Size(); ones < 16 {
					t.Errorf("healthcare_api_https_networks holds %s, wider than any VPC (/16): it covers peered VPCs, transit gateways, other clusters", c)
				}
			}
		})
	}
}

// scripts/falco-rules.sh refuses, printing nothing, what would make the
// list wrong, and the deploy guard refuses the same VPC_CIDR.
func TestFalcoRulesRefuse(t *testing.T) {
	dir, kust, values := prodCopy(t, "falco-refuse")
	cds, _ := cdsOverlay(t)
	cdsKust := readFile(t, filepath.Join(cds, "kustomization.yaml"))
	withVPC := func(v string) string {
		return regexp.MustCompile(`(?m)^VPC_CIDR=.*$`).ReplaceAllString(string(values), "VPC_CIDR="+v)
	}
	for _, c := range []struct {
		name, kust, values, dns, want string
	}{
		{"10/8", string(kust), withVPC("10.0.0.0/8"), testDNS, "VPC_CIDR=10.0.0.0/8 is not the VPC's"},
		{"172.16/12", string(kust), withVPC("172.16.0.0/12"), testDNS, "VPC_CIDR=172.16.0.0/12 is not the VPC's"},
		{"internet", string(kust), withVPC("0.0.0.0/0"), testDNS, "VPC_CIDR=0.0.0.0/0 is not the VPC's"},
		{"placeholder", string(kust), withVPC(placeholder), testDNS, "VPC_CIDR=REPLACE_ME is not the VPC's"},
		{"no VPC_CIDR in prod", string(kust), regexp.MustCompile(`(?m)^VPC_CIDR=.*\n`).ReplaceAllString(string(values), ""), testDNS, "VPC_CIDR= is not the VPC's"},
		{"DNS not an address", string(kust), string(values), "kube-dns.kube-system", "is not one IPv4 address"},
		{"DNS a block", string(kust), string(values), "172.20.0.0/16", "is not one IPv4 address"},
		{"EHR range without the component", string(kust), string(values) + "CDS_EHR_CIDR=" + testEHRCIDR + "\n", testDNS, "does not use components/cds-hooks-egress"},
		{"component without the EHR range", string(cdsKust), string(values), testDNS, "has no CDS_EHR_CIDR"},
		{"EHR range the internet", string(cdsKust), string(values) + "CDS_EHR_CIDR=0.0.0.0/0\n", testDNS, "CDS_EHR_CIDR=0.0.0.0/0 is not"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for f, text := range map[string]string{"kustomization.yaml": c.kust, "values.env": c.values} {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var stderr bytes.Buffer
			cmd := exec.Command("../scripts/falco-rules.sh", dir, c.dns)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err == nil || len(out) > 0 || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("falco-rules.sh: err %v, printed %d bytes, want a refusal saying %q and nothing printed:\n%s", err, len(out), c.want, stderr.String())
			}
		})
	}
	t.Run("guard", func(t *testing.T) {
		root, err := copyTree()
		if err != nil {
			t.Fatal(err)
		}
		if err := fill(root, "overlays/prod", map[string]string{"VPC_CIDR": "10.0.0.0/8"}, true); err != nil {
			t.Fatal(err)
		}
		if ok, out := guard(t, filepath.Join(root, "overlays/prod")); ok || !strings.Contains(out, "values.env: VPC_CIDR is not the VPC's IPv4 CIDR, /16 to /28") {
			t.Errorf("guard passed = %v on VPC_CIDR=10.0.0.0/8, want a refusal:\n%s", ok, out)
		}
	})
}

// falcoLists are the rendered lists the outbound rule's exceptions read.
type falcoLists struct {
	dns, https, resolver []string
}

func renderedLists(t *testing.T, items []falcoItem) falcoLists {
	t.Helper()
	return falcoLists{
		dns:      falcoList(t, items, "healthcare_api_dns_servers"),
		https:    falcoList(t, items, "healthcare_api_https_networks"),
		resolver: falcoList(t, items, "healthcare_api_vpc_resolver"),
	}
}

// falcoEvent is one network syscall of the API container as the outbound
// rule sees it: connect, or sendto/sendmsg on an unconnected socket.
type falcoEvent struct {
	server    bool   // healthcare_api_server: the binary as PID 1
	evtType   string // connect, sendto, sendmsg
	proto     string // tcp, udp
	ip        netip.Addr
	port      int
	connected bool // fd.connected, for sendto/sendmsg
}

// The outbound rule's condition and its route-probe exception, as
// falcoAlerts evaluates them: a change to either must change both.
const (
	falcoOutboundCondition = `healthcare_api_connect and healthcare_api_container` +
		` and not (fd.sport = 53 and fd.sip in (healthcare_api_dns_servers))` +
		` and not (fd.sport = 443 and fd.l4proto = tcp and fd.snet in (healthcare_api_https_networks))` +
		` and not (healthcare_api_server and fd.sip in (healthcare_api_pod_identity_agent) and fd.sport = 80)` +
		` and not healthcare_api_route_probe`
	falcoRouteProbe = `healthcare_api_server and evt.type = connect and fd.l4proto = udp and fd.sport = 53` +
		` and fd.snet in (healthcare_api_https_networks) and not fd.sip in (healthcare_api_vpc_resolver)`
)

// falcoAlerts is the outbound rule of the API container (the conditions
// above, healthcare_api_connect for a successful event) in Go: true when
// Falco would raise "Healthcare API disallowed outbound connection".
func falcoAlerts(l falcoLists, e falcoEvent, probeException bool) bool {
	in := func(list []string, ip netip.Addr) bool {
		for _, s := range list {
			if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
				return true
			}
			if a, err := netip.ParseAddr(s); err == nil && a == ip {
				return true
			}
		}
		return false
	}
	outbound := e.evtType == "connect" || ((e.evtType == "sendto" || e.evtType == "sendmsg") && e.proto != "tcp" && !e.connected)
	if !outbound || (e.proto != "tcp" && e.proto != "udp") || netip.MustParsePrefix("127.0.0.0/8").Contains(e.ip) {
		return false
	}
	switch {
	case e.port == 53 && in(l.dns, e.ip):
	case e.port == 443 && e.proto == "tcp" && in(l.https, e.ip):
	case e.server && e.ip == netip.MustParseAddr("169.254.170.23") && e.port == 80:
	case probeException && e.server && e.evtType == "connect" && e.proto == "udp" && e.port == 53 &&
		in(l.https, e.ip) && !in(l.resolver, e.ip):
	default:
		return true
	}
	return false
}

// fakeDNS answers every A query on 127.0.0.1 with addrs, and every other
// query with no answer (NOERROR), until the test ends. It returns its
// address.
func fakeDNS(t *testing.T, addrs []netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			// The question: labels from byte 12 to the root, then type and class.
			end := 12
			for end < len(q) && q[end] != 0 {
				end += int(q[end]) + 1
			}
			if end+5 > len(q) {
				continue
			}
			qtype := binary.BigEndian.Uint16(q[end+1:])
			var answers []netip.Addr
			if qtype == 1 {
				answers = addrs
			}
			resp := append([]byte{}, q[:2]...) // ID
			resp = binary.BigEndian.AppendUint16(resp, 0x8180)
			resp = binary.BigEndian.AppendUint16(resp, 1)
			resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
			resp = append(resp, 0, 0, 0, 0)
			resp = append(resp, q[12:end+5]...)
			for _, a := range answers {
				resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
				resp = append(resp, a.AsSlice()...)
			}
			_, _ = pc.WriteTo(resp, from)
		}
	}()
	return pc.LocalAddr().String()
}

// resolveProgram looks a name up with Go's own resolver, as the server
// does (CGO_ENABLED=0), its queries sent to the address of its first
// argument.
const resolveProgram = `package main

import (
	"context"
	"fmt"
	"net"
	"os"
)

func main() {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", os.Args[1])
	}}
	addrs, err := r.LookupIPAddr(context.Background(), os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(addrs)
}
`

// B1: a lookup of a name with several addresses by Go's pure resolver (the
// server's) makes a UDP connect to each address on port 53, sending
// nothing (net/addrselect.go, srcAddrs, for the RFC 6724 sort). Traced for
// real with strace: every connect the lookup of an interface endpoint (one
// address per zone inside VPC_CIDR) makes is allowed in prod, and the same
// connects to the VPC's resolver or outside VPC_CIDR still alert.
func TestFalcoGoResolverRouteProbe(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatalf("strace is not installed (scripts/deps.sh test installs it): %v", err)
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"go.mod": "module resolve\n\ngo 1.26\n", "main.go": resolveProgram} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "resolve")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	items := renderFalco(t, filepath.Join(filledTree(t), "overlays/prod"), testDNS)
	lists := renderedLists(t, items)
	// The exception counts only as the rendered file states it.
	probeException := false
	for _, it := range items {
		if it.Rule == "Healthcare API disallowed outbound connection" {
			probeException = strings.Contains(strings.Join(strings.Fields(it.Condition), " "), "and not healthcare_api_route_probe")
		}
		if it.Macro == "healthcare_api_route_probe" && strings.Join(strings.Fields(it.Condition), " ") != falcoRouteProbe {
			t.Errorf("macro healthcare_api_route_probe is not the condition falcoAlerts evaluates:\n%s", it.Condition)
		}
	}
	vpc := netip.MustParsePrefix(lists.https[0])
	endpoints := []netip.Addr{}
	for _, off := range []uint32{0x0105, 0x0205, 0x0305} { // one per zone
		b := vpc.Addr().As4()
		v := binary.BigEndian.Uint32(b[:]) + off
		endpoints = append(endpoints, netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, v))))
	}
	if !slices.Equal(lists.resolver, []string{vpc.Addr().Next().Next().String(), "169.254.169.253"}) {
		t.Errorf("healthcare_api_vpc_resolver = %v, want VPC_CIDR's base + 2 and 169.254.169.253", lists.resolver)
	}

	trace := filepath.Join(dir, "trace")
	cmd := exec.Command("strace", "-f", "-yy", "-e", "trace=connect", "-o", trace, bin, fakeDNS(t, endpoints), "sagemaker-runtime.test.")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("strace %s: %v\n%s", bin, err, out)
	}
	t.Logf("resolved %s", out)
	raw := readFile(t, trace)
	re := regexp.MustCompile(`connect\(\d+<(TCP|UDP)[^>]*>, \{sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([\d.]+)"\)\}, \d+\) = (0|-1 EINPROGRESS)`)
	probed := map[netip.Addr]bool{}
	for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
		port, _ := strconv.Atoi(m[2])
		e := falcoEvent{server: true, evtType: "connect", proto: strings.ToLower(m[1]), ip: netip.MustParseAddr(m[3]), port: port}
		if e.ip.IsLoopback() {
			continue // the query itself, to the fake DNS server
		}
		if e.proto == "udp" && e.port == 53 && !falcoAlerts(lists, e, false) {
			t.Errorf("%v: allowed even without the route probe exception", e)
		}
		probed[e.ip] = true
		if falcoAlerts(lists, e, probeException) {
			t.Errorf("the lookup's connect(%s, %s:%d) raises \"disallowed outbound connection\" in prod (lists %+v)", e.proto, e.ip, e.port, lists)
		}
	}
	for _, a := range endpoints {
		if !probed[a] {
			t.Errorf("no connect to %s:53 traced: Go's resolver no longer probes routes, or the trace is not parsed:\n%s", a, raw)
		}
	}

	// What the exception still refuses.
	for _, e := range []falcoEvent{
		{server: true, evtType: "connect", proto: "udp", ip: vpc.Addr().Next().Next(), port: 53}, // the VPC's resolver
		{server: true, evtType: "connect", proto: "udp", ip: netip.MustParseAddr("169.254.169.253"), port: 53},
		{server: true, evtType: "connect", proto: "udp", ip: netip.MustParseAddr("8.8.8.8"), port: 53}, // outside VPC_CIDR
		{server: false, evtType: "connect", proto: "udp", ip: endpoints[0], port: 53},                  // not the server
		{server: true, evtType: "connect", proto: "tcp", ip: endpoints[0], port: 53},
		{server: true, evtType: "connect", proto: "udp", ip: endpoints[0], port: 54},
		{server: true, evtType: "sendto", proto: "udp", ip: endpoints[0], port: 53}, // a datagram, not a probe
		{server: true, evtType: "sendto", proto: "udp", ip: vpc.Addr().Next().Next(), port: 53},
	} {
		if !falcoAlerts(lists, e, probeException) {
			t.Errorf("%+v does not alert", e)
		}
	}
}

// The rule file says what falcoAlerts evaluates.
func TestFalcoOutboundCondition(t *testing.T) {
	byName := map[string]falcoItem{}
	for _, it := range falcoRules(t, falcoRulesFile) {
		byName[it.Rule+it.Macro+it.List] = it
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for name, want := range map[string]string{
		"Healthcare API disallowed outbound connection": falcoOutboundCondition,
		"healthcare_api_route_probe":                    falcoRouteProbe,
		"healthcare_api_connect": `((evt.type = connect and evt.dir = <)` +
			` or (evt.type in (sendto, sendmsg) and evt.dir = < and fd.l4proto != tcp` +
			` and fd.connected = false and fd.name_changed = true))` +
			` and fd.l4proto in (tcp, udp)` +
			` and not fd.snet = "127.0.0.0/8" and (evt.rawres >= 0 or evt.res = EINPROGRESS)`,
	} {
		if got := norm(byName[name].Condition); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

// stubKubectl puts a kubectl on PATH that answers as an EKS cluster of
// context "eks-prod" would, from the STUB_* variables, and logs each call
// to the returned file.
func stubKubectl(t *testing.T) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls")
	stub := `#!/bin/sh
printf "%s\\n" "$*" >>"` + log + `"
case " $* " in *" --context eks-prod "*) ;; *) echo "error: context was not found" >&2; exit 1 ;; esac
case "$*" in
*"config view"*) echo https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com ;;
*"get nodes"*) printf '%b' "$STUB_NODES" ;;
*"daemonset kube-proxy"*) [ -n "$STUB_KUBE_PROXY" ] || { echo 'Error from server (NotFound): daemonsets.apps "kube-proxy" not found' >&2; exit 1; }; echo daemonset.apps/kube-proxy ;;
*"service kube-dns"*) [ "$STUB_DNS" != fail ] || { echo 'Unable to connect to the server: dial tcp: i/o timeout' >&2; exit 1; }; printf %s "$STUB_DNS" ;;
*) echo "unexpected call" >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte(stub), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH"), log
}

// M1, M2: scripts/falco-rules.sh reads only the cluster of the context it
// is given, says which, refuses one whose nodes are outside VPC_CIDR, a
// DNS Service address that is not one (empty, "None", unreadable), and a
// cluster without kube-proxy (eBPF socket load balancing: Falco would see
// CoreDNS pods, not the kube-dns ClusterIP).
func TestFalcoRulesCluster(t *testing.T) {
	path, log := stubKubectl(t)
	prod := filepath.Join(filledTree(t), "overlays/prod")
	nodes := `ip-10-20-1-5.eu-west-1.compute.internal 10.20.1.5\nip-10-20-2-7.eu-west-1.compute.internal 10.20.2.7\n`
	for _, c := range []struct {
		name, context, nodes, kubeProxy, dns, socketLB, want string
		ok                                                   bool
	}{
		{"the cluster", "eks-prod", nodes, "yes", "172.20.0.10", "", "context 'eks-prod' (API server https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com)", true},
		{"no context", "", nodes, "yes", "172.20.0.10", "", "set KUBE_CONTEXT", false},
		{"another context", "eks-staging", nodes, "yes", "172.20.0.10", "", "kubectl has no context 'eks-staging'", false},
		{"DNS empty", "eks-prod", nodes, "yes", "", "", "the cluster DNS address '' is not one IPv4 address", false},
		{"DNS None", "eks-prod", nodes, "yes", "None", "", "the cluster DNS address 'None' is not one IPv4 address", false},
		{"DNS unreadable", "eks-prod", nodes, "yes", "fail", "", "cannot read the cluster DNS Service", false},
		{"no nodes", "eks-prod", "", "yes", "172.20.0.10", "", "lists no nodes", false},
		{"a node outside VPC_CIDR", "eks-prod", nodes + `ip-10-30-1-5.eu-west-1.compute.internal 10.30.1.5\n`, "yes", "172.20.0.10", "", "node ip-10-30-1-5.eu-west-1.compute.internal has InternalIP '10.30.1.5', outside VPC_CIDR=10.20.0.0/16", false},
		{"a node without InternalIP", "eks-prod", nodes + `ip-pending \n`, "yes", "172.20.0.10", "", "node ip-pending has InternalIP ''", false},
		{"no kube-proxy", "eks-prod", nodes, "", "172.20.0.10", "", "no kube-system/kube-proxy DaemonSet", false},
		{"no kube-proxy, socketLB.hostNamespaceOnly", "eks-prod", nodes, "", "172.20.0.10", "true", "relying on SOCKETLB_HOST_NAMESPACE_ONLY=true", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_ = os.Remove(log)
			var stderr bytes.Buffer
			cmd := exec.Command("../scripts/falco-rules.sh", prod)
			cmd.Stderr = &stderr
			cmd.Env = append(os.Environ(), "PATH="+path, "KUBE_CONTEXT="+c.context, "STUB_NODES="+c.nodes,
				"STUB_KUBE_PROXY="+c.kubeProxy, "STUB_DNS="+c.dns, "SOCKETLB_HOST_NAMESPACE_ONLY="+c.socketLB)
			out, err := cmd.Output()
			if !strings.Contains(stderr.String(), c.want) || (err == nil) != c.ok || (len(out) > 0) != c.ok {
				t.Fatalf("err %v, printed %d bytes, want ok=%v and %q on stderr:\n%s", err, len(out), c.ok, c.want, stderr.String())
			}
			if c.ok {
				var items []falcoItem
				if err := yaml.UnmarshalStrict(out, &items); err != nil {
					t.Fatal(err)
				}
				if dns := falcoList(t, items, "healthcare_api_dns_servers"); !slices.Equal(dns, []string{c.dns}) {
					t.Errorf("healthcare_api_dns_servers = %v, want the stub's kube-dns %s", dns, c.dns)
				}
			}
			calls, _ := os.ReadFile(log)
			for _, call := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
				if call == "" {
					continue
				}
				if !strings.Contains(call, "--context "+c.context) ||
					(!strings.HasPrefix(call, "config view") && !strings.Contains(call, "--request-timeout=10s")) {
					t.Errorf("kubectl %s: without --context %s and --request-timeout=10s", call, c.context)
				}
			}
		})
	}
}

// Minor 1: strictness comes from the overlay's kustomization, not its
// name: a copy of prod under another name is prod (VPC_CIDR required), and
// an overlay that is neither dev nor production-shaped is refused rather
// than given dev's 0.0.0.0/0.
func TestFalcoRulesStrictness(t *testing.T) {
	root := filledTree(t)
	copyOverlay := func(from, to string, values string) string {
		dir := filepath.Join(root, "falco-strictness-"+to, to)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		kust := readFile(t, filepath.Join(root, "overlays", from, "kustomization.yaml"))
		for f, text := range map[string]string{"kustomization.yaml": string(kust), "values.env": values} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	prodValues := readFile(t, filepath.Join(root, "overlays/prod/values.env"))
	devValues := readFile(t, filepath.Join(root, "overlays/dev/values.env"))
	noVPC := regexp.MustCompile(`(?m)^VPC_CIDR=.*\n`).ReplaceAllString(string(prodValues), "")

	items := renderFalco(t, copyOverlay("prod", "prod-eu", string(prodValues)), testDNS)
	if https := falcoList(t, items, "healthcare_api_https_networks"); !slices.Equal(https, []string{"10.20.0.0/16"}) {
		t.Errorf("prod-eu: healthcare_api_https_networks = %v, want its VPC_CIDR", https)
	}
	for _, c := range []struct{ name, dir, want string }{
		{"prod-eu without VPC_CIDR", copyOverlay("prod", "prod-eu2", noVPC), "VPC_CIDR= is not the VPC's"},
		{"dev named qa", copyOverlay("dev", "qa", string(devValues)), "but the overlay is not dev"},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command("../scripts/falco-rules.sh", c.dir, testDNS)
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err == nil || len(out) > 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: err %v, printed %d bytes, want a refusal saying %q:\n%s", c.name, err, len(out), c.want, stderr.String())
		}
	}
}

// M3: the shapes of scripts/cidr.sh (the deploy guard's and the Falco
// rules'): networks as networks are written, addresses of hosts.
func TestFalcoCIDRShapes(t *testing.T) {
	for _, c := range []struct {
		fn, value string
		ok        bool
	}{
		{"cidr", "10.20.0.0/16", true},
		{"cidr", "10.0.0.0/8", true},
		{"cidr", "198.51.100.0/24", true},
		{"cidr", "198.51.100.7/32", true},
		{"cidr", "10.20.1.0/16", false},  // host bits set
		{"cidr", "10.20.0.1/28", false},  // host bits set
		{"cidr", "010.20.0.0/16", false}, // leading zero
		{"cidr", "10.020.0.0/16", false},
		{"cidr", "10.20.0.0/016", false},
		{"cidr", "0.0.0.0/0", false},
		{"cidr", "10.20.0.0/33", false},
		{"cidr", "256.20.0.0/16", false},
		{"vpc_cidr", "10.20.0.0/16", true},
		{"vpc_cidr", "10.20.0.16/28", true},
		{"vpc_cidr", "10.20.0.0/15", false},
		{"vpc_cidr", "10.20.0.8/28", false},
		{"ehr_cidr", "198.51.100.0/24", true},
		{"ehr_cidr", "198.51.101.0/23", false}, // host bits set
		{"ipv4", "172.20.0.10", true},
		{"ipv4", "0.0.0.0", false},
		{"ipv4", "255.255.255.255", false},
		{"ipv4", "172.020.0.10", false},
		{"ipv4", "None", false},
		{"ipv4", "", false},
		{"in_cidr", "10.20.255.7 10.20.0.0/16", true},
		{"in_cidr", "10.21.0.7 10.20.0.0/16", false},
	} {
		args := strings.Fields(c.value)
		if len(args) == 0 {
			args = []string{""}
		}
		cmd := exec.Command("bash", append([]string{"-c", `. ../scripts/cidr.sh && "$@"`, "cidr.sh", c.fn}, args...)...)
		if err := cmd.Run(); (err == nil) != c.ok {
			t.Errorf("%s %q: accepted = %v, want %v (%v)", c.fn, c.value, err == nil, c.ok, err)
		}
	}
}
