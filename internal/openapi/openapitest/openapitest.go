// Package openapitest reads the OpenAPI document a handler serves, for the
// tests of package api (the service answers as documented) and of package
// openapi (the document itself).
package openapitest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/errors"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Spec is the document as a handler serves it, parsed.
type Spec struct {
	Doc   libopenapi.Document
	Model *libopenapi.DocumentModel[v3.Document]
	// Validator validates in strict mode: it reports any body property or
	// response header the document does not declare, so the document
	// cannot fall behind the code.
	Validator validator.Validator
	// Lax validates without strict mode, for the free-form bodies: the
	// document itself, and maps of free names (CDS Hooks prefetch keys
	// holding FHIR resources).
	Lax validator.Validator
	// JSON is the document as plain JSON, for its examples (libopenapi
	// keeps example values as YAML nodes).
	JSON map[string]any
}

// Fetch gets GET /openapi.json from h and builds the validators on it.
func Fetch(t testing.TB, h http.Handler) Spec {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: status %d", rec.Code)
	}
	doc, err := libopenapi.NewDocument(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("parse document: %v", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("build model: %v", err)
	}
	strict, errs := validator.NewValidator(doc, config.WithStrictMode())
	if len(errs) > 0 {
		t.Fatalf("build validator: %v", errs)
	}
	lax, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("build validator: %v", errs)
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	return Spec{Doc: doc, Model: model, Validator: strict, Lax: lax, JSON: raw}
}

// At is the value under keys in v, a JSON document; nil if there is none.
func At(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// ExampleValue is an Example Object's value, through its $ref if it has one.
func (s Spec) ExampleValue(t testing.TB, e any) []byte {
	t.Helper()
	if r, ok := At(e, "$ref").(string); ok {
		name, found := strings.CutPrefix(r, "#/components/examples/")
		if !found {
			t.Fatalf("example $ref %s outside components/examples", r)
		}
		e = At(s.JSON, "components", "examples", name)
		if e == nil {
			t.Fatalf("example $ref %s resolves to nothing", r)
		}
	}
	b, err := json.Marshal(At(e, "value"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Errors lists validation errors, one a line, with their schema errors.
func Errors(errs []*errors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.Message + ": " + e.Reason + "\n")
		for _, f := range e.SchemaValidationErrors {
			b.WriteString("    " + f.FieldPath + " (" + f.KeywordLocation + "): " + f.Reason + "\n")
		}
	}
	return b.String()
}
