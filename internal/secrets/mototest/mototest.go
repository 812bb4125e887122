// Package mototest runs a real moto_server (a local AWS emulator) for
// tests, on a free loopback port, and can kill, hang (SIGSTOP), resume and
// restart it to rehearse outages.
package mototest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Region is the region the emulator's clients use.
const Region = "us-east-1"

// Server is one moto_server process group.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT.
	URL string

	t    testing.TB
	port int
	log  string
	cmd  *exec.Cmd
}

// Start runs moto_server on a free loopback port and stops it (the whole
// process group) when the test ends. Without moto_server on PATH the test
// fails: a test of the real emulator is never silently skipped.
func Start(t testing.TB) *Server {
	t.Helper()
	s := New(t)
	s.start()
	return s
}

// New picks a free loopback port for a server but does not start it, so
// clients get connection refused until Restart.
func New(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Fatalf("moto_server not found (preinstalled on this kind of machine, see shared/TOOLS.md): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s := &Server{
		URL:  "http://127.0.0.1:" + strconv.Itoa(port),
		t:    t,
		port: port,
		log:  filepath.Join(t.TempDir(), "moto.log"),
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(s.log); err == nil && len(b) > 0 {
				t.Logf("moto_server log (last 2000 bytes):\n%s", b[max(0, len(b)-2000):])
			}
		}
	})
	return s
}

func (s *Server) start() {
	s.t.Helper()
	out, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", strconv.Itoa(s.port)) // #nosec G204 -- fixed program; the only variable argument is a port from net.Listen
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start moto_server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.URL + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("moto_server did not answer on %s: %v", s.URL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatal("moto_server is not running")
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		s.t.Fatalf("signal %v to moto_server: %v", sig, err)
	}
}

// Kill ends the process group; clients then get connection refused.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause stops the process group with SIGSTOP: connections are accepted by
// the kernel but never answered, as with a hung endpoint.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

// Restart kills the server if it runs and starts a new one on the same
// port. The new one is empty. Starting takes a second or two.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// ConfigOptions point config.LoadDefaultConfig at the server with a region
// and dummy credentials, whatever the environment says.
func (s *Server) ConfigOptions() []func(*config.LoadOptions) error {
	return []func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(s.URL),
	}
}

// Getenv answers like os.Getenv in an environment set up for the server:
// the standard SDK variables for its endpoint, region and dummy
// credentials, and no shared config files.
func (s *Server) Getenv(name string) string {
	switch name {
	case "AWS_ENDPOINT_URL":
		return s.URL
	case "AWS_REGION":
		return Region
	case "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY":
		return "testing"
	case "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE":
		return os.DevNull
	}
	return ""
}

// Env sets the variables Getenv answers for the rest of the test (so the
// test cannot run in parallel), and empties AWS_SESSION_TOKEN and
// AWS_PROFILE.
func (s *Server) Env(t *testing.T) {
	for _, name := range []string{"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(name, s.Getenv(name))
	}
}

// Admin returns a client for setting up secrets, with its own retries
// off, so a test's own calls fail fast.
func (s *Server) Admin() *secretsmanager.Client {
	s.t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), s.ConfigOptions()...)
	if err != nil {
		s.t.Fatal(err)
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
}

// PutSecret writes text as the new AWSCURRENT version of secret id,
// creating the secret first if it does not exist, and returns the version.
func (s *Server) PutSecret(id, text string) string {
	s.t.Helper()
	ctx := context.Background()
	admin := s.Admin()
	out, err := admin.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(text)})
	if err == nil {
		return aws.ToString(out.VersionId)
	}
	created, cerr := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(text)})
	if cerr != nil {
		s.t.Fatalf("put secret %s: %v; create: %v", id, err, cerr)
	}
	return aws.ToString(created.VersionId)
}

// IAMUser creates an IAM user allowed secretsmanager:GetSecretValue on
// every secret (moto authorises Secrets Manager calls against resource
// "*" only) and returns an access key of it. Call it before EnforceAuth.
func (s *Server) IAMUser(name string) (accessKeyID, secretAccessKey string) {
	s.t.Helper()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	s.iam(url.Values{"Action": {"CreateUser"}, "UserName": {name}})
	var out struct {
		Key struct {
			ID     string `xml:"AccessKeyId"`
			Secret string `xml:"SecretAccessKey"`
		} `xml:"CreateAccessKeyResult>AccessKey"`
	}
	if err := xml.Unmarshal(s.iam(url.Values{"Action": {"CreateAccessKey"}, "UserName": {name}}), &out); err != nil || out.Key.ID == "" {
		s.t.Fatalf("moto CreateAccessKey: no key in the answer (%v)", err)
	}
	s.iam(url.Values{"Action": {"PutUserPolicy"}, "UserName": {name}, "PolicyName": {"read-secrets"}, "PolicyDocument": {policy}})
	return out.Key.ID, out.Key.Secret
}

// iam makes one IAM call (Query protocol, signed as any SDK would) and
// returns the answer's XML.
func (s *Server) iam(form url.Values) []byte {
	s.t.Helper()
	form.Set("Version", "2010-05-08")
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "iam", Region, time.Now()); err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("moto IAM %s: %v", form.Get("Action"), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("moto IAM %s: HTTP %d\n%s", form.Get("Action"), resp.StatusCode, b)
	}
	return b
}

// EnforceAuth makes the server check every later call's SigV4 signature
// against the secret keys of its IAM users, and their IAM policies: calls
// signed with the dummy "testing" credentials are refused from then on.
func (s *Server) EnforceAuth() {
	s.t.Helper()
	// The body must not be sent as a form: moto would not see it.
	resp, err := http.Post(s.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		s.t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("moto reset-auth: HTTP %d", resp.StatusCode)
	}
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("moto_server at %s", s.URL) }
