package deploy

// An evaluator of the CloudWatch metric-math subset the canary alarms use,
// so that an alarm's real expression (read from template.yaml) can be run
// on scenarios offline: CloudWatch itself cannot run here. It evaluates
// one data point (one period) of every series, with the semantics of
// "Using metric math"
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html):
//
//   - arithmetic + - * /: a missing value of one time series is 0 when the
//     other operand has a value; a division by zero drops the data point;
//   - comparisons == != <= >= < > and logical AND (&&), OR (||) give 1 or
//     0, a missing value of one time series again being 0;
//   - IF(condition, trueValue, falseValue): no condition point, no point; a
//     true condition takes trueValue (0 where that series has no point),
//     a false one falseValue (no point where it has none);
//   - FILL(series, number) gives the number where the series has no point.
//
// The page does not say what a series without a point does against a
// number (m > 5 where m has none): here it gives no point, and the canary
// test requires every expression of the alarm to keep its point, so no
// verdict rests on that guess.
//
// Anything else (unary minus, ^, REPEAT, METRICS(), another function, or
// AND mixed with OR without parentheses, whose precedence the page does
// not give) is an error, so a template change outside the subset fails the
// tests instead of being evaluated wrongly. The page's examples put
// comparisons unparenthesised under AND; the template's own expressions
// (readMathAlarm) must still parenthesise every operand of AND and OR.
//
// alarmFires then evaluates the alarm on the points of several periods:
// M of N, with TreatMissingData.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// mathPoint is one data point of a metric-math value. series is false for
// a number (a scalar); ok is false where a time series has no data point.
type mathPoint struct {
	v      float64
	ok     bool
	series bool
}

func scalar(v float64) mathPoint  { return mathPoint{v: v, ok: true} }
func present(v float64) mathPoint { return mathPoint{v: v, ok: true, series: true} }

var noPoint = mathPoint{series: true}

// mathNode is a parsed expression: a number, an Id, an operator with two
// arguments, or a function call.
type mathNode struct {
	op    string // "num", "id", an operator, "IF" or "FILL"
	num   float64
	id    string
	args  []*mathNode
	paren bool // written in parentheses (for the AND/OR rule)
}

// ids lists the Ids the expression names.
func (n *mathNode) ids() []string {
	if n.op == "id" {
		return []string{n.id}
	}
	var out []string
	for _, a := range n.args {
		out = append(out, a.ids()...)
	}
	return out
}

// logicParenthesised reports an operand of AND or OR that is not in
// parentheses (a chain a AND b AND c is one level): "Using metric math"
// gives no precedence between them and arithmetic or comparisons.
func (n *mathNode) logicParenthesised() error {
	if n.op == "AND" || n.op == "OR" {
		for _, a := range n.args {
			if !a.paren && a.op != n.op {
				return fmt.Errorf("an operand of %s without parentheses", n.op)
			}
		}
	}
	for _, a := range n.args {
		if err := a.logicParenthesised(); err != nil {
			return err
		}
	}
	return nil
}

// eval computes the data point of n, the Ids' points coming from lookup.
func (n *mathNode) eval(lookup func(id string) (mathPoint, error)) (mathPoint, error) {
	switch n.op {
	case "num":
		return scalar(n.num), nil
	case "id":
		return lookup(n.id)
	}
	args := make([]mathPoint, len(n.args))
	for i, a := range n.args {
		p, err := a.eval(lookup)
		if err != nil {
			return mathPoint{}, err
		}
		args[i] = p
	}
	switch n.op {
	case "IF":
		c, yes, no := args[0], args[1], args[2]
		switch {
		case !c.ok:
			return noPoint, nil
		case c.v != 0 && !yes.ok:
			return present(0), nil
		case c.v != 0:
			return present(yes.v), nil
		case !no.ok:
			return noPoint, nil
		default:
			return present(no.v), nil
		}
	case "FILL":
		if !args[0].series || args[1].series {
			return mathPoint{}, fmt.Errorf("FILL takes a time series and a number")
		}
		if args[0].ok {
			return args[0], nil
		}
		return present(args[1].v), nil
	}
	a, b := args[0], args[1]
	series := a.series || b.series
	switch {
	case !a.ok && !b.ok:
		return noPoint, nil
	case !a.ok && !b.series, !b.ok && !a.series:
		return noPoint, nil // a series against a number: no point, no result
	case !a.ok:
		a = present(0)
	case !b.ok:
		b = present(0)
	}
	bool01 := func(c bool) float64 {
		if c {
			return 1
		}
		return 0
	}
	var v float64
	switch n.op {
	case "+":
		v = a.v + b.v
	case "-":
		v = a.v - b.v
	case "*":
		v = a.v * b.v
	case "/":
		if b.v == 0 {
			return noPoint, nil
		}
		v = a.v / b.v
	case "==":
		v = bool01(a.v == b.v)
	case "!=":
		v = bool01(a.v != b.v)
	case "<=":
		v = bool01(a.v <= b.v)
	case ">=":
		v = bool01(a.v >= b.v)
	case "<":
		v = bool01(a.v < b.v)
	case ">":
		v = bool01(a.v > b.v)
	case "AND":
		v = bool01(a.v != 0 && b.v != 0)
	case "OR":
		v = bool01(a.v != 0 || b.v != 0)
	default:
		return mathPoint{}, fmt.Errorf("operator %q", n.op)
	}
	return mathPoint{v: v, ok: true, series: series}, nil
}

var mathToken = regexp.MustCompile(`^\s*(?:([0-9]+(?:\.[0-9]+)?)|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|&&|\|\||[-+*/<>(),]))`)

// parseMath parses expression text of the subset.
func parseMath(text string) (*mathNode, error) {
	var toks []string
	rest := text
	for strings.TrimSpace(rest) != "" {
		m := mathToken.FindStringSubmatch(rest)
		if m == nil {
			return nil, fmt.Errorf("%q: cannot read %q", text, strings.TrimSpace(rest))
		}
		toks = append(toks, strings.TrimSpace(m[0]))
		rest = rest[len(m[0]):]
	}
	p := &mathParser{toks: toks}
	n, err := p.or()
	if err == nil && p.i < len(toks) {
		err = fmt.Errorf("unexpected %q", toks[p.i])
	}
	if err != nil {
		return nil, fmt.Errorf("%q: %w", text, err)
	}
	return n, nil
}

type mathParser struct {
	toks []string
	i    int
}

func (p *mathParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *mathParser) take(want string) error {
	if got := p.peek(); got != want {
		return fmt.Errorf("want %q, found %q", want, got)
	}
	p.i++
	return nil
}

// or and and are the logical levels. The page gives no precedence between
// AND and OR: a level that mixes them is refused.
func (p *mathParser) or() (*mathNode, error) {
	n, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "OR" || p.peek() == "||" {
		if n.op == "AND" && !n.paren {
			return nil, fmt.Errorf("AND and OR mixed without parentheses")
		}
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		if r.op == "AND" && !r.paren {
			return nil, fmt.Errorf("AND and OR mixed without parentheses")
		}
		n = &mathNode{op: "OR", args: []*mathNode{n, r}}
	}
	return n, nil
}

func (p *mathParser) and() (*mathNode, error) {
	n, err := p.compare()
	if err != nil {
		return nil, err
	}
	for p.peek() == "AND" || p.peek() == "&&" {
		p.i++
		r, err := p.compare()
		if err != nil {
			return nil, err
		}
		n = &mathNode{op: "AND", args: []*mathNode{n, r}}
	}
	return n, nil
}

// compare allows one comparison: a < b < c is refused.
func (p *mathParser) compare() (*mathNode, error) {
	n, err := p.sum()
	if err != nil {
		return nil, err
	}
	switch op := p.peek(); op {
	case "==", "!=", "<=", ">=", "<", ">":
		p.i++
		r, err := p.sum()
		if err != nil {
			return nil, err
		}
		switch p.peek() {
		case "==", "!=", "<=", ">=", "<", ">":
			return nil, fmt.Errorf("chained comparison")
		}
		return &mathNode{op: op, args: []*mathNode{n, r}}, nil
	}
	return n, nil
}

func (p *mathParser) sum() (*mathNode, error) {
	n, err := p.product()
	for err == nil && (p.peek() == "+" || p.peek() == "-") {
		op := p.toks[p.i]
		p.i++
		var r *mathNode
		if r, err = p.product(); err == nil {
			n = &mathNode{op: op, args: []*mathNode{n, r}}
		}
	}
	return n, err
}

func (p *mathParser) product() (*mathNode, error) {
	n, err := p.primary()
	for err == nil && (p.peek() == "*" || p.peek() == "/") {
		op := p.toks[p.i]
		p.i++
		var r *mathNode
		if r, err = p.primary(); err == nil {
			n = &mathNode{op: op, args: []*mathNode{n, r}}
		}
	}
	return n, err
}

func (p *mathParser) primary() (*mathNode, error) {
	tok := p.peek()
	p.i++
	switch {
	case tok == "(":
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		n.paren = true
		return n, p.take(")")
	case tok == "IF" || tok == "FILL":
		if err := p.take("("); err != nil {
			return nil, err
		}
		n := &mathNode{op: tok}
		for {
			a, err := p.or()
			if err != nil {
				return nil, err
			}
			n.args = append(n.args, a)
			if p.peek() != "," {
				break
			}
			p.i++
		}
		if want := map[string]int{"IF": 3, "FILL": 2}[tok]; len(n.args) != want {
			return nil, fmt.Errorf("%s with %d arguments: this subset knows it with %d", tok, len(n.args), want)
		}
		if tok == "FILL" && n.args[1].op != "num" {
			return nil, fmt.Errorf("FILL's filler must be a number here (not REPEAT, LINEAR or a series)")
		}
		return n, p.take(")")
	case tok != "" && tok[0] >= '0' && tok[0] <= '9':
		v, err := strconv.ParseFloat(tok, 64)
		return &mathNode{op: "num", num: v}, err
	case idRule.MatchString(tok):
		return &mathNode{op: "id", id: tok}, nil
	}
	return nil, fmt.Errorf("unexpected %q (not in the subset)", tok)
}

// mathAlarm is an alarm's Metrics list: its expressions parsed, its
// MetricStats kept for the caller to give values to.
type mathAlarm struct {
	returned string
	exprs    map[string]*mathNode
	stats    map[string]map[string]any // Id → MetricStat
}

// idRule is the Id rule of the page: letters, numbers and underscores,
// starting with a lowercase letter.
var idRule = regexp.MustCompile(`^[a-z][A-Za-z0-9_]*$`)

// readMathAlarm checks an alarm's Metrics list against the rules of
// PutMetricAlarm's MetricDataQuery
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataQuery.html:
// at most 10 MetricStats and 10 Expressions, exactly one ReturnData true,
// on an expression), unique valid Ids, every Id an expression names
// defined, every entry used, no cycle; and parses the expressions.
func readMathAlarm(t *testing.T, props map[string]any) *mathAlarm {
	t.Helper()
	a := &mathAlarm{exprs: map[string]*mathNode{}, stats: map[string]map[string]any{}}
	seen := map[string]bool{}
	for _, m := range listAt(props, "Metrics") {
		id := str(m, "Id")
		if !idRule.MatchString(id) || seen[id] {
			t.Fatalf("Id %q is invalid or repeated", id)
		}
		seen[id] = true
		ret := at(m, "ReturnData")
		if ret != true && ret != false {
			t.Errorf("%s: ReturnData %v, want it stated (true on the watched expression only)", id, ret)
		}
		if e, ok := at(m, "Expression").(string); ok {
			n, err := parseMath(e)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if err := n.logicParenthesised(); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			a.exprs[id] = n
			if ret == true {
				if a.returned != "" {
					t.Fatalf("ReturnData true on %s and %s", a.returned, id)
				}
				a.returned = id
			}
			continue
		}
		if mapAt(m, "MetricStat") == nil {
			t.Fatalf("%s: neither Expression (text) nor MetricStat", id)
		}
		if ret == true {
			t.Fatalf("%s: ReturnData true on a metric; the alarm must watch an expression", id)
		}
		a.stats[id] = mapAt(m, "MetricStat")
	}
	if a.returned == "" {
		t.Fatal("no expression has ReturnData true")
	}
	if len(a.stats) > 10 || len(a.exprs) > 10 {
		t.Fatalf("%d MetricStats and %d Expressions; an alarm may have 10 of each", len(a.stats), len(a.exprs))
	}
	used := map[string]bool{a.returned: true}
	var visit func(id string, path []string)
	visit = func(id string, path []string) {
		for _, p := range path {
			if p == id {
				t.Fatalf("cycle: %v", append(path, id))
			}
		}
		used[id] = true
		n, ok := a.exprs[id]
		if !ok {
			if a.stats[id] == nil {
				t.Fatalf("%s names %s, which the alarm does not define", path[len(path)-1], id)
			}
			return
		}
		for _, next := range n.ids() {
			visit(next, append(path, id))
		}
	}
	visit(a.returned, nil)
	for id := range seen {
		if !used[id] {
			t.Errorf("%s is defined but the watched expression does not use it", id)
		}
	}
	return a
}

// value evaluates the watched expression, the MetricStats' data points
// coming from metric; points holds every Id's.
func (a *mathAlarm) value(metric func(id string, stat map[string]any) mathPoint) (watched mathPoint, points map[string]mathPoint, err error) {
	memo := map[string]mathPoint{}
	var lookup func(id string) (mathPoint, error)
	lookup = func(id string) (mathPoint, error) {
		if p, ok := memo[id]; ok {
			return p, nil
		}
		var p mathPoint
		if n, ok := a.exprs[id]; ok {
			var err error
			if p, err = n.eval(lookup); err != nil {
				return mathPoint{}, fmt.Errorf("%s: %w", id, err)
			}
		} else {
			p = metric(id, a.stats[id])
		}
		memo[id] = p
		return p, nil
	}
	watched, err = lookup(a.returned)
	return watched, memo, err
}

// alarmFires reports whether an alarm with these properties goes to ALARM
// when evaluated on window, the watched expression's data points of its
// evaluation range, oldest first. As "Evaluating an alarm" and "How alarm
// state is evaluated when data is missing" of the CloudWatch user guide
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)
// say: CloudWatch retrieves more points than EvaluationPeriods (N); when
// at least N of them exist it evaluates the N most recent that exist,
// otherwise all that exist plus as few missing ones as make N, treated
// per TreatMissingData; ALARM when at least DatapointsToAlarm (M) of the
// N breach. notBreaching and breaching are modelled; missing and ignore
// (INSUFFICIENT_DATA, the state kept) are refused.
func alarmFires(t *testing.T, props map[string]any, window []mathPoint) bool {
	t.Helper()
	n, m := int(num(props["EvaluationPeriods"])), int(num(props["DatapointsToAlarm"]))
	if n < 1 || m < 1 || m > n {
		t.Fatalf("EvaluationPeriods %v, DatapointsToAlarm %v: want 1 <= M <= N", props["EvaluationPeriods"], props["DatapointsToAlarm"])
	}
	if len(window) < n {
		t.Fatalf("an evaluation range of %d points for EvaluationPeriods %d: CloudWatch retrieves more than N", len(window), n)
	}
	var missingBreaches bool
	switch v := str(props, "TreatMissingData"); v {
	case "notBreaching":
	case "breaching":
		missingBreaches = true
	default:
		t.Fatalf("TreatMissingData %q: the evaluator knows notBreaching and breaching only", v)
	}
	var existing []mathPoint
	for _, p := range window {
		if p.ok {
			existing = append(existing, p)
		}
	}
	breaching := 0
	if len(existing) > n {
		existing = existing[len(existing)-n:]
	}
	for _, p := range existing {
		if breaches(t, props, p) {
			breaching++
		}
	}
	if missingBreaches {
		breaching += n - len(existing)
	}
	return breaching >= m
}

// breaches reports whether data point p is beyond the alarm's threshold.
func breaches(t *testing.T, props map[string]any, p mathPoint) bool {
	t.Helper()
	threshold := num(props["Threshold"])
	switch op := str(props, "ComparisonOperator"); op {
	case "GreaterThanThreshold":
		return p.v > threshold
	case "GreaterThanOrEqualToThreshold":
		return p.v >= threshold
	default:
		t.Fatalf("ComparisonOperator %s: not in the evaluator", op)
	}
	return false
}

// TestAlarmEvaluation runs the tables of the CloudWatch user guide's "How
// alarm state is evaluated when data is missing" (5 retrieved points; 0
// not breaching, X breaching, - missing), columns BREACHING and NOT
// BREACHING, for 3 of 3 and 2 of 3, and the case the canary alarms are
// for: with FILL every point exists, and late data leaves the newest
// minutes at the fill value.
func TestAlarmEvaluation(t *testing.T) {
	points := func(s string) []mathPoint {
		var out []mathPoint
		for _, f := range strings.Fields(s) {
			switch f {
			case "0":
				out = append(out, present(0))
			case "X":
				out = append(out, present(1))
			default:
				out = append(out, noPoint)
			}
		}
		return out
	}
	alarm := func(m, n int, missing string) map[string]any {
		return map[string]any{
			"EvaluationPeriods": float64(n), "DatapointsToAlarm": float64(m), "TreatMissingData": missing,
			"ComparisonOperator": "GreaterThanThreshold", "Threshold": float64(0),
		}
	}
	for _, c := range []struct {
		m, n                    int
		points                  string
		breaching, notBreaching bool
	}{
		{3, 3, "0 - X - X", false, false},
		{3, 3, "0 - - - -", false, false},
		{3, 3, "- - - - -", true, false},
		{3, 3, "0 X X - X", true, true},
		{3, 3, "- - - - X", true, false},
		{3, 3, "X - - - -", true, false},
		{2, 3, "0 - X - X", true, true},
		{2, 3, "0 0 X 0 X", true, true},
		{2, 3, "0 - X - -", true, false},
		{2, 3, "- - - - 0", true, false},
		{2, 3, "- - - - X", true, false},
		// A failing minute whose data came late, then two minutes whose
		// data has not arrived yet, FILLed to 0: 1 of 3 sees it, 1 of 1
		// looks at the newest minute only.
		{1, 3, "0 0 X 0 0", true, true},
		{1, 1, "0 0 X 0 0", false, false},
		{1, 3, "X 0 0 0 0", false, false},
	} {
		for missing, want := range map[string]bool{"breaching": c.breaching, "notBreaching": c.notBreaching} {
			if got := alarmFires(t, alarm(c.m, c.n, missing), points(c.points)); got != want {
				t.Errorf("%d of %d, %s, %s: ALARM %v, want %v", c.m, c.n, missing, c.points, got, want)
			}
		}
	}
}

// TestMetricMathEvaluator runs the examples of "Using metric math" (its
// comparison and IF tables; - is a timestamp without a data point).
func TestMetricMathEvaluator(t *testing.T) {
	const none = -1 // no data point
	series := map[string][]float64{
		"metric1": {30, 20, 0, 0}, "metric2": {20, none, 20, none},
		"ifc": {1, 1, 0, 0, none}, "ift": {30, none, 0, 0, 30}, "iff": {0, 0, 20, none, 20},
	}
	for _, c := range []struct {
		expr string
		want []float64
	}{
		{"(metric1 < metric2)", []float64{0, 0, 1, 0}},
		{"(metric1 >= 30)", []float64{1, 0, 0, 0}},
		{"(metric1 > 15 AND metric2 > 15)", []float64{1, 0, 0, 0}},
		{"IF(ifc, ift, iff)", []float64{30, 0, 20, none, none}},
		{"IF(ifc, 5, iff)", []float64{5, 5, 20, none, none}},
		{"IF(ifc, ift, 5)", []float64{30, 0, 5, 5, none}},
		// Arithmetic: missing is 0 beside a value; division by zero drops.
		{"metric1 + metric2", []float64{50, 20, 20, 0}},
		{"metric1 / metric2", []float64{1.5, none, 0, none}},
		{"IF(metric2 > 0, metric1 / metric2, 7)", []float64{1.5, none, 0, none}},
		{"FILL(metric2, 7)", []float64{20, 7, 20, 7}},
		{"IF(FILL(metric2, 0) > 0, metric1 / metric2, 7)", []float64{1.5, 7, 0, 7}},
		{"2 * metric1 - 10 > metric1 || metric1 == 0", []float64{1, 1, 1, 1}},
	} {
		n, err := parseMath(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range c.want {
			p, err := n.eval(func(id string) (mathPoint, error) {
				v := series[id][i]
				if v == none {
					return noPoint, nil
				}
				return present(v), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := p.v
			if !p.ok {
				got = none
			}
			if got != want {
				t.Errorf("%s at %d = %v, want %v (-1: no data point)", c.expr, i, got, want)
			}
		}
	}
	for _, bad := range []string{"a AND b OR c", "a < b < c", "-a", "a ^ 2", "MAX(a)", "FILL(a, REPEAT)", "IF(a, b)", "A + b", "a +", "(a"} {
		if _, err := parseMath(bad); err == nil {
			t.Errorf("%q parsed; it is outside the subset", bad)
		}
	}
	if _, err := parseMath("(a AND b) OR c"); err != nil {
		t.Errorf("(a AND b) OR c: %v", err)
	}
	// The template's rule on top: every operand of AND and OR in parentheses.
	for expr, ok := range map[string]bool{
		"IF((2 * a > b) AND (c >= 5) AND (d > 0), 1, 0)": true,
		"((a > 1) AND (b > 1)) OR (c > 1)":               true,
		"IF(2 * a > b AND (c >= 5), 1, 0)":               false,
		"IF((a > b) AND (c >= 5) AND d > 0, 1, 0)":       false,
		"(a > 1 AND b > 1)":                              false,
		"((a > 1) AND (b > 1)) OR c":                     false,
	} {
		n, err := parseMath(expr)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.logicParenthesised(); (err == nil) != ok {
			t.Errorf("%s: parenthesised %v, want %v", expr, err == nil, ok)
		}
	}
}

// TestMetricMathAlarmsFitPutMetricAlarm: every metric-math alarm of the
// template keeps PutMetricAlarm's rules for its Metrics (MetricDataQuery:
// at most 10 MetricStats and 10 Expressions, exactly one ReturnData true,
// on an expression, and ReturnData false stated on every other entry: it
// defaults to true; Ids valid and unique), which cfn-lint does not check.
func TestMetricMathAlarmsFitPutMetricAlarm(t *testing.T) {
	checked := 0
	for id, a := range resourcesOfType(loadTemplate(t), "AWS::CloudWatch::Alarm") {
		queries := listAt(a, "Properties", "Metrics")
		if queries == nil {
			continue
		}
		checked++
		stats, exprs, returned := 0, 0, 0
		ids := map[string]bool{}
		for _, m := range queries {
			mid := str(m, "Id")
			if !idRule.MatchString(mid) || ids[mid] {
				t.Errorf("%s: Id %q is invalid or repeated", id, mid)
			}
			ids[mid] = true
			isExpr := at(m, "Expression") != nil
			if isExpr {
				exprs++
			} else {
				stats++
			}
			switch at(m, "ReturnData") {
			case false:
			case true:
				returned++
				if !isExpr {
					t.Errorf("%s: ReturnData true on metric %s; the alarm must watch an expression", id, mid)
				}
			default:
				t.Errorf("%s: %s states no ReturnData (true by default): want false on all but the watched expression", id, mid)
			}
		}
		if stats > 10 || exprs > 10 || returned != 1 {
			t.Errorf("%s: %d MetricStats, %d Expressions, %d with ReturnData true; want at most 10, 10, and exactly 1", id, stats, exprs, returned)
		}
	}
	if checked == 0 {
		t.Fatal("found no metric-math alarm; the parser is broken")
	}
}

// TestCanaryAlarmsSeeLateData: the info, health and predict canary alarms
// (FILL(invocationErrors, 0) + FILL(serverErrors, 0)) roll back on a
// minute with one failed invocation, or one 5xx, evaluated when its data
// has come and the two minutes after it are still empty (0-filled); the
// same window on the newest minute alone would not (TestAlarmEvaluation;
// cdshooks: TestCdsHooksCanaryAlarmSeesLateData).
func TestCanaryAlarmsSeeLateData(t *testing.T) {
	for _, fn := range []string{"Info", "Health", "Predict"} {
		props := mapAt(loadTemplate(t), "Resources", fn+"CanaryAlarm", "Properties")
		alarm := readMathAlarm(t, props)
		for _, failing := range []string{"AWS/Lambda Errors", "HealthcareAPI ServerErrors"} {
			point := func(failed bool) mathPoint {
				p, _, err := alarm.value(func(_ string, stat map[string]any) mathPoint {
					m := mapAt(stat, "Metric")
					if failed && str(m, "Namespace")+" "+str(m, "MetricName") == failing {
						return present(1)
					}
					return noPoint
				})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			quiet, failed := point(false), point(true)
			window := []mathPoint{quiet, quiet, quiet, failed, quiet, quiet}
			if !alarmFires(t, props, window) {
				t.Errorf("%sCanaryAlarm: a minute with one %s, then two minutes of late data: no rollback", fn, failing)
			}
		}
	}
}
