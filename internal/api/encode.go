package api

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// The body of a prediction is written without reflection: under load,
// encoding/json's reflective walk was the largest part of a prediction's
// cost after the network. TestPredictionEncoding holds the output byte for
// byte equal to encoding/json's for the same wire types, so a field added
// to them without a line here fails it.

// modelRef identifies the model in a prediction.
type modelRef struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Title    string `json:"title"`
	Citation string `json:"citation"`
	DOI      string `json:"doi,omitempty"`
}

// modelRefs encodes each model's reference; New does it once, on first use,
// for /predict, the CDS Hooks cards and the OpenAPI examples.
func modelRefs(c *scoring.Catalog) map[string][]byte {
	refs := map[string][]byte{}
	for _, m := range c.Models() {
		ref, err := json.Marshal(modelRef{ID: m.ID, Version: m.Version, Title: m.Title, Citation: m.Citation, DOI: m.DOI})
		if err != nil {
			panic(err) // strings only: cannot fail
		}
		refs[m.ID] = ref
	}
	return refs
}

var errNotFinite = errors.New("prediction holds a non-finite number")

// appendPrediction appends the JSON of a prediction, with its encoded
// model reference and a final newline, as json.Encoder writes it.
func appendPrediction(b, ref []byte, p *scoring.Prediction) ([]byte, error) {
	ok := true
	number := func(b []byte, f float64) []byte {
		ok = ok && !math.IsNaN(f) && !math.IsInf(f, 0)
		return appendJSONFloat(b, f)
	}
	b = append(b, `{"model":`...)
	b = append(b, ref...)
	b = append(b, `,"result":{"value":`...)
	b = number(b, p.Result.Value)
	b = append(b, `,"unit":`...)
	b = appendJSONString(b, p.Result.Unit)
	b = append(b, `,"label":`...)
	b = appendJSONString(b, p.Result.Label)
	if p.Result.Category != "" {
		b = append(b, `,"category":`...)
		b = appendJSONString(b, p.Result.Category)
	}
	b = append(b, '}')
	if p.Variant != "" { // omitempty
		b = append(b, `,"variant":`...)
		b = appendJSONString(b, p.Variant)
	}
	if len(p.Outcomes) > 0 { // omitempty
		b = append(b, `,"outcomes":`...)
		b = appendArray(b, p.Outcomes, func(b []byte, o scoring.Outcome) []byte {
			b = append(b, `{"id":`...)
			b = appendJSONString(b, o.ID)
			b = append(b, `,"value":`...)
			b = number(b, o.Value)
			b = append(b, `,"unit":`...)
			b = appendJSONString(b, o.Unit)
			b = append(b, `,"label":`...)
			b = appendJSONString(b, o.Label)
			return append(b, '}')
		})
	}
	b = append(b, `,"contributions":`...)
	b = appendArray(b, p.Contributions, func(b []byte, c scoring.Contribution) []byte {
		b = append(b, `{"input":`...)
		b = appendJSONString(b, c.Input)
		b = append(b, `,"value":`...)
		b = number(b, c.Value)
		return append(b, '}')
	})
	b = append(b, `,"warnings":`...)
	b = appendArray(b, p.Warnings, appendJSONString)
	b = append(b, "}\n"...)
	if !ok {
		return nil, errNotFinite
	}
	return b, nil
}

// appendArray appends xs as a JSON array of elem's encodings, or null for
// a nil slice, as encoding/json does.
func appendArray[T any](b []byte, xs []T, elem func([]byte, T) []byte) []byte {
	if xs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, x)
	}
	return append(b, ']')
}

// appendJSONFloat formats f as encoding/json does: shortest round-trip
// digits, exponent form only below 1e-6 or from 1e21, "e-07" as "e-7".
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString quotes s as encoding/json does with HTML escaping on:
// <, > and & as \u003c..., invalid UTF-8 as U+FFFD, and U+2028/U+2029
// escaped for JavaScript.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// bodyBuffers recycles response buffers: a prediction's body is 0.5-2 KiB.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}
