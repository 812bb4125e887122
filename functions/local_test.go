//go:build unix

package functions_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The folder of sample events and the local environment that `sam local`
// uses (README, "Running the functions locally").
var (
	localEventsDir = filepath.Join("..", "events")
	localEnvFile   = filepath.Join("..", "env.local.json")
)

// expectedEvent is one row of events/expected.json.
type expectedEvent struct {
	Function string `json:"function"` // logical id in template.yaml
	Status   int    `json:"status"`
	What     string `json:"what"`
	// ContentType is the answer's media type when it is not JSON (the
	// /docs page); such an answer is revalidated, not uncached.
	ContentType string `json:"content_type"`
}

// binaryName is the functions/<name> directory of a logical id.
func binaryName(logicalID string) string {
	return strings.ToLower(strings.TrimSuffix(logicalID, "Function"))
}

// localEnv is the environment `sam local --env-vars env.local.json` gives
// the function logicalID: the Parameters section, then its own.
func localEnv(t *testing.T, logicalID string) []string {
	t.Helper()
	raw, err := os.ReadFile(localEnvFile)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("%s: %v", localEnvFile, err)
	}
	if _, ok := file[logicalID]; !ok {
		t.Fatalf("%s has no section %s", localEnvFile, logicalID)
	}
	vars := map[string]string{}
	for _, section := range []string{"Parameters", logicalID} {
		for k, v := range file[section] {
			vars[k] = v
		}
	}
	var env []string
	for k, v := range vars {
		if strings.HasPrefix(k, "AWS_") {
			t.Errorf("%s sets %s: no AWS variable belongs in the local environment", localEnvFile, k)
		}
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// Every file in events/ is invoked against the function events/expected.json
// names, built as `sam build` builds it and run with env.local.json's
// variables and no AWS credentials, and gets the documented status.
func TestEventsFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the end-to-end test that builds the functions and runs them under aws-lambda-rie")
	}
	raw, err := os.ReadFile(filepath.Join(localEventsDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]expectedEvent
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(localEventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	byFunction := map[string][]string{}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "expected.json" {
			continue
		}
		e, ok := expected[name]
		if !ok {
			t.Errorf("events/%s is not in events/expected.json", name)
			continue
		}
		byFunction[e.Function] = append(byFunction[e.Function], name)
	}
	for name := range expected {
		if _, err := os.Stat(filepath.Join(localEventsDir, name)); err != nil {
			t.Errorf("events/expected.json names %s: %v", name, err)
		}
	}
	readme, err := os.ReadFile(filepath.Join(localEventsDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range expected {
		if row := fmt.Sprintf("| `%s` | %s | %d |", name, e.Function, e.Status); !strings.Contains(string(readme), row) {
			t.Errorf("events/README.md has no row %q", row)
		}
	}
	if len(byFunction) != 3 {
		t.Errorf("events for %d functions, want InfoFunction, HealthFunction and PredictFunction", len(byFunction))
	}

	bins, err := build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	for fn, names := range byFunction {
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			emu := runEmulator(t, bins["rie"], bins[binaryName(fn)], fn, localEnv(t, fn))
			for _, name := range names {
				t.Run(name, func(t *testing.T) {
					want := expected[name]
					resp := emu.invokeFile(t, filepath.Join(localEventsDir, name), "", "")
					if resp.StatusCode != want.Status {
						t.Fatalf("statusCode = %d, want %d (%s); body %s\n%s", resp.StatusCode, want.Status, want.What, resp.Body, emu.output)
					}
					wantType, wantCache := "application/json", "no-store"
					if want.Status >= 400 {
						wantType = "application/problem+json"
					}
					if want.ContentType != "" {
						wantType, wantCache = want.ContentType, "no-cache"
					}
					if got := resp.header("Content-Type"); got != wantType {
						t.Errorf("Content-Type = %q, want %q", got, wantType)
					}
					if resp.header("X-Request-Id") == "" || resp.header("Cache-Control") != wantCache {
						t.Errorf("X-Request-Id %q, Cache-Control %q", resp.header("X-Request-Id"), resp.header("Cache-Control"))
					}
					if want.ContentType != "" {
						if !strings.Contains(resp.Body, `<script src="docs/swagger-ui-bundle.js">`) {
							t.Errorf("not the /docs page:\n%.400s", resp.Body)
						}
						return
					}
					var body map[string]any
					if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
						t.Fatalf("body is not a JSON object: %v\n%s", err, resp.Body)
					}
					if want.Status == 400 && body["type"] != "urn:healthcare-api:problem:bad-event" {
						t.Errorf("problem type %v, want bad-event", body["type"])
					}
				})
			}
			out := emu.output.String()
			for _, v := range inputValues {
				if strings.Contains(out, v) {
					t.Errorf("output contains the input value %q:\n%s", v, out)
				}
			}
			if fn != "HealthFunction" && !strings.Contains(out, "AUTHENTICATION IS OFF") {
				t.Errorf("AUTH_DISABLED=true is not logged loudly:\n%s", out)
			}
		})
	}
}

// A function that names a secret but runs without AWS credentials (sam
// local on a machine without any), or against a Secrets Manager that hangs,
// still answers its public routes at once; its protected routes answer 503
// within their bounds, never open.
func TestPublicRoutesWithoutCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the end-to-end test that builds the functions and runs them under aws-lambda-rie")
	}
	bins, err := build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	// Accepts connections and never answers: a hung endpoint.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"no credentials", []string{"API_KEYS_SECRET_ID=prod/api-keys"}},
		// What sam local puts in the environment without credentials, with
		// the endpoint on a loopback port that never answers.
		{"placeholder credentials, hung endpoint", []string{"API_KEYS_SECRET_ID=prod/api-keys",
			"AWS_ACCESS_KEY_ID=defaultkey", "AWS_SECRET_ACCESS_KEY=defaultsecret",
			"AWS_ENDPOINT_URL=http://" + hung.Addr().String()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := runEmulator(t, bins["rie"], bins["info"], "InfoFunction", tc.env)
			// The first invocation carries the init phase, whose one
			// fetch is bounded (5 s).
			if resp := emu.invokeFile(t, filepath.Join(localEventsDir, "rest-get-index.json"), "", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / = %d, want 200\n%s", resp.StatusCode, emu.output)
			}
			for _, event := range []string{"rest-get-openapi.json", "http-get-index.json", "rest-get-index.json"} {
				start := time.Now()
				resp := emu.invokeFile(t, filepath.Join(localEventsDir, event), "", "")
				if took := time.Since(start); resp.StatusCode != http.StatusOK || took > time.Second {
					t.Errorf("%s = %d in %v, want 200 at once", event, resp.StatusCode, took.Round(time.Millisecond))
				}
			}
			for range 2 {
				start := time.Now()
				resp := emu.invokeFile(t, filepath.Join(localEventsDir, "rest-get-models.json"), "", "some-key")
				took := time.Since(start)
				if resp.StatusCode != http.StatusServiceUnavailable || resp.header("Retry-After") == "" {
					t.Errorf("GET /models = %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.header("Retry-After"))
				}
				if took > 3*time.Second {
					t.Errorf("GET /models took %v, want at most the 2 s refresh bound", took.Round(time.Millisecond))
				}
			}
			if out := emu.output.String(); strings.Contains(out, "defaultsecret") {
				t.Errorf("the output holds a credential:\n%s", out)
			}
		})
	}
}

// The runbook's steps (docs/sam.md, "Correlating a request") against a real
// REST event: the emulator assigns the invocation id as Lambda does; the
// function's log line carries it as aws_request_id (which API Gateway logs
// as $context.integration.requestId) and as request_id, the X-Request-Id
// the response returned, and a client's own id as client_request_id. Each
// function-log query of the runbook, run on the function's output with its
// placeholders filled in, finds that line; each access-log query names
// only fields the access-log format of template.yaml defines.
func TestCorrelatingARequest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the end-to-end test that builds the functions and runs them under aws-lambda-rie")
	}
	queries := runbookQueries(t)
	bins, err := build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	emu := runEmulator(t, bins["rie"], bins["predict"], "PredictFunction", localEnv(t, "PredictFunction"))
	startLine := regexp.MustCompile(`START RequestId: (\S+)`)

	for i, clientID := range []string{"", "support-ticket-4711"} {
		event := filepath.Join(localEventsDir, "rest-post-predict.json")
		if clientID != "" {
			event = withHeader(t, event, "X-Request-Id", clientID)
		}
		resp := emu.invokeFile(t, event, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /predict = %d: %s", resp.StatusCode, resp.Body)
		}
		xRequestID := resp.header("X-Request-Id")
		out := emu.waitFor(func(out string) bool { return len(startLine.FindAllStringSubmatch(out, -1)) > i })
		starts := startLine.FindAllStringSubmatch(out, -1)
		if len(starts) <= i {
			t.Fatalf("no START line for invocation %d:\n%s", i+1, out)
		}
		invocationID := starts[i][1]
		if xRequestID != invocationID {
			t.Errorf("X-Request-Id %q, want the invocation id %q, whatever the client sends", xRequestID, invocationID)
		}
		out = emu.waitFor(func(out string) bool { return strings.Contains(out, `"aws_request_id":"`+invocationID+`"`) })
		lines := functionLogLines(out)
		quoted := clientID
		if quoted == "" {
			quoted = "(the client sent none)"
		}
		placeholders := map[string]string{"<X-Request-Id>": xRequestID, "<integrationRequestId>": invocationID, "<aws_request_id>": invocationID,
			"<client's own id>": quoted}
		for _, q := range queries {
			if q.group != "function" {
				continue
			}
			matches := q.run(t, lines, placeholders)
			if len(matches) != 1 {
				t.Fatalf("query %q finds %d access-log lines, want 1:\n%s", q.text, len(matches), out)
			}
			if m := matches[0]; m["aws_request_id"] != invocationID || m["request_id"] != xRequestID {
				t.Errorf("query %q finds aws_request_id %v, request_id %v; want %s, %s", q.text, m["aws_request_id"], m["request_id"], invocationID, xRequestID)
			}
			if m := matches[0]; clientID != "" && m["client_request_id"] != clientID {
				t.Errorf("query %q finds client_request_id %v, want %s", q.text, m["client_request_id"], clientID)
			}
		}
	}
}

// The runbook's access-log queries name only fields of the stage's
// access-log format, and join on the one that records
// $context.integration.requestId.
func TestRunbookQueriesMatchTheAccessLogFormat(t *testing.T) {
	format := accessLogFormat(t)
	joined := false
	for _, q := range runbookQueries(t) {
		if q.group != "access" {
			continue
		}
		for _, f := range q.fields() {
			if _, ok := format[f]; !ok {
				t.Errorf("query %q names %s, which the access-log format of template.yaml does not define", q.text, f)
			}
		}
		for _, f := range q.filterFields() {
			if format[f] == "$context.integration.requestId" {
				joined = true
			}
		}
	}
	if !joined {
		t.Errorf("no runbook query filters the access log on the field holding $context.integration.requestId; format: %v", format)
	}
}

// accessLogFormat is the JSON access-log format of the API stage in
// template.yaml: field name -> $context variable.
func accessLogFormat(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The Format block: the lines below "Format:", indented deeper.
	doc := string(raw)
	i := strings.Index(doc, "AccessLogSetting:")
	if i < 0 {
		t.Fatal("template.yaml: no AccessLogSetting")
	}
	var block []string
	indent := -1
scan:
	for _, line := range strings.Split(doc[i:], "\n") {
		depth := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case indent < 0 && strings.HasPrefix(strings.TrimSpace(line), "Format:"):
			indent = depth
		case indent >= 0 && (strings.TrimSpace(line) == "" || depth <= indent):
			break scan
		case indent >= 0:
			block = append(block, line)
		}
	}
	text := strings.Join(block, "\n")
	pairs := regexp.MustCompile(`"([A-Za-z0-9_.]+)"\s*:\s*"(\$context\.[A-Za-z0-9_.]+)"`).FindAllStringSubmatch(text, -1)
	format := map[string]string{}
	for _, p := range pairs {
		format[p[1]] = p[2]
	}
	if len(format) == 0 {
		t.Fatalf("template.yaml: no fields in the access-log format:\n%s", text)
	}
	return format
}

// runbookQuery is one CloudWatch Logs Insights query of docs/sam.md.
type runbookQuery struct {
	group string // "function" or "access": the log groups it runs on
	text  string
}

// runbookQueries reads the queries of the runbook: code blocks in the
// section "Correlating a request" whose first line, a Logs Insights
// comment, names the log groups.
func runbookQueries(t *testing.T) []runbookQuery {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docs", "sam.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "### Correlating a request")
	if start < 0 {
		t.Fatal(`docs/sam.md has no section "### Correlating a request"`)
	}
	section := doc[start+3:]
	if end := strings.Index(section, "\n### "); end >= 0 {
		section = section[:end]
	}
	var queries []runbookQuery
	for _, m := range regexp.MustCompile("(?s)```text\n(.*?)```").FindAllStringSubmatch(section, -1) {
		text := strings.TrimSpace(m[1])
		switch first, _, _ := strings.Cut(text, "\n"); {
		case strings.HasPrefix(first, "# function log groups"):
			queries = append(queries, runbookQuery{"function", text})
		case strings.HasPrefix(first, "# API access log group"):
			queries = append(queries, runbookQuery{"access", text})
		default:
			t.Errorf("runbook query does not say its log group on its first line: %q", first)
		}
	}
	groups := map[string]int{}
	for _, q := range queries {
		groups[q.group]++
	}
	if groups["function"] < 2 || groups["access"] < 2 {
		t.Fatalf("runbook queries: %v; want both directions (function -> gateway, gateway -> function)", groups)
	}
	return queries
}

// fields are the non-system field names the query displays or filters on.
func (q runbookQuery) fields() []string {
	var out []string
	for _, line := range strings.Split(q.text, "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "| ")
		if rest, ok := strings.CutPrefix(line, "fields "); ok {
			for _, f := range strings.Split(rest, ",") {
				if f = strings.TrimSpace(f); !strings.HasPrefix(f, "@") {
					out = append(out, f)
				}
			}
		}
	}
	out = append(out, q.filterFields()...)
	slices.Sort(out)
	return slices.Compact(out)
}

// filterClause is `name = "value"` in a filter line.
var filterClause = regexp.MustCompile(`([A-Za-z_@][A-Za-z0-9_.]*)\s*=\s*"([^"]*)"`)

func (q runbookQuery) filterFields() []string {
	var out []string
	for _, line := range strings.Split(q.text, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "| filter "); ok {
			for _, m := range filterClause.FindAllStringSubmatch(rest, -1) {
				if !strings.HasPrefix(m[1], "@") {
					out = append(out, m[1])
				}
			}
		}
	}
	return out
}

// run applies the query's filters (clauses joined by "or", lines by
// "and"), with its placeholders filled in, to the access-log lines.
func (q runbookQuery) run(t *testing.T, lines []map[string]any, placeholders map[string]string) []map[string]any {
	t.Helper()
	var matches []map[string]any
	for _, entry := range lines {
		ok := true
		for _, line := range strings.Split(q.text, "\n") {
			rest, isFilter := strings.CutPrefix(strings.TrimSpace(line), "| filter ")
			if !isFilter {
				continue
			}
			hit := false
			for _, m := range filterClause.FindAllStringSubmatch(rest, -1) {
				value, known := placeholders[m[2]]
				if !known {
					t.Fatalf("query %q: unknown placeholder %s", q.text, m[2])
				}
				if fmt.Sprint(entry[m[1]]) == value {
					hit = true
				}
			}
			ok = ok && hit
		}
		if ok {
			matches = append(matches, entry)
		}
	}
	return matches
}

// functionLogLines are the function's access-log lines in its output.
func functionLogLines(out string) []map[string]any {
	var lines []map[string]any
	for _, line := range strings.Split(out, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "request" {
			lines = append(lines, entry)
		}
	}
	return lines
}

// withHeader writes a copy of the event file with a request header set in
// every header map it has, and returns its path.
func withHeader(t *testing.T, path, name, value string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	if h, ok := e["headers"].(map[string]any); ok {
		h[name] = value
	}
	if h, ok := e["multiValueHeaders"].(map[string]any); ok {
		h[name] = []any{value}
	}
	raw, err = json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// sam local passes a function only the variables its template entry (or
// Globals) declares, whatever --env-vars says: every variable of
// env.local.json must be declared for its function, those of Parameters
// for at least one.
func TestLocalEnvIsDeclaredInTheTemplate(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	declared := map[string]map[string]bool{} // logical id -> variable names
	global := map[string]bool{}
	for _, name := range variableNames(lookup(doc.Content[0], "Globals", "Function", "Environment", "Variables")) {
		global[name] = true
	}
	resources := lookup(doc.Content[0], "Resources")
	for i := 0; resources != nil && i+1 < len(resources.Content); i += 2 {
		id, res := resources.Content[i].Value, resources.Content[i+1]
		if typ := lookup(res, "Type"); typ == nil || typ.Value != "AWS::Serverless::Function" {
			continue
		}
		declared[id] = map[string]bool{}
		for _, name := range variableNames(lookup(res, "Properties", "Environment", "Variables")) {
			declared[id][name] = true
		}
	}
	raw, err = os.ReadFile(localEnvFile)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for section, vars := range file {
		for name := range vars {
			switch section {
			case "Parameters":
				found := global[name]
				for _, fn := range declared {
					found = found || fn[name]
				}
				if !found {
					t.Errorf("env.local.json Parameters sets %s, which no function of template.yaml declares", name)
				}
			default:
				fn, ok := declared[section]
				if !ok {
					t.Errorf("env.local.json has a section %s, which is no function of template.yaml", section)
				} else if !fn[name] && !global[name] {
					t.Errorf("env.local.json sets %s for %s, which template.yaml does not declare for it (sam local would drop it)", name, section)
				}
			}
		}
	}
	for id := range declared {
		// The pre-traffic hook serves no API route: sam local start-api
		// never runs it, and it needs CodeDeploy to do anything.
		if _, ok := file[id]; !ok && id != "PreTrafficFunction" {
			t.Errorf("env.local.json has no section for %s", id)
		}
	}
}

// lookup follows mapping keys from n.
func lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// variableNames are the keys of a Variables mapping.
func variableNames(n *yaml.Node) []string {
	var names []string
	for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		names = append(names, n.Content[i].Value)
	}
	return names
}
