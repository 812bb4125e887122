package cdshooks_test

import (
	"encoding/json"
	"testing"
)

// BenchmarkHook measures a hook call through the whole API on loopback
// (JWT verification, decoding, mapping, the card) next to POST /predict
// on the same inputs: with the chart prefetched, and fetched from the
// EHR's FHIR server (4 queries, 5 requests).
func BenchmarkHook(b *testing.B) {
	e := newEHR(b)
	_, body, _ := e.do("GET", "/cds-services", "", "")
	var disc discovered
	if err := json.Unmarshal(body, &disc); err != nil {
		b.Fatal(err)
	}
	var templates map[string]string
	for _, s := range disc.Services {
		if s.ID == "ascvd-pce" {
			templates = s.Prefetch
		}
	}
	path := "/cds-services/ascvd-pce"
	prefetched := hookBody(e.prefetch(templates), "")
	fetched := hookBody(nil, e.fhir.URL+"/fhir")
	_, card, _ := e.do("POST", path, "Bearer "+e.es.Token(b, baseURL+path, nil), prefetched)
	var resp struct {
		Cards []struct {
			Extension map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(card, &resp); err != nil || len(resp.Cards) != 1 {
		b.Fatalf("card: %s", card)
	}
	var inputs map[string]struct{ Value json.RawMessage }
	_ = json.Unmarshal(resp.Cards[0].Extension["healthcare-prediction.inputs"], &inputs)
	in := map[string]json.RawMessage{}
	for k, v := range inputs {
		in[k] = v.Value
	}
	predict, _ := json.Marshal(map[string]any{"model": "ascvd-pce", "inputs": in})

	run := func(b *testing.B, path, body string, jwt bool) {
		tokens := make([]string, b.N)
		for i := range tokens {
			if jwt {
				tokens[i] = "Bearer " + e.es.Token(b, baseURL+path, nil)
			}
		}
		e.bodies = nil
		b.ResetTimer()
		for i := range b.N {
			if status, out, _ := e.do("POST", path, tokens[i], body); status != 200 {
				b.Fatalf("%d %s", status, out)
			}
			e.bodies = e.bodies[:0]
		}
	}
	b.Run("predict", func(b *testing.B) { run(b, "/predict", string(predict), false) })
	b.Run("hook-prefetch", func(b *testing.B) { run(b, path, prefetched, true) })
	b.Run("hook-fetch", func(b *testing.B) { run(b, path, fetched, true) })
}
