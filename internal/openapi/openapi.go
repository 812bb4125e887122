// Package openapi builds the service's OpenAPI 3.1 document: an operation
// per route, the schemas of the wire and catalog types, one request schema
// per model, and runnable examples computed by the models themselves.
// Package api serves it (GET /openapi.json, and GET /docs as a page) and
// hands over what it describes as plain data, a Service, so this package
// imports nothing of the HTTP surface.
package openapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// Service is what the document describes, as package api has it.
type Service struct {
	Version  string           // the running build's, as info.version
	Catalog  *scoring.Catalog // the models: ids, request schemas, examples
	Routes   []Route          // the route table, in its order
	Problems []Problem        // every problem type, in the order the document lists them
	// RequestIDPattern matches the X-Request-Id the service sets.
	RequestIDPattern string
	// CORSMaxAge is the Access-Control-Max-Age (seconds) of a CDS Hooks preflight.
	CORSMaxAge string
	// Predict is the body POST /predict answers for model m and inputs:
	// the prediction, or the validation problem without a request id. The
	// examples' responses are computed by it, so the page shows the
	// unrounded values the service returns.
	Predict func(m *scoring.Model, inputs map[string]json.RawMessage) any
	// ProblemBody is the body of a problem of type p, as the service writes
	// it for a request with requestID.
	ProblemBody func(p Problem, detail string, errs []scoring.FieldError, requestID string) any
}

// Route is one route of the API.
type Route struct {
	Method  string
	Path    string // as clients write it: "/", not the ServeMux's "/{$}"
	Tag     string // its group's, one of tags
	Summary string
	// Protected routes need an API key (when keys are configured), or a
	// client JWT where CDSClient says so.
	Protected bool
	// CDSClient routes take a trusted CDS client's JWT where
	// CDS_HOOKS_CLIENTS is set, else an API key.
	CDSClient bool
}

// Problem is one problem type the service answers.
type Problem struct {
	Slug   string // the end of Type, which names its example
	Type   string // the stable URN clients switch on
	Title  string
	Status int
}

// problem is the problem type of slug; operations name their problems by
// slug, so a misspelt one fails every test that fetches the document.
func (s Service) problem(slug string) Problem {
	i := slices.IndexFunc(s.Problems, func(p Problem) bool { return p.Slug == slug })
	if i < 0 {
		panic("openapi: no problem type " + slug)
	}
	return s.Problems[i]
}

// object is one JSON object of the document; encoding/json writes its keys
// sorted, so the document is byte-for-byte stable.
type object = map[string]any

// operation documents one route beyond its summary in the route table.
type operation struct {
	id          string
	description string
	parameters  []any
	body        object         // request body, if any
	ok          map[int]object // non-problem responses by status
	problems    []string       // slugs of the problems the handler can return
	examples    map[int]object // named response examples by status, beside the problem kinds' own
}

// operations documents every route of package api's routes.go, keyed by
// method and path as clients write them. A route missing here still appears
// in the document, with only its summary; TestDocumentsEveryRoute makes
// sure none is missing.
func operations(s Service) map[string]operation {
	c := s.Catalog
	return map[string]operation{
		"GET /": {
			id:          "getIndex",
			description: "Names the service and its version, lists every endpoint and the ids of the models, and points to this document.",
			ok:          map[int]object{200: jsonResponse("The service index.", ref("Index"))},
		},
		"GET /models": {
			id:          "listModels",
			description: "Every model with its inputs (canonical unit, accepted units, valid range, whether required), result, outcomes, citation and notes on choices the sources leave open.",
			ok:          map[int]object{200: jsonResponse("The catalog, in a stable order.", ref("ModelList"))},
		},
		"GET /models/{id}": {
			id:          "getModel",
			description: "One model's catalog entry, the same as its entry in GET /models.",
			parameters: []any{object{
				"name": "id", "in": "path", "required": true,
				"description": "Model id.",
				"schema":      object{"type": "string", "enum": c.IDs()},
			}},
			ok:       map[int]object{200: jsonResponse("The model's catalog entry.", ref("Model"))},
			problems: []string{"unknown-model"},
		},
		"GET /openapi.json": {
			id:          "getOpenAPI",
			description: "This document, generated from the route table and the model catalog.",
			ok:          map[int]object{200: jsonResponse("An OpenAPI 3.1 document.", object{"type": "object"})},
		},
		"GET /docs": {
			id: "getDocs",
			description: "This document as an interactive page (Swagger UI): every operation, schema and example, " +
				"runnable with \"Try it out\". Its scripts and styles come from this service only (GET /docs/{file}), " +
				"under a Content-Security-Policy that allows no other origin.",
			ok: map[int]object{200: docsResponse("The page.", "text/html")},
		},
		"GET /docs/{file}": {
			id:          "getDocsFile",
			description: "A file the page loads (Swagger UI's script and style sheet, the initializer), or the licence, notice and source record of the Swagger UI files.",
			parameters: []any{object{
				"name": "file", "in": "path", "required": true,
				"description": "File name.",
				"schema":      object{"type": "string"},
			}},
			ok:       map[int]object{200: docsResponse("The file.", "text/javascript", "text/css", "text/plain")},
			problems: []string{"not-found"},
		},
		"GET /health": {
			id:          "getHealth",
			description: "Status, version, uptime and the process's lifecycle. Answers 503, with the same body, while the process is not ready (draining before shutdown, or no usable API keys); /health/ready says why.",
			ok: map[int]object{
				200: jsonResponse("Healthy.", ref("Health")),
				503: jsonResponse("Not ready: status is degraded and checks say why.", ref("Health")),
			},
		},
		"GET /health/live": {
			id:          "getLiveness",
			description: "Kubernetes liveness probe: 200 while the process can answer at all.",
			ok:          map[int]object{200: jsonResponse("Alive.", ref("Liveness"))},
		},
		"GET /health/ready": {
			id:          "getReadiness",
			description: "Kubernetes readiness probe: 503 while draining before shutdown or without usable API keys, so the load balancer stops sending traffic. The body gives the reason and the API-key store's state.",
			ok: map[int]object{
				200: jsonResponse("Ready for traffic.", ref("Readiness")),
				503: jsonResponse("Draining, or API keys are configured but none is usable: send no new traffic.", ref("Readiness")),
			},
		},
		"POST /predict": {
			id: "predict",
			description: "Computes one model on one patient's inputs. The body names the model and gives its inputs " +
				"(GET /models lists both). A number input is a JSON number in the canonical unit, or {\"value\": 5.2, " +
				"\"unit\": \"mmol/L\"} in an accepted unit; ranges apply after conversion to the canonical unit. " +
				"A value outside the model's validated range is a 422, never an extrapolated number. " +
				"Decoding is strict: exact field names, no unknown or duplicate keys, no trailing data.",
			body: object{
				"required": true,
				"content": object{"application/json": object{
					"schema":   ref("PredictRequest"),
					"examples": predictRequestExamples(),
				}},
			},
			examples: predictResponseExamples(s),
			ok:       map[int]object{200: jsonResponse("The model's result, outcomes, contributions and warnings.", ref("PredictResponse"))},
			problems: []string{"malformed-json", "duplicate-key", "unknown-field", "unknown-model", "body-too-large", "unsupported-media-type", "validation"},
		},
		"GET /cds-services": {
			id: "cdsDiscovery",
			description: "CDS Hooks 2.0 discovery: one patient-view service per model whose inputs an EHR holds (id = the model id), " +
				"with its title, description and FHIR R4 prefetch templates. An EHR registers this URL.",
			ok: map[int]object{200: jsonResponse("The services.", ref("CDSDiscovery"))},
		},
		"POST /cds-services/{id}": {
			id: "cdsCall",
			description: "One CDS Hooks 2.0 patient-view call. The service reads the patient's FHIR R4 resources from prefetch " +
				"(or, for an absent key, from the request's allow-listed fhirServer with fhirAuthorization, within CDS_HOOKS_FETCH_TIMEOUT), maps them onto the " +
				"model's inputs and answers exactly one card: computed (its extension healthcare-prediction.prediction is the " +
				"body POST /predict answers for the same inputs) or not computed (an info card naming each missing or " +
				"out-of-range input). A required prefetch key absent with no usable FHIR server is a 412. Where " +
				"CDS_HOOKS_CLIENTS is set the caller authenticates with a CDS client JWT (CDS Hooks 2.0, Trusting CDS Clients), " +
				"else with an API key as for /predict.",
			parameters: []any{cdsIDParameter(c)},
			body: object{
				"required": true,
				"content":  object{"application/json": object{"schema": ref("CDSRequest")}},
			},
			ok:       map[int]object{200: jsonResponse("One card.", ref("CDSResponse"))},
			problems: []string{"malformed-json", "duplicate-key", "invalid-hook-request", "unknown-cds-service", "prefetch-required", "body-too-large", "unsupported-media-type"},
		},
		"POST /cds-services/{id}/feedback": {
			id: "cdsFeedback",
			description: "CDS Hooks 2.0 feedback: the outcome of cards (accepted or overridden). Counted and audited " +
				"(counts only, never a card's content or a clinician's comment); answers 200.",
			parameters: []any{cdsIDParameter(c)},
			body: object{
				"required": true,
				"content":  object{"application/json": object{"schema": ref("CDSFeedback")}},
			},
			ok:       map[int]object{200: jsonResponse("Received.", object{"type": "object"})},
			problems: []string{"malformed-json", "duplicate-key", "invalid-hook-request", "unknown-cds-service", "body-too-large", "unsupported-media-type"},
		},
		"OPTIONS /cds-services":               cdsPreflightOperation("cdsDiscoveryPreflight", "GET", s.CORSMaxAge, nil),
		"OPTIONS /cds-services/{id}":          cdsPreflightOperation("cdsCallPreflight", "POST", s.CORSMaxAge, cdsIDParameter(c)),
		"OPTIONS /cds-services/{id}/feedback": cdsPreflightOperation("cdsFeedbackPreflight", "POST", s.CORSMaxAge, cdsIDParameter(c)),
		"GET /predict": {
			id: "predictWithGet",
			description: "Always refused with 405 and Allow: POST. Clinical values in a URL end up in gateway, load-balancer " +
				"and proxy logs and in browser history (OWASP ASVS V8.3.1, CWE-598): use POST /predict.",
			problems: []string{"method-not-allowed"},
		},
	}
}

// tags name the route groups, one per Lambda function (Route.Tag).
var tags = []struct{ name, description string }{
	{"info", "The service index, the model catalog and this document."},
	{"health", "Health, liveness and readiness."},
	{"predict", "Predictions."},
	{"cds-hooks", "CDS Hooks 2.0 services over FHIR R4: discovery, calls and feedback."},
}

// cdsPreflightOperation documents the CORS preflight of a CDS Hooks path
// whose method is method, cached for maxAge seconds; param is its {id}, or
// nil.
func cdsPreflightOperation(id, method, maxAge string, param object) operation {
	op := operation{
		id: id,
		description: "CORS preflight for browser-based CDS clients (CDS Hooks 2.0, Cross-Origin Resource Sharing). " +
			"From an origin in CDS_HOOKS_CORS_ORIGINS (\"*\": any) with Access-Control-Request-Method, the answer allows " + method +
			" with the headers Authorization and Content-Type, cached for " + maxAge + " s; never with credentials " +
			"(client JWTs are bearer tokens). From any other origin, no CORS headers: the browser refuses the call. " +
			"The " + method + " responses, problems included, carry Access-Control-Allow-Origin for the same origins.",
		ok: map[int]object{204: {
			"description": "Preflight answered.",
			"headers": object{
				"Allow":                        object{"$ref": "#/components/headers/Allow"},
				"Access-Control-Allow-Origin":  object{"description": "The calling origin, or * ; absent for an origin not allowed.", "schema": object{"type": "string"}},
				"Access-Control-Allow-Methods": object{"schema": object{"type": "string", "const": method}},
				"Access-Control-Allow-Headers": object{"schema": object{"type": "string", "const": "Authorization, Content-Type"}},
				"Access-Control-Max-Age":       object{"schema": object{"type": "string", "const": maxAge}},
			},
		}},
	}
	if param != nil {
		op.parameters = []any{param}
	}
	return op
}

// cdsIDParameter is the {id} of a CDS Hooks route: a service id.
func cdsIDParameter(c *scoring.Catalog) object {
	return object{"name": "id", "in": "path", "required": true, "description": "Service id (a model id; GET /cds-services lists them).",
		"schema": object{"type": "string", "enum": c.IDs()}}
}

// Document describes every route of s, its requests and its responses;
// request bodies and the catalog schemas come from s.Catalog. Its keys are
// sorted when encoding/json writes it, so the document is byte-for-byte
// stable.
func Document(s Service) map[string]any {
	ops := operations(s)
	paths := object{}
	for _, rt := range s.Routes {
		item, _ := paths[rt.Path].(object)
		if item == nil {
			item = object{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = s.operationObject(rt, ops[rt.Method+" "+rt.Path])
	}
	var tagList []any
	for _, t := range tags {
		tagList = append(tagList, object{"name": t.name, "description": t.description})
	}
	return object{
		"openapi": "3.1.0",
		"info": object{
			"title":       "Healthcare Prediction API",
			"version":     s.Version,
			"description": infoDescription,
			"license":     object{"name": "MIT", "identifier": "MIT"},
		},
		// Relative to where the document was fetched (OpenAPI 3.1 §4.8.5):
		// under a stage or base path ("/Prod/openapi.json") calls go to
		// "/Prod/predict", where "/" would send them to the host's root.
		"servers": []any{object{"url": "./", "description": "where this document was fetched from"}},
		"tags":    tagList,
		"paths":   paths,
		"components": object{
			"schemas":         schemas(s.Catalog, s.Problems),
			"headers":         headers(s.RequestIDPattern),
			"parameters":      object{"X-Request-Id": requestIDParameter},
			"securitySchemes": securitySchemes,
			"examples":        problemExamples(s),
		},
	}
}

const infoDescription = "Published, clinically validated risk scores (ASCVD, PREVENT, NEWS2, qSOFA, CHA2DS2-VASc, " +
	"CKD-EPI, MELD, FINDRISC, CURB-65) computed exactly as their sources define them.\n\n" +
	"Units are UCUM codes. Errors are RFC 9457 problem documents (application/problem+json) whose type is a " +
	"stable URN; validation problems list every bad field. Clinical input values never appear in logs, " +
	"metrics, error texts or URLs. Every response carries X-Request-Id: quote it when reporting a problem."

// operationObject is the OpenAPI operation of one route.
func (s Service) operationObject(rt Route, op operation) object {
	if op.id == "" {
		op.id = strings.ToLower(rt.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(rt.Path)
	}
	if rt.Protected {
		op.problems = append(slices.Clone(op.problems), "unauthorized", "rate-limited", "not-ready")
	}
	o := object{
		"operationId": op.id,
		"summary":     rt.Summary,
		"tags":        []string{rt.Tag},
		"parameters":  append([]any{object{"$ref": "#/components/parameters/X-Request-Id"}}, op.parameters...),
		"responses":   s.responses(op),
	}
	if op.description != "" {
		o["description"] = op.description
	}
	if op.body != nil {
		o["requestBody"] = op.body
	}
	switch {
	case rt.CDSClient:
		o["security"] = []any{object{"CDSClientJWT": []any{}}, object{"ApiKey": []any{}}, object{"Bearer": []any{}}}
	case rt.Protected:
		// Either header carries the key; deployments without keys ignore it.
		o["security"] = []any{object{"ApiKey": []any{}}, object{"Bearer": []any{}}}
	}
	return o
}

var securitySchemes = object{
	"ApiKey": object{"type": "apiKey", "in": "header", "name": "X-API-Key",
		"description": "An API key issued by the operator (README: API keys)."},
	"Bearer": object{"type": "http", "scheme": "bearer",
		"description": "The same API key as a bearer token: Authorization: Bearer <key>."},
	"CDSClientJWT": object{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
		"description": "CDS Hooks 2.0 client JWT (where CDS_HOOKS_CLIENTS is set): signed ES384, RS384, ES256, RS256 or PS384 by a key " +
			"in the allow-listed issuer's JWKS; aud the endpoint URL under CDS_HOOKS_BASE_URL; exp at most 5 minutes after iat; jti once."},
}

// responses lists an operation's responses: its own, a problem for each
// status its problem kinds have, and a 500 for every operation (any panic
// becomes one).
func (s Service) responses(op operation) object {
	rs := object{}
	for status, r := range op.ok {
		rs[strconv.Itoa(status)] = r
	}
	byStatus := map[int][]Problem{}
	for _, slug := range append(slices.Clone(op.problems), "internal") {
		p := s.problem(slug)
		byStatus[p.Status] = append(byStatus[p.Status], p)
	}
	for status, problems := range byStatus {
		rs[strconv.Itoa(status)] = problemResponse(problems)
	}
	// The operation's own examples join the media type's examples.
	for status, examples := range op.examples {
		r, _ := rs[strconv.Itoa(status)].(object)
		for _, content := range contentOf(r) {
			all, _ := content["examples"].(object)
			if all == nil {
				all = object{}
				content["examples"] = all
			}
			for name, e := range examples {
				all[name] = e
			}
		}
	}
	return rs
}

// contentOf lists the media type objects of a response.
func contentOf(r object) []object {
	var out []object
	content, _ := r["content"].(object)
	for _, mt := range content {
		if o, ok := mt.(object); ok {
			out = append(out, o)
		}
	}
	return out
}

func ref(name string) object { return object{"$ref": "#/components/schemas/" + name} }

func headerRef(name string) object { return object{"$ref": "#/components/headers/" + name} }

// responseHeaders are set on every response by the requestID middleware.
func responseHeaders() object {
	return object{
		"X-Request-Id":           headerRef("X-Request-Id"),
		"Cache-Control":          headerRef("Cache-Control"),
		"X-Content-Type-Options": headerRef("X-Content-Type-Options"),
	}
}

// docsResponse is a file of the documentation page, in one of the media
// types. It is not clinical data: browsers revalidate it with its ETag
// instead of fetching it again.
func docsResponse(description string, mediaTypes ...string) object {
	content := object{}
	for _, t := range mediaTypes {
		content[t] = object{"schema": object{"type": "string"}}
	}
	str := object{"type": "string"}
	return object{
		"description": description,
		"headers": object{
			"X-Request-Id":            headerRef("X-Request-Id"),
			"X-Content-Type-Options":  headerRef("X-Content-Type-Options"),
			"Cache-Control":           object{"required": true, "schema": object{"type": "string", "const": "no-cache"}},
			"Content-Security-Policy": object{"required": true, "description": "Only this origin's scripts, styles and connections.", "schema": str},
			"ETag":                    object{"required": true, "schema": str},
			"Referrer-Policy":         object{"required": true, "schema": str},
			"X-Frame-Options":         object{"required": true, "schema": str},
		},
		"content": content,
	}
}

func jsonResponse(description string, schema object) object {
	return object{
		"description": description,
		"headers":     responseHeaders(),
		"content":     object{"application/json": object{"schema": schema}},
	}
}

// problemResponse is a response for problems, which share one status: the
// body's status and type are pinned to theirs.
func problemResponse(problems []Problem) object {
	var titles []string
	var types []any
	examples := object{}
	for _, p := range problems {
		titles = append(titles, p.Title)
		types = append(types, p.Type)
		examples[problemExampleName(p)] = object{"$ref": "#/components/examples/" + problemExampleName(p)}
	}
	status := problems[0].Status
	h := responseHeaders()
	switch status {
	case http.StatusMethodNotAllowed:
		h["Allow"] = headerRef("Allow")
	case http.StatusUnauthorized:
		h["WWW-Authenticate"] = headerRef("WWW-Authenticate")
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		h["Retry-After"] = headerRef("Retry-After")
	}
	return object{
		"description": strings.Join(titles, "; ") + ".",
		"headers":     h,
		"content": object{"application/problem+json": object{
			"schema": object{
				"allOf": []any{ref("Problem"), object{"properties": object{
					"status": object{"const": status},
					"type":   object{"enum": types},
				}}},
			},
			"examples": examples,
		}},
	}
}

var requestIDParameter = object{
	"name": "X-Request-Id", "in": "header", "required": false,
	"description": "Your id for this request, recorded in the logs beside the service's own id when it is 1-128 characters " +
		"of A-Z, a-z, 0-9 and ._:- ; the response's X-Request-Id is always the service's.",
	"schema": object{"type": "string"},
}

func headers(requestIDPattern string) object {
	return object{
		"X-Request-Id": object{
			"description": "The service's id for the request (the Lambda request id, or a random one), never the client's. Quote it when reporting a problem.",
			"required":    true,
			"schema":      object{"type": "string", "pattern": requestIDPattern},
		},
		"Cache-Control": object{
			"description": "Clinical responses must not sit in shared caches.",
			"required":    true,
			"schema":      object{"type": "string", "const": "no-store"},
		},
		"X-Content-Type-Options": object{
			"required": true,
			"schema":   object{"type": "string", "const": "nosniff"},
		},
		"Allow": object{
			"description": "The methods the path accepts.",
			"required":    true,
			"schema":      object{"type": "string"},
		},
		"WWW-Authenticate": object{
			"description": "The authentication scheme to use.",
			"required":    true,
			"schema":      object{"type": "string"},
		},
		"Retry-After": object{
			"description": "Seconds to wait before retrying.",
			"required":    true,
			"schema":      object{"type": "string", "pattern": "^[0-9]+$"},
		},
	}
}

// schemas are the components: the wire types of package api (handlers.go,
// problems.go), the catalog types of package scoring (by their JSON tags),
// and one request schema per model.
func schemas(c *scoring.Catalog, problems []Problem) object {
	str := object{"type": "string"}
	strs := object{"type": "array", "items": str}
	num := object{"type": "number"}
	s := object{
		"Index": objectSchema("The service index.", object{
			"service": str,
			"version": str,
			"endpoints": object{"type": "array", "items": objectSchema("", object{
				"method": object{"type": "string", "enum": []string{"GET", "POST", "OPTIONS"}},
				"path":   str,
			}, "method", "path")},
			"models":        object{"type": "array", "items": object{"type": "string", "enum": c.IDs()}},
			"documentation": object{"type": "string", "description": "Path of this document."},
		}, "service", "version", "endpoints", "models", "documentation"),
		"ModelList": objectSchema("The model catalog.", object{
			"models": object{"type": "array", "items": ref("Model")},
		}, "models"),
		"Model": objectSchema("A model's catalog entry.", object{
			"id":         object{"type": "string", "enum": c.IDs()},
			"version":    str,
			"title":      str,
			"citation":   str,
			"doi":        object{"type": "string", "description": "DOI of the citation, where the source has one."},
			"population": object{"type": "string", "description": "Population the model is validated in."},
			"inputs":     object{"type": "array", "items": ref("Input")},
			"result":     ref("ResultSpec"),
			"outcomes":   object{"type": "array", "items": ref("ValueSpec")},
			"notes":      object{"type": "array", "items": str, "description": "Choices the sources leave open, and how this service reads them."},
			"variants":   object{"type": "array", "items": str, "description": "Variants of the model, where it has several; a prediction's variant names the one used."},
		}, "id", "version", "title", "citation", "population", "inputs", "result", "notes"),
		"Input": objectSchema("One input of a model.", object{
			"name":           str,
			"type":           object{"type": "string", "enum": []string{"number", "integer", "boolean", "enum"}},
			"unit":           object{"type": "string", "description": "Canonical unit (UCUM); a bare number is read in it."},
			"accepted_units": object{"type": "array", "items": str, "description": "Units accepted in {\"value\", \"unit\"} form, canonical first."},
			"minimum":        object{"type": "number", "description": "Lowest valid value, canonical unit."},
			"maximum":        object{"type": "number", "description": "Highest valid value, canonical unit."},
			"values":         object{"type": "array", "items": str, "description": "Values of an enum input."},
			"required":       object{"type": "boolean"},
			"default":        object{"description": "Value used when an optional input is absent."},
			"description":    str,
		}, "name", "type", "required", "description"),
		"ResultSpec": objectSchema("What a model's main result is.", object{
			"label":      str,
			"unit":       str,
			"integer":    object{"type": "boolean", "description": "Whether the value is a whole number (points scores)."},
			"categories": object{"type": "array", "items": str},
		}, "label", "unit", "integer"),
		"ValueSpec": objectSchema("An outcome a model reports besides its result.", object{
			"id": str, "label": str, "unit": str,
		}, "id", "label", "unit"),
		"PredictRequest": predictRequestSchema(c),
		"PredictResponse": objectSchema("A prediction.", object{
			"model": objectSchema("The model that computed it.", object{
				"id": object{"type": "string", "enum": c.IDs()}, "version": str, "title": str, "citation": str, "doi": str,
			}, "id", "version", "title", "citation"),
			"result": objectSchema("The main result; value is unrounded, a whole number for points scores.", object{
				"value": num, "unit": str, "label": str, "category": str,
			}, "value", "unit", "label"),
			"variant": object{"type": "string", "description": "The variant computed, for models that list variants (e.g. PREVENT base, uacr, hba1c, full)."},
			"outcomes": object{"type": "array", "items": objectSchema("A secondary result.", object{
				"id": str, "value": num, "unit": str, "label": str,
			}, "id", "value", "unit", "label")},
			"contributions": object{"type": "array", "items": objectSchema(
				"One item's share: its points, or coefficient times transformed value in the linear predictor. "+
					"input joins the names of an interaction's inputs with ':'.",
				object{"input": str, "value": num}, "input", "value")},
			"warnings": strs,
		}, "model", "result", "contributions", "warnings"),
		"Health": objectSchema("Health of the process.", object{
			"status":         object{"type": "string", "enum": []string{"ok", "degraded"}},
			"service":        str,
			"version":        str,
			"uptime_seconds": object{"type": "number", "minimum": 0},
			"checks": object{"type": "object", "additionalProperties": str, "properties": object{
				"lifecycle": object{"type": "string", "enum": []string{"serving", "draining"}},
			}},
		}, "status", "service", "version", "uptime_seconds", "checks"),
		"Liveness": objectSchema("The process is up.", object{
			"status": object{"type": "string", "const": "ok"},
		}, "status"),
		"Readiness": objectSchema("Whether to send traffic.", object{
			"status": object{"type": "string", "enum": []string{"ready", "draining", "no_api_keys"}},
			"api_keys": object{"type": "string", "enum": []string{"ok", "stale", "unavailable", "revoked"},
				"description": "The API-key store's state; absent where no keys are checked."},
		}, "status"),
		"CDSDiscovery": objectSchema("CDS Hooks 2.0 discovery response.", object{
			"services": object{"type": "array", "items": objectSchema("One CDS service.", object{
				"hook":        object{"type": "string", "const": "patient-view"},
				"title":       str,
				"description": str,
				"id":          object{"type": "string", "enum": c.IDs()},
				"prefetch":    object{"type": "object", "additionalProperties": str, "description": "Prefetch key → FHIR query template."},
			}, "hook", "description", "id")},
		}, "services"),
		"CDSRequest": objectSchema("A CDS Hooks 2.0 patient-view request.", object{
			"hook":         object{"type": "string", "const": "patient-view"},
			"hookInstance": object{"type": "string", "format": "uuid"},
			"fhirServer":   object{"type": "string", "format": "uri"},
			"fhirAuthorization": objectSchema("OAuth 2.0 access to fhirServer (CDS Hooks 2.0: every field but patient required). "+
				"A token whose patient is not context.patientId is never used.", object{
				"access_token": str, "token_type": object{"type": "string", "const": "Bearer"},
				"expires_in": object{"type": "integer", "exclusiveMinimum": 0}, "scope": str, "subject": str, "patient": str,
			}, "access_token", "token_type", "expires_in", "scope", "subject"),
			"context": objectSchema("The hook's context.", object{
				"patientId": object{"type": "string", "pattern": `^[A-Za-z0-9\-.]{1,64}$`}, "userId": str, "encounterId": str,
			}, "patientId"),
			"prefetch": object{"type": "object", "additionalProperties": object{"type": []string{"object", "null"}},
				"description": "Prefetch key → FHIR resource or searchset Bundle; null when the query found nothing; absent when the client could not run it."},
		}, "hook", "hookInstance", "context"),
		"CDSResponse": objectSchema("CDS Hooks 2.0 response: exactly one card.", object{
			"cards": object{"type": "array", "minItems": 1, "maxItems": 1, "items": objectSchema("A card.", object{
				"uuid":      object{"type": "string", "format": "uuid"},
				"summary":   object{"type": "string", "maxLength": 139},
				"detail":    object{"type": "string", "description": "Markdown: the result, the inputs with their dates and resources, what was assumed, the population."},
				"indicator": object{"type": "string", "enum": []string{"info", "warning", "critical"}},
				"source": objectSchema("The model's published source.", object{
					"label": str, "url": object{"type": "string", "format": "uri"},
				}, "label", "url"),
				"extension": objectSchema("Present on a computed card only.", object{
					"healthcare-prediction.prediction": ref("PredictResponse"),
					"healthcare-prediction.inputs": object{"type": "object", "additionalProperties": objectSchema("One input as sent to the model.", object{
						"value": object{"description": "Number in the canonical unit, boolean or enum value."}, "unit": str,
						"source": object{"type": "string", "examples": []string{"Observation/123", "derived:ckd-epi-2021", "absent"}},
					}, "value", "source")},
				}, "healthcare-prediction.prediction", "healthcare-prediction.inputs"),
			}, "uuid", "summary", "detail", "indicator", "source")},
		}, "cards"),
		"CDSFeedback": objectSchema("CDS Hooks 2.0 feedback.", object{
			"feedback": object{"type": "array", "minItems": 1, "maxItems": 100, "items": objectSchema("One card's outcome.", object{
				"card":                object{"type": "string", "format": "uuid"},
				"outcome":             object{"type": "string", "enum": []string{"accepted", "overridden"}},
				"acceptedSuggestions": object{"type": "array", "items": object{"type": "object"}},
				"overrideReason":      object{"type": "object"},
				"outcomeTimestamp":    object{"type": "string", "format": "date-time"},
			}, "card", "outcome", "outcomeTimestamp")},
		}, "feedback"),
		"Problem": problemSchema(problems),
		"FieldError": objectSchema("One bad field and what is allowed; never the value received.", object{
			"field":   object{"type": "string", "examples": []string{"inputs.age"}},
			"message": object{"type": "string", "examples": []string{"must be between 40 and 79 years"}},
		}, "field", "message"),
	}
	for _, m := range c.Models() {
		s[modelSchemaName(m)] = modelRequest(m)
	}
	return s
}

// objectSchema is an object with properties, of which required must be
// present. Other properties are allowed: clients must tolerate new fields.
func objectSchema(description string, properties object, required ...string) object {
	o := object{"type": "object", "properties": properties}
	if description != "" {
		o["description"] = description
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func problemSchema(problems []Problem) object {
	var types []any
	for _, p := range problems {
		types = append(types, p.Type)
	}
	o := objectSchema("An RFC 9457 problem document.", object{
		"type":       object{"type": "string", "format": "uri", "enum": types, "description": "Stable URN of the kind of problem."},
		"title":      object{"type": "string", "description": "Short summary of the kind of problem."},
		"status":     object{"type": "integer", "minimum": 400, "maximum": 599},
		"detail":     object{"type": "string", "description": "What went wrong and what to do; never a value received."},
		"request_id": object{"type": "string"},
		"errors":     object{"type": "array", "items": ref("FieldError"), "description": "Every bad field, for validation and invalid-hook-request problems."},
	}, "type", "title", "status", "detail")
	return o
}

func modelSchemaName(m *scoring.Model) string { return "PredictRequest." + m.ID }

// predictRequestSchema is the body of POST /predict: one of the models' requests,
// told apart by model.
func predictRequestSchema(c *scoring.Catalog) object {
	var oneOf []any
	mapping := object{}
	for _, m := range c.Models() {
		r := ref(modelSchemaName(m))
		oneOf = append(oneOf, r)
		mapping[m.ID] = r["$ref"]
	}
	return object{
		"description":   "A model id and that model's inputs.",
		"oneOf":         oneOf,
		"discriminator": object{"propertyName": "model", "mapping": mapping},
	}
}

// modelRequest is the request body for model m: its id and its inputs,
// each described as the catalog describes it.
func modelRequest(m *scoring.Model) object {
	props := object{}
	var required []string
	for _, in := range m.Inputs {
		props[in.Name] = inputSchema(in)
		if in.Required {
			required = append(required, in.Name)
		}
	}
	inputs := object{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		inputs["required"] = required
	}
	return object{
		"title":                m.Title,
		"description":          "Population: " + m.Population + ".",
		"type":                 "object",
		"properties":           object{"model": object{"type": "string", "const": m.ID}, "inputs": inputs},
		"required":             []string{"model", "inputs"},
		"additionalProperties": false,
	}
}

// inputSchema is one input's JSON Schema: a number in the canonical unit
// (within the model's range) or {value, unit} in an accepted unit, a
// boolean, or one of an enum's values.
func inputSchema(in scoring.Input) object {
	switch in.Type {
	case "boolean":
		return object{"type": "boolean", "description": in.Description}
	case "enum":
		return object{"type": "string", "enum": in.Values, "description": in.Description}
	}
	bare := object{"type": in.Type}
	if in.Minimum != nil {
		bare["minimum"] = *in.Minimum
	}
	if in.Maximum != nil {
		bare["maximum"] = *in.Maximum
	}
	if in.Default != nil {
		bare["default"] = in.Default
	}
	description := in.Description
	if in.Unit != "" {
		description += "; canonical unit " + in.Unit
		bare["description"] = "In " + in.Unit + "."
	}
	// The range in words too: the page shows descriptions first.
	if in.Minimum != nil && in.Maximum != nil {
		description += strings.TrimSpace("; valid " + strconv.FormatFloat(*in.Minimum, 'g', -1, 64) + " to " +
			strconv.FormatFloat(*in.Maximum, 'g', -1, 64) + " " + in.Unit)
	}
	if len(in.AcceptedUnits) == 0 {
		bare["description"] = description + "."
		return bare
	}
	withUnit := objectSchema("In any accepted unit; the range applies after conversion.", object{
		"value": object{"type": in.Type},
		"unit":  object{"type": "string", "enum": in.AcceptedUnits},
	}, "value", "unit")
	withUnit["additionalProperties"] = false
	return object{"description": description + ".", "oneOf": []any{bare, withUnit}}
}
