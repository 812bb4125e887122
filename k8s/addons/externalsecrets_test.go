package addons

import (
	"context"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	esv1 "github.com/external-secrets/external-secrets/apis/externalsecrets/v1"
	// The AWS provider registers itself with esv1, so that ESO's own store
	// validation (its admission webhook's) checks the SecretStore below.
	_ "github.com/external-secrets/external-secrets/pkg/provider/aws"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
)

// alertmanagerSecret is the Secret Alertmanager reads its credentials
// from, as the monitoring side defines it: the keys are the file names of
// alertmanager.yml's *_file settings under the secrets directory, the
// name is the one monitoring/README.md creates and mounts.
type alertmanagerSecret struct {
	namespace, name string
	keys            []string
}

func readAlertmanagerSecret(t *testing.T) alertmanagerSecret {
	t.Helper()
	const dir = "/etc/alertmanager/secrets"
	src, err := os.ReadFile(filepath.Join(repo, "monitoring/alertmanager/alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 && strings.HasSuffix(c.Value, "_file") {
				if f := n.Content[i+1].Value; path.Dir(f) == dir {
					keys = append(keys, path.Base(f))
				} else {
					t.Errorf("alertmanager.yml: %s %s is outside %s", c.Value, f, dir)
				}
			}
			walk(c)
		}
	}
	walk(&root)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		t.Fatal("alertmanager.yml reads no *_file")
	}

	readme, err := os.ReadFile(filepath.Join(repo, "monitoring/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`kubectl -n (\S+) create secret generic (\S+)((?:\s+\\\n\s+--from-file=\S+)+)`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("monitoring/README.md no longer shows `kubectl -n <ns> create secret generic <name> --from-file=...`")
	}
	s := alertmanagerSecret{namespace: string(m[1]), name: string(m[2]), keys: keys}
	var readmeKeys []string
	for _, f := range regexp.MustCompile(`--from-file=([^=\s]+)=`).FindAllSubmatch(m[3], -1) {
		readmeKeys = append(readmeKeys, string(f[1]))
	}
	slices.Sort(readmeKeys)
	if !slices.Equal(readmeKeys, keys) {
		t.Errorf("monitoring/README.md creates keys %v, alertmanager.yml reads %v", readmeKeys, keys)
	}
	if !strings.Contains(string(readme), "secrets: ["+s.name+"]") {
		t.Errorf("monitoring/README.md does not mount %s (alertmanagerSpec.secrets)", s.name)
	}
	return s
}

// esoObjects is k8s/external-secrets rendered with its values filled in.
type esoObjects struct {
	sa     *corev1.ServiceAccount
	store  *esv1.SecretStore
	secret *esv1.ExternalSecret
	count  int
}

func renderESO(t *testing.T) esoObjects {
	t.Helper()
	return renderESOWith(t, nil)
}

// renderESOWith renders k8s/external-secrets with further values.env
// entries set.
func renderESOWith(t *testing.T, more map[string]string) esoObjects {
	t.Helper()
	values := map[string]string{
		"AWS_REGION":                    testRegion,
		"ALERTMANAGER_SECRETS_ROLE_ARN": "arn:aws:iam::" + testAccount + ":role/healthcare-api-alertmanager-secrets",
	}
	maps.Copy(values, more)
	dir := filled(t, "k8s/external-secrets", values)
	objs := decodeStrict(t, kustomize(t, dir), func(apiVersion, kind string) any {
		switch apiVersion + " " + kind {
		case "v1 ServiceAccount":
			return &corev1.ServiceAccount{}
		case "external-secrets.io/v1 SecretStore":
			return &esv1.SecretStore{}
		case "external-secrets.io/v1 ExternalSecret":
			return &esv1.ExternalSecret{}
		}
		return nil
	})
	var r esoObjects
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ServiceAccount:
			r.sa = o
		case *esv1.SecretStore:
			r.store = o
		case *esv1.ExternalSecret:
			r.secret = o
		}
	}
	r.count = len(objs)
	if r.sa == nil || r.store == nil || r.secret == nil || r.count != 3 {
		t.Fatalf("k8s/external-secrets renders %d objects, want one ServiceAccount, SecretStore and ExternalSecret", r.count)
	}
	return r
}

// The ExternalSecret writes exactly the Secret Alertmanager mounts, in its
// namespace, with exactly the keys alertmanager.yml reads, and ESO's own
// admission checks accept the objects.
func TestExternalSecretsFeedAlertmanager(t *testing.T) {
	want := readAlertmanagerSecret(t)
	r := renderESO(t)

	es := r.secret
	if es.Namespace != want.namespace || es.Spec.Target.Name != want.name {
		t.Errorf("ExternalSecret writes %s/%s, Alertmanager mounts %s/%s", es.Namespace, es.Spec.Target.Name, want.namespace, want.name)
	}
	var keys []string
	for _, d := range es.Spec.Data {
		keys = append(keys, d.SecretKey)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want.keys) {
		t.Errorf("ExternalSecret writes keys %v, alertmanager.yml reads %v", keys, want.keys)
	}
	if len(es.Spec.DataFrom) > 0 || es.Spec.Target.Template != nil {
		t.Error("ExternalSecret has dataFrom or a template: the Secret's keys would no longer be exactly spec.data's")
	}
	if es.Spec.Target.CreationPolicy != esv1.CreatePolicyOwner {
		t.Errorf("creationPolicy %q, want Owner (the operator owns the Secret it writes)", es.Spec.Target.CreationPolicy)
	}
	if es.Spec.SecretStoreRef.Kind != "SecretStore" || es.Spec.SecretStoreRef.Name != r.store.Name {
		t.Errorf("ExternalSecret uses store %s %q, want the namespaced SecretStore %q", es.Spec.SecretStoreRef.Kind, es.Spec.SecretStoreRef.Name, r.store.Name)
	}

	aws := r.store.Spec.Provider.AWS
	if aws == nil || aws.Service != esv1.AWSServiceSecretsManager || aws.Region != testRegion || aws.Role != "" {
		t.Fatalf("SecretStore provider %+v, want aws SecretsManager in the values' region, no role chaining", r.store.Spec.Provider)
	}
	if aws.Auth.JWTAuth == nil || aws.Auth.JWTAuth.ServiceAccountRef == nil || aws.Auth.SecretRef != nil ||
		aws.Auth.JWTAuth.ServiceAccountRef.Name != r.sa.Name || aws.Auth.JWTAuth.ServiceAccountRef.Namespace != nil {
		t.Errorf("SecretStore auth %+v, want jwt with the ServiceAccount %q of its own namespace", aws.Auth, r.sa.Name)
	}
	if r.sa.Namespace != r.store.Namespace || r.sa.Annotations["eks.amazonaws.com/role-arn"] != "arn:aws:iam::"+testAccount+":role/healthcare-api-alertmanager-secrets" {
		t.Errorf("ServiceAccount %s/%s annotations %v: want the role of values.env in the store's namespace", r.sa.Namespace, r.sa.Name, r.sa.Annotations)
	}

	ctx := context.Background()
	if warns, err := (&esv1.GenericStoreValidator{}).ValidateCreate(ctx, r.store); err != nil || len(warns) > 0 {
		t.Errorf("ESO's SecretStore validation: %v %v", err, warns)
	}
	if warns, err := (&esv1.ExternalSecretValidator{}).ValidateCreate(ctx, es); err != nil || len(warns) > 0 {
		t.Errorf("ESO's ExternalSecret validation: %v %v", err, warns)
	}
}

// The operator's role reads exactly the two secrets the ExternalSecret
// names, and only the ServiceAccount the SecretStore authenticates as can
// assume it.
func TestExternalSecretsRole(t *testing.T) {
	r := renderESO(t)
	tp := readTemplate(t)
	const role = "AlertmanagerSecretsRole"
	assertIRSATrust(t, tp, role, r.sa.Namespace, r.sa.Name)
	if c := get(tp.resource(t, role), "Condition"); c == nil || c.Value != "AlertmanagerSecrets" {
		t.Errorf("%s is not optional (Condition AlertmanagerSecrets)", role)
	}

	stmts := get(tp.resource(t, role), "Properties", "Policies")
	if stmts == nil || len(stmts.Content) != 1 {
		t.Fatalf("%s: want one inline policy", role)
	}
	stmts = get(stmts.Content[0], "PolicyDocument", "Statement")
	var patterns []string
	for _, s := range stmts.Content {
		if s.Tag == "!If" { // the optional kms:Decrypt
			continue
		}
		if get(s, "Effect").Value != "Allow" || get(s, "Action").Value != "secretsmanager:GetSecretValue" || get(s, "Condition") != nil {
			t.Errorf("%s: statement %s allows more than secretsmanager:GetSecretValue", role, get(s, "Sid").Value)
		}
		for _, res := range get(s, "Resource").Content {
			arn, err := sub(res.Value, tp.vars())
			if err != nil || res.Tag != "!Sub" {
				t.Fatalf("%s: resource %q: %v", role, res.Value, err)
			}
			patterns = append(patterns, arn)
		}
	}
	allowed := func(arn string) bool {
		return slices.ContainsFunc(patterns, func(p string) bool { return iamMatch(p, arn) })
	}
	arnOf := func(name string) string {
		return "arn:aws:secretsmanager:" + testRegion + ":" + testAccount + ":secret:" + name
	}
	for _, d := range r.secret.Spec.Data {
		key := d.RemoteRef.Key
		// A secret's ARN is its name, "-" and six random characters.
		if !allowed(arnOf(key + "-AbC123")) {
			t.Errorf("%s may not read %s, which the ExternalSecret reads (%s)", role, key, d.SecretKey)
		}
		for _, other := range []string{key + "-old-AbC123", key + "X-AbC123", key + "-AbC1234", key + "-AbC12", key, "healthcare-api/api-keys-AbC123"} {
			if allowed(arnOf(other)) {
				t.Errorf("%s may read %s as well: want exactly %s", role, other, key)
			}
		}
		if strings.HasPrefix(key, "arn:") || d.RemoteRef.Version != "" || d.RemoteRef.Property != "" {
			t.Errorf("remoteRef %+v: want the secret's name, its current version, the whole text", d.RemoteRef)
		}
	}
	if len(patterns) != len(r.secret.Spec.Data) {
		t.Errorf("%s reads %d resources, the ExternalSecret %d", role, len(patterns), len(r.secret.Spec.Data))
	}
}

// The secrets' names come from values.env, whose defaults are infra/eks.yaml's
// (AlertmanagerSlackWebhookSecretName, AlertmanagerSmtpPasswordSecretName):
// a stack deployed with other names gets an ExternalSecret that reads them,
// and the role, given the same names, may read exactly those.
func TestExternalSecretsNamesFromValues(t *testing.T) {
	tp := readTemplate(t)
	params := map[string]string{
		"slack-webhook-url": "AlertmanagerSlackWebhookSecretName",
		"smtp-password":     "AlertmanagerSmtpPasswordSecretName",
	}
	valueOf := map[string]string{"slack-webhook-url": "SLACK_WEBHOOK_SECRET_NAME", "smtp-password": "SMTP_PASSWORD_SECRET_NAME"}

	keys := func(r esoObjects) map[string]string {
		out := map[string]string{}
		for _, d := range r.secret.Spec.Data {
			out[d.SecretKey] = d.RemoteRef.Key
		}
		return out
	}
	defaults := keys(renderESO(t))
	for secretKey, param := range params {
		if want := get(tp.root, "Parameters", param, "Default").Value; defaults[secretKey] != want {
			t.Errorf("values.env %s renders %q, infra/eks.yaml's %s defaults to %q", valueOf[secretKey], defaults[secretKey], param, want)
		}
	}

	custom := map[string]string{"slack-webhook-url": "ops/prod/slack", "smtp-password": "ops/prod/smtp"}
	got := keys(renderESOWith(t, map[string]string{
		valueOf["slack-webhook-url"]: custom["slack-webhook-url"],
		valueOf["smtp-password"]:     custom["smtp-password"],
	}))
	vars := tp.vars()
	for secretKey, param := range params {
		if got[secretKey] != custom[secretKey] {
			t.Errorf("with %s=%s the ExternalSecret reads %q", valueOf[secretKey], custom[secretKey], got[secretKey])
		}
		vars[param] = custom[secretKey]
	}
	var patterns []string
	for _, s := range get(get(tp.resource(t, "AlertmanagerSecretsRole"), "Properties", "Policies").Content[0], "PolicyDocument", "Statement").Content {
		if s.Tag == "!If" {
			continue
		}
		for _, res := range get(s, "Resource").Content {
			arn, err := sub(res.Value, vars)
			if err != nil {
				t.Fatal(err)
			}
			patterns = append(patterns, arn)
		}
	}
	for secretKey, name := range custom {
		arn := "arn:aws:secretsmanager:" + testRegion + ":" + testAccount + ":secret:" + name + "-AbC123"
		if !slices.ContainsFunc(patterns, func(p string) bool { return iamMatch(p, arn) }) {
			t.Errorf("the role, deployed with %s=%s, may not read %s (%v)", params[secretKey], name, arn, patterns)
		}
	}
}

// The KMS key parameters take single-Region key ids (UUIDs) and
// multi-Region ones (mrk- and 32 hex digits), and nothing else.
func TestKmsKeyParameters(t *testing.T) {
	tp := readTemplate(t)
	for _, param := range []string{"ApiKeysSecretKmsKeyArn", "AlertmanagerSecretsKmsKeyArn"} {
		re := regexp.MustCompile(get(tp.root, "Parameters", param, "AllowedPattern").Value)
		for v, ok := range map[string]bool{
			"": true,
			"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab":            true,
			"arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab":            true,
			"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab": true,
			"arn:aws:kms:eu-west-1:111122223333:alias/alertmanager":                                  false,
			"arn:aws:kms:eu-west-1:111122223333:key/mrk-1234":                                        false,
			"1234abcd-12ab-34cd-56ef-1234567890ab":                                                   false,
		} {
			if re.MatchString(v) != ok {
				t.Errorf("%s %q accepted = %v, want %v", param, v, !ok, ok)
			}
		}
	}
}
