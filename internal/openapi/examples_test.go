package openapi_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"

	"github.com/healthcare-prediction/api/internal/openapi"
	"github.com/healthcare-prediction/api/internal/openapi/openapitest"
)

// Every example of the document, request and response, validates against
// the schema of its media type, and every problem type has one.
func TestExamplesValidate(t *testing.T) {
	h, _ := newAPI(t)
	spec := openapitest.Fetch(t, h)
	doc := spec.JSON
	sv := schema_validation.NewSchemaValidator()
	check := func(where string, schema *base.Schema, examples any) int {
		n := 0
		for name, e := range examples.(map[string]any) {
			n++
			if ok, errs := sv.ValidateSchemaBytes(schema, spec.ExampleValue(t, e)); !ok {
				t.Errorf("%s example %s does not match its schema:\n%s", where, name, openapitest.Errors(errs))
			}
		}
		return n
	}
	total := 0
	for path, item := range spec.Model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			rawOp := openapitest.At(doc, "paths", path, method)
			if op.RequestBody != nil {
				for mt, media := range op.RequestBody.Content.FromOldest() {
					if ex := openapitest.At(rawOp, "requestBody", "content", mt, "examples"); ex != nil {
						total += check(method+" "+path+" request "+mt, media.Schema.Schema(), ex)
					}
				}
			}
			for status, resp := range op.Responses.Codes.FromOldest() {
				for mt, media := range resp.Content.FromOldest() {
					if ex := openapitest.At(rawOp, "responses", status, "content", mt, "examples"); ex != nil {
						total += check(method+" "+path+" "+status+" "+mt, media.Schema.Schema(), ex)
					}
				}
			}
		}
	}
	types, _ := openapitest.At(doc, "components", "schemas", "Problem", "properties", "type", "enum").([]any)
	if len(types) == 0 {
		t.Fatal("the Problem schema lists no types")
	}
	if total < len(openapi.PredictExamples())*2+len(types) {
		t.Errorf("only %d examples checked", total)
	}
	for _, typ := range types {
		slug := typ.(string)[strings.LastIndexByte(typ.(string), ':')+1:]
		if openapitest.At(doc, "components", "examples", "problem-"+slug) == nil {
			t.Errorf("problem type %s has no example body", typ)
		}
	}
}

// Each request example of POST /predict, sent to the service, gets the
// status under which the document shows its response (an example of the
// same name), a response the document validates, the body the document
// shows, and for a prediction the value its source publishes. Every model
// has one.
func TestPredictExamplesRun(t *testing.T) {
	h, c := newAPI(t)
	spec := openapitest.Fetch(t, h)
	doc := spec.JSON
	examples := openapi.PredictExamples()
	op := openapitest.At(doc, "paths", "/predict", "post")
	requests, _ := openapitest.At(op, "requestBody", "content", "application/json", "examples").(map[string]any)
	if len(requests) != len(examples) {
		t.Fatalf("%d request examples in the document, %d in predictExamples", len(requests), len(examples))
	}
	var models []string
	for _, e := range examples {
		t.Run(e.Name, func(t *testing.T) {
			var statuses []int
			var want []byte
			for status, resp := range openapitest.At(op, "responses").(map[string]any) {
				for _, media := range openapitest.At(resp, "content").(map[string]any) {
					if ex := openapitest.At(media, "examples", e.Name); ex != nil {
						code, _ := strconv.Atoi(status)
						statuses = append(statuses, code)
						want = spec.ExampleValue(t, ex)
					}
				}
			}
			if len(statuses) != 1 {
				t.Fatalf("response examples named %s under statuses %v, want exactly one", e.Name, statuses)
			}
			post := func() *http.Request {
				r := httptest.NewRequest("POST", "/predict", bytes.NewReader(spec.ExampleValue(t, requests[e.Name])))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-API-Key", testKey)
				return r
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, post())
			if rec.Code != statuses[0] || rec.Code != e.Status {
				t.Fatalf("status %d; the document says %d, predictExamples %d; body %.300s", rec.Code, statuses[0], e.Status, rec.Body)
			}
			if ok, errs := spec.Validator.ValidateHttpRequestResponse(post(), rec.Result()); !ok {
				t.Errorf("request or response does not match the document:\n%s", openapitest.Errors(errs))
			}
			var got, shown map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(want, &shown); err != nil {
				t.Fatal(err)
			}
			delete(got, "request_id")
			if !reflect.DeepEqual(got, shown) {
				t.Errorf("the service answers\n  %s\nthe document shows\n  %s", rec.Body, want)
			}
			if e.Status == http.StatusOK {
				models = append(models, e.Model)
				value, _ := openapitest.At(got, "result", "value").(float64)
				scale := math.Pow(10, float64(e.Decimals))
				if math.Round(value*scale)/scale != e.Published {
					t.Errorf("result %v does not round to the published %.*f", value, e.Decimals, e.Published)
				}
			}
		})
	}
	slices.Sort(models)
	if got := slices.Compact(models); !slices.Equal(got, c.IDs()) {
		t.Errorf("examples cover %v; the catalog has %v", got, c.IDs())
	}
}

// Each input's description states its unit and valid range in words, as
// the catalog has them: the page shows descriptions before schemas.
func TestInputsStateRange(t *testing.T) {
	h, c := newAPI(t)
	doc := openapitest.Fetch(t, h).JSON
	for _, m := range c.Models() {
		for _, in := range m.Inputs {
			got, _ := openapitest.At(doc, "components", "schemas", openapi.ModelSchemaName(m), "properties", "inputs", "properties", in.Name, "description").(string)
			if in.Minimum == nil || in.Maximum == nil {
				continue
			}
			want := strings.TrimSpace("valid " + strconv.FormatFloat(*in.Minimum, 'g', -1, 64) + " to " + strconv.FormatFloat(*in.Maximum, 'g', -1, 64) + " " + in.Unit)
			if !strings.Contains(got, want) || (in.Unit != "" && !strings.Contains(got, "canonical unit "+in.Unit)) {
				t.Errorf("%s.%s: description %q, want the unit and %q", m.ID, in.Name, got, want)
			}
		}
	}
}
