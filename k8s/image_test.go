package k8s

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// imageBudget is the most the image may weigh, uncompressed, as podman
// reports it: 20 MiB until issues 19 and 20 added the /docs page (1.9 MB
// of Swagger UI embedded) and the CDS Hooks service (go-jose, the FHIR
// mapping), which brought it to 20.1 MiB; 22 MiB leaves room, not a habit.
const imageBudget = 22 << 20

// imageToolsModfile pins ko and crane apart from go.mod: ko v0.18.1 needs
// k8s.io/apimachinery v0.34, which kube-score v1.20.0 (in go.mod) does not
// build with.
const imageToolsModfile = "tools/image.mod"

const versionLdflag = "-X github.com/healthcare-prediction/api/internal/app.version="

var digestPinned = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)

func TestImageRecipes(t *testing.T) {
	var ko struct {
		DefaultBaseImage string   `json:"defaultBaseImage"`
		DefaultPlatforms []string `json:"defaultPlatforms"`
		Builds           []struct {
			ID      string   `json:"id"`
			Main    string   `json:"main"`
			Env     []string `json:"env"`
			Flags   []string `json:"flags"`
			Ldflags []string `json:"ldflags"`
		} `json:"builds"`
	}
	src, err := os.ReadFile("../.ko.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(src, &ko); err != nil {
		t.Fatalf(".ko.yaml: %v", err)
	}
	if !digestPinned.MatchString(ko.DefaultBaseImage) {
		t.Errorf(".ko.yaml defaultBaseImage %q is not pinned by digest", ko.DefaultBaseImage)
	}
	if !slices.Equal(ko.DefaultPlatforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf(".ko.yaml defaultPlatforms = %v, want linux/amd64 and linux/arm64", ko.DefaultPlatforms)
	}
	if len(ko.Builds) != 1 {
		t.Fatalf(".ko.yaml has %d builds, want 1", len(ko.Builds))
	}
	b := ko.Builds[0]
	if b.ID != "server" || b.Main != "./functions/server" || !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") ||
		!slices.Contains(b.Ldflags, "-s") || !slices.Contains(b.Ldflags, "-w") || !slices.Contains(b.Ldflags, versionLdflag+"{{.Env.VERSION}}") {
		t.Errorf(".ko.yaml build = %+v, want server from ./functions/server, CGO_ENABLED=0, -trimpath, -s -w and the version", b)
	}

	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d := string(dockerfile)
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG (\w+)=(\S+)$`).FindAllStringSubmatch(d, -1) {
		args[m[1]] = m[2]
	}
	froms := regexp.MustCompile(`(?m)^FROM (?:--platform=\S+ )?(\S+)`).FindAllStringSubmatch(d, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and a runtime", len(froms))
	}
	for _, m := range froms {
		ref := m[1]
		if name, ok := strings.CutPrefix(ref, "${"); ok {
			ref = args[strings.TrimSuffix(name, "}")]
		}
		if !digestPinned.MatchString(qualify(ref)) {
			t.Errorf("Dockerfile FROM %s (%s) is not pinned by digest", m[1], ref)
		}
	}
	if got := args["BASE_IMAGE"]; got != ko.DefaultBaseImage {
		t.Errorf("Dockerfile BASE_IMAGE = %s, .ko.yaml defaultBaseImage = %s: one base for both", got, ko.DefaultBaseImage)
	}
	for _, want := range []string{"USER 65532:65532", "CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w ` + versionLdflag + "${VERSION}", "./functions/server", "GOTOOLCHAIN=auto"} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`golang:(\d+\.\d+\.\d+)`).FindStringSubmatch(d); m == nil || !strings.Contains(goModGo(t), m[1]) {
		t.Errorf("Dockerfile builder %v does not match go.mod's go %s (the minimum; GOTOOLCHAIN=auto then fetches go.mod's toolchain line)", m, goModGo(t))
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(ignore)), ".git") {
		t.Error(".dockerignore does not keep .git out of the build context")
	}
}

// qualify names Docker Hub's library images in full.
func qualify(ref string) string {
	if strings.Count(strings.Split(ref, "@")[0], "/") == 0 {
		return "docker.io/library/" + ref
	}
	return ref
}

func goModGo(t *testing.T) string {
	src, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// TestImage builds the image with ko on a stand-in for the distroless base
// (pushed to an in-memory registry: nothing is pulled from the internet),
// loads it into podman and runs it the way the Deployment does: read-only,
// no capabilities, as whatever user the image says.
func TestImage(t *testing.T) {
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run scripts/deps.sh image (podman and runc from Debian)", tool)
		}
	}
	dir := t.TempDir()
	// Built before the clock starts: a first build of either takes minutes.
	cosign := filepath.Join(dir, "cosign")
	if out, err := exec.Command("go", "build", "-modfile="+imageToolsModfile, "-o", cosign, "github.com/sigstore/cosign/v2/cmd/cosign").CombinedOutput(); err != nil {
		t.Fatalf("go build cosign: %v\n%s", err, out)
	}
	tester, err := policyTester()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}

	// ko and crane, built from their pins.
	crane, ko := filepath.Join(dir, "crane"), filepath.Join(dir, "ko")
	run(t, ctx, "", nil, "go", "build", "-modfile="+imageToolsModfile, "-o", crane, "github.com/google/go-containerregistry/cmd/crane")
	run(t, ctx, "", nil, "go", "build", "-modfile="+imageToolsModfile, "-o", ko, "github.com/google/ko")

	registry := "127.0.0.1:" + strconv.Itoa(freePort(t))
	serve := exec.Command(crane, "registry", "serve", "--address", registry)
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var serveLog bytes.Buffer
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-serve.Process.Pid, syscall.SIGKILL)
		_ = serve.Wait()
	})
	waitTCP(t, registry, serveLog.String)

	// The stand-in base: CA certificates and a passwd entry for 65532,
	// like distroless static:nonroot, and nothing else.
	baseTar := filepath.Join(dir, "base.tar")
	writeBase(t, baseTar)
	platform := "linux/" + runtime.GOARCH
	base := registry + "/base:static"
	run(t, ctx, "", nil, crane, "append", "--insecure", "--oci-empty-base", "--platform", platform, "-f", baseTar, "-t", base)
	run(t, ctx, "", nil, crane, "mutate", "--insecure", "--user", "65532:65532", "--set-platform", platform, "-t", base, base)

	// ko with the repository's .ko.yaml, the base swapped for the stand-in.
	version := fmt.Sprintf("image-test-%d", time.Now().Unix())
	tarball := filepath.Join(dir, "image.tar")
	env := []string{"KO_DEFAULTBASEIMAGE=" + base, "KO_DOCKER_REPO=" + registry + "/healthcare-api", "VERSION=" + version}
	run(t, ctx, root, env, ko, "build", "--insecure-registry", "--bare", "--sbom=none", "--platform="+platform,
		"--push=false", "--tarball="+tarball, "--tags="+version, "./functions/server")

	verifySignatures(t, ctx, dir, cosign, tester, crane, registry, tarball, version, base)

	out := run(t, ctx, "", nil, "podman", "load", "-i", tarball)
	m := regexp.MustCompile(`Loaded image(?:\(s\))?: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("podman load printed no image name:\n%s", out)
	}
	image := m[1]
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "--force", image).Run() })

	var inspect []struct {
		Size   int64
		Config struct {
			User       string
			Entrypoint []string
		}
	}
	if err := json.Unmarshal([]byte(run(t, ctx, "", nil, "podman", "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	img := inspect[0]
	t.Logf("image %s: %.1f MiB uncompressed (budget %d MiB), tarball %.1f MiB, user %q, entrypoint %v",
		image, float64(img.Size)/(1<<20), imageBudget>>20, fileMiB(t, tarball), img.Config.User, img.Config.Entrypoint)
	if img.Size > imageBudget {
		t.Errorf("image is %d bytes, want at most %d", img.Size, imageBudget)
	}
	if img.Config.User != "65532:65532" {
		t.Errorf("image user = %q, want 65532:65532 from the base", img.Config.User)
	}

	// Under Kubernetes without keys, the server refuses to start.
	podmanRun := []string{"run", "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000",
		"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "-e", "KUBERNETES_SERVICE_HOST=10.100.0.1", "-e", "METRICS_ENV=image-test"}
	refused := exec.CommandContext(ctx, "podman", append(append([]string{}, podmanRun...), "--rm", image)...)
	msg, err := refused.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "refusing to start without API keys") {
		t.Errorf("under Kubernetes without keys: err %v, output %s; want a refusal", err, msg)
	}

	// Open on purpose: it serves, as 65532, and drains on SIGTERM.
	port := freePort(t)
	name := fmt.Sprintf("healthcare-api-image-test-%d", os.Getpid())
	args := append(append([]string{}, podmanRun...), "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:8000", port),
		"-e", "AUTH_DISABLED=true", "-e", "DRAIN_DELAY=3s", "-e", "SHUTDOWN_TIMEOUT=5s", image)
	run(t, ctx, "", nil, "podman", args...)
	t.Cleanup(func() { _ = exec.Command("podman", "rm", "--force", name).Run() })
	logs := func() string { out, _ := exec.Command("podman", "logs", name).CombinedOutput(); return string(out) }

	base8000 := fmt.Sprintf("http://127.0.0.1:%d", port)
	var health struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body, err := get(base8000 + "/health")
		if err == nil && code == 200 {
			if err := json.Unmarshal(body, &health); err != nil {
				t.Fatalf("/health: %v: %s", err, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health never answered 200 (last: %d %v %s)\n%s", code, err, body, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if health.Status != "ok" || health.Version != version {
		t.Errorf("/health = %+v, want ok and version %s (the ldflags of .ko.yaml)", health, version)
	}
	if code, _, err := get(base8000 + "/metrics"); err != nil || code != 200 {
		t.Errorf("/metrics = %d %v, want 200", code, err)
	}

	pid := strings.TrimSpace(run(t, ctx, "", nil, "podman", "inspect", "--format", "{{.State.Pid}}", name))
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"Uid", "Gid"} {
		m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`).FindStringSubmatch(string(status))
		if m == nil || m[1] != "65532" || m[2] != "65532" || m[3] != "65532" || m[4] != "65532" {
			t.Errorf("server process %s = %v, want 65532 throughout", field, m)
		}
	}

	// SIGTERM, as the kubelet sends after preStop: readiness turns 503 at
	// once, the listener stays open for DRAIN_DELAY, then a clean exit.
	run(t, ctx, "", nil, "podman", "kill", "--signal", "TERM", name)
	sawDraining := false
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if code, _, err := get(base8000 + "/health/ready"); err == nil && code == 503 {
			sawDraining = true
			break
		}
	}
	if !sawDraining {
		t.Errorf("after SIGTERM /health/ready never answered 503 during DRAIN_DELAY\n%s", logs())
	}
	if code, _, err := get(base8000 + "/health/live"); err != nil || code != 200 {
		t.Errorf("draining: /health/live = %d %v, want 200", code, err)
	}
	exit := strings.TrimSpace(run(t, ctx, "", nil, "podman", "wait", name))
	if exit != "0" {
		t.Errorf("exit code after SIGTERM = %s, want 0\n%s", exit, logs())
	}
	if l := logs(); !strings.Contains(l, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the logs:\n%s", l)
	}
}

func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitTCP(t *testing.T, addr string, log func() string) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s:\n%s", addr, log())
}

func get(url string) (int, []byte, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func fileMiB(t *testing.T, path string) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return float64(fi.Size()) / (1 << 20)
}

// writeBase writes the one layer of the stand-in base image.
func writeBase(t *testing.T, path string) {
	t.Helper()
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("the host's CA bundle (Debian ca-certificates): %v", err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	mod := time.Unix(0, 0)
	dirs := []struct {
		name     string
		mode     int64
		uid, gid int
	}{{"etc/", 0o755, 0, 0}, {"etc/ssl/", 0o755, 0, 0}, {"etc/ssl/certs/", 0o755, 0, 0},
		{"home/", 0o755, 0, 0}, {"home/nonroot/", 0o700, 65532, 65532}, {"tmp/", 0o1777, 0, 0}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, Uid: d.uid, Gid: d.gid, ModTime: mod}); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{
		"etc/ssl/certs/ca-certificates.crt": certs,
		"etc/passwd":                        []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
		"etc/group":                         []byte("root:x:0:\nnonroot:x:65532:\n"),
	}
	for _, name := range []string{"etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt"} {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: mod}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// verifySignatures pushes the built image to the in-memory registry, signs
// its digest with cosign as CI's publish job does (there keyless; here a
// generated key and no transparency log: keyless signing needs Fulcio and
// Rekor on the internet), and checks that verification passes for that
// digest and key only: an unsigned digest (the base) and another key fail.
// Then the sigstore policy-controller's own tester evaluates a key-based
// copy of the admission policy (k8s/policy/signatures) the same three ways.
func verifySignatures(t *testing.T, ctx context.Context, dir, cosign, tester, crane, registry, tarball, version, unsignedRef string) {
	t.Helper()

	repo := registry + "/healthcare-api"
	signed := strings.TrimSpace(run(t, ctx, "", nil, crane, "push", "--insecure", tarball, repo+":"+version))
	// The unsigned image in the same repository: the policy covers it, and
	// refuses it for want of a signature, not for its name.
	run(t, ctx, "", nil, crane, "copy", "--insecure", unsignedRef, repo+":unsigned")
	unsigned := repo + "@" + strings.TrimSpace(run(t, ctx, "", nil, crane, "digest", "--insecure", unsignedRef))
	for _, ref := range []string{signed, unsigned} {
		if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(ref) {
			t.Fatalf("%q is not a digest reference", ref)
		}
	}
	// No password on the test keys; no TUF root from the internet.
	env := []string{"COSIGN_PASSWORD=", "TUF_ROOT=" + filepath.Join(dir, "tuf"), "HOME=" + dir}
	for _, k := range []string{"ci", "other"} {
		if err := os.Mkdir(filepath.Join(dir, k), 0o700); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, filepath.Join(dir, k), env, cosign, "generate-key-pair")
	}
	key := func(owner, file string) string { return filepath.Join(dir, owner, file) }
	run(t, ctx, "", env, cosign, "sign", "--key", key("ci", "cosign.key"), "--tlog-upload=false", "--yes", "--allow-http-registry", signed)

	// A key-based copy of the ClusterImagePolicy as k8s/policy/signatures
	// renders it with this registry's repository in IMAGE_REPOSITORY: same
	// images, CI's test key instead of the keyless identity, no
	// transparency log.
	rendered := renderSignatures(t, repo)
	policyFor := func(owner string) string {
		var cip map[string]any
		if err := yaml.UnmarshalStrict(rendered, &cip); err != nil {
			t.Fatal(err)
		}
		pub, err := os.ReadFile(key(owner, "cosign.pub"))
		if err != nil {
			t.Fatal(err)
		}
		spec := cip["spec"].(map[string]any)
		spec["authorities"] = []any{map[string]any{"name": "test-key", "key": map[string]any{"data": string(pub)}}}
		out, err := yaml.Marshal(cip)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, owner, "clusterimagepolicy.yaml")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	for _, tc := range []struct {
		name, ref, owner string
		pass             bool
	}{
		{"signed digest, CI's key", signed, "ci", true},
		{"unsigned digest", unsigned, "ci", false},
		{"signed digest, another key", signed, "other", false},
	} {
		verify := exec.CommandContext(ctx, cosign, "verify", "--key", key(tc.owner, "cosign.pub"), "--insecure-ignore-tlog", "--allow-http-registry", tc.ref)
		verify.Env = append(os.Environ(), env...)
		out, err := verify.CombinedOutput()
		if (err == nil) != tc.pass {
			t.Errorf("cosign verify, %s: err %v, want pass %v\n%s", tc.name, err, tc.pass, out)
		}
		admit := exec.CommandContext(ctx, tester, "-policy", policyFor(tc.owner), "-image", tc.ref, "-log-level", "warn")
		admit.Env = append(os.Environ(), env...)
		out, err = admit.CombinedOutput()
		if (err == nil) != tc.pass {
			t.Errorf("policy-controller tester, %s: err %v, want admitted %v\n%s", tc.name, err, tc.pass, out)
		}
	}
}
