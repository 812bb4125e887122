package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/token"
)

// requestInfo is what the middleware and handlers learn about a request,
// for the access log: never a body, a query string or an input value.
type requestInfo struct {
	id       string // ours: X-Request-Id of the response, request_id of the logs
	clientID string // the client's well-formed X-Request-Id, kept apart, never taken as ours
	model    string
	keyID    string // set once an API key was accepted
	audit    bool   // a protected route: the call goes to the audit log
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

func requestIDFrom(ctx context.Context) string { return infoFrom(ctx).id }

// requestIDPattern is a well-formed incoming X-Request-Id: short, and with
// no character that could forge a log line. The OpenAPI document states
// it; token.Valid checks it.
const requestIDPattern = `^[A-Za-z0-9._:\-]{1,128}$`

func validRequestID(id string) bool { return token.Valid(id, 128, "._:-") }

// Constant header values, shared by every response instead of allocated
// for each: net/http only reads them, and Header.Add appends to a copy
// (each slice is full). Keys are assigned in canonical form.
var (
	noStore         = []string{"no-store"}
	nosniff         = []string{"nosniff"}
	jsonContentType = []string{"application/json"}
)

// requestID gives every request an id of the server's: the Lambda
// invocation id (which API Gateway's access log records as
// integrationRequestId), else a random one. It is the response's
// X-Request-Id and is carried in the context. A client's X-Request-Id is
// never taken as ours (a client could reuse or collide another's): when
// well-formed it is kept as the client's id, logged beside ours.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if lc, ok := lambdacontext.FromContext(r.Context()); ok {
			id = lc.AwsRequestID
		}
		if id == "" {
			var b [16]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		h := w.Header()
		h["X-Request-Id"] = []string{id}
		h["Cache-Control"] = noStore // clinical responses must not sit in shared caches
		h["X-Content-Type-Options"] = nosniff
		info := &requestInfo{id: id}
		if c := r.Header.Get("X-Request-Id"); validRequestID(c) {
			info.clientID = c
		}
		ctx := context.WithValue(r.Context(), infoKey{}, info)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe writes one log line per request (method, route pattern, never
// the raw path or query, status, duration, bytes, our request id, the
// client's, on Lambda the invocation id, model) and records the request's
// metrics. A call to a protected route is also the audit record: the same
// line carries "audit":true, the key id (empty when refused), the source
// address the gateway or a trusted proxy saw, the user agent's class and
// the outcome; never an input, a result, a category or a client's free
// text beyond its well-formed request id: one record per request to
// format, write and ship, not an access line and an audit line.
func observe(logger *slog.Logger, rec metrics.Recorder, trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			// A handler that writes nothing would make the Lambda adapter
			// answer 502; answer an empty 204 instead.
			sw.WriteHeader(http.StatusNoContent)
		}
		elapsed := time.Since(start)
		info := infoFrom(r.Context())
		method, route := requestMethod(r), routePattern(r)
		attrs := append(make([]slog.Attr, 0, 14),
			slog.String("method", method),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Int64("duration_us", elapsed.Microseconds()), // an integer: slog formats floats through encoding/json
			slog.Int("bytes", sw.bytes),
			slog.String("request_id", info.id))
		if info.clientID != "" {
			attrs = append(attrs, slog.String("client_request_id", info.clientID))
		}
		// The Lambda invocation id: API Gateway's access log has it as
		// $context.integration.requestId, and the runtime's START and
		// REPORT lines as RequestId. It is request_id too.
		if lc, ok := lambdacontext.FromContext(r.Context()); ok {
			attrs = append(attrs, slog.String("aws_request_id", lc.AwsRequestID))
		}
		if info.model != "" {
			attrs = append(attrs, slog.String("model", info.model))
		}
		if info.audit {
			attrs = append(attrs, slog.Bool("audit", true), slog.String("key_id", info.keyID),
				slog.String("source_ip", sourceIP(r, trusted)),
				slog.String("user_agent_class", userAgentClass(r.Header.Get("User-Agent"))),
				slog.String("outcome", outcome(sw.status)))
		}
		// Straight to the handler with no source position: Logger.LogAttrs
		// would walk the stack (runtime.Callers) for a PC no handler here
		// prints.
		if h := logger.Handler(); h.Enabled(r.Context(), slog.LevelInfo) {
			rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
			rec.AddAttrs(attrs...)
			_ = h.Handle(r.Context(), rec)
		}
		rec.Request(r.Context(), metrics.Request{
			Operation: method + " " + route,
			Model:     info.model,
			Status:    sw.status,
			Duration:  elapsed,
			RequestID: info.id,
		})
	})
}

// requestMethod is the method, or OTHER for one outside RFC 9110: a client
// can send any token, and logs and metric dimensions must stay bounded.
func requestMethod(r *http.Request) string {
	switch r.Method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return r.Method
	}
	return "OTHER"
}

// routePattern is the matched ServeMux pattern without its method, or
// "unmatched": raw paths can carry anything a client typed.
func routePattern(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:] // the method is logged on its own
	}
	switch p {
	case "", "/":
		return "unmatched"
	case "/{$}":
		return "/"
	}
	return p
}

// callers is the panicking goroutine's stack as function names and lines.
// Not debug.Stack: a goroutine dump prints argument words in hex, and an
// argument can be a clinical value.
func callers() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	var b strings.Builder
	for {
		f, more := frames.Next()
		fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Function, f.File, f.Line)
		if !more {
			return b.String()
		}
	}
}

// recoverPanics turns a panic into a generic 500 and a log line with the
// request id and stack; the client learns nothing of the cause.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.ErrorContext(r.Context(), "panic", "request_id", requestIDFrom(r.Context()), "stack", callers())
				writeProblem(w, r, newProblem(kindInternal, "an unexpected error occurred; quote the request id when reporting it"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
