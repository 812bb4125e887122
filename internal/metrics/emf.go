package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of the CloudWatch Embedded Metric Format specification.
const (
	emfMaxMetrics       = 100 // metric definitions per document
	emfMaxDimensionKeys = 30  // keys per dimension set
	emfMaxValues        = 100 // values per metric array
)

// cloudWatchUnits are the units the EMF specification (and PutMetricData)
// accepts.
var cloudWatchUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true,
	"Megabits": true, "Gigabits": true, "Terabits": true, "Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// Document is one EMF record before encoding: the dimension values and
// properties its metrics share, and each metric's values aggregated by
// name. Lines splits it where the specification's limits require.
type Document struct {
	Timestamp  time.Time
	Dimensions map[string]string // dimension values, top-level members
	Properties map[string]any    // other top-level members, e.g. the request id
	series     []*series
}

type series struct {
	Metric
	values []float64
}

// Add appends one value of m. Non-finite values are dropped: CloudWatch
// rejects them, and they would mean a bug upstream. Add refuses what would
// make an invalid document: an unknown unit, no dimension set, a dimension
// without a value or with one over 1,024 characters, a name that collides
// with another member, or one name with two definitions.
func (d *Document) Add(m Metric, v float64) error {
	if err := d.check(m); err != nil {
		return fmt.Errorf("metric %q: %w", m.Name, err)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	for _, s := range d.series {
		if s.Name == m.Name {
			s.values = append(s.values, v)
			return nil
		}
	}
	d.series = append(d.series, &series{Metric: m, values: []float64{v}})
	return nil
}

func (d *Document) check(m Metric) error {
	switch {
	case m.Name == "" || len(m.Name) > 1024:
		return errors.New("name must be 1 to 1024 characters")
	case m.Name == "_aws":
		return errors.New("name _aws is reserved")
	case !cloudWatchUnits[m.Unit]:
		return fmt.Errorf("unit %q is not a CloudWatch unit", m.Unit)
	case len(m.Dimensions) == 0:
		return errors.New("needs at least one dimension set (an empty set publishes it without dimensions)")
	}
	if _, ok := d.Dimensions[m.Name]; ok {
		return errors.New("name is also a dimension")
	}
	if _, ok := d.Properties[m.Name]; ok {
		return errors.New("name is also a property")
	}
	for _, set := range m.Dimensions {
		if len(set) > emfMaxDimensionKeys {
			return fmt.Errorf("a dimension set has more than %d keys", emfMaxDimensionKeys)
		}
		for _, k := range set {
			value, ok := d.Dimensions[k]
			if !ok || value == "" || len(value) > 1024 {
				return fmt.Errorf("dimension %s needs a value of 1 to 1024 characters", k)
			}
		}
	}
	for _, s := range d.series {
		if s.Name == m.Name && (s.Unit != m.Unit || dimensionKey(s.Dimensions) != dimensionKey(m.Dimensions)) {
			return errors.New("added before with another unit or dimension sets")
		}
	}
	return nil
}

// emfMetricDefinition, emfDirective and emfMetadata are the "_aws" member.
type emfMetricDefinition struct {
	Name              string `json:"Name"`
	Unit              string `json:"Unit"`
	StorageResolution int    `json:"StorageResolution"`
}

type emfDirective struct {
	Namespace  string                `json:"Namespace"`
	Dimensions [][]string            `json:"Dimensions"`
	Metrics    []emfMetricDefinition `json:"Metrics"`
}

type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// Lines encodes the document as one or more JSON lines. A metric with more
// than 100 values continues in the next document; a document holds at most
// 100 metric definitions.
func (d *Document) Lines() ([][]byte, error) {
	var lines [][]byte
	for round := 0; ; round++ {
		var batch []*series // this round's chunk of each metric
		for _, s := range d.series {
			if lo := round * emfMaxValues; lo < len(s.values) {
				batch = append(batch, &series{Metric: s.Metric, values: s.values[lo:min(lo+emfMaxValues, len(s.values))]})
			}
		}
		if len(batch) == 0 {
			return lines, nil
		}
		for chunk := range slices.Chunk(batch, emfMaxMetrics) {
			line, err := d.encode(chunk)
			if err != nil {
				return nil, err
			}
			lines = append(lines, line)
		}
	}
}

func (d *Document) encode(batch []*series) ([]byte, error) {
	doc := make(map[string]any, len(d.Dimensions)+len(d.Properties)+len(batch)+1)
	for k, v := range d.Properties {
		doc[k] = v
	}
	for k, v := range d.Dimensions {
		doc[k] = v
	}
	meta := emfMetadata{Timestamp: d.Timestamp.UnixMilli()}
	directives := map[string]int{} // dimension sets → index in meta
	for _, s := range batch {
		key := dimensionKey(s.Dimensions)
		i, ok := directives[key]
		if !ok {
			i = len(meta.CloudWatchMetrics)
			directives[key] = i
			meta.CloudWatchMetrics = append(meta.CloudWatchMetrics, emfDirective{Namespace: Namespace, Dimensions: s.Dimensions})
		}
		meta.CloudWatchMetrics[i].Metrics = append(meta.CloudWatchMetrics[i].Metrics,
			emfMetricDefinition{Name: s.Name, Unit: s.Unit, StorageResolution: 60})
		if len(s.values) == 1 {
			doc[s.Name] = s.values[0]
		} else {
			doc[s.Name] = s.values
		}
	}
	doc["_aws"] = meta
	line, err := json.Marshal(doc)
	return append(line, '\n'), err
}

// dimensionKey identifies a list of dimension sets; JSON keeps names with
// commas apart from lists of names.
func dimensionKey(sets [][]string) string {
	b, _ := json.Marshal(sets)
	return string(b)
}

// EMF writes one EMF document per request to w (stdout on Lambda, where
// CloudWatch Logs turns it into metrics), and a ColdStart metric with the
// first request of the execution environment. Every document names the
// environment, the function and its version. It is safe for concurrent
// requests: all per-request state arrives in the Request.
type EMF struct {
	mu      sync.Mutex
	w       io.Writer
	env     string
	fn      Function
	warm    atomic.Bool
	now     func() time.Time
	onError func(error)
	// lambda holds, by name, the metrics with Lambda-only dimension sets,
	// their Dimensions already joined with them (built once, not per
	// request).
	lambda map[string]Metric
}

// Function identifies the Lambda function an EMF sink runs in.
type Function struct {
	Name    string // AWS_LAMBDA_FUNCTION_NAME; "local" when empty
	Version string // AWS_LAMBDA_FUNCTION_VERSION; "$LATEST" when empty
}

// NewEMF writes to w the metrics of function fn in environment env
// (LocalEnvironment when empty: CloudWatch refuses empty dimension values).
// onError hears about documents that could not be written.
func NewEMF(w io.Writer, env string, fn Function, onError func(error)) *EMF {
	if fn.Name == "" {
		fn.Name = "local"
	}
	if fn.Version == "" {
		fn.Version = "$LATEST" // what Lambda calls an unpublished version
	}
	e := &EMF{w: w, env: EnvironmentOrLocal(env), fn: fn, now: time.Now, onError: onError, lambda: map[string]Metric{}}
	for _, m := range Vocabulary() {
		if len(m.LambdaDimensions) > 0 {
			m.Dimensions = m.AllDimensions()
			e.lambda[m.Name] = m
		}
	}
	return e
}

// Request implements Recorder.
func (e *EMF) Request(_ context.Context, r Request) {
	obs := Observations(e.env, r)
	if !e.warm.Swap(true) {
		obs = append(obs, Observation{ColdStart, 1, map[string]string{DimService: Service, DimEnvironment: e.env, DimFunctionName: e.fn.Name}})
	}
	e.write(obs, map[string]any{"RequestId": r.RequestID, "StatusCode": r.Status})
}

// KeyRefreshFailed implements Recorder.
func (e *EMF) KeyRefreshFailed(context.Context) { e.write(KeyRefreshObservations(e.env), nil) }

// CDSHook implements Recorder.
func (e *EMF) CDSHook(_ context.Context, service string, ev CDSEvent) {
	e.write(CDSObservations(e.env, service, ev), nil)
}

// write encodes observations as one document (or more, past the limits),
// each metric under all its dimension sets, the Lambda-only ones included.
func (e *EMF) write(obs []Observation, properties map[string]any) {
	d := Document{
		Timestamp: e.now(),
		Dimensions: map[string]string{DimService: Service, DimEnvironment: e.env,
			DimFunctionName: e.fn.Name, DimFunctionVersion: e.fn.Version},
		Properties: properties,
	}
	var err error
	for _, o := range obs {
		for k, v := range o.Dimensions {
			d.Dimensions[k] = v
		}
		m := o.Metric
		if all, ok := e.lambda[m.Name]; ok {
			m = all
		}
		err = firstErr(err, d.Add(m, o.Value))
	}
	lines, encErr := d.Lines()
	err = firstErr(err, encErr)
	e.mu.Lock()
	for _, line := range lines {
		if _, werr := e.w.Write(line); werr != nil {
			err = firstErr(err, werr)
			break
		}
	}
	e.mu.Unlock()
	if err != nil && e.onError != nil {
		e.onError(err)
	}
}

func firstErr(err, next error) error {
	if err != nil {
		return err
	}
	return next
}
