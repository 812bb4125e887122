package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// maxBodyBytes caps a request body: a prediction is well under 2 KiB.
const maxBodyBytes = 64 << 10

// maxDepth caps JSON nesting; a prediction needs three levels.
const maxDepth = 16

// predictRequest is the body of POST /predict.
type predictRequest struct {
	Model  string
	Inputs map[string]json.RawMessage
}

// decodePredict reads a POST /predict body strictly: JSON media type, size
// limit, one JSON object with no duplicate keys at any depth, exactly the
// fields model and inputs (case-sensitive). Decoder errors are never passed
// on: their texts can echo the value received.
func decodePredict(w http.ResponseWriter, r *http.Request) (predictRequest, error) {
	var req predictRequest
	if !isJSON(r.Header.Get("Content-Type")) {
		return req, newProblem(kindMediaType, "send the body as application/json")
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return req, err
		}
		return req, newProblem(kindMalformed, "the request body could not be read")
	}
	if err := checkJSON(data); err != nil {
		return req, err
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return req, newProblem(kindMalformed, "the body must be a JSON object with the fields model and inputs")
	}
	for name := range top {
		if name != "model" && name != "inputs" {
			return req, newProblem(kindUnknownField, "unknown field "+printableName(name)+"; the body takes only model and inputs")
		}
	}
	var errs []scoring.FieldError
	switch raw, ok := top["model"]; {
	case !ok:
		errs = append(errs, scoring.FieldError{Field: "model", Message: "is required"})
	case json.Unmarshal(raw, &req.Model) != nil || bytes.TrimSpace(raw)[0] != '"':
		errs = append(errs, scoring.FieldError{Field: "model", Message: "must be a string: a model id from GET /models"})
	}
	switch raw, ok := top["inputs"]; {
	case !ok:
		errs = append(errs, scoring.FieldError{Field: "inputs", Message: "is required"})
	case json.Unmarshal(raw, &req.Inputs) != nil || req.Inputs == nil:
		errs = append(errs, scoring.FieldError{Field: "inputs", Message: "must be an object of input names to values"})
	}
	if len(errs) > 0 {
		return req, &problem{kind: kindValidation, detail: "the request is incomplete; see errors", errors: errs}
	}
	return req, nil
}

// isJSON accepts application/json and application/*+json, in UTF-8.
func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// checkJSON accepts exactly one well-formed JSON value with no duplicate
// object key at any depth (encoding/json would silently keep the last).
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkJSON(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return newProblem(kindMalformed, "the body must hold one JSON value and nothing after it")
	}
	return nil
}

func walkJSON(dec *json.Decoder, depth int) error {
	malformed := newProblem(kindMalformed, "the body is not well-formed JSON")
	if depth > maxDepth {
		return newProblem(kindMalformed, "the body is nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return malformed
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return malformed
			}
			name, _ := key.(string)
			if seen[name] {
				return newProblem(kindDuplicateKey, "the key "+printableName(name)+" appears more than once in one object")
			}
			seen[name] = true
			if err := walkJSON(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return malformed
		}
	case json.Delim('['):
		for dec.More() {
			if err := walkJSON(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return malformed
		}
	}
	return nil
}
