package api

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
)

// rawDocument is the served document as plain JSON, for its examples
// (libopenapi keeps example values as YAML nodes).
func rawDocument(t *testing.T, h http.Handler) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func jsonAt(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// exampleValue is an Example Object's value, through its $ref if it has one.
func exampleValue(t *testing.T, doc map[string]any, e any) []byte {
	t.Helper()
	if r, ok := jsonAt(e, "$ref").(string); ok {
		name, found := strings.CutPrefix(r, "#/components/examples/")
		if !found {
			t.Fatalf("example $ref %s outside components/examples", r)
		}
		e = jsonAt(doc, "components", "examples", name)
		if e == nil {
			t.Fatalf("example $ref %s resolves to nothing", r)
		}
	}
	b, err := json.Marshal(jsonAt(e, "value"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every example of the document, request and response, validates against
// the schema of its media type, and every problem type has one.
func TestOpenAPIExamplesValidate(t *testing.T) {
	h := New(openAPIOptions())
	spec := fetchOpenAPI(t, h)
	doc := rawDocument(t, h)
	sv := schema_validation.NewSchemaValidator()
	check := func(where string, schema *base.Schema, examples any) int {
		n := 0
		for name, e := range examples.(map[string]any) {
			n++
			if ok, errs := sv.ValidateSchemaBytes(schema, exampleValue(t, doc, e)); !ok {
				t.Errorf("%s example %s does not match its schema:\n%s", where, name, validationErrors(errs))
			}
		}
		return n
	}
	total := 0
	for path, item := range spec.model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			rawOp := jsonAt(doc, "paths", path, method)
			if op.RequestBody != nil {
				for mt, media := range op.RequestBody.Content.FromOldest() {
					if ex := jsonAt(rawOp, "requestBody", "content", mt, "examples"); ex != nil {
						total += check(method+" "+path+" request "+mt, media.Schema.Schema(), ex)
					}
				}
			}
			for status, resp := range op.Responses.Codes.FromOldest() {
				for mt, media := range resp.Content.FromOldest() {
					if ex := jsonAt(rawOp, "responses", status, "content", mt, "examples"); ex != nil {
						total += check(method+" "+path+" "+status+" "+mt, media.Schema.Schema(), ex)
					}
				}
			}
		}
	}
	if total < len(predictExamples)*2+len(problemKinds) {
		t.Errorf("only %d examples checked", total)
	}
	for _, k := range problemKinds {
		if jsonAt(doc, "components", "examples", problemExampleName(k)) == nil {
			t.Errorf("problem type %s has no example body", k.slug)
		}
	}
}

// Each request example of POST /predict, sent to the service, gets the
// status under which the document shows its response (an example of the
// same name), a response the document validates, the body the document
// shows, and for a prediction the value its source publishes. Every model
// has one.
func TestOpenAPIPredictExamplesRun(t *testing.T) {
	o := openAPIOptions()
	h := New(o)
	spec := fetchOpenAPI(t, h)
	doc := rawDocument(t, h)
	op := jsonAt(doc, "paths", "/predict", "post")
	requests, _ := jsonAt(op, "requestBody", "content", "application/json", "examples").(map[string]any)
	if len(requests) != len(predictExamples) {
		t.Fatalf("%d request examples in the document, %d in predictExamples", len(requests), len(predictExamples))
	}
	var models []string
	for _, e := range predictExamples {
		t.Run(e.name, func(t *testing.T) {
			var statuses []int
			var want []byte
			for status, resp := range jsonAt(op, "responses").(map[string]any) {
				for _, media := range jsonAt(resp, "content").(map[string]any) {
					if ex := jsonAt(media, "examples", e.name); ex != nil {
						code, _ := strconv.Atoi(status)
						statuses = append(statuses, code)
						want = exampleValue(t, doc, ex)
					}
				}
			}
			if len(statuses) != 1 {
				t.Fatalf("response examples named %s under statuses %v, want exactly one", e.name, statuses)
			}
			post := func() *http.Request {
				r := httptest.NewRequest("POST", "/predict", bytes.NewReader(exampleValue(t, doc, requests[e.name])))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-API-Key", openAPITestKey)
				return r
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, post())
			if rec.Code != statuses[0] || rec.Code != e.status {
				t.Fatalf("status %d; the document says %d, predictExamples %d; body %.300s", rec.Code, statuses[0], e.status, rec.Body)
			}
			if ok, errs := spec.validator.ValidateHttpRequestResponse(post(), rec.Result()); !ok {
				t.Errorf("request or response does not match the document:\n%s", validationErrors(errs))
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
			if e.status == http.StatusOK {
				models = append(models, e.model)
				value, _ := jsonAt(got, "result", "value").(float64)
				scale := math.Pow(10, float64(e.decimals))
				if math.Round(value*scale)/scale != e.published {
					t.Errorf("result %v does not round to the published %.*f", value, e.decimals, e.published)
				}
			}
		})
	}
	slices.Sort(models)
	if got := slices.Compact(models); !slices.Equal(got, o.Catalog.IDs()) {
		t.Errorf("examples cover %v; the catalog has %v", got, o.Catalog.IDs())
	}
}

// Each input's description states its unit and valid range in words, as
// the catalog has them: the page shows descriptions before schemas.
func TestOpenAPIInputsStateRange(t *testing.T) {
	o := openAPIOptions()
	doc := rawDocument(t, New(o))
	for _, m := range o.Catalog.Models() {
		for _, in := range m.Inputs {
			got, _ := jsonAt(doc, "components", "schemas", modelSchemaName(m), "properties", "inputs", "properties", in.Name, "description").(string)
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
