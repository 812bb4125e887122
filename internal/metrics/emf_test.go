package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current output")

// fixedNow is the timestamp of every golden document.
var fixedNow = time.Date(2025, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

const fixedNowMillis = 1735787045678

// ---------------------------------------------------------------------------
// Validation: the JSON schema of the specification, plus the rules a schema
// cannot express.

var (
	emfSchemaOnce sync.Once
	emfSchema     *jsonschema.Schema
	emfSchemaErr  error
)

func loadEMFSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	emfSchemaOnce.Do(func() {
		f, err := os.Open(filepath.Join("testdata", "emf.schema.json"))
		if err != nil {
			emfSchemaErr = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			emfSchemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("emf.schema.json", doc); err != nil {
			emfSchemaErr = err
			return
		}
		emfSchema, emfSchemaErr = c.Compile("emf.schema.json")
	})
	if emfSchemaErr != nil {
		t.Fatalf("EMF schema: %v", emfSchemaErr)
	}
	return emfSchema
}

// emfDoc is the part of a decoded document the semantic checks need.
type emfDoc struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name              string `json:"Name"`
				Unit              string `json:"Unit"`
				StorageResolution int    `json:"StorageResolution"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// checkEMFSemantics checks the rules of the specification that refer to
// top-level members by name ("target members"), which a JSON schema cannot.
func checkEMFSemantics(doc []byte) error {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(doc, &root); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	var d emfDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("_aws: %w", err)
	}
	seen := map[string]bool{}
	for i, dir := range d.AWS.CloudWatchMetrics {
		if n := len(dir.Metrics); n > 100 {
			return fmt.Errorf("directive %d: %d metric definitions, the limit is 100", i, n)
		}
		for _, set := range dir.Dimensions {
			for _, k := range set {
				raw, ok := root[k]
				if !ok {
					return fmt.Errorf("directive %d: dimension %q is not a top-level member", i, k)
				}
				var s string
				if err := json.Unmarshal(raw, &s); err != nil {
					return fmt.Errorf("directive %d: dimension %q is %s, not a string", i, k, raw)
				}
				if n := len([]rune(s)); n > 1024 {
					return fmt.Errorf("directive %d: dimension %q value has %d characters, the limit is 1024", i, k, n)
				}
			}
		}
		for _, m := range dir.Metrics {
			if seen[m.Name] {
				return fmt.Errorf("metric %q is defined twice in one document", m.Name)
			}
			seen[m.Name] = true
			raw, ok := root[m.Name]
			if !ok {
				return fmt.Errorf("metric %q is not a top-level member", m.Name)
			}
			if _, err := metricValues(raw); err != nil {
				return fmt.Errorf("metric %q: %w", m.Name, err)
			}
		}
	}
	return nil
}

// metricValues decodes a metric target: a number or an array of at most 100
// numbers.
func metricValues(raw json.RawMessage) ([]float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, err
		}
		if len(elems) > 100 {
			return nil, fmt.Errorf("array of %d values, the limit is 100", len(elems))
		}
		vs := make([]float64, len(elems))
		for i, e := range elems {
			v, err := jsonNumber(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			vs[i] = v
		}
		return vs, nil
	}
	v, err := jsonNumber(raw)
	if err != nil {
		return nil, err
	}
	return []float64{v}, nil
}

func jsonNumber(raw json.RawMessage) (float64, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, err
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", raw)
	}
	return n.Float64()
}

// validateEMF checks one written line: a single JSON object ending in one
// newline, valid against the schema and the semantic rules.
func validateEMF(t testing.TB, line []byte) {
	t.Helper()
	if err := validateEMFErr(t, line); err != nil {
		t.Errorf("invalid EMF document: %v\n%s", err, line)
	}
}

func validateEMFErr(t testing.TB, line []byte) error {
	t.Helper()
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		return errors.New("a document must be exactly one line ending in a newline")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return fmt.Errorf("not one JSON value: %w", err)
	}
	if err := loadEMFSchema(t).Validate(inst); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	return checkEMFSemantics(line)
}

// splitLines splits the writer's output into documents, keeping newlines.
func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, b)
			break
		}
		lines = append(lines, b[:i+1])
		b = b[i+1:]
	}
	return lines
}

func decodeRoot(t testing.TB, line []byte) map[string]json.RawMessage {
	t.Helper()
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		t.Fatalf("decode: %v\n%s", err, line)
	}
	return root
}

func decodeAWS(t testing.TB, line []byte) emfDoc {
	t.Helper()
	var d emfDoc
	if err := json.Unmarshal(line, &d); err != nil {
		t.Fatalf("decode _aws: %v\n%s", err, line)
	}
	return d
}

// definedMetrics lists the metric names of a document's directives.
func definedMetrics(t testing.TB, line []byte) []string {
	t.Helper()
	var names []string
	for _, dir := range decodeAWS(t, line).AWS.CloudWatchMetrics {
		for _, m := range dir.Metrics {
			names = append(names, m.Name)
		}
	}
	return names
}

// The validators must reject what the specification forbids, or the tests
// that rely on them prove nothing.
func TestEMFValidatorRejects(t *testing.T) {
	const ok = `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count","StorageResolution":60}]}]},"D":"d","M":1}`
	if err := validateEMFErr(t, []byte(ok+"\n")); err != nil {
		t.Fatalf("valid document rejected: %v", err)
	}
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	bad := map[string]string{
		"no _aws":                 `{"M":1}`,
		"no Timestamp":            strings.Replace(ok, `"Timestamp":1,`, ``, 1),
		"Timestamp not integer":   strings.Replace(ok, `"Timestamp":1`, `"Timestamp":1.5`, 1),
		"Timestamp string":        strings.Replace(ok, `"Timestamp":1`, `"Timestamp":"1"`, 1),
		"no CloudWatchMetrics":    `{"_aws":{"Timestamp":1}}`,
		"empty Namespace":         strings.Replace(ok, `"Namespace":"N"`, `"Namespace":""`, 1),
		"long Namespace":          strings.Replace(ok, `"Namespace":"N"`, `"Namespace":"`+strings.Repeat("n", 1025)+`"`, 1),
		"no Dimensions":           strings.Replace(ok, `"Dimensions":[["D"]],`, ``, 1),
		"null Dimensions":         strings.Replace(ok, `"Dimensions":[["D"]]`, `"Dimensions":null`, 1),
		"empty Dimensions":        strings.Replace(ok, `"Dimensions":[["D"]]`, `"Dimensions":[]`, 1),
		"31 dimension keys":       strings.Replace(ok, `"Dimensions":[["D"]]`, `"Dimensions":[[`+many(31, func(i int) string { return `"D"` })+`]]`, 1),
		"no Metrics":              strings.Replace(ok, `,"Metrics":[{"Name":"M","Unit":"Count","StorageResolution":60}]`, ``, 1),
		"metric without Name":     strings.Replace(ok, `"Name":"M",`, ``, 1),
		"empty metric Name":       strings.Replace(ok, `"Name":"M"`, `"Name":""`, 1),
		"bad Unit":                strings.Replace(ok, `"Unit":"Count"`, `"Unit":"Millis"`, 1),
		"StorageResolution 30":    strings.Replace(ok, `"StorageResolution":60`, `"StorageResolution":30`, 1),
		"extra directive member":  strings.Replace(ok, `"Namespace":"N"`, `"Namespace":"N","X":1`, 1),
		"extra _aws member":       strings.Replace(ok, `"Timestamp":1`, `"Timestamp":1,"X":1`, 1),
		"metric missing":          strings.Replace(ok, `,"M":1`, ``, 1),
		"metric is a string":      strings.Replace(ok, `"M":1`, `"M":"1"`, 1),
		"metric is an object":     strings.Replace(ok, `"M":1`, `"M":{"v":1}`, 1),
		"metric array of strings": strings.Replace(ok, `"M":1`, `"M":[1,"2"]`, 1),
		"metric array of 101":     strings.Replace(ok, `"M":1`, `"M":[`+many(101, func(i int) string { return "1" })+`]`, 1),
		"dimension missing":       strings.Replace(ok, `"D":"d",`, ``, 1),
		"dimension is a number":   strings.Replace(ok, `"D":"d"`, `"D":1`, 1),
		"dimension value > 1024":  strings.Replace(ok, `"D":"d"`, `"D":"`+strings.Repeat("d", 1025)+`"`, 1),
		"metric defined twice": strings.Replace(ok, `"Metrics":[{"Name":"M","Unit":"Count","StorageResolution":60}]`,
			`"Metrics":[{"Name":"M","Unit":"Count","StorageResolution":60},{"Name":"M","Unit":"Count","StorageResolution":60}]`, 1),
		"101 metrics in a directive": strings.Replace(ok, `"Metrics":[{"Name":"M","Unit":"Count","StorageResolution":60}]`,
			`"Metrics":[`+many(101, func(i int) string { return fmt.Sprintf(`{"Name":"M%d"}`, i) })+`]`, 1),
		"two lines":     ok + "\n" + ok,
		"trailing data": ok + ` {}`,
	}
	for name, doc := range bad {
		if err := validateEMFErr(t, []byte(doc+"\n")); err == nil {
			t.Errorf("%s: accepted\n%s", name, doc)
		}
	}
	// The semantic check on its own also catches >100 metrics in a directive.
	var defs []string
	var members []string
	for i := range 101 {
		defs = append(defs, fmt.Sprintf(`{"Name":"M%d"}`, i))
		members = append(members, fmt.Sprintf(`"M%d":1`, i))
	}
	doc := `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[` +
		strings.Join(defs, ",") + `]}]},` + strings.Join(members, ",") + `}`
	if err := checkEMFSemantics([]byte(doc)); err == nil {
		t.Error("checkEMFSemantics accepted a directive with 101 metrics")
	}
}

// ---------------------------------------------------------------------------
// Golden files.

// testEnv is the environment of the test sinks: not the default, so a
// sink that ignored its configuration would show.
const testEnv = "staging"

// newTestEMF returns an EMF writing to buf with the fixed clock, and a
// pointer to the errors it reported.
func newTestEMF(w io.Writer, warm bool) (*EMF, *[]error) {
	var mu sync.Mutex
	var errs []error
	e := NewEMF(w, testEnv, Function{Name: "healthcare-predict", Version: "42"}, func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	})
	e.now = func() time.Time { return fixedNow }
	if warm {
		e.warm.Store(true)
	}
	return e, &errs
}

type emfCase struct {
	name string
	cold bool // the first request of the process
	req  Request
	// keys are the expected top-level members of the (single) document.
	keys []string
}

var baseKeys = []string{"_aws", DimService, DimEnvironment, DimFunctionName, DimFunctionVersion, DimOperation, "RequestId", "StatusCode",
	Requests.Name, ClientErrors.Name, ServerErrors.Name, Latency.Name}

func withKeys(extra ...string) []string { return append(slices.Clone(baseKeys), extra...) }

var emfCases = []emfCase{
	{
		name: "predict_ok",
		req:  Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 200, Duration: 12345 * time.Microsecond, RequestID: "req-200"},
		keys: withKeys(DimModel, Predictions.Name),
	},
	{
		name: "client_error",
		req:  Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 422, Duration: 1500 * time.Microsecond, RequestID: "req-422"},
		keys: withKeys(),
	},
	{
		name: "server_error",
		req:  Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 500, Duration: 250 * time.Millisecond, RequestID: "req-500"},
		keys: withKeys(),
	},
	{
		name: "cold_start",
		cold: true,
		req:  Request{Operation: "POST /predict", Model: "news2", Status: 200, Duration: 812250 * time.Microsecond, RequestID: "req-cold"},
		keys: withKeys(DimModel, Predictions.Name, ColdStart.Name),
	},
	{
		name: "no_model",
		req:  Request{Operation: "GET /models", Status: 200, Duration: 3 * time.Millisecond, RequestID: "req-models"},
		keys: withKeys(),
	},
}

// emitCase runs one request through a fresh EMF and returns what it wrote.
func emitCase(t *testing.T, c emfCase) []byte {
	t.Helper()
	var buf bytes.Buffer
	e, errs := newTestEMF(&buf, !c.cold)
	e.Request(context.Background(), c.req)
	if len(*errs) > 0 {
		t.Fatalf("onError: %v", *errs)
	}
	return buf.Bytes()
}

func indentLines(t *testing.T, out []byte) []byte {
	t.Helper()
	var pretty bytes.Buffer
	for _, line := range splitLines(out) {
		if err := json.Indent(&pretty, bytes.TrimSuffix(line, []byte("\n")), "", "  "); err != nil {
			t.Fatalf("indent: %v\n%s", err, line)
		}
		pretty.WriteByte('\n')
	}
	return pretty.Bytes()
}

func TestEMFGolden(t *testing.T) {
	for _, c := range emfCases {
		t.Run(c.name, func(t *testing.T) {
			out := emitCase(t, c)
			lines := splitLines(out)
			if len(lines) != 1 {
				t.Fatalf("got %d documents, want 1:\n%s", len(lines), out)
			}
			validateEMF(t, lines[0])

			got := indentLines(t, out)
			path := filepath.Join("testdata", "golden", c.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the output (run with -update and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// TestEMFRequestContents checks the parts of the golden documents that
// matter, independent of the golden files: the timestamp, the namespace,
// the exact top-level keys (nothing else, in particular nothing from a
// request body), the dimension values and the metric values.
func TestEMFRequestContents(t *testing.T) {
	for _, c := range emfCases {
		t.Run(c.name, func(t *testing.T) {
			out := emitCase(t, c)
			line := splitLines(out)[0]
			root := decodeRoot(t, line)

			keys := make([]string, 0, len(root))
			for k := range root {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			want := slices.Sorted(slices.Values(c.keys))
			if !slices.Equal(keys, want) {
				t.Errorf("top-level keys\n got %q\nwant %q", keys, want)
			}

			d := decodeAWS(t, line)
			if d.AWS.Timestamp != fixedNowMillis {
				t.Errorf("Timestamp = %d, want %d", d.AWS.Timestamp, fixedNowMillis)
			}
			for _, dir := range d.AWS.CloudWatchMetrics {
				if dir.Namespace != Namespace {
					t.Errorf("Namespace = %q, want %q", dir.Namespace, Namespace)
				}
				for _, m := range dir.Metrics {
					if m.StorageResolution != 60 {
						t.Errorf("%s: StorageResolution = %d, want 60", m.Name, m.StorageResolution)
					}
				}
			}

			// Every metric of the vocabulary carries its own unit and dimension sets.
			vocab := map[string]Metric{}
			for _, m := range Vocabulary() {
				vocab[m.Name] = m
			}
			for _, dir := range d.AWS.CloudWatchMetrics {
				for _, m := range dir.Metrics {
					v, ok := vocab[m.Name]
					if !ok {
						t.Errorf("metric %q is not in the vocabulary", m.Name)
						continue
					}
					if m.Unit != v.Unit {
						t.Errorf("%s: Unit = %q, want %q", m.Name, m.Unit, v.Unit)
					}
					// On Lambda, every set: the per-version ones too.
					if !reflect.DeepEqual(dir.Dimensions, v.AllDimensions()) {
						t.Errorf("%s: Dimensions = %q, want %q", m.Name, dir.Dimensions, v.AllDimensions())
					}
				}
			}

			str := func(k string) string {
				var s string
				_ = json.Unmarshal(root[k], &s)
				return s
			}
			num := func(k string) float64 {
				vs, err := metricValues(root[k])
				if err != nil || len(vs) != 1 {
					t.Fatalf("%s = %s: want one number", k, root[k])
				}
				return vs[0]
			}
			if got := str(DimService); got != Service {
				t.Errorf("Service = %q", got)
			}
			if got := str(DimEnvironment); got != testEnv {
				t.Errorf("Environment = %q, want %q", got, testEnv)
			}
			if got := str(DimFunctionName); got != "healthcare-predict" {
				t.Errorf("FunctionName = %q", got)
			}
			if got := str(DimFunctionVersion); got != "42" {
				t.Errorf("FunctionVersion = %q, want 42", got)
			}
			if got := str(DimOperation); got != c.req.Operation {
				t.Errorf("Operation = %q, want %q", got, c.req.Operation)
			}
			if got := str("RequestId"); got != c.req.RequestID {
				t.Errorf("RequestId = %q, want %q", got, c.req.RequestID)
			}
			if got := num("StatusCode"); got != float64(c.req.Status) {
				t.Errorf("StatusCode = %v, want %d", got, c.req.Status)
			}
			if got := num(Requests.Name); got != 1 {
				t.Errorf("Requests = %v, want 1", got)
			}
			if got, want := num(ClientErrors.Name), b2f(c.req.Status >= 400 && c.req.Status < 500); got != want {
				t.Errorf("ClientErrors = %v, want %v", got, want)
			}
			if got, want := num(ServerErrors.Name), b2f(c.req.Status >= 500); got != want {
				t.Errorf("ServerErrors = %v, want %v", got, want)
			}
			if got, want := num(Latency.Name), float64(c.req.Duration.Microseconds())/1000; got != want {
				t.Errorf("Latency = %v, want %v", got, want)
			}
			if _, ok := root[Predictions.Name]; ok {
				if got := num(Predictions.Name); got != 1 {
					t.Errorf("Predictions = %v, want 1", got)
				}
				if got := str(DimModel); got != c.req.Model {
					t.Errorf("Model = %q, want %q", got, c.req.Model)
				}
			}
			if _, ok := root[ColdStart.Name]; ok {
				if got := num(ColdStart.Name); got != 1 {
					t.Errorf("ColdStart = %v, want 1", got)
				}
			}
		})
	}
}

// Every document EMF.Request can write is valid: all statuses that matter,
// with and without a model, cold and warm.
func TestEMFRequestMatrixValid(t *testing.T) {
	statuses := []int{0, 100, 200, 201, 204, 301, 304, 400, 401, 404, 405, 413, 415, 422, 499, 500, 502, 503, 504, 599}
	for _, cold := range []bool{true, false} {
		for _, model := range []string{"", "ascvd-pce"} {
			for _, status := range statuses {
				for _, dur := range []time.Duration{0, time.Nanosecond, 999 * time.Microsecond, 31 * time.Second} {
					var buf bytes.Buffer
					e, errs := newTestEMF(&buf, !cold)
					e.Request(context.Background(), Request{Operation: "POST /predict", Model: model, Status: status, Duration: dur, RequestID: "r"})
					if len(*errs) > 0 {
						t.Errorf("cold=%v model=%q status=%d: onError %v", cold, model, status, *errs)
					}
					lines := splitLines(buf.Bytes())
					if len(lines) != 1 {
						t.Errorf("cold=%v model=%q status=%d: %d documents", cold, model, status, len(lines))
					}
					for _, line := range lines {
						validateEMF(t, line)
					}
				}
			}
		}
	}
}

// The second request of a process has no ColdStart; only the first does.
func TestEMFColdStartOnlyFirst(t *testing.T) {
	var buf bytes.Buffer
	e, _ := newTestEMF(&buf, false)
	for i := range 3 {
		buf.Reset()
		e.Request(context.Background(), Request{Operation: "GET /health", Status: 200, RequestID: fmt.Sprint(i)})
		_, has := decodeRoot(t, buf.Bytes())[ColdStart.Name]
		if has != (i == 0) {
			t.Errorf("request %d: ColdStart present = %v", i, has)
		}
	}
}

// ---------------------------------------------------------------------------
// Splitting at the specification's limits.

func docWith(t *testing.T, add func(d *Document)) [][]byte {
	t.Helper()
	d := &Document{
		Timestamp:  fixedNow,
		Dimensions: map[string]string{DimService: Service, DimEnvironment: "dev", DimOperation: "op", DimModel: "m"},
		Properties: map[string]any{"RequestId": "r"},
	}
	add(d)
	lines, err := d.Lines()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		validateEMF(t, l)
		if ts := decodeAWS(t, l).AWS.Timestamp; ts != fixedNowMillis {
			t.Errorf("Timestamp = %d", ts)
		}
		if got := string(decodeRoot(t, l)["RequestId"]); got != `"r"` {
			t.Errorf("RequestId = %s in a split document", got)
		}
	}
	return lines
}

// collect maps metric name → all values across documents, in order.
func collect(t *testing.T, lines [][]byte) map[string][]float64 {
	t.Helper()
	all := map[string][]float64{}
	for _, l := range lines {
		root := decodeRoot(t, l)
		for _, name := range definedMetrics(t, l) {
			vs, err := metricValues(root[name])
			if err != nil {
				t.Fatal(err)
			}
			all[name] = append(all[name], vs...)
		}
	}
	return all
}

func valueCount(t *testing.T, line []byte, name string) int {
	t.Helper()
	vs, err := metricValues(decodeRoot(t, line)[name])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return len(vs)
}

var dimSets = [][][]string{
	{{DimService, DimOperation}, {DimService}},
	{{DimService, DimModel}},
	{{}},
}

func manyMetrics(n int) []Metric {
	ms := make([]Metric, n)
	for i := range ms {
		ms[i] = Metric{Name: fmt.Sprintf("M%03d", i), Unit: "Count", Dimensions: dimSets[i%len(dimSets)]}
	}
	return ms
}

func TestDocumentSplitValues(t *testing.T) {
	m := Metric{Name: "Latency", Unit: "Milliseconds", Dimensions: [][]string{{DimService}}}
	var want []float64
	lines := docWith(t, func(d *Document) {
		for i := range 250 {
			want = append(want, float64(i)+0.5)
			if err := d.Add(m, float64(i)+0.5); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(lines) != 3 {
		t.Fatalf("got %d documents, want 3", len(lines))
	}
	for i, n := range []int{100, 100, 50} {
		if got := valueCount(t, lines[i], "Latency"); got != n {
			t.Errorf("document %d: %d values, want %d", i, got, n)
		}
	}
	if got := collect(t, lines)["Latency"]; !slices.Equal(got, want) {
		t.Errorf("values across documents differ from the values added")
	}
}

func TestDocumentSplitMetrics(t *testing.T) {
	ms := manyMetrics(150)
	lines := docWith(t, func(d *Document) {
		for i, m := range ms {
			if err := d.Add(m, float64(i)); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(lines) != 2 {
		t.Fatalf("got %d documents, want 2", len(lines))
	}
	for i, n := range []int{100, 50} {
		if got := len(definedMetrics(t, lines[i])); got != n {
			t.Errorf("document %d: %d metric definitions, want %d", i, got, n)
		}
	}
	all := collect(t, lines)
	for i, m := range ms {
		if got := all[m.Name]; !slices.Equal(got, []float64{float64(i)}) {
			t.Errorf("%s: values %v, want [%d]", m.Name, got, i)
		}
	}
	// Each metric is published under its own dimension sets.
	for _, l := range lines {
		for _, dir := range decodeAWS(t, l).AWS.CloudWatchMetrics {
			for _, def := range dir.Metrics {
				var i int
				fmt.Sscanf(def.Name, "M%03d", &i)
				if want := dimSets[i%len(dimSets)]; !reflect.DeepEqual(dir.Dimensions, want) {
					t.Errorf("%s: Dimensions %q, want %q", def.Name, dir.Dimensions, want)
				}
			}
		}
	}
}

func TestDocumentSplitBoth(t *testing.T) {
	big := Metric{Name: "Big", Unit: "Count", Dimensions: [][]string{{DimService}}}
	ms := manyMetrics(150)
	var bigWant []float64
	lines := docWith(t, func(d *Document) {
		for i := range 250 {
			bigWant = append(bigWant, float64(i))
			if err := d.Add(big, float64(i)); err != nil {
				t.Fatal(err)
			}
		}
		for i, m := range ms {
			if err := d.Add(m, float64(i)); err != nil {
				t.Fatal(err)
			}
		}
	})
	// Round 1: 151 metrics → 100 + 51 definitions; then Big's 2nd and 3rd
	// hundred on their own.
	if len(lines) != 4 {
		t.Fatalf("got %d documents, want 4", len(lines))
	}
	total := 0
	for _, l := range lines {
		n := len(definedMetrics(t, l))
		if n > 100 {
			t.Errorf("%d metric definitions in one document", n)
		}
		total += n
	}
	if total != 151+2 {
		t.Errorf("%d metric definitions in all, want 153", total)
	}
	all := collect(t, lines)
	if !slices.Equal(all["Big"], bigWant) {
		t.Errorf("Big: %d values across documents, want the 250 added in order", len(all["Big"]))
	}
	for i, m := range ms {
		if got := all[m.Name]; !slices.Equal(got, []float64{float64(i)}) {
			t.Errorf("%s: values %v, want [%d]", m.Name, got, i)
		}
	}
	// Big's three chunks, wherever they landed.
	var chunks []int
	for _, l := range lines {
		if _, ok := decodeRoot(t, l)["Big"]; ok {
			chunks = append(chunks, valueCount(t, l, "Big"))
		}
	}
	if !slices.Equal(chunks, []int{100, 100, 50}) {
		t.Errorf("Big chunks %v, want [100 100 50]", chunks)
	}
}

// Exactly 100 values and exactly 100 metrics fit in one document.
func TestDocumentSplitBoundaries(t *testing.T) {
	m := Metric{Name: "V", Unit: "Count", Dimensions: [][]string{{DimService}}}
	for _, c := range []struct{ values, docs int }{{1, 1}, {99, 1}, {100, 1}, {101, 2}, {200, 2}, {201, 3}} {
		lines := docWith(t, func(d *Document) {
			for i := range c.values {
				_ = d.Add(m, float64(i))
			}
		})
		if len(lines) != c.docs {
			t.Errorf("%d values: %d documents, want %d", c.values, len(lines), c.docs)
		}
	}
	for _, c := range []struct{ metrics, docs int }{{100, 1}, {101, 2}, {200, 2}, {201, 3}} {
		lines := docWith(t, func(d *Document) {
			for _, m := range manyMetrics(c.metrics) {
				_ = d.Add(m, 1)
			}
		})
		if len(lines) != c.docs {
			t.Errorf("%d metrics: %d documents, want %d", c.metrics, len(lines), c.docs)
		}
	}
}

// ---------------------------------------------------------------------------
// Aggregation and input checks of Document.Add.

func TestDocumentAddAggregates(t *testing.T) {
	lines := docWith(t, func(d *Document) {
		for _, v := range []float64{3, 4.25} {
			if err := d.Add(Latency, v); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(lines) != 1 {
		t.Fatalf("%d documents", len(lines))
	}
	if got := definedMetrics(t, lines[0]); !slices.Equal(got, []string{"Latency"}) {
		t.Errorf("definitions %q, want one Latency", got)
	}
	if got := string(decodeRoot(t, lines[0])["Latency"]); got != "[3,4.25]" {
		t.Errorf("Latency = %s, want [3,4.25]", got)
	}
}

func TestDocumentAddSingleValueIsNumber(t *testing.T) {
	lines := docWith(t, func(d *Document) { _ = d.Add(Requests, 1) })
	if got := string(decodeRoot(t, lines[0])["Requests"]); got != "1" {
		t.Errorf("Requests = %s, want 1", got)
	}
}

func TestDocumentAddDropsNonFinite(t *testing.T) {
	lines := docWith(t, func(d *Document) {
		for _, v := range []float64{math.NaN(), 1, math.Inf(1), 2, math.Inf(-1)} {
			if err := d.Add(Latency, v); err != nil {
				t.Errorf("Add(%v) = %v, want nil", v, err)
			}
		}
	})
	if got := string(decodeRoot(t, lines[0])["Latency"]); got != "[1,2]" {
		t.Errorf("Latency = %s, want [1,2]", got)
	}

	// Only non-finite values: nothing to write.
	lines = docWith(t, func(d *Document) {
		_ = d.Add(Latency, math.NaN())
		_ = d.Add(Latency, math.Inf(1))
	})
	if len(lines) != 0 {
		t.Errorf("got %d documents for only non-finite values, want 0:\n%s", len(lines), lines)
	}
}

func TestDocumentAddErrors(t *testing.T) {
	tooMany := make([]string, 31)
	dims := map[string]string{DimService: Service}
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("D%d", i)
		dims[tooMany[i]] = "v"
	}
	for _, c := range []struct {
		name string
		m    Metric
		dims map[string]string
	}{
		{"bad unit", Metric{Name: "X", Unit: "Millis", Dimensions: [][]string{{DimService}}}, dims},
		{"empty unit", Metric{Name: "X", Unit: "", Dimensions: [][]string{{DimService}}}, dims},
		{"lower-case unit", Metric{Name: "X", Unit: "count", Dimensions: [][]string{{DimService}}}, dims},
		{"missing dimension value", Predictions, map[string]string{DimService: Service}},
		{"31 dimension keys", Metric{Name: "X", Unit: "Count", Dimensions: [][]string{tooMany}}, dims},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &Document{Timestamp: fixedNow, Dimensions: c.dims}
			if err := d.Add(c.m, 1); err == nil {
				t.Fatal("Add returned nil, want an error")
			}
			// A rejected value leaves nothing behind.
			lines, err := d.Lines()
			if err != nil || len(lines) != 0 {
				t.Errorf("Lines after a rejected Add = %d documents, %v; want none", len(lines), err)
			}
		})
	}
	// Every unit the specification lists is accepted.
	for u := range cloudWatchUnits {
		d := &Document{Dimensions: map[string]string{}}
		if err := d.Add(Metric{Name: "X", Unit: u, Dimensions: [][]string{{}}}, 1); err != nil {
			t.Errorf("unit %q: %v", u, err)
		}
	}
	if len(cloudWatchUnits) != 27 {
		t.Errorf("%d units, the specification lists 27", len(cloudWatchUnits))
	}
}

// EMF.Request reports an Add error through onError and still writes what
// it can. (With the fixed vocabulary it cannot fail; this guards the path.)
func TestEMFOnErrorFromWriter(t *testing.T) {
	e, errs := newTestEMF(failingWriter{}, true)
	e.Request(context.Background(), Request{Operation: "GET /", Status: 200})
	if len(*errs) != 1 {
		t.Fatalf("onError called %d times, want 1", len(*errs))
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

// ---------------------------------------------------------------------------
// Concurrency.

// chunkyWriter appends each Write in small pieces, yielding in between, and
// has no lock of its own: if EMF did not serialise writes, lines would
// interleave and the race detector would fire.
type chunkyWriter struct{ buf []byte }

func (w *chunkyWriter) Write(p []byte) (int, error) {
	for i := 0; i < len(p); i += 7 {
		w.buf = append(w.buf, p[i:min(i+7, len(p))]...)
		runtime.Gosched()
	}
	return len(p), nil
}

func TestEMFConcurrentColdStartOnce(t *testing.T) {
	const n = 50
	w := &chunkyWriter{}
	e, errs := newTestEMF(w, false)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			e.Request(context.Background(), Request{
				Operation: "POST /predict", Model: "ascvd-pce", Status: 200,
				Duration: time.Duration(i) * time.Millisecond, RequestID: fmt.Sprintf("req-%02d", i),
			})
		}()
	}
	start.Done()
	done.Wait()
	if len(*errs) > 0 {
		t.Fatalf("onError: %v", *errs)
	}

	lines := splitLines(w.buf)
	if len(lines) != n {
		t.Fatalf("got %d lines, want %d", len(lines), n)
	}
	cold := 0
	ids := map[string]bool{}
	for _, l := range lines {
		validateEMF(t, l)
		root := decodeRoot(t, l)
		if _, ok := root[ColdStart.Name]; ok {
			cold++
		}
		var id string
		_ = json.Unmarshal(root["RequestId"], &id)
		ids[id] = true
	}
	if cold != 1 {
		t.Errorf("ColdStart in %d documents, want exactly 1", cold)
	}
	if len(ids) != n {
		t.Errorf("%d distinct request ids, want %d", len(ids), n)
	}
}

// ---------------------------------------------------------------------------
// Patient data.

// Request is all a sink ever learns about a request. None of its fields can
// carry a clinical input value; adding a field must be a conscious change
// that updates this test (and DESIGN.md's "Patient data").
func TestRequestFieldsCannotCarryInputs(t *testing.T) {
	want := []struct {
		name string
		typ  reflect.Type
	}{
		{"Operation", reflect.TypeFor[string]()},
		{"Model", reflect.TypeFor[string]()},
		{"Status", reflect.TypeFor[int]()},
		{"Duration", reflect.TypeFor[time.Duration]()},
		{"RequestID", reflect.TypeFor[string]()},
	}
	rt := reflect.TypeFor[Request]()
	if rt.NumField() != len(want) {
		t.Errorf("Request has %d fields, want %d", rt.NumField(), len(want))
	}
	for i := range min(rt.NumField(), len(want)) {
		f := rt.Field(i)
		if f.Name != want[i].name || f.Type != want[i].typ {
			t.Errorf("field %d is %s %s, want %s %s", i, f.Name, f.Type, want[i].name, want[i].typ)
		}
	}
}

// ---------------------------------------------------------------------------
// Observations: which metrics a request moves.

func TestObservations(t *testing.T) {
	type want map[string]float64 // metric name → value; absent = not observed
	for _, c := range []struct {
		name string
		req  Request
		want want
	}{
		{"200 with model", Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 200, Duration: 1500 * time.Microsecond},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 0, "Latency": 1.5, "Predictions": 1}},
		{"201 with model", Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 201},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 0, "Latency": 0, "Predictions": 1}},
		{"200 without model", Request{Operation: "GET /models", Status: 200, Duration: 2 * time.Millisecond},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 0, "Latency": 2}},
		{"304 with model", Request{Operation: "GET /models/{id}", Model: "ascvd-pce", Status: 304},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 0, "Latency": 0}},
		{"400 with model", Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 400},
			want{"Requests": 1, "ClientErrors": 1, "ServerErrors": 0, "Latency": 0}},
		{"404 without model", Request{Operation: "GET /models/{id}", Status: 404},
			want{"Requests": 1, "ClientErrors": 1, "ServerErrors": 0, "Latency": 0}},
		{"422 with model", Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 422, Duration: time.Millisecond},
			want{"Requests": 1, "ClientErrors": 1, "ServerErrors": 0, "Latency": 1}},
		{"499", Request{Operation: "POST /predict", Status: 499},
			want{"Requests": 1, "ClientErrors": 1, "ServerErrors": 0, "Latency": 0}},
		{"500", Request{Operation: "POST /predict", Status: 500},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 1, "Latency": 0}},
		{"500 with model", Request{Operation: "POST /predict", Model: "ascvd-pce", Status: 500},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 1, "Latency": 0}},
		{"503", Request{Operation: "GET /health", Status: 503},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 1, "Latency": 0}},
		{"latency below a microsecond", Request{Operation: "GET /", Status: 200, Duration: 999 * time.Nanosecond},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 0, "Latency": 0}},
		{"latency 31s", Request{Operation: "GET /", Status: 200, Duration: 31*time.Second + 250*time.Microsecond},
			want{"Requests": 1, "ClientErrors": 0, "ServerErrors": 0, "Latency": 31000.25}},
	} {
		t.Run(c.name, func(t *testing.T) {
			obs := Observations(testEnv, c.req)
			got := want{}
			for _, o := range obs {
				if _, dup := got[o.Metric.Name]; dup {
					t.Errorf("%s observed twice", o.Metric.Name)
				}
				got[o.Metric.Name] = o.Value

				// Each observation has a value for every dimension its
				// metric uses, and the right ones.
				for _, set := range o.Metric.Dimensions {
					for _, k := range set {
						if _, ok := o.Dimensions[k]; !ok {
							t.Errorf("%s: no value for dimension %s", o.Metric.Name, k)
						}
					}
				}
				if o.Dimensions[DimService] != Service {
					t.Errorf("%s: Service = %q", o.Metric.Name, o.Dimensions[DimService])
				}
				if o.Dimensions[DimEnvironment] != testEnv {
					t.Errorf("%s: Environment = %q, want %q", o.Metric.Name, o.Dimensions[DimEnvironment], testEnv)
				}
				if o.Metric.Name == Predictions.Name {
					if o.Dimensions[DimModel] != c.req.Model {
						t.Errorf("Predictions: Model = %q, want %q", o.Dimensions[DimModel], c.req.Model)
					}
				} else if o.Dimensions[DimOperation] != c.req.Operation {
					t.Errorf("%s: Operation = %q, want %q", o.Metric.Name, o.Dimensions[DimOperation], c.req.Operation)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Observations\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

// Observations never emits ColdStart (EMF adds it) and only vocabulary metrics.
func TestObservationsVocabulary(t *testing.T) {
	vocab := map[string]bool{}
	for _, m := range Vocabulary() {
		vocab[m.Name] = true
	}
	for _, status := range []int{200, 404, 500} {
		for _, o := range Observations(testEnv, Request{Operation: "x", Model: "m", Status: status}) {
			if !vocab[o.Metric.Name] {
				t.Errorf("%s is not in the vocabulary", o.Metric.Name)
			}
			if o.Metric.Name == ColdStart.Name {
				t.Error("Observations emits ColdStart")
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Inputs that would make an invalid document: Document is exported, so
// Add must refuse them (or Lines must still encode a valid document).

func TestDocumentNeverEmitsInvalid(t *testing.T) {
	long := strings.Repeat("x", 1025)
	for _, c := range []struct {
		name string
		dims map[string]string
		ms   []Metric
	}{
		{name: "empty dimension set is allowed", dims: map[string]string{},
			ms: []Metric{{Name: "X", Unit: "Count", Dimensions: [][]string{{}}}}},
		{name: "nil Dimensions", dims: map[string]string{},
			ms: []Metric{{Name: "X", Unit: "Count"}}},
		{name: "zero dimension sets", dims: map[string]string{},
			ms: []Metric{{Name: "X", Unit: "Count", Dimensions: [][]string{}}}},
		{name: "empty metric name", dims: map[string]string{"S": "s"},
			ms: []Metric{{Name: "", Unit: "Count", Dimensions: [][]string{{"S"}}}}},
		{name: "dimension value over 1024 characters", dims: map[string]string{"S": long},
			ms: []Metric{{Name: "X", Unit: "Count", Dimensions: [][]string{{"S"}}}}},
		{name: "metric named like a dimension", dims: map[string]string{"S": "s"},
			ms: []Metric{{Name: "S", Unit: "Count", Dimensions: [][]string{{"S"}}}}},
		{name: "metric named _aws", dims: map[string]string{"S": "s"},
			ms: []Metric{{Name: "_aws", Unit: "Count", Dimensions: [][]string{{"S"}}}}},
		{name: "dimension names containing a comma", dims: map[string]string{"a,b": "1", "a": "2", "b": "3"},
			ms: []Metric{
				{Name: "X", Unit: "Count", Dimensions: [][]string{{"a,b"}}},
				{Name: "Y", Unit: "Count", Dimensions: [][]string{{"a", "b"}}},
			}},
		{name: "same name, other unit and dimensions", dims: map[string]string{"S": "s"},
			ms: []Metric{
				{Name: "X", Unit: "Count", Dimensions: [][]string{{"S"}}},
				{Name: "X", Unit: "Milliseconds", Dimensions: [][]string{{}}},
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			problem := documentProblem(t, c.dims, c.ms)
			if problem != nil {
				t.Error(problem)
			}
		})
	}
}

// documentProblem adds each metric once and reports what is wrong with the
// result: nil when Add rejected the bad input or every document is valid and
// every accepted metric is published with its own unit and dimension sets.
func documentProblem(t *testing.T, dims map[string]string, ms []Metric) error {
	t.Helper()
	d := &Document{Timestamp: fixedNow, Dimensions: dims}
	var added []Metric
	for _, m := range ms {
		if err := d.Add(m, 1); err == nil {
			added = append(added, m)
		}
	}
	lines, err := d.Lines()
	if err != nil {
		return nil // refused to encode: fine
	}
	for _, l := range lines {
		if err := validateEMFErr(t, l); err != nil {
			return fmt.Errorf("%v\n%s", err, l)
		}
	}
	for _, m := range added {
		found := false
		for _, l := range lines {
			for _, dir := range decodeAWS(t, l).AWS.CloudWatchMetrics {
				for _, def := range dir.Metrics {
					if def.Name == m.Name && def.Unit == m.Unit && reflect.DeepEqual(dir.Dimensions, m.Dimensions) {
						found = true
					}
				}
			}
		}
		if !found {
			return fmt.Errorf("metric %q (unit %s, dimensions %q) is not published as added:\n%s", m.Name, m.Unit, m.Dimensions, bytes.Join(lines, nil))
		}
	}
	return nil
}

// Every dimension set of the vocabulary names the Service and the
// Environment: a metric without them would mix deployments in an alarm.
// Only Requests, ServerErrors and CDSHookEvents have Lambda-only sets,
// which name the function and its version for canary gates.
func TestVocabularyDimensions(t *testing.T) {
	for _, m := range Vocabulary() {
		for _, set := range m.AllDimensions() {
			if !slices.Contains(set, DimService) || !slices.Contains(set, DimEnvironment) {
				t.Errorf("%s: dimension set %q lacks Service or Environment", m.Name, set)
			}
		}
		for _, set := range m.Dimensions {
			if slices.Contains(set, DimFunctionVersion) {
				t.Errorf("%s: %q names FunctionVersion, which only Lambda has: it belongs in LambdaDimensions", m.Name, set)
			}
		}
		byVersion := []string{DimService, DimEnvironment, DimFunctionName, DimFunctionVersion}
		wantSet := map[string][]string{
			Requests.Name:     byVersion,
			ServerErrors.Name: byVersion,
			// The cdshooks canary gate reads the new version's jwt_refused
			// and prefetch_missing rates.
			CDSHookEvents.Name: append(slices.Clone(byVersion), DimEvent),
		}[m.Name]
		if got := len(m.LambdaDimensions) > 0; got != (wantSet != nil) {
			t.Errorf("%s: has Lambda-only sets %v, want %v", m.Name, got, wantSet != nil)
		}
		for _, set := range m.LambdaDimensions {
			if !slices.Equal(set, wantSet) {
				t.Errorf("%s: Lambda-only set %q, want %q", m.Name, set, wantSet)
			}
		}
	}
}

// NewEMF fills what Lambda may leave empty: a function outside Lambda is
// "local", an unpublished version is "$LATEST", an unnamed environment is
// LocalEnvironment. Every document, a key refresh's included, names them.
func TestEMFDefaults(t *testing.T) {
	for _, c := range []struct {
		name              string
		env               string
		fn                Function
		wantEnv, wantName string
		wantVersion       string
	}{
		{"all set", "prod", Function{"predict", "12"}, "prod", "predict", "12"},
		{"emulator", "dev", Function{"predict", ""}, "dev", "predict", "$LATEST"},
		{"nothing set", "", Function{}, LocalEnvironment, "local", "$LATEST"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := NewEMF(&buf, c.env, c.fn, func(err error) { t.Errorf("onError: %v", err) })
			e.Request(context.Background(), Request{Operation: "GET /", Status: 500, RequestID: "r"})
			e.KeyRefreshFailed(context.Background())
			lines := splitLines(buf.Bytes())
			if len(lines) != 2 {
				t.Fatalf("%d documents, want 2", len(lines))
			}
			for _, line := range lines {
				validateEMF(t, line)
				root := decodeRoot(t, line)
				for k, want := range map[string]string{DimEnvironment: c.wantEnv, DimFunctionName: c.wantName, DimFunctionVersion: c.wantVersion} {
					var got string
					_ = json.Unmarshal(root[k], &got)
					if got != want {
						t.Errorf("%s = %q, want %q in %s", k, got, want, line)
					}
				}
			}
			// The request's ServerErrors is published per function version.
			found := false
			for _, dir := range decodeAWS(t, lines[0]).AWS.CloudWatchMetrics {
				for _, m := range dir.Metrics {
					if m.Name == ServerErrors.Name {
						found = slices.ContainsFunc(dir.Dimensions, func(set []string) bool {
							return slices.Equal(set, []string{DimService, DimEnvironment, DimFunctionName, DimFunctionVersion})
						})
					}
				}
			}
			if !found {
				t.Errorf("ServerErrors is not published under {Service, Environment, FunctionName, FunctionVersion}:\n%s", lines[0])
			}
		})
	}
}
