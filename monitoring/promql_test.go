package monitoring

import (
	"fmt"
	"strings"
)

// A small PromQL scanner, enough to list the metric names, label matchers
// and grouping labels of the expressions in this folder. The full parser
// (github.com/prometheus/prometheus/promql/parser) would pull a large module
// into go.mod; promtool check rules and the live Prometheus in
// TestLivePrometheus already parse every expression for real, so this only
// has to find names, not to validate syntax.

// selector is one vector selector: a metric name and its label matchers.
type selector struct {
	metric   string
	matchers []matcher
}

// matcher is one label matcher of a selector.
type matcher struct {
	label, op, value string
}

// promql is what an expression names.
type promql struct {
	selectors []selector
	grouping  []string // labels of by, without, on, ignoring, group_left, group_right
	functions []string
}

// groupingKeywords take a parenthesised list of label names.
var groupingKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// keywords are identifiers that are neither metrics nor functions.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// functions are the PromQL functions and aggregations these files may use.
var functions = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "stddev": true, "topk": true, "bottomk": true, "quantile": true, "group": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "resets": true, "changes": true,
	"histogram_quantile": true, "absent": true, "absent_over_time": true, "vector": true, "scalar": true,
	"round": true, "clamp_min": true, "clamp_max": true, "abs": true, "time": true,
	"avg_over_time": true, "max_over_time": true, "min_over_time": true, "sum_over_time": true, "count_over_time": true,
	"label_replace": true, "label_join": true, "sort": true, "sort_desc": true,
}

// parsePromQL scans expr. Grafana variables must be substituted first.
func parsePromQL(expr string) (promql, error) {
	var out promql
	s := []rune(expr)
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	readString := func() (string, error) {
		q := s[i]
		var b strings.Builder
		for i++; i < len(s); i++ {
			switch {
			case s[i] == '\\' && q != '`' && i+1 < len(s):
				i++
				b.WriteRune(s[i])
			case s[i] == q:
				i++
				return b.String(), nil
			default:
				b.WriteRune(s[i])
			}
		}
		return "", fmt.Errorf("unterminated string in %q", expr)
	}
	isIdentStart := func(r rune) bool { return r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
	isIdent := func(r rune) bool { return isIdentStart(r) || r >= '0' && r <= '9' }
	readIdent := func() string {
		start := i
		for i < len(s) && isIdent(s[i]) {
			i++
		}
		return string(s[start:i])
	}
	// peekWord is the identifier at i, without consuming it.
	peekWord := func() string {
		j := i
		for j < len(s) && isIdent(s[j]) {
			j++
		}
		return string(s[i:j])
	}
	readMatchers := func() ([]matcher, error) {
		i++ // {
		var ms []matcher
		for {
			skipSpace()
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated {} in %q", expr)
			}
			if s[i] == '}' {
				i++
				return ms, nil
			}
			if s[i] == ',' {
				i++
				continue
			}
			if !isIdentStart(s[i]) {
				return nil, fmt.Errorf("label name expected at %d in %q", i, expr)
			}
			m := matcher{label: readIdent()}
			skipSpace()
			for i < len(s) && strings.ContainsRune("=!~", s[i]) {
				m.op += string(s[i])
				i++
			}
			if m.op != "=" && m.op != "!=" && m.op != "=~" && m.op != "!~" {
				return nil, fmt.Errorf("bad matcher operator %q in %q", m.op, expr)
			}
			skipSpace()
			if i >= len(s) || !strings.ContainsRune("\"'`", s[i]) {
				return nil, fmt.Errorf("string expected after %s%s in %q", m.label, m.op, expr)
			}
			v, err := readString()
			if err != nil {
				return nil, err
			}
			m.value = v
			ms = append(ms, m)
		}
	}
	for {
		skipSpace()
		if i >= len(s) {
			return out, nil
		}
		r := s[i]
		switch {
		case r == '"' || r == '\'' || r == '`':
			if _, err := readString(); err != nil {
				return out, err
			}
		case r == '[': // range or subquery: durations only
			for i < len(s) && s[i] != ']' {
				i++
			}
			i++
		case r == '{':
			ms, err := readMatchers()
			if err != nil {
				return out, err
			}
			out.selectors = append(out.selectors, selector{matchers: ms})
		case r >= '0' && r <= '9' || r == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(r):
			name := readIdent()
			skipSpace()
			next := rune(0)
			if i < len(s) {
				next = s[i]
			}
			switch {
			case groupingKeywords[name] && next == '(':
				i++
				for {
					skipSpace()
					if i >= len(s) {
						return out, fmt.Errorf("unterminated %s() in %q", name, expr)
					}
					if s[i] == ')' {
						i++
						break
					}
					if s[i] == ',' {
						i++
						continue
					}
					if !isIdentStart(s[i]) {
						return out, fmt.Errorf("label name expected in %s() of %q", name, expr)
					}
					out.grouping = append(out.grouping, readIdent())
				}
			case groupingKeywords[name] || keywords[name]:
			case next == '(' || functions[name] && (peekWord() == "by" || peekWord() == "without"):
				if !functions[name] {
					return out, fmt.Errorf("unknown function %s in %q", name, expr)
				}
				out.functions = append(out.functions, name)
			case next == '{':
				ms, err := readMatchers()
				if err != nil {
					return out, err
				}
				out.selectors = append(out.selectors, selector{metric: name, matchers: ms})
			default:
				out.selectors = append(out.selectors, selector{metric: name})
			}
		case r == '$':
			return out, fmt.Errorf("unsubstituted variable at %d in %q", i, expr)
		default:
			i++
		}
	}
}
