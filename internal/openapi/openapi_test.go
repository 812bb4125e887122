package openapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/openapi"
	"github.com/healthcare-prediction/api/internal/openapi/openapitest"
	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/secrets"
)

// The document is tested as package api serves it, from the real route
// table, problem kinds and prediction code path. Package api's own tests
// hold its answers to the document.

// testKey is the API key the examples are sent with.
const testKey = "openapi-test-FtnIpSFFnXlCTicPlsKEzVezJppUwo53epRrtCEY"

// newAPI is the service with every route, the catalog and testKey.
func newAPI(t testing.TB) (http.Handler, *scoring.Catalog) {
	t.Helper()
	keys, err := secrets.Static("openapi-test:" + testKey)
	if err != nil {
		t.Fatal(err)
	}
	c := scoring.NewCatalog()
	return api.New(api.Options{
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Catalog:   c,
		Build:     api.Build{Version: "test"},
		Lifecycle: api.NewLifecycle(),
		Keys:      keys,
		Routes:    api.All,
	}), c
}

func TestDocumentIsValid(t *testing.T) {
	h, _ := newAPI(t)
	spec := openapitest.Fetch(t, h)
	if got, want := spec.Doc.GetVersion(), "3.1.0"; got != want {
		t.Errorf("openapi = %q, want %q", got, want)
	}
	if ok, errs := spec.Validator.ValidateDocument(); !ok {
		t.Errorf("document does not validate against the OpenAPI 3.1 schema:\n%s", openapitest.Errors(errs))
	}
	if got, want := spec.Model.Model.Info.Version, "test"; got != want {
		t.Errorf("info.version = %q, want %q", got, want)
	}
	declared := map[string]bool{}
	for _, tag := range spec.Model.Model.Tags {
		declared[tag.Name] = true
	}
	ids := map[string]string{}
	for path, item := range spec.Model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			where := strings.ToUpper(method) + " " + path
			if op.OperationId == "" || op.Summary == "" || op.Description == "" {
				t.Errorf("%s: operationId, summary and description must all be set", where)
			}
			if other, dup := ids[op.OperationId]; dup {
				t.Errorf("operationId %q used by %s and %s", op.OperationId, other, where)
			}
			ids[op.OperationId] = where
			if len(op.Tags) != 1 || !declared[op.Tags[0]] {
				t.Errorf("%s: tags %v, want one of the document's tags", where, op.Tags)
			}
			if op.Responses.Codes.GetOrZero("500") == nil {
				t.Errorf("%s: no 500 response", where)
			}
		}
	}
}

// TestDocumentsEveryRoute compares the document with the route table both
// ways, and checks that every route has its operation entry.
func TestDocumentsEveryRoute(t *testing.T) {
	h, c := newAPI(t)
	spec := openapitest.Fetch(t, h)
	var table, documented []string
	for _, e := range api.Routes(api.All) {
		table = append(table, e.Method+" "+e.Path)
	}
	for path, item := range spec.Model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().KeysFromOldest() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(table)
	slices.Sort(documented)
	if !slices.Equal(documented, table) {
		t.Errorf("documented operations:\n  %s\nroute table:\n  %s", strings.Join(documented, "\n  "), strings.Join(table, "\n  "))
	}
	if keys := openapi.OperationKeys(c); !slices.Equal(keys, table) {
		t.Errorf("operations() has entries for\n  %s\nroute table:\n  %s", strings.Join(keys, "\n  "), strings.Join(table, "\n  "))
	}
}
