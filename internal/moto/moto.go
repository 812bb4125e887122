// Package moto runs a real moto_server (a local AWS emulator: Secrets
// Manager, CloudWatch, IAM, DynamoDB) on a free loopback port, and can
// kill, hang (SIGSTOP), resume and restart it to rehearse outages. The load tools use
// it as it is; tests use package mototest, which fails the test instead of
// returning errors.
package moto

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/healthcare-prediction/api/internal/awsjson"
)

// Region is the region the emulator's clients use.
const Region = "us-east-1"

// Server is one moto_server process group on a fixed loopback port.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT.
	URL string

	port int
	log  string // moto_server's output is appended here
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// New picks a free loopback port for a server logging to logPath, but
// does not start it: until Start, clients get connection refused. It
// fails when moto_server is not on PATH.
func New(logPath string) (*Server, error) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		return nil, errors.New("moto_server not found (preinstalled on this kind of machine, see shared/TOOLS.md)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return nil, err
	}
	return &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), port: port, log: logPath}, nil
}

// Start is New, then Server.Start.
func Start(logPath string) (*Server, error) {
	s, err := New(logPath)
	if err != nil {
		return nil, err
	}
	return s, s.Start()
}

// Start starts the server, empty, and waits until it answers (at most
// 30 s).
func (s *Server) Start() error {
	if s.cmd != nil {
		return errors.New("moto_server is already running")
	}
	out, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", strconv.Itoa(s.port)) // #nosec G204 -- fixed program; the only variable argument is a port from net.Listen
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start moto_server: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	// Up when its own API answers 200 while the process still runs: the
	// port was free when New picked it, but another process may have
	// taken it since (then this one exits, and Start fails).
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-s.done:
			s.cmd = nil
			return fmt.Errorf("moto_server exited at start (is port %d taken?); see %s", s.port, s.log)
		default:
		}
		if resp, err := client.Get(s.URL + "/moto-api/"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	s.Kill()
	return fmt.Errorf("moto_server did not answer on %s within 30s", s.URL)
}

// Kill ends the process group, paused or not; clients then get connection
// refused.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// Restart kills the server if it runs and starts a new, empty one on the
// same port.
func (s *Server) Restart() error {
	s.Kill()
	return s.Start()
}

// Pause stops the process group with SIGSTOP: connections are accepted by
// the kernel but never answered, as with a hung endpoint.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	if s.cmd == nil {
		return errors.New("moto_server is not running")
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("signal %v to moto_server: %w", sig, err)
	}
	return nil
}

// Log returns the path of the server's output.
func (s *Server) Log() string { return s.log }

// envNames are the variables Getenv answers, in Env's order.
var envNames = []string{"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED",
	"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"}

// Getenv answers like os.Getenv in an environment set up for the server:
// the standard SDK variables for its endpoint, region and dummy
// credentials; no session token, profile, shared config files, instance
// metadata, service endpoints or FIPS (a developer's shell may set them;
// none exists for moto).
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
	case "AWS_EC2_METADATA_DISABLED":
		return "true"
	}
	return ""
}

// Env is Getenv's environment as NAME=value entries, for a child process;
// the empty ones override the parent's.
func (s *Server) Env() []string {
	env := make([]string, len(envNames))
	for i, name := range envNames {
		env[i] = name + "=" + s.Getenv(name)
	}
	return env
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

// Admin returns a Secrets Manager client for setting up secrets, with its
// own retries off, so that setup calls fail fast.
func (s *Server) Admin(ctx context.Context) (*secretsmanager.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, s.ConfigOptions()...)
	if err != nil {
		return nil, err
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }), nil
}

// PutSecret writes text as the new AWSCURRENT version of secret id,
// creating the secret first if it does not exist, and returns the version.
func (s *Server) PutSecret(ctx context.Context, id, text string) (string, error) {
	admin, err := s.Admin(ctx)
	if err != nil {
		return "", err
	}
	out, err := admin.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(text)})
	if err == nil {
		return aws.ToString(out.VersionId), nil
	}
	created, cerr := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(text)})
	if cerr != nil {
		return "", fmt.Errorf("put secret %s: %v; create: %w", id, err, cerr)
	}
	return aws.ToString(created.VersionId), nil
}

// IAMUser creates an IAM user allowed secretsmanager:GetSecretValue on
// every secret (moto authorises Secrets Manager calls against resource
// "*" only) and returns an access key of it. Call it before EnforceAuth.
func (s *Server) IAMUser(name string) (accessKeyID, secretAccessKey string, err error) {
	return s.IAMUserAllowed(name, "secretsmanager:GetSecretValue")
}

// IAMUserAllowed is IAMUser with the given actions allowed on every
// resource instead.
func (s *Server) IAMUserAllowed(name string, actions ...string) (accessKeyID, secretAccessKey string, err error) {
	list, err := json.Marshal(actions)
	if err != nil {
		return "", "", err
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":` + string(list) + `,"Resource":"*"}]}`
	if _, err := s.iam(url.Values{"Action": {"CreateUser"}, "UserName": {name}}); err != nil {
		return "", "", err
	}
	body, err := s.iam(url.Values{"Action": {"CreateAccessKey"}, "UserName": {name}})
	if err != nil {
		return "", "", err
	}
	var out struct {
		Key struct {
			ID     string `xml:"AccessKeyId"`
			Secret string `xml:"SecretAccessKey"`
		} `xml:"CreateAccessKeyResult>AccessKey"`
	}
	if err := xml.Unmarshal(body, &out); err != nil || out.Key.ID == "" {
		return "", "", fmt.Errorf("moto CreateAccessKey: no key in the answer (%v)", err)
	}
	if _, err := s.iam(url.Values{"Action": {"PutUserPolicy"}, "UserName": {name}, "PolicyName": {"allowed"}, "PolicyDocument": {policy}}); err != nil {
		return "", "", err
	}
	return out.Key.ID, out.Key.Secret, nil
}

// iam makes one IAM call (Query protocol, signed as any SDK would) and
// returns the answer's XML.
func (s *Server) iam(form url.Values) ([]byte, error) {
	form.Set("Version", "2010-05-08")
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "iam", Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("moto IAM %s: %w", form.Get("Action"), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("moto IAM %s: HTTP %d\n%s", form.Get("Action"), resp.StatusCode, b)
	}
	return b, nil
}

// CreateTable creates an on-demand DynamoDB table with the string
// partition key partitionKey and, when ttlAttribute is set, TTL on it.
func (s *Server) CreateTable(ctx context.Context, name, partitionKey, ttlAttribute string) error {
	c, err := awsjson.FromEnv(s.Getenv, awsjson.DynamoDB, awsjson.Options{})
	if err != nil {
		return err
	}
	calls := []struct {
		op string
		in any
	}{{"CreateTable", map[string]any{
		"TableName":            name,
		"AttributeDefinitions": []map[string]string{{"AttributeName": partitionKey, "AttributeType": "S"}},
		"KeySchema":            []map[string]string{{"AttributeName": partitionKey, "KeyType": "HASH"}},
		"BillingMode":          "PAY_PER_REQUEST",
	}}}
	if ttlAttribute != "" {
		calls = append(calls, struct {
			op string
			in any
		}{"UpdateTimeToLive", map[string]any{"TableName": name, "TimeToLiveSpecification": map[string]any{"AttributeName": ttlAttribute, "Enabled": true}}})
	}
	for _, call := range calls {
		body, err := json.Marshal(call.in)
		if err != nil {
			return err
		}
		if _, err := c.Call(ctx, call.op, body); err != nil {
			return fmt.Errorf("moto: %w", err)
		}
	}
	return nil
}

// EnforceAuth makes the server check every later call's SigV4 signature
// against the secret keys of its IAM users, and their IAM policies: calls
// signed with the dummy "testing" credentials are refused from then on.
func (s *Server) EnforceAuth() error {
	// The body must not be sent as a form: moto would not see it.
	resp, err := http.Post(s.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto reset-auth: HTTP %d", resp.StatusCode)
	}
	return nil
}

// String describes the server for logs.
func (s *Server) String() string { return fmt.Sprintf("moto_server at %s", s.URL) }
