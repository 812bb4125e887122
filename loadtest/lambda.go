package loadtest

import (
	"github.com/healthcare-prediction/api/internal/testutil"

	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// LambdaFlags are the build flags of the Makefile's Lambda targets.
var LambdaFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// BuildLambda builds pkg as a Lambda bootstrap for goarch into
// dir/name/bootstrap, as `make build` does.
func BuildLambda(dir, name, pkg, goarch string) (string, error) {
	out := filepath.Join(dir, name+"-"+goarch, "bootstrap")
	args := append([]string{"build", "-o", out}, LambdaFlags...)
	cmd := exec.Command("go", append(args, pkg)...) // #nosec G204 -- go build of a package path of this module into a temp dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s for %s: %v\n%s", pkg, goarch, err, b)
	}
	return out, nil
}

// BuildRIE builds the aws-lambda-rie pinned as a tool in go.mod.
func BuildRIE(dir string) (string, error) {
	out := filepath.Join(dir, "aws-lambda-rie")
	cmd := exec.Command("go", "build", "-o", out, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie") // #nosec G204 -- fixed package, output in a temp dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build aws-lambda-rie: %v\n%s", err, b)
	}
	return out, nil
}

// ColdWarm is what one function measured under aws-lambda-rie, in ms.
type ColdWarm struct {
	Function     string  `json:"function"`
	Starts       int     `json:"cold_starts"`
	InitMedianMS float64 `json:"init_duration_median_ms"` // INIT REPORT durationMs
	ColdWallMS   float64 `json:"cold_first_invoke_wall_median_ms"`
	WarmMS       float64 `json:"warm_duration_median_ms"` // REPORT Duration
	WarmWallMS   float64 `json:"warm_invoke_wall_median_ms"`
	BootstrapMB  float64 `json:"bootstrap_host_mb"`
}

var (
	initReport = regexp.MustCompile(`INIT REPORT[^\n]*?durationMs:\s*([0-9.]+)`)
	report     = regexp.MustCompile(`(?m)^REPORT [^\n]*?Duration: ([0-9.]+) ms`)
)

// Bootstrap is one function's host-arch bootstrap.
type Bootstrap struct{ Name, Path string }

// MeasureLambdas runs each bootstrap under rie starts times with event,
// each a fresh emulator: the first invoke is the cold one, then warm
// more. The functions take turns, start by start, so that a shared
// machine's drift falls on all of them alike.
func MeasureLambdas(rie string, fns []Bootstrap, env []string, event []byte, starts, warm int) ([]ColdWarm, error) {
	type samples struct{ inits, coldWall, warms, warmWall []float64 }
	all := make([]samples, len(fns))
	for range starts {
		for i, f := range fns {
			in, cw, w, ww, err := oneEmulator(rie, f.Path, f.Name, env, event, warm)
			if err != nil {
				return nil, err
			}
			s := &all[i]
			s.inits, s.coldWall = append(s.inits, in), append(s.coldWall, cw)
			s.warms, s.warmWall = append(s.warms, w...), append(s.warmWall, ww...)
		}
	}
	out := make([]ColdWarm, len(fns))
	for i, f := range fns {
		st, err := os.Stat(f.Path)
		if err != nil {
			return nil, err
		}
		s := all[i]
		out[i] = ColdWarm{Function: f.Name, Starts: starts, InitMedianMS: Median(s.inits), ColdWallMS: Median(s.coldWall),
			WarmMS: Median(s.warms), WarmWallMS: Median(s.warmWall), BootstrapMB: MB(st.Size())}
	}
	return out, nil
}

// Median is the middle value of xs, or the mean of the two middle values
// when len(xs) is even; 0 when xs is empty. xs is sorted in place.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	slices.Sort(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func oneEmulator(rie, bootstrap, name string, env []string, event []byte, warm int) (initMS, coldWall float64, warmMS, warmWall []float64, err error) {
	ports, err := testutil.FreePorts(2) // two different ports
	if err != nil {
		return 0, 0, nil, nil, err
	}
	p1, p2 := ports[0], ports[1]
	invokeAddr := "127.0.0.1:" + strconv.Itoa(p1)
	// #nosec G204 -- the emulator and bootstrap this run built, loopback addresses
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(p2), bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "TZ=UTC", "AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_REGION=us-east-1",
		"METRICS_ENV=load"}, env...) // required under Lambda
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return 0, 0, nil, nil, err
	}
	defer func() {
		for _, pid := range testutil.ChildPIDs(cmd.Process.Pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", invokeAddr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, nil, nil, fmt.Errorf("aws-lambda-rie not listening:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	url := "http://" + invokeAddr + "/2015-03-31/functions/function/invocations"
	invoke := func() (float64, error) {
		t0 := time.Now()
		resp, err := http.Post(url, "application/json", bytes.NewReader(event)) // #nosec G107 -- the local emulator's loopback address
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		wall := float64(time.Since(t0).Microseconds()) / 1000
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"statusCode":200`)) {
			return 0, fmt.Errorf("%s: invoke = %d %s\n%s", name, resp.StatusCode, body, out)
		}
		return wall, nil
	}
	if coldWall, err = invoke(); err != nil {
		return 0, 0, nil, nil, err
	}
	for range warm {
		w, err := invoke()
		if err != nil {
			return 0, 0, nil, nil, err
		}
		warmWall = append(warmWall, w)
	}
	time.Sleep(100 * time.Millisecond) // the last REPORT line
	logs := out.String()
	m := initReport.FindStringSubmatch(logs)
	if m == nil {
		return 0, 0, nil, nil, fmt.Errorf("%s: no INIT REPORT in the emulator output:\n%s", name, logs)
	}
	initMS, _ = strconv.ParseFloat(m[1], 64)
	reports := report.FindAllStringSubmatch(logs, -1)
	for _, r := range reports[min(1, len(reports)):] { // the first is the cold invoke
		d, _ := strconv.ParseFloat(r[1], 64)
		warmMS = append(warmMS, d)
	}
	return initMS, coldWall, warmMS, warmWall, nil
}
