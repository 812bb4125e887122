package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Moto is a moto_server (local AWS emulator) on a fixed loopback port that
// can be killed (connection refused), paused with SIGSTOP (hung) and
// started again.
type Moto struct {
	URL  string
	port int
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Env is the standard AWS SDK environment pointing at m.
func (m *Moto) Env() []string {
	return []string{"AWS_ENDPOINT_URL=" + m.URL, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		// A developer's shell may name a profile or carry a session token;
		// neither exists for moto (as in mototest).
		"AWS_PROFILE=", "AWS_SESSION_TOKEN="}
}

// StartMoto runs moto_server on a free port, logging to logPath. It fails
// with "moto_server not found" when moto_server is not on PATH.
func StartMoto(logPath string) (*Moto, error) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		return nil, errors.New("moto_server not found")
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	m := &Moto{URL: "http://127.0.0.1:" + strconv.Itoa(port), port: port, log: logPath}
	return m, m.Start()
}

// Start starts the server (again, empty) on its port.
func (m *Moto) Start() error {
	out, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	m.cmd = exec.Command("moto_server", "-H", "127.0.0.1", "-p", strconv.Itoa(m.port)) // #nosec G204 -- fixed program; the only variable argument is a port from net.Listen
	m.cmd.Stdout, m.cmd.Stderr = out, out
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start moto_server: %w", err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(m.cmd, m.done)
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get(m.URL + "/moto-api/"); err == nil {
			_ = resp.Body.Close()
			return nil
		}
	}
	m.Kill()
	return fmt.Errorf("moto_server did not answer on %s", m.URL)
}

// Kill ends the server: clients get connection refused.
func (m *Moto) Kill() {
	if m.cmd == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.done
	m.cmd = nil
}

// Pause stops the server with SIGSTOP: connections are accepted by the
// kernel and never answered.
func (m *Moto) Pause() { _ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGSTOP) }

// Resume continues a paused server.
func (m *Moto) Resume() { _ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGCONT) }

// PutSecret creates secret id with text.
func (m *Moto) PutSecret(ctx context.Context, id, text string) error {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(m.URL))
	if err != nil {
		return err
	}
	c := secretsmanager.NewFromConfig(cfg)
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(text)})
	return err
}
