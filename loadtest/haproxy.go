package loadtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HAProxy is a haproxy in front of server ports on loopback, with health
// checks on /health/ready and no retries, and an admin socket to take a
// server out (as an endpoint leaves a Service) and back in.
type HAProxy struct {
	URL    string
	socket string
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartHAProxy runs haproxy on a free port with one server per port; check
// interval and thresholds mirror the readiness probe.
func StartHAProxy(dir string, ports []int, t Timings) (*HAProxy, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	h := &HAProxy{URL: "http://127.0.0.1:" + strconv.Itoa(port), socket: filepath.Join(dir, "haproxy.sock"), done: make(chan struct{})}
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 4096
  stats socket %s mode 600 level admin
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  # No second chance: a request a server drops is a failed request.
  retries 0
frontend api
  bind 127.0.0.1:%d
  default_backend servers
backend servers
  balance roundrobin
  option httpchk GET /health/ready
  http-check expect status 200
  default-server inter %dms fall %d rise %d
`, h.socket, port, t.ReadyPeriod.Milliseconds(), t.ReadyFailures, t.ReadySuccesses)
	for i, p := range ports {
		fmt.Fprintf(&b, "  server s%d 127.0.0.1:%d check\n", i, p)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command("haproxy", "-c", "-q", "-f", cfg).CombinedOutput(); err != nil { // #nosec G204 -- fixed program, a config this run wrote
		return nil, fmt.Errorf("haproxy -c: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "haproxy.log")) // #nosec G304 -- in this run's temp dir
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	h.cmd = exec.Command("haproxy", "-db", "-f", cfg) // #nosec G204 -- fixed program, a config this run wrote
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := h.Admin("show info"); err == nil {
			return h, nil
		}
		if time.Now().After(deadline) {
			h.Stop()
			return nil, fmt.Errorf("haproxy admin socket did not answer")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Admin sends one command to the admin socket and returns the answer.
func (h *HAProxy) Admin(command string) (string, error) {
	c, err := net.DialTimeout("unix", h.socket, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", command); err != nil {
		return "", err
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String(), nil
}

// SetState sets server sN's administrative state: "ready", "drain" or
// "maint".
func (h *HAProxy) SetState(n int, state string) error {
	out, err := h.Admin(fmt.Sprintf("set server servers/s%d state %s", n, state))
	if err == nil && strings.TrimSpace(out) != "" {
		err = fmt.Errorf("haproxy: %s", strings.TrimSpace(out))
	}
	return err
}

// Status is server sN's status column of "show stat" (UP, DOWN, DRAIN,
// MAINT, "UP 1/2", ...).
func (h *HAProxy) Status(n int) string {
	out, err := h.Admin("show stat")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ",")
		if len(f) > 17 && f[0] == "servers" && f[1] == "s"+strconv.Itoa(n) {
			return f[17]
		}
	}
	return "?"
}

// Stop ends haproxy.
func (h *HAProxy) Stop() {
	_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
	<-h.done
}
