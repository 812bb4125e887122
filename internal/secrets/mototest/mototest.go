// Package mototest runs a real moto_server (a local AWS emulator) for
// tests, on a free loopback port, and can kill, hang (SIGSTOP), resume and
// restart it to rehearse outages.
package mototest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// Env sets the standard SDK environment variables for the server for the
// rest of the test (so the test cannot run in parallel).
func (s *Server) Env(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", s.URL)
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
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

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("moto_server at %s", s.URL) }
