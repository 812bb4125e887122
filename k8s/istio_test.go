package k8s

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
	"github.com/healthcare-prediction/api/internal/cdshooks"
	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/secrets"
)

// buildMeshed renders overlays/prod as deployed (values filled in, image
// pinned) with k8s/components/istio added after its production component,
// as docs/eks.md, "Istio", says to.
func buildMeshed(t *testing.T) *rendered {
	t.Helper()
	root, err := copyTree()
	if err != nil {
		t.Fatal(err)
	}
	const dir = "overlays/prod"
	if err := fill(root, dir, nil, true); err != nil {
		t.Fatal(err)
	}
	kfile := filepath.Join(root, dir, "kustomization.yaml")
	k, err := os.ReadFile(kfile)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "  - ../../components/production\n"
	if !bytes.Contains(k, []byte(anchor)) {
		t.Fatalf("%s lists no %q", dir, strings.TrimSpace(anchor))
	}
	k = bytes.Replace(k, []byte(anchor), []byte(anchor+"  - ../../components/istio\n"), 1)
	if err := os.WriteFile(kfile, k, 0o644); err != nil {
		t.Fatal(err)
	}
	r := decode(kustomize(t, filepath.Join(root, dir)))
	if r.cm == nil {
		t.Fatal("the meshed overlay renders no ConfigMap")
	}
	return r
}

// Under the mesh the API's TCP peer is its sidecar, connecting from
// Istio's inbound passthrough address (127.0.0.6, or ::6 over IPv6); the
// ALB's address and the client's are in X-Forwarded-For (the gateway
// appends the ALB's). With the meshed overlay's TRUSTED_PROXY_CIDRS, as
// app.Load reads them, the audit line of the real handler names the
// client, not the sidecar.
func TestMeshedAuditSourceIsTheClient(t *testing.T) {
	r := buildMeshed(t)
	cfg, _ := r.config(t)
	keys, err := secrets.Static("clinic-a:key-a-cQyHDNrK8iYON03DDyUIlvF6V18Ypf7TWdQJDYkg")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.TrustedProxies) < 2 {
		t.Fatalf("trusted proxies %v: want the ALB's subnets first", cfg.TrustedProxies)
	}
	alb := cfg.TrustedProxies[1].Addr().Next().String() // a host in ALB subnet B
	for _, peer := range []string{"127.0.0.6:41234", "[::6]:41234"} {
		var logs bytes.Buffer
		h := app.NewAPI(cfg.Logger(&logs), metrics.Discard{}, keys, api.RateLimit{}, cfg.TrustedProxies, api.All, api.NewLifecycle(), false, cdshooks.Config{}, nil)
		req := httptest.NewRequest("POST", "/predict", strings.NewReader(`{}`))
		req.RemoteAddr = peer
		req.Header.Set("X-Forwarded-For", "1.2.3.4, "+alb)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var line struct {
			Audit    bool   `json:"audit"`
			SourceIP string `json:"source_ip"`
		}
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if strings.Contains(l, `"audit":true`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !line.Audit || line.SourceIP != "1.2.3.4" {
			t.Errorf("TRUSTED_PROXY_CIDRS=%s, peer %s, X-Forwarded-For 1.2.3.4, %s: audit source_ip = %q (status %d), want 1.2.3.4",
				r.cm.Data["TRUSTED_PROXY_CIDRS"], peer, alb, line.SourceIP, rec.Code)
		}
	}
}

// The meshed render (the gateway's Deployment, HPA, PDB and the API with
// its sidecar annotations) passes the same kube-score checks as the
// overlays.
func TestMeshedKubeScore(t *testing.T) {
	kubeScore(t, buildMeshed(t).raw)
}
