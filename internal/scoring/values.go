package scoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Values holds one model's validated inputs in canonical units: numbers as
// they are, booleans as 0 or 1, enums as the index of their value.
type Values struct {
	num   [numInputs]float64
	given [numInputs]bool
}

func (v *Values) get(id inputID) float64 { return v.num[id] }
func (v *Values) flag(id inputID) bool   { return v.num[id] != 0 }
func (v *Values) has(id inputID) bool    { return v.given[id] }

// is reports whether enum input id holds value s.
func (v *Values) is(id inputID, s string) bool {
	return vocabulary[id].values[int(v.num[id])] == s
}

func (v *Values) female() bool { return v.is(inSex, "female") }

// points is 1 for true, 0 for false: the shape of most score items.
func points(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// FieldError is one problem with one input. Message says what is allowed,
// never what was received: these texts may reach logs.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a model's inputs.
type ValidationError struct {
	Errors []FieldError
}

// notAnInput begins the message of an unknown input's FieldError.
const notAnInput = "is not an input of model "

// Error names the fields with problems, except unknown inputs, which it
// only counts: their names are the client's text ("67.123457" is a valid
// name) and could reach a log through it. Errors holds every name, for
// the problem response.
func (e *ValidationError) Error() string {
	var fields []string
	unknown := 0
	for _, fe := range e.Errors {
		if strings.HasPrefix(fe.Message, notAnInput) {
			unknown++
		} else {
			fields = append(fields, fe.Field)
		}
	}
	if unknown > 0 {
		fields = append(fields, fmt.Sprintf("%d unknown input(s)", unknown))
	}
	return "invalid inputs: " + strings.Join(fields, ", ")
}

// Parse validates raw JSON inputs against the model and converts them to
// canonical units. It reports every problem at once as a *ValidationError:
// missing and unknown inputs, wrong types, unknown units, values outside the
// model's range, and conflicts between inputs.
func (m *Model) Parse(raw map[string]json.RawMessage) (Values, error) {
	var v Values
	var errs []FieldError
	for i := range m.Inputs {
		in := &m.Inputs[i]
		r, ok := raw[in.Name]
		if !ok {
			if in.Required {
				errs = append(errs, FieldError{in.Name, "is required"})
			}
			v.num[in.id] = in.def
			continue
		}
		x, fe := in.parse(r)
		if fe != nil {
			errs = append(errs, *fe)
			continue
		}
		v.num[in.id], v.given[in.id] = x, true
	}
	var unknown []string
	for name := range raw {
		if !m.takes(name) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		errs = append(errs, FieldError{name, notAnInput + m.ID})
	}
	if len(errs) == 0 && m.check != nil {
		errs = m.check(&v)
	}
	if len(errs) > 0 {
		return Values{}, &ValidationError{Errors: errs}
	}
	return v, nil
}

func (m *Model) takes(name string) bool {
	for i := range m.Inputs {
		if m.Inputs[i].Name == name {
			return true
		}
	}
	return false
}

// parse reads one input's JSON value into its canonical form.
func (in *Input) parse(r json.RawMessage) (float64, *FieldError) {
	r = bytes.TrimSpace(r)
	switch in.Type {
	case kindBoolean:
		switch string(r) {
		case "true":
			return 1, nil
		case "false":
			return 0, nil
		}
		return 0, &FieldError{in.Name, "must be true or false"}
	case kindEnum:
		if i := enumIndex(r, in.Values); i >= 0 {
			return float64(i), nil
		}
		return 0, &FieldError{in.Name, "must be one of: " + strings.Join(in.Values, ", ")}
	}
	x, fe := in.parseQuantity(r)
	if fe != nil {
		return 0, fe
	}
	if in.Type == kindInteger && x != math.Trunc(x) {
		return 0, &FieldError{in.Name, "must be a whole number"}
	}
	if x < in.min || x > in.max {
		return 0, &FieldError{in.Name, "must be between " + in.rangeText()}
	}
	return x, nil
}

// parseQuantity reads a JSON number in the canonical unit, or
// {"value": number, "unit": code} in any accepted unit.
func (in *Input) parseQuantity(r json.RawMessage) (float64, *FieldError) {
	if len(r) > 0 && r[0] == '{' {
		var q map[string]json.RawMessage
		if json.Unmarshal(r, &q) != nil {
			return 0, in.wrongType()
		}
		for k := range q {
			if k != "value" && k != "unit" {
				return 0, &FieldError{in.Name, "takes only the fields value and unit"}
			}
		}
		x, ok := finite(q["value"])
		if !ok {
			return 0, &FieldError{in.Name + ".value", "must be a finite number"}
		}
		var code string
		if json.Unmarshal(q["unit"], &code) != nil {
			return 0, &FieldError{in.Name + ".unit", "must be one of: " + strings.Join(in.AcceptedUnits, ", ")}
		}
		if c, ok := vocabulary[in.id].toCanonical(x, code); ok {
			return c, nil
		}
		return 0, &FieldError{in.Name + ".unit", "must be one of: " + strings.Join(in.AcceptedUnits, ", ")}
	}
	x, ok := finite(r)
	if !ok {
		return 0, in.wrongType()
	}
	return x, nil
}

// wrongType is the error for a quantity that is neither a number nor a
// {value, unit} object; built only when needed, off the hot path.
func (in *Input) wrongType() *FieldError {
	return &FieldError{in.Name, "must be a number in " + in.unitText() + ", or an object with value and unit"}
}

// finite parses a JSON number. strconv.ParseFloat alone would also take
// NaN, Inf, hex and 1_000, so the JSON grammar is checked first; numbers too
// large for float64 are refused rather than turned into Inf.
func finite(r json.RawMessage) (float64, bool) {
	if len(r) == 0 || NumberLen(r) != len(r) {
		return 0, false
	}
	x, err := strconv.ParseFloat(string(r), 64)
	if err != nil || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

// NumberLen is the length of the JSON number (RFC 8259) that b starts
// with, or 0: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, so no NaN,
// Inf, hex or 1_000. The API's body scanner uses it too: one grammar.
func NumberLen(b []byte) int {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return 0
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0
		}
	}
	return i
}

// enumIndex is the index in values of the JSON string r, or -1. Without
// escapes the bytes are compared in place, as no allocation.
func enumIndex(r []byte, values []string) int {
	if len(r) >= 2 && r[0] == '"' && r[len(r)-1] == '"' && bytes.IndexByte(r, '\\') < 0 {
		return slices.Index(values, string(r[1:len(r)-1]))
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		return -1
	}
	return slices.Index(values, s)
}

// unitText names the canonical unit for people: "mg/dL", "years".
func (in *Input) unitText() string {
	switch in.Unit {
	case "a":
		return "years"
	case "", "1", "{score}":
		return "units of " + in.Name
	}
	return in.Unit
}

func (in *Input) rangeText() string {
	s := strconv.FormatFloat(in.min, 'f', -1, 64) + " and " + strconv.FormatFloat(in.max, 'f', -1, 64)
	switch in.Unit {
	case "", "1", "{score}":
		return s
	}
	return s + " " + in.unitText()
}
