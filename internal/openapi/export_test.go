package openapi

import (
	"encoding/json"
	"slices"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// OperationKeys are the keys of operations, "METHOD /path".
func OperationKeys(c *scoring.Catalog) []string {
	s := Service{Catalog: c, Predict: func(*scoring.Model, map[string]json.RawMessage) any { return nil }}
	var keys []string
	for k := range operations(s) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// PredictExample is a predictExample, for the tests of package openapi_test.
type PredictExample struct {
	Name, Model string
	Status      int
	Published   float64
	Decimals    int
}

// PredictExamples are predictExamples.
func PredictExamples() []PredictExample {
	var out []PredictExample
	for _, e := range predictExamples {
		out = append(out, PredictExample{e.name, e.model, e.status, e.published, e.decimals})
	}
	return out
}

// ModelSchemaName is modelSchemaName.
var ModelSchemaName = modelSchemaName
