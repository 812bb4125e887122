package api

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// predictionResponse is the body of a prediction as encoding/json writes
// it: the reference for appendPrediction.
type predictionResponse struct {
	Model modelRef `json:"model"`
	*scoring.Prediction
}

// encodingJSON is the reference: what json.Encoder writes for the body.
func encodingJSON(t testing.TB, ref modelRef, p *scoring.Prediction) []byte {
	t.Helper()
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(predictionResponse{Model: ref, Prediction: p}); err != nil {
		t.Fatal(err)
	}
	return want.Bytes()
}

// TestPredictionEncoding holds the hand-written encoder equal to
// encoding/json, byte for byte, for real predictions of every model (the
// OpenAPI examples and the scoring fuzz corpus) and for made-up ones that
// reach every branch: a field added to the wire types fails it.
func TestPredictionEncoding(t *testing.T) {
	c := scoring.NewCatalog()
	refs := modelRefs(c)
	var cases []struct{ model, inputs string }
	for id, in := range validPredictions {
		cases = append(cases, struct{ model, inputs string }{id, in})
	}
	seeds, _ := filepath.Glob("../scoring/testdata/fuzz/FuzzPredict/*")
	models := c.Models()
	for _, f := range seeds {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n") // go test fuzz v1, uint8(i), string("...")
		if !strings.HasPrefix(lines[1], "uint8(") {
			continue // a byte('c') index: a refusal seed
		}
		i, err1 := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(lines[1], "uint8("), ")"))
		in, err2 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "string("), ")"))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: not a FuzzPredict seed", f)
		}
		cases = append(cases, struct{ model, inputs string }{models[i%len(models)].ID, in})
	}
	if len(seeds) < 12 {
		t.Fatalf("%d scoring seeds found; the corpus moved?", len(seeds))
	}
	predicted := map[string]bool{}
	for _, tc := range cases {
		m, _ := c.Model(tc.model)
		var raw map[string]json.RawMessage
		if json.Unmarshal([]byte(tc.inputs), &raw) != nil {
			continue
		}
		p, err := m.Predict(raw)
		if err != nil {
			continue // seeds include refusals
		}
		predicted[m.ID] = true
		got, err := appendPrediction(nil, refs[m.ID], p)
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		ref := modelRef{ID: m.ID, Version: m.Version, Title: m.Title, Citation: m.Citation, DOI: m.DOI}
		if want := encodingJSON(t, ref, p); !bytes.Equal(got, want) {
			t.Errorf("%s %s:\n got %s\nwant %s", m.ID, tc.inputs, got, want)
		}
	}
	if len(predicted) != len(models) {
		t.Errorf("predictions for %d of %d models", len(predicted), len(models))
	}

	strs := []string{"", "plain", `quote " and \ slash`, "<b>&</b>", "tab\tnew\nline\r\b\f\x00\x1f\x7f",
		"µmol/L 10⁹/L", "bad \xff utf-8 \xe2\x82", "line\u2028para\u2029", "{score}"}
	nums := []float64{0, math.Copysign(0, -1), 1, -1, 2.05, 0.1 + 0.2, 1e-6, 9.99e-7, 1.5e-7, -2.5e-9, 1e20, 1e21, 1.7976931348623157e308,
		5e-324, 123456789.125, 0.000123}
	for i, s := range strs {
		x := nums[i%len(nums)]
		y := nums[(i+5)%len(nums)]
		for _, p := range []*scoring.Prediction{
			{Result: scoring.Result{Value: x, Unit: s, Label: s, Category: s}, Contributions: []scoring.Contribution{{Input: s, Value: y}, {Input: "b", Value: x}}, Warnings: []string{s, s}},
			{Result: scoring.Result{Value: y, Unit: s, Label: s}, Outcomes: []scoring.Outcome{{ID: s, Value: x, Unit: s, Label: s}, {ID: "hf", Value: y}}, Contributions: []scoring.Contribution{}, Warnings: []string{}},
			{Result: scoring.Result{Value: x}}, // nil slices encode as null
		} {
			ref := modelRef{ID: s, Version: s, Title: s, Citation: s, DOI: s}
			refJSON, _ := json.Marshal(ref)
			got, err := appendPrediction(nil, refJSON, p)
			if err != nil {
				t.Fatal(err)
			}
			if want := encodingJSON(t, ref, p); !bytes.Equal(got, want) {
				t.Errorf("%q:\n got %s\nwant %s", s, got, want)
			}
		}
	}
	for _, f := range nums {
		got := appendJSONFloat(nil, f)
		want, _ := json.Marshal(f)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, p := range []*scoring.Prediction{
			{Result: scoring.Result{Value: bad}},
			{Outcomes: []scoring.Outcome{{Value: bad}}},
			{Contributions: []scoring.Contribution{{Value: bad}}},
		} {
			if _, err := appendPrediction(nil, []byte("{}"), p); err == nil {
				t.Errorf("%+v encoded; want an error, as encoding/json gives", p)
			}
		}
	}
}

// FuzzPredictionEncoding compares the encoder with encoding/json on any
// string and number.
func FuzzPredictionEncoding(f *testing.F) {
	f.Add("<&>\u2028\xff\x01", 1e-7, math.Copysign(0, -1))
	f.Add("10⁹/L", 1e21, 2.05)
	f.Fuzz(func(t *testing.T, s string, x, y float64) {
		p := &scoring.Prediction{Result: scoring.Result{Value: x, Unit: s, Label: s, Category: s},
			Outcomes:      []scoring.Outcome{{ID: s, Value: y, Unit: s, Label: s}},
			Contributions: []scoring.Contribution{{Input: s, Value: y}}, Warnings: []string{s}}
		ref := modelRef{ID: s, Version: s, Title: s, Citation: s, DOI: s}
		refJSON, _ := json.Marshal(ref)
		got, err := appendPrediction(nil, refJSON, p)
		var want bytes.Buffer
		wantErr := json.NewEncoder(&want).Encode(predictionResponse{Model: ref, Prediction: p})
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, encoding/json %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("\n got %s\nwant %s", got, want.Bytes())
		}
	})
}
