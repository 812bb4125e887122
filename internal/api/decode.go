package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/token"
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
	data, err := readBody(w, r, maxBodyBytes)
	if err != nil {
		return req, err
	}
	var model, inputs, unknown []byte
	err = scanObject(data, func(name, value []byte) {
		switch string(name) {
		case "model":
			model = value
		case "inputs":
			inputs = value
		default:
			if unknown == nil {
				unknown = name
			}
		}
	})
	if err != nil {
		return req, err
	}
	if unknown != nil {
		return req, newProblem(kindUnknownField, "unknown field "+token.Printable(string(unknown))+"; the body takes only model and inputs")
	}
	var errs []scoring.FieldError
	switch {
	case model == nil:
		errs = append(errs, scoring.FieldError{Field: "model", Message: "is required"})
	case model[0] != '"':
		errs = append(errs, scoring.FieldError{Field: "model", Message: "must be a string: a model id from GET /models"})
	default:
		id, _ := (&scanner{data: model}).str()
		req.Model = string(id)
	}
	switch {
	case inputs == nil:
		errs = append(errs, scoring.FieldError{Field: "inputs", Message: "is required"})
	case inputs[0] != '{':
		errs = append(errs, scoring.FieldError{Field: "inputs", Message: "must be an object of input names to values"})
	default:
		// Already checked as part of the body. 12 holds every model's inputs
		// (PREVENT takes 11) in the smallest map that does.
		in := make(map[string]json.RawMessage, 12)
		_ = scanObject(inputs, func(name, value []byte) { in[string(name)] = value })
		req.Inputs = in
	}
	if len(errs) > 0 {
		return req, &problem{kind: kindValidation, detail: "the request is incomplete; see errors", errors: errs}
	}
	return req, nil
}

// isJSON accepts application/json and application/*+json, in UTF-8.
func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true // what nearly every client sends
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// readBody reads a JSON request body of at most limit bytes; a body that
// is too large is the http.MaxBytesError the problem writer answers 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if !isJSON(r.Header.Get("Content-Type")) {
		return nil, newProblem(kindMediaType, "send the body as application/json")
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, newProblem(kindMalformed, "the request body could not be read")
	}
	return data, nil
}
