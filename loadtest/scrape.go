package loadtest

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Gauge reads the one sample of a single-series metric (e.g.
// go_goroutines) from the Prometheus exposition at url, with or without
// constant labels (the service labels every series with its environment).
func Gauge(url, name string) (float64, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
		if rest, ok := strings.CutPrefix(line, name+"{"); ok {
			if _, v, ok := strings.Cut(rest, "} "); ok {
				return strconv.ParseFloat(strings.TrimSpace(v), 64)
			}
		}
	}
	return 0, fmt.Errorf("%s: no sample %s", url, name)
}
