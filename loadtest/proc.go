// Package loadtest holds what the load and reliability commands share:
// starting the built server and other processes on loopback, driving them
// at a fixed rate or at saturation (wrk), and summarising latencies.
// Nothing here is imported by the service.
package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/healthcare-prediction/api/internal/testutil"
)

// BuildServer builds ./functions/server of the module in the working
// directory into dir, as the container image does (static, stripped).
func BuildServer(dir string) (string, error) {
	return buildServer(dir, "server", "")
}

// BuildRehearsalServer builds the server with -tags rehearsal: the real
// binary plus a model that panics (internal/scoring/rehearsal.go).
func BuildRehearsalServer(dir string) (string, error) {
	return buildServer(dir, "server-rehearsal", "rehearsal")
}

// buildServer runs go build -trimpath -ldflags "-s -w" -tags tags for
// ./functions/server into dir/name, statically linked.
func buildServer(dir, name, tags string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-tags", tags, "-o", out, "./functions/server") // #nosec G204 -- go build of this module's server into a temp dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/server: %v\n%s", err, b)
	}
	return out, nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ports, err := testutil.FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// Proc is a server process (ours or the baseline) whose stdout and stderr
// go to one log file, so that the sentinel scan reads everything it said.
type Proc struct {
	Name string
	Addr string // host:port from its "listening" log line
	Log  string // path of the combined stdout and stderr

	cmd    *exec.Cmd
	done   chan struct{}
	err    error // exit error, valid after done is closed
	exited time.Time
}

// Start runs bin with args and env (added to the environment) in its own
// process group, writing its output to logPath, and waits up to 15s for the
// JSON log line {"msg":"listening","addr":...}.
func Start(name, logPath, bin string, args, env []string) (*Proc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- a log file in this run's temp dir
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, args...) // #nosec G204 -- the binary this run built (or -server) and fixed arguments
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start, _ := out.Seek(0, 2)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if addr := listeningAddr(logPath, start); addr != "" {
			p.Addr = addr
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before listening: %v\n%s", name, p.err, tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.Kill()
	return nil, fmt.Errorf("%s did not log a listening address within 15s\n%s", name, tail(logPath))
}

func listeningAddr(path string, from int64) string {
	b, err := os.ReadFile(path) // #nosec G304 -- a log file this run created
	if err != nil || int64(len(b)) < from {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b[from:]))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && line.Addr != "" {
			return line.Addr
		}
	}
	return ""
}

func tail(path string) string {
	b, _ := os.ReadFile(path) // #nosec G304 -- a log file this run created
	return string(b[max(0, len(b)-2000):])
}

// URL is the base URL of the process.
func (p *Proc) URL() string { return "http://" + p.Addr }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process itself.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the process group and waits for it.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Wait waits up to d for the process to exit and returns its exit error;
// ok is false when it is still running.
func (p *Proc) Wait(d time.Duration) (exitErr error, ok bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

// Exited is when the process exited (zero while it runs).
func (p *Proc) Exited() time.Time {
	select {
	case <-p.done:
		return p.exited
	default:
		return time.Time{}
	}
}

// Memory reads the process's resident set (VmRSS) and its peak (VmHWM) in
// bytes from /proc.
func (p *Proc) Memory() (rss, peak int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	if rss == 0 || peak == 0 {
		return 0, 0, errors.New("no VmRSS/VmHWM in /proc status")
	}
	return rss, peak, nil
}

// MB is bytes in megabytes (10^6), the unit of the targets.
func MB(b int64) float64 { return float64(b) / 1e6 }

// WaitHTTP polls url until it answers want or ctx ends.
func WaitHTTP(ctx context.Context, url string, want int) error {
	for {
		if status, err := Get(url); err == nil && status == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %d: %w", url, want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
