// Package mototest is package moto for tests: a real moto_server on a free
// loopback port that is stopped when the test ends, whose failures fail
// the test. A test of the real emulator is never silently skipped.
package mototest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/healthcare-prediction/api/internal/moto"
)

// Region is the region the emulator's clients use.
const Region = moto.Region

// Server is a moto.Server bound to a test.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT.
	URL string

	t    testing.TB
	moto *moto.Server
}

// Start runs moto_server on a free loopback port.
func Start(t testing.TB) *Server {
	t.Helper()
	s := New(t)
	s.Restart()
	return s
}

// New picks a free loopback port for a server but does not start it, so
// clients get connection refused until Restart.
func New(t testing.TB) *Server {
	t.Helper()
	m, err := moto.New(filepath.Join(t.TempDir(), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: m.URL, t: t, moto: m}
	t.Cleanup(func() {
		m.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(m.Log()); err == nil && len(b) > 0 {
				t.Logf("moto_server log (last 2000 bytes):\n%s", b[max(0, len(b)-2000):])
			}
		}
	})
	return s
}

func (s *Server) check(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

// Kill ends the process group; clients then get connection refused.
func (s *Server) Kill() { s.moto.Kill() }

// Pause stops the process group with SIGSTOP: connections are accepted by
// the kernel but never answered, as with a hung endpoint.
func (s *Server) Pause() { s.t.Helper(); s.check(s.moto.Pause()) }

// Resume continues a paused server.
func (s *Server) Resume() { s.t.Helper(); s.check(s.moto.Resume()) }

// Restart kills the server if it runs and starts a new, empty one on the
// same port. Starting takes a second or two.
func (s *Server) Restart() { s.t.Helper(); s.check(s.moto.Restart()) }

// Getenv answers like os.Getenv in an environment set up for the server
// (see moto.Server.Getenv).
func (s *Server) Getenv(name string) string { return s.moto.Getenv(name) }

// Environ is Getenv's environment as NAME=value entries, for a child
// process (see moto.Server.Env).
func (s *Server) Environ() []string { return s.moto.Env() }

// Env sets Getenv's environment for the rest of the test (so the test
// cannot run in parallel).
func (s *Server) Env(t *testing.T) {
	for _, kv := range s.moto.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
}

// ConfigOptions point config.LoadDefaultConfig at the server with a region
// and dummy credentials, whatever the environment says.
func (s *Server) ConfigOptions() []func(*config.LoadOptions) error { return s.moto.ConfigOptions() }

// Admin returns a Secrets Manager client for setting up secrets, with its
// own retries off, so that a test's own calls fail fast.
func (s *Server) Admin() *secretsmanager.Client {
	s.t.Helper()
	c, err := s.moto.Admin(context.Background())
	s.check(err)
	return c
}

// PutSecret writes text as the new AWSCURRENT version of secret id,
// creating the secret first if it does not exist, and returns the version.
func (s *Server) PutSecret(id, text string) string {
	s.t.Helper()
	v, err := s.moto.PutSecret(context.Background(), id, text)
	s.check(err)
	return v
}

// IAMUser creates an IAM user allowed to read every secret and returns an
// access key of it (see moto.Server.IAMUser).
func (s *Server) IAMUser(name string) (accessKeyID, secretAccessKey string) {
	s.t.Helper()
	id, secret, err := s.moto.IAMUser(name)
	s.check(err)
	return id, secret
}

// IAMUserAllowed creates an IAM user allowed actions on every resource
// and returns an access key of it (see moto.Server.IAMUserAllowed).
func (s *Server) IAMUserAllowed(name string, actions ...string) (accessKeyID, secretAccessKey string) {
	s.t.Helper()
	id, secret, err := s.moto.IAMUserAllowed(name, actions...)
	s.check(err)
	return id, secret
}

// CreateTable creates an on-demand DynamoDB table (see
// moto.Server.CreateTable).
func (s *Server) CreateTable(name, partitionKey, ttlAttribute string) {
	s.t.Helper()
	s.check(s.moto.CreateTable(context.Background(), name, partitionKey, ttlAttribute))
}

// EnforceAuth makes the server check every later call's signature and
// IAM policy (see moto.Server.EnforceAuth).
func (s *Server) EnforceAuth() { s.t.Helper(); s.check(s.moto.EnforceAuth()) }

// String describes the server for test logs.
func (s *Server) String() string { return s.moto.String() }
