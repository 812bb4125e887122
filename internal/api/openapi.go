package api

import (
	"net/http"
	"sync"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// handleOpenAPI serves the OpenAPI 3.1 document of the routes in table.
func handleOpenAPI(b Build, c *scoring.Catalog, table *[]route) http.Handler {
	doc := sync.OnceValue(func() map[string]any { return openAPIDocument(b, c, *table) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, doc())
	})
}

// openAPIDocument describes every route, request and response.
func openAPIDocument(b Build, c *scoring.Catalog, table []route) map[string]any {
	paths := map[string]any{}
	for _, rt := range table {
		item, _ := paths[rt.publicPath()].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.publicPath()] = item
		}
		item[lower(rt.method)] = map[string]any{"summary": rt.summary, "responses": map[string]any{"default": map[string]any{"description": "see status"}}}
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": "Healthcare Prediction API", "version": b.Version},
		"paths":   paths,
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
