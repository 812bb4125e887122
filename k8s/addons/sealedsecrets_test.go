package addons

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	ssv1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	sscrypto "github.com/bitnami-labs/sealed-secrets/pkg/crypto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// committedSealedSecret is k8s/sealed-secrets as rendered, decoded
// strictly into the controller's own type.
func committedSealedSecret(t *testing.T) *ssv1.SealedSecret {
	t.Helper()
	objs := decodeStrict(t, kustomize(t, filepath.Join(repo, "k8s/sealed-secrets")), func(apiVersion, kind string) any {
		if apiVersion == "bitnami.com/v1alpha1" && kind == "SealedSecret" {
			return &ssv1.SealedSecret{}
		}
		return nil
	})
	if len(objs) != 1 {
		t.Fatalf("k8s/sealed-secrets renders %d objects, want one SealedSecret", len(objs))
	}
	return objs[0].(*ssv1.SealedSecret)
}

// The committed SealedSecret unseals into the Secret Alertmanager mounts,
// with its keys, and is strictly scoped.
func TestSealedSecretShape(t *testing.T) {
	want := readAlertmanagerSecret(t)
	ss := committedSealedSecret(t)
	for what, m := range map[string]struct{ ns, name string }{
		"SealedSecret": {ss.Namespace, ss.Name}, "its template": {ss.Spec.Template.Namespace, ss.Spec.Template.Name},
	} {
		if m.ns != want.namespace || m.name != want.name {
			t.Errorf("%s is %s/%s, Alertmanager mounts %s/%s", what, m.ns, m.name, want.namespace, want.name)
		}
	}
	if keys := slices.Sorted(maps.Keys(ss.Spec.EncryptedData)); !slices.Equal(keys, want.keys) {
		t.Errorf("SealedSecret seals keys %v, alertmanager.yml reads %v", keys, want.keys)
	}
	if ss.Scope() != ssv1.StrictScope || ssv1.SecretScope(ss) != ssv1.StrictScope {
		t.Errorf("SealedSecret scope is %d, want strict (no cluster-wide or namespace-wide annotation)", ss.Scope())
	}
	if len(ss.Spec.Template.Data) > 0 || ss.Spec.Data != nil || ss.Spec.Template.Type != corev1.SecretTypeOpaque {
		t.Error("SealedSecret: want an Opaque Secret of encryptedData only (no template data, no v1 data blob)")
	}
	for key, v := range ss.Spec.EncryptedData {
		if _, err := base64.StdEncoding.DecodeString(v); v != "REPLACE_ME" && err != nil {
			t.Errorf("encryptedData %s is neither REPLACE_ME nor kubeseal's base64: %v", key, err)
		}
	}
	doc, err := os.ReadFile(filepath.Join(repo, "docs/eks.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "kubeseal --cert sealed-secrets.pem --scope strict") {
		t.Error("docs/eks.md does not show sealing with `kubeseal --cert sealed-secrets.pem --scope strict`")
	}
}

// Sealing the Secret the documented command builds, with the controller's
// own code (what kubeseal runs), gives the committed manifest's shape; the
// controller's key unseals it; renamed or moved, it cannot be unsealed.
func TestSealedSecretRoundTrip(t *testing.T) {
	want := readAlertmanagerSecret(t)
	committed := committedSealedSecret(t)
	values := map[string][]byte{}
	for _, k := range want.keys {
		values[k] = []byte("test value of " + k)
	}
	// What `kubectl create secret generic ... --dry-run=client` prints,
	// with the metadata the committed template gives the Secret.
	secret := &corev1.Secret{Type: committed.Spec.Template.Type, Data: values}
	committed.Spec.Template.ObjectMeta.DeepCopyInto(&secret.ObjectMeta)

	// The controller's key pair, as it generates one (2048 bits here
	// instead of its 4096, for speed: the scheme is the same).
	key, cert, err := sscrypto.GeneratePrivateKeyAndCert(2048, time.Hour, "sealed-secret")
	if err != nil {
		t.Fatal(err)
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	fp, err := sscrypto.PublicKeyFingerprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*rsa.PrivateKey{fp: key}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	codecs := serializer.NewCodecFactory(scheme)

	sealed, err := ssv1.NewSealedSecret(codecs, pub, secret)
	if err != nil {
		t.Fatal(err)
	}
	// The committed manifest is what the documented command prints, but
	// for the ciphertexts.
	shape := func(s *ssv1.SealedSecret) string {
		return fmt.Sprintf("%s/%s annotations %v, template %s/%s %s annotations %v labels %v, keys %v", s.Namespace, s.Name, s.Annotations,
			s.Spec.Template.Namespace, s.Spec.Template.Name, s.Spec.Template.Type, s.Spec.Template.Annotations, s.Spec.Template.Labels,
			slices.Sorted(maps.Keys(s.Spec.EncryptedData)))
	}
	if got, want := shape(sealed), shape(committed); got != want {
		t.Errorf("sealing gives %s; the committed manifest is %s", got, want)
	}

	got, err := sealed.DeepCopy().Unseal(codecs, keys)
	if err != nil {
		t.Fatalf("unseal with the controller's key: %v", err)
	}
	if got.Name != want.name || got.Namespace != want.namespace || !maps.EqualFunc(got.Data, values, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("unsealed %s/%s with %d keys, want %s/%s with the sealed values", got.Namespace, got.Name, len(got.Data), want.namespace, want.name)
	}

	// Strict scope: the label of every value is namespace/name.
	for what, move := range map[string]func(*ssv1.SealedSecret){
		"renamed":              func(s *ssv1.SealedSecret) { s.Name = "alertmanager-other" },
		"in another namespace": func(s *ssv1.SealedSecret) { s.Namespace = "default" },
		// The controller takes the scope from the SealedSecret's own
		// annotations: marking a strict one wider changes the label.
		"re-annotated namespace-wide": func(s *ssv1.SealedSecret) {
			s.Annotations = map[string]string{ssv1.SealedSecretNamespaceWideAnnotation: "true"}
		},
		"re-annotated cluster-wide": func(s *ssv1.SealedSecret) {
			s.Annotations = map[string]string{ssv1.SealedSecretClusterWideAnnotation: "true"}
		},
	} {
		s := sealed.DeepCopy()
		move(s)
		if _, err := s.Unseal(codecs, keys); err == nil {
			t.Errorf("a copy %s unseals: the scope is not strict", what)
		}
	}
	// Another cluster's controller (another key) cannot unseal it either.
	other, _, err := sscrypto.GeneratePrivateKeyAndCert(2048, time.Hour, "sealed-secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealed.DeepCopy().Unseal(codecs, map[string]*rsa.PrivateKey{fp: other}); err == nil {
		t.Error("another key unseals it")
	}
}

// TestSealedSecretsTakeoverDocumented: docs/eks.md's steps for a Secret
// that already exists name the real objects and the controller's own
// terms: the annotation the controller checks before it updates a Secret
// it did not create (pkg/controller: isAnnotatedToBeManaged), on the
// SealedSecret's Secret; the ExternalSecret of k8s/external-secrets,
// deleted with --cascade=orphan so its Secret stays; and the controller's
// default key renewal period (cmd/controller's defaultKeyRenewPeriod, read
// from the module's source).
func TestSealedSecretsTakeoverDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repo, "docs/eks.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`\s+`).ReplaceAllString(string(doc), " ")
	ss := committedSealedSecret(t)
	annotate := fmt.Sprintf("kubectl -n %s annotate secret %s %s=true", ss.Namespace, ss.Name, ssv1.SealedSecretManagedAnnotation)
	if !strings.Contains(text, annotate) {
		t.Errorf("docs/eks.md does not say `%s`", annotate)
	}
	es := renderESO(t).secret
	orphan := fmt.Sprintf("kubectl -n %s delete externalsecret %s --cascade=orphan", es.Namespace, es.Name)
	if !strings.Contains(text, orphan) {
		t.Errorf("docs/eks.md does not say `%s`", orphan)
	}
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/bitnami-labs/sealed-secrets").Output()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "cmd/controller/main.go"))
	if err != nil {
		t.Fatal(err)
	}
	def := regexp.MustCompile(`defaultKeyRenewPeriod\s*=\s*(\d+) \* 24 \* time\.Hour`).FindSubmatch(src)
	if def == nil {
		t.Fatal("the controller's source has no defaultKeyRenewPeriod in days")
	}
	if renew := "renews its key every " + string(def[1]) + " days"; !strings.Contains(text, renew) {
		t.Errorf("docs/eks.md does not say the controller %s", renew)
	}
}
