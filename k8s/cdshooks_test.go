package k8s

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/healthcare-prediction/api/internal/awsjson"
)

// Every overlay's CDS Hooks settings reach the server: no trusted clients
// (CDS calls take the API keys), and the base URL client JWTs will name in
// aud is the overlay's own host, the Ingress's.
func TestCDSHooksConfig(t *testing.T) {
	eachDir(t, overlays, func(t *testing.T, r *rendered) {
		cfg, asked := r.config(t)
		for _, k := range []string{"CDS_HOOKS_CLIENTS", "CDS_HOOKS_BASE_URL"} {
			if _, ok := r.cm.Data[k]; !ok || !asked[k] {
				t.Errorf("%s: in the ConfigMap %v, read by app.Load %v; want both", k, ok, asked[k])
			}
		}
		if len(cfg.CDSHooks.Clients) != 0 || cfg.CDSHooks.AllowHTTP {
			t.Errorf("clients %v, allow http %v: want none and false (API keys; EHRs are an overlay's choice)", cfg.CDSHooks.Clients, cfg.CDSHooks.AllowHTTP)
		}
		host := r.ing.Spec.Rules[0].Host
		if got, want := cfg.CDSHooks.BaseURL, "https://"+r.values["HOST"]; got != want || host != r.values["HOST"] {
			t.Errorf("CDS_HOOKS_BASE_URL %q, Ingress host %q; want %q on the Ingress's host", got, host, want)
		}
	})
}

// cdsEgressPolicy is the NetworkPolicy of k8s/components/cds-hooks-egress.
const cdsEgressPolicy = "healthcare-api-cds-hooks-egress"

// testEHRCIDR is an EHR's range in tests: RFC 5737 TEST-NET-2.
const testEHRCIDR = "198.51.100.0/24"

// cdsOverlay writes prod with the cds-hooks-egress component, enabled
// exactly as the component's comment says, into the filled tree (as
// cds/prod: the guard takes the environment from the folder's name), and
// returns it with a function that writes its values.env with CDS_EHR_CIDR.
func cdsOverlay(t *testing.T) (string, func(cidr string)) {
	t.Helper()
	dir, kust, values := prodCopy(t, "cds")
	doc, err := os.ReadFile("components/cds-hooks-egress/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snippet := regexp.MustCompile(`(?m)^#   replacements:\n((?:#     .*\n)+)`).FindSubmatch(doc)
	if snippet == nil {
		t.Fatal("components/cds-hooks-egress/kustomization.yaml no longer documents its replacement")
	}
	replacement := regexp.MustCompile(`(?m)^#   `).ReplaceAllString(string(snippet[1]), "")
	k := strings.Replace(string(kust), "  - ../../components/production\n", "  - ../../components/production\n  - ../../components/cds-hooks-egress\n", 1)
	k = strings.Replace(k, "\nreplacements:\n", "\nreplacements:\n"+replacement, 1)
	if k == string(kust) {
		t.Fatal("overlays/prod no longer lists components/production or replacements")
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, func(cidr string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "values.env"), []byte(string(values)+"CDS_EHR_CIDR="+cidr+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// prodCopy makes the folder name/prod in the filled tree (a prod overlay
// there: the guard takes the environment from the folder's name) and
// returns it with overlays/prod's kustomization.yaml and values.env.
func prodCopy(t *testing.T, name string) (dir string, kust, values []byte) {
	t.Helper()
	root := filledTree(t)
	prod := filepath.Join(root, "overlays", "prod")
	dir = filepath.Join(root, name, "prod")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	kust, err := os.ReadFile(filepath.Join(prod, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	values, err = os.ReadFile(filepath.Join(prod, "values.env"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, kust, values
}

// Production's Gatekeeper constraints (k8s/policy/production) admit prod
// with the component, and refuse it when the EHR's range is the internet:
// the admission backstop behind the guard.
func TestCDSHooksEgressPassesGatekeeper(t *testing.T) {
	root := renderedPolicy(t)
	dir, writeValues := cdsOverlay(t)
	for _, c := range []struct {
		cidr      string
		violation string // the constraint kind it must break, or ""
	}{
		{testEHRCIDR, ""},
		{"0.0.0.0/0", "NoOpenEgress"},
	} {
		writeValues(c.cidr)
		file := filepath.Join(t.TempDir(), "rendered.yaml")
		if err := os.WriteFile(file, kustomize(t, dir), 0o644); err != nil {
			t.Fatal(err)
		}
		got := gatorTest(t, root, filepath.Join(root, policyRendered), file)
		switch {
		case c.violation == "" && len(got) != 0:
			t.Errorf("CDS_EHR_CIDR=%s: %+v, want no violation", c.cidr, got)
		case c.violation != "" && (len(got) != 1 || got[0].Constraint.Kind != c.violation):
			t.Errorf("CDS_EHR_CIDR=%s: %+v, want exactly a %s violation", c.cidr, got, c.violation)
		}
	}
}

// The optional egress component, enabled as its kustomization.yaml says,
// in a copy of prod with CDS_EHR_CIDR in values.env: every NetworkPolicy
// rule of production still holds, HTTPS goes to the VPC and to the EHR's
// range only, and the new policy allows exactly that range on TCP 443.
func TestCDSHooksEgressComponent(t *testing.T) {
	dir, writeValues := cdsOverlay(t)
	writeValues(testEHRCIDR)
	if ok, out := guard(t, dir); !ok {
		t.Errorf("scripts/k8s-check.sh refuses prod with the component and CDS_EHR_CIDR=%s:\n%s", testEHRCIDR, out)
	}
	r := build(t, "cds/prod")
	r.complete(t)
	checkNetworkPolicies(t, r, true)

	np := r.netpols[cdsEgressPolicy]
	if np == nil {
		t.Fatalf("no NetworkPolicy %s; have %v", cdsEgressPolicy, keysOf(r.netpols))
	}
	if np.Namespace != r.deploy.Namespace {
		t.Errorf("namespace %q, want the Deployment's %q", np.Namespace, r.deploy.Namespace)
	}
	if !equalLabels(np.Spec.PodSelector.MatchLabels, r.deploy.Spec.Template.Labels) || len(np.Spec.Ingress) != 0 ||
		len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeEgress {
		t.Errorf("spec %+v: want egress only, for the API pods", np.Spec)
	}
	if len(np.Spec.Egress) != 1 {
		t.Fatalf("egress = %+v, want one rule", np.Spec.Egress)
	}
	rule := np.Spec.Egress[0]
	if len(rule.To) != 1 || rule.To[0].IPBlock == nil || rule.To[0].IPBlock.CIDR != testEHRCIDR || rule.To[0].PodSelector != nil || rule.To[0].NamespaceSelector != nil {
		t.Errorf("to = %+v, want only the ipBlock %s", rule.To, testEHRCIDR)
	}
	if https := intstr.FromInt32(443); len(rule.Ports) != 1 || rule.Ports[0].Port == nil || *rule.Ports[0].Port != https ||
		rule.Ports[0].Protocol == nil || *rule.Ports[0].Protocol != corev1.ProtocolTCP || rule.Ports[0].EndPort != nil {
		t.Errorf("ports = %+v, want TCP 443 only", rule.Ports)
	}
	// Production's own egress is untouched, and nothing is left unfilled.
	if got, want := r.netpols["healthcare-api-egress"], build(t, "overlays/prod").netpols["healthcare-api-egress"]; !reflect.DeepEqual(got, want) {
		t.Errorf("healthcare-api-egress = %+v, want prod's %+v", got, want)
	}
	if strings.Contains(string(r.raw), "REPLACE_ME") {
		t.Error("the manifests hold REPLACE_ME")
	}

	// The guard refuses a range wider than /16, and the internet.
	for _, wide := range []string{"10.0.0.0/8", "0.0.0.0/0"} {
		writeValues(wide)
		if ok, out := guard(t, dir); ok || !strings.Contains(out, "CDS_EHR_CIDR") {
			t.Errorf("scripts/k8s-check.sh with CDS_EHR_CIDR=%s: passed %v, want a refusal naming CDS_EHR_CIDR:\n%s", wide, ok, out)
		}
	}
}

func equalLabels(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) > 0
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// testReplayTable and testDynamoDBEndpoint are the jti table and the
// DynamoDB endpoint's URL (infra/vpc-endpoints.yaml DynamoDbEndpointUrl)
// of the fictitious prod account.
const (
	testReplayTable      = "prod-healthcare-api-cds-replay"
	testDynamoDBEndpoint = "https://vpce-0a1b2c3d4e5f67890-k2m4n6p8.dynamodb.eu-west-1.vpce.amazonaws.com"
)

// replayOverlay writes prod with the jti table, set up as docs/eks.md
// ("CDS Hooks: the shared jti table") says: the CDS_HOOKS_REPLAY_TABLE
// literal and, with replacement, the documented replacement of
// DYNAMODB_ENDPOINT_URL. It returns the directory and a function that
// writes its values.env, with DYNAMODB_ENDPOINT_URL unless url is "".
func replayOverlay(t *testing.T, name string, replacement bool) (string, func(url string)) {
	t.Helper()
	return literalOverlay(t, name, replacement, "CDS_HOOKS_REPLAY_TABLE="+testReplayTable)
}

// literalOverlay is replayOverlay with the ConfigMap literals given
// (KEY=value, as configMapGenerator takes them) in place of the table's.
func literalOverlay(t *testing.T, name string, replacement bool, literals ...string) (string, func(url string)) {
	t.Helper()
	dir, kust, values := prodCopy(t, name)
	var add strings.Builder
	for _, l := range literals {
		add.WriteString("      - " + l + "\n")
	}
	k := strings.Replace(string(kust), "    literals:\n", "    literals:\n"+add.String(), 1)
	if replacement {
		doc, err := os.ReadFile(filepath.Join("..", "docs", "eks.md"))
		if err != nil {
			t.Fatal(err)
		}
		_, section, _ := strings.Cut(string(doc), "#### CDS Hooks: the shared jti table\n")
		block := regexp.MustCompile("(?m)^( *)```yaml\n *replacements:\n((?:.*\n)*?) *```").FindStringSubmatch(section)
		if block == nil || !strings.Contains(block[2], "data.DYNAMODB_ENDPOINT_URL") {
			t.Fatal(`docs/eks.md, "CDS Hooks: the shared jti table", no longer shows the replacement of DYNAMODB_ENDPOINT_URL`)
		}
		items := regexp.MustCompile("(?m)^"+block[1]).ReplaceAllString(block[2], "")
		k = strings.Replace(k, "\nreplacements:\n", "\nreplacements:\n"+items, 1)
	}
	if !strings.Contains(k, literals[0]) || (replacement && !strings.Contains(k, "AWS_ENDPOINT_URL_DYNAMODB")) {
		t.Fatal("overlays/prod no longer has configMapGenerator literals or replacements")
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, func(url string) {
		t.Helper()
		v := string(values)
		if url != "" {
			v += "DYNAMODB_ENDPOINT_URL=" + url + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "values.env"), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Prod with the shared jti table, set up exactly as docs/eks.md says: the
// guard passes it, the pods get the DynamoDB endpoint's own name as
// AWS_ENDPOINT_URL_DYNAMODB and the server's DynamoDB client
// (internal/awsjson, as container.go builds it) calls that URL, inside
// VPC_CIDR's egress, which is unchanged. The guard refuses the public
// DynamoDB name, another region's endpoint, and the table without the
// endpoint, where every client JWT would be refused; it reads the rendered
// ConfigMap, so a literal AWS_ENDPOINT_URL_DYNAMODB in the overlay is held
// to the same form and to values.env's DYNAMODB_ENDPOINT_URL, and a table
// name kustomize quotes ("123456") is still seen.
func TestCDSHooksReplayTableEndpoint(t *testing.T) {
	dir, writeValues := replayOverlay(t, "replay", true)
	writeValues(testDynamoDBEndpoint)
	if ok, out := guard(t, dir); !ok {
		t.Fatalf("scripts/k8s-check.sh refuses prod with the jti table and its endpoint:\n%s", out)
	}
	r := build(t, "replay/prod")
	r.complete(t)
	checkNetworkPolicies(t, r, true)
	if got := r.cm.Data["AWS_ENDPOINT_URL_DYNAMODB"]; got != testDynamoDBEndpoint {
		t.Errorf("ConfigMap AWS_ENDPOINT_URL_DYNAMODB = %q, want %q", got, testDynamoDBEndpoint)
	}
	cfg, _ := r.config(t)
	if cfg.CDSHooksReplayTable != testReplayTable {
		t.Errorf("CDS_HOOKS_REPLAY_TABLE loads as %q, want %q", cfg.CDSHooksReplayTable, testReplayTable)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"}
	for k, v := range r.cm.Data {
		env[k] = v
	}
	client, err := awsjson.FromEnv(func(k string) string { return env[k] }, awsjson.DynamoDB, awsjson.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if client.Endpoint() != testDynamoDBEndpoint || client.Region() != r.values["AWS_REGION"] {
		t.Errorf("the pods' DynamoDB client calls %s in %s, want %s in %s", client.Endpoint(), client.Region(), testDynamoDBEndpoint, r.values["AWS_REGION"])
	}
	if got, want := r.netpols["healthcare-api-egress"], build(t, "overlays/prod").netpols["healthcare-api-egress"]; !reflect.DeepEqual(got, want) {
		t.Errorf("healthcare-api-egress = %+v, want prod's %+v", got, want)
	}

	for _, bad := range []string{
		"https://dynamodb.eu-west-1.amazonaws.com",
		"https://vpce-0a1b2c3d4e5f67890-k2m4n6p8.dynamodb.us-east-1.vpce.amazonaws.com",
		"http://vpce-0a1b2c3d4e5f67890-k2m4n6p8.dynamodb.eu-west-1.vpce.amazonaws.com",
		"https://vpce-0a1b2c3d4e5f67890-k2m4n6p8.secretsmanager.eu-west-1.vpce.amazonaws.com",
	} {
		writeValues(bad)
		if ok, out := guard(t, dir); ok || !strings.Contains(out, "DYNAMODB_ENDPOINT_URL") {
			t.Errorf("scripts/k8s-check.sh with DYNAMODB_ENDPOINT_URL=%s: passed %v, want a refusal naming it:\n%s", bad, ok, out)
		}
	}

	bare, writeBare := replayOverlay(t, "replay-without-endpoint", false)
	writeBare("")
	if ok, out := guard(t, bare); ok || !strings.Contains(out, "AWS_ENDPOINT_URL_DYNAMODB") {
		t.Errorf("scripts/k8s-check.sh with CDS_HOOKS_REPLAY_TABLE and no endpoint: passed %v, want a refusal naming AWS_ENDPOINT_URL_DYNAMODB:\n%s", ok, out)
	}

	const otherEndpoint = "https://vpce-0fedcba9876543210-z9y8x7w6.dynamodb.eu-west-1.vpce.amazonaws.com"
	for _, c := range []struct {
		name     string
		literals []string
		values   string // DYNAMODB_ENDPOINT_URL, or ""
		want     string // in the refusal
	}{
		// The public name as a literal, values.env without the endpoint.
		{"public-literal", []string{"CDS_HOOKS_REPLAY_TABLE=" + testReplayTable, "AWS_ENDPOINT_URL_DYNAMODB=https://dynamodb.eu-west-1.amazonaws.com"}, "",
			"the ConfigMap's AWS_ENDPOINT_URL_DYNAMODB is not the DynamoDB interface endpoint's URL"},
		// Well formed, but another endpoint than values.env's (another
		// cluster's overlay copied): only the equality catches it.
		{"other-literal", []string{"CDS_HOOKS_REPLAY_TABLE=" + testReplayTable, "AWS_ENDPOINT_URL_DYNAMODB=" + otherEndpoint}, testDynamoDBEndpoint,
			"is not DYNAMODB_ENDPOINT_URL of values.env"},
		// DYNAMODB_ENDPOINT_URL without its replacement: the pods never get it.
		{"values-only", []string{"CDS_HOOKS_REPLAY_TABLE=" + testReplayTable}, testDynamoDBEndpoint,
			"is not DYNAMODB_ENDPOINT_URL of values.env"},
		// A table name that YAML would read as a number: rendered quoted.
		{"quoted-table", []string{"CDS_HOOKS_REPLAY_TABLE=123456"}, "",
			"CDS_HOOKS_REPLAY_TABLE is set but the pods have no AWS_ENDPOINT_URL_DYNAMODB"},
	} {
		dir, write := literalOverlay(t, "replay-"+c.name, false, c.literals...)
		write(c.values)
		if ok, out := guard(t, dir); ok || !strings.Contains(out, c.want) {
			t.Errorf("%s: scripts/k8s-check.sh passed %v, want a refusal saying %q:\n%s", c.name, ok, c.want, out)
		}
	}
	// The quoted name is rendered quoted, and passes with its endpoint.
	quoted, writeQuoted := literalOverlay(t, "replay-quoted-with-endpoint", true, "CDS_HOOKS_REPLAY_TABLE=123456")
	writeQuoted(testDynamoDBEndpoint)
	if ok, out := guard(t, quoted); !ok {
		t.Errorf("scripts/k8s-check.sh refuses a quoted table name with its endpoint:\n%s", out)
	}
	if r := build(t, "replay-quoted-with-endpoint/prod"); r.cm.Data["CDS_HOOKS_REPLAY_TABLE"] != "123456" {
		t.Errorf("CDS_HOOKS_REPLAY_TABLE = %q, want 123456", r.cm.Data["CDS_HOOKS_REPLAY_TABLE"])
	}
}
