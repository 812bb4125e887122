package scoring

import (
	"encoding/json"
	"testing"
)

// BenchmarkCompute measures the hot path of each model: inputs are parsed
// once, then Compute runs on the parsed Values, reusing one Prediction.
// Target: at most 1µs and 0 allocations per operation.
func BenchmarkCompute(b *testing.B) {
	for _, m := range NewCatalog().Models() {
		b.Run(m.ID, func(b *testing.B) {
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(validSeed(m.ID)), &raw); err != nil {
				b.Fatal(err)
			}
			v, err := m.Parse(raw)
			if err != nil {
				b.Fatal(err)
			}
			p := &Prediction{}
			m.Compute(&v, p) // grow p's slices once
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				m.Compute(&v, p)
			}
		})
	}
}
