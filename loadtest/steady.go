package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Summary is what a run measured. Latencies are in milliseconds.
type Summary struct {
	Requests   int64          `json:"requests"`
	Failed     int64          `json:"failed"`
	Failures   map[string]int `json:"failures,omitempty"` // cause → count
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"throughput_rps"`
	P50        float64        `json:"p50_ms"`
	P90        float64        `json:"p90_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
}

// String is the summary on one line.
func (s Summary) String() string {
	out := fmt.Sprintf("%d requests in %.1fs (%.0f/s), failed %d; latency p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms",
		s.Requests, s.Seconds, s.Throughput, s.Failed, s.P50, s.P90, s.P99, s.Max)
	if len(s.Failures) > 0 {
		var causes []string
		for c, n := range s.Failures {
			causes = append(causes, fmt.Sprintf("%dx %s", n, c))
		}
		sort.Strings(causes)
		out += "; failures: " + strings.Join(causes, ", ")
	}
	return out
}

func summarize(lat []time.Duration, failures map[string]int, elapsed time.Duration) Summary {
	slices.Sort(lat)
	var failed int64
	for _, n := range failures {
		failed += int64(n)
	}
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p*float64(len(lat))+0.5) - 1
		return float64(lat[min(max(i, 0), len(lat)-1)].Microseconds()) / 1000
	}
	n := int64(len(lat)) + failed
	return Summary{
		Requests: n, Failed: failed, Failures: failures, Seconds: elapsed.Seconds(),
		Throughput: float64(n) / elapsed.Seconds(),
		P50:        pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: pct(1),
	}
}

// Steady drives requests at a fixed rate, open loop: a request is sent on
// schedule whether or not earlier ones have answered, each request of Mix
// in turn, every one with the API key. A request fails on a transport
// error, a timeout (10s) or any status other than 200.
type Steady struct {
	Rate int           // requests per second
	Mix  []Request     // defaults to Mix
	URL  func() string // base URL, asked per request (it may change)
	// Pause, when set and true, skips the scheduled request: the client
	// "no longer routes to" the target, as a load balancer after its
	// endpoint is removed. Skipped requests are counted apart.
	Pause func() bool

	client  *http.Client
	mu      sync.Mutex
	lat     []time.Duration
	fails   map[string]int // cause → count; their sum is the failed requests
	skipped atomic.Int64
}

// NewSteady returns a fixed-rate driver of rate requests per second at the
// base URL url.
func NewSteady(rate int, url func() string) *Steady {
	return &Steady{Rate: rate, URL: url, Mix: Mix,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second, DisableCompression: true}}}
}

// Run sends requests until ctx ends or d passes, waits for the last
// answers, and summarises the run. Skipped counts this run's skips.
func (s *Steady) Run(ctx context.Context, d time.Duration) Summary {
	s.lat = make([]time.Duration, 0, int(float64(s.Rate)*d.Seconds())+16)
	s.fails = map[string]int{}
	s.skipped.Store(0)
	interval := time.Second / time.Duration(s.Rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if next.Sub(start) >= d {
			break
		}
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		if s.Pause != nil && s.Pause() {
			s.skipped.Add(1)
			continue
		}
		req := s.Mix[i%len(s.Mix)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.do(req)
		}()
	}
	wg.Wait()
	s.client.CloseIdleConnections()
	return summarize(s.lat, s.fails, time.Since(start))
}

// Skipped is how many scheduled requests Pause skipped.
func (s *Steady) Skipped() int64 { return s.skipped.Load() }

func (s *Steady) do(r Request) {
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequest(r.Method, s.URL()+r.Path, body)
	if err != nil {
		s.fail(err.Error())
		return
	}
	req.Header.Set("X-API-Key", Key)
	if r.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		s.fail(shortErr(err))
		return
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	elapsed := time.Since(t0)
	switch {
	case err != nil:
		s.fail("reading body: " + shortErr(err))
	case resp.StatusCode != http.StatusOK:
		s.fail(fmt.Sprintf("%s %s: status %d", r.Method, r.Path, resp.StatusCode))
	default:
		s.mu.Lock()
		s.lat = append(s.lat, elapsed)
		s.mu.Unlock()
	}
}

func (s *Steady) fail(cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[cause]++
}

// shortErr drops the addresses from a transport error so that failures
// group by cause.
func shortErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// Get returns the status of GET url with a fresh connection.
func Get(url string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
