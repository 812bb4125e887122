package scoring

import (
	"encoding/json"
	"math"
	"testing"
)

// testCatalog is the catalog every test reads; tests never modify it.
var testCatalog = NewCatalog()

// predict runs model id on inputs written as a JSON object.
func predict(t testing.TB, id, inputs string) (*Prediction, error) {
	t.Helper()
	m, ok := testCatalog.Model(id)
	if !ok {
		t.Fatalf("model %q not in catalog", id)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(inputs), &raw); err != nil {
		t.Fatalf("test inputs are not JSON: %v", err)
	}
	return m.Predict(raw)
}

// mustPredict is predict for inputs that must be valid.
func mustPredict(t testing.TB, id, inputs string) *Prediction {
	t.Helper()
	p, err := predict(t, id, inputs)
	if err != nil {
		t.Fatalf("%s %s: %v", id, inputs, err)
	}
	return p
}

// outcome returns the value of outcome id.
func outcome(t testing.TB, p *Prediction, id string) float64 {
	t.Helper()
	for _, o := range p.Outcomes {
		if o.ID == id {
			return o.Value
		}
	}
	t.Fatalf("no outcome %q in %+v", id, p.Outcomes)
	return 0
}

// near reports whether got is within tol of want. Published values are
// rounded, and amd64 and arm64 (which fuses multiply-add) may differ in the
// last bits, so floats are never compared exactly.
func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }
