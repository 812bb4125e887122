package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WrkScript is a wrk Lua script that sends the requests of mix in turn
// (each thread starting at a different one) with the API key, and prints
// one JSON line of results when done.
func WrkScript(mix []Request) string {
	var b strings.Builder
	b.WriteString("local reqs = {}\nlocal n = 0\nfunction init(args)\n")
	for _, r := range mix {
		hdr := `{["X-API-Key"] = "` + Key + `"}`
		body := "nil"
		if r.Body != "" {
			hdr = `{["X-API-Key"] = "` + Key + `", ["Content-Type"] = "application/json"}`
			body = luaString(r.Body)
		}
		fmt.Fprintf(&b, "  table.insert(reqs, wrk.format(%q, %q, %s, %s))\n", r.Method, r.Path, hdr, body)
	}
	b.WriteString(`  n = math.random(#reqs)
end
function request()
  n = n % #reqs + 1
  return reqs[n]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`)
	return b.String()
}

// Wrk runs wrk with conns connections on 2 threads for d against url with
// the mix, and summarises it. Non-2xx/3xx answers, socket errors and
// timeouts (2s) count as failures.
func Wrk(dir, url string, conns int, d time.Duration, mix []Request) (Summary, error) {
	script := filepath.Join(dir, "mix.lua")
	if err := os.WriteFile(script, []byte(WrkScript(mix)), 0o600); err != nil {
		return Summary{}, err
	}
	// #nosec G204 -- fixed program; a script this run wrote and a loopback URL
	cmd := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"--timeout", "2s", "-s", script, url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return Summary{}, fmt.Errorf("wrk: %v\n%s", err, out.String())
	}
	_, js, ok := strings.Cut(out.String(), "WRKJSON ")
	if !ok {
		return Summary{}, fmt.Errorf("wrk printed no results:\n%s", out.String())
	}
	var r struct {
		Requests                              int64 `json:"requests"`
		DurationUS                            int64 `json:"duration_us"`
		Connect, Read, Write, Status, Timeout int64
		P50, P90, P99, Max                    float64
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(js)), &r); err != nil {
		return Summary{}, fmt.Errorf("wrk results %q: %v", js, err)
	}
	failures := map[string]int{}
	for cause, n := range map[string]int64{"connect": r.Connect, "read": r.Read, "write": r.Write, "status >= 400": r.Status, "timeout": r.Timeout} {
		if n > 0 {
			failures[cause] = int(n)
		}
	}
	failed := r.Connect + r.Read + r.Write + r.Status + r.Timeout
	secs := float64(r.DurationUS) / 1e6
	return Summary{Requests: r.Requests, Failed: failed, Failures: failures, Seconds: secs,
		Throughput: float64(r.Requests) / secs,
		P50:        r.P50 / 1000, P90: r.P90 / 1000, P99: r.P99 / 1000, Max: r.Max / 1000}, nil
}
