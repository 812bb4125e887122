package loadtest

import (
	"encoding/json"
	"net/http"
)

// Baseline is the yardstick of the load test: the least a net/http JSON
// service does for the same requests. It decodes the same POST /predict
// body and encodes a small result, and answers GET /health; no auth, no
// validation, no logging, no metrics.
func Baseline() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /predict", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model  string                     `json:"model"`
			Inputs map[string]json.RawMessage `json:"inputs"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		type result struct {
			Value float64 `json:"value"`
			Unit  string  `json:"unit"`
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Model  string `json:"model"`
			Result result `json:"result"`
		}{req.Model, result{float64(len(req.Inputs)), "%"}})
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	return mux
}
