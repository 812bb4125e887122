package cdshooks

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// Extension keys of a card (CDS Hooks 2.0, "Extensions": namespaced).
const (
	ExtPrediction = "healthcare-prediction.prediction"
	ExtInputs     = "healthcare-prediction.inputs"
)

// card is a CDS Hooks 2.0 card with the members this service fills.
type card struct {
	UUID      string         `json:"uuid"`
	Summary   string         `json:"summary"`
	Detail    string         `json:"detail"`
	Indicator string         `json:"indicator"`
	Source    cardSource     `json:"source"`
	Extension map[string]any `json:"extension,omitempty"`
}

type cardSource struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// inputExt is one entry of the inputs extension.
type inputExt struct {
	Value  json.RawMessage `json:"value"`
	Unit   string          `json:"unit,omitempty"`
	Source string          `json:"source"`
}

// maxSummary is the spec's bound: summary "SHOULD be under 140 characters".
const maxSummary = 139

// card builds the one card of a call: computed when every input was
// found and the model accepted them, else a not-computed info card.
func (s *Service) card(sv *service, mp *mapped) (card, error) {
	m := sv.model
	c := card{UUID: newUUID(), Source: cardSource{Label: sourceLabel(m), URL: sourceURL(m)}, Indicator: "info"}
	if len(mp.gaps) > 0 {
		return s.notComputed(c, m, mp.gaps, mp), nil
	}
	p, err := m.Predict(mp.inputs)
	var invalid *scoring.ValidationError
	if errors.As(err, &invalid) {
		var gaps []gap
		for _, fe := range invalid.Errors {
			gaps = append(gaps, gap{name: fe.Field, reason: "the value found " + fe.Message + " for this model"})
		}
		return s.notComputed(c, m, gaps, mp), nil
	}
	if err != nil {
		return card{}, err
	}
	body, err := s.o.Encode(m, p)
	if err != nil {
		return card{}, err
	}
	r := p.Result
	c.Indicator = indicator(m, r.Category)
	value := displayValue(m, r.Value)
	c.Summary = summary(m, value, r.Category)
	inputs := map[string]inputExt{}
	for _, u := range mp.used {
		inputs[u.name] = inputExt{Value: u.value, Unit: u.unit, Source: u.source}
	}
	c.Extension = map[string]any{
		// The /predict body without its final newline: the same JSON value,
		// byte for byte.
		ExtPrediction: json.RawMessage(bytes.TrimSuffix(body, []byte("\n"))),
		ExtInputs:     inputs,
	}
	var d strings.Builder
	fmt.Fprintf(&d, "**%s: %s**", r.Label, withUnit(value, r.Unit))
	if r.Category != "" {
		fmt.Fprintf(&d, " (category: %s)", r.Category)
	}
	d.WriteString("\n\n")
	writeInputs(&d, mp.used)
	writeNotes(&d, m, mp.notes)
	c.Detail = d.String()
	return c, nil
}

func (s *Service) notComputed(c card, m *scoring.Model, gaps []gap, mp *mapped) card {
	names := make([]string, 0, len(gaps))
	for _, g := range gaps {
		names = append(names, inputWords(g.name))
	}
	// The longest form that fits: the title, else the id, with every
	// input named; else the count (the detail names them).
	list := ": not computed; missing or out of range: " + strings.Join(names, ", ")
	switch {
	case utf8.RuneCountInString(m.Title+list) <= maxSummary:
		c.Summary = m.Title + list
	case utf8.RuneCountInString(m.ID+list) <= maxSummary:
		c.Summary = m.ID + list
	default:
		c.Summary = clip(m.Title, fmt.Sprintf(": not computed; %d inputs missing or out of range (see the card)", len(names)))
	}
	var d strings.Builder
	fmt.Fprintf(&d, "**%s was not computed.** The chart does not give every input it needs:\n\n", m.Title)
	for _, g := range gaps {
		fmt.Fprintf(&d, "- **%s**: %s\n", inputWords(g.name), g.reason)
	}
	d.WriteString("\n")
	if len(mp.used) > 0 {
		d.WriteString("Found:\n\n")
		writeInputs(&d, mp.used)
	}
	writeNotes(&d, m, mp.notes)
	c.Detail = d.String()
	return c
}

// writeInputs writes the inputs used as a Markdown table.
func writeInputs(d *strings.Builder, used []used) {
	if len(used) == 0 {
		return
	}
	d.WriteString("| Input | Value | From | Date |\n| --- | --- | --- | --- |\n")
	for _, u := range used {
		date := u.date
		if date == "" {
			date = "–"
		}
		fmt.Fprintf(d, "| %s | %s | %s | %s |\n", inputWords(u.name), mdCell(u.display), mdCell(u.source), mdCell(date))
	}
	d.WriteString("\n")
}

func writeNotes(d *strings.Builder, m *scoring.Model, notes []string) {
	if len(notes) > 0 {
		d.WriteString("**Assumed:**\n\n")
		for _, n := range notes {
			fmt.Fprintf(d, "- %s\n", mdCell(n))
		}
		d.WriteString("\n")
	}
	fmt.Fprintf(d, "**Population:** %s. Outside it the result is not validated.\n\n", m.Population)
	fmt.Fprintf(d, "**Source:** %s", m.Citation)
	if m.DOI != "" {
		fmt.Fprintf(d, " ([doi:%s](https://doi.org/%s))", m.DOI, m.DOI)
	}
	d.WriteString("\n")
}

// mdCell keeps text inside one Markdown table cell or list item.
func mdCell(s string) string { return mdCellEscaper.Replace(s) }

// mdCellEscaper is built once: a Replacer is safe for concurrent use, and
// a card calls mdCell for every cell.
var mdCellEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ")

// indicator maps a category to the card's urgency (CDS_HOOKS.md "Cards"):
// the catalog lists categories from the lowest band to the highest.
func indicator(m *scoring.Model, category string) string {
	cats := m.Result.Categories
	i := slices.Index(cats, category)
	switch {
	case len(cats) == 0 || i <= 0:
		return "info"
	case i == len(cats)-1:
		return "critical"
	}
	return "warning"
}

// summary names the model, the result with its unit, and its category,
// under 140 characters.
func summary(m *scoring.Model, value, category string) string {
	tail := ": " + withUnit(value, m.Result.Unit)
	if category != "" {
		tail += " (" + category + ")"
	}
	if long := m.Title + tail; utf8.RuneCountInString(long) <= maxSummary {
		return long
	}
	return clip(m.Result.Label+" ("+m.ID+")", tail)
}

// clip joins head and tail, shortening whichever is needed to stay under
// 140 characters.
func clip(head, tail string) string {
	if utf8.RuneCountInString(head+tail) <= maxSummary {
		return head + tail
	}
	room := maxSummary - utf8.RuneCountInString(tail)
	if room < 20 {
		r := []rune(head + tail)
		return string(r[:maxSummary-1]) + "…"
	}
	r := []rune(head)
	return string(r[:room-1]) + "…" + tail
}

// displayValue rounds a result for reading: points as integers, percents
// to one decimal, other values to whole numbers from 10 up. The extension
// keeps the full value.
func displayValue(m *scoring.Model, v float64) string {
	switch {
	case m.Result.Integer:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case m.Result.Unit == "%" || math.Abs(v) < 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// displayUnit is a UCUM unit as a clinician reads it.
func displayUnit(u string) string {
	switch u {
	case "{score}":
		return "points"
	case "mL/min/{1.73_m2}":
		return "mL/min/1.73 m²"
	case "a":
		return "years"
	case "mm[Hg]":
		return "mmHg"
	case "kg/m2":
		return "kg/m²"
	case "{INR}", "1":
		return ""
	}
	return u
}

func withUnit(value, unit string) string {
	switch u := displayUnit(unit); u {
	case "":
		return value
	case "points":
		if value == "1" {
			return "1 point"
		}
		return value + " points"
	case "%":
		return value + "%"
	default:
		return value + " " + u
	}
}

// inputWords is an input name as a clinician reads it.
func inputWords(name string) string {
	if w, ok := inputNames[name]; ok {
		return w
	}
	return strings.ReplaceAll(name, "_", " ")
}

var inputNames = map[string]string{
	"age": "age", "sex": "sex", "race": "race",
	"total_cholesterol": "total cholesterol", "hdl_cholesterol": "HDL cholesterol",
	"systolic_bp": "systolic blood pressure", "on_bp_treatment": "on blood-pressure treatment",
	"on_statin": "on a statin", "diabetes": "diabetes", "current_smoker": "current smoker",
	"bmi": "body-mass index", "egfr": "eGFR", "creatinine": "serum creatinine",
	"chf": "congestive heart failure", "hypertension": "hypertension",
	"stroke_tia_thromboembolism": "prior stroke, TIA or thromboembolism", "vascular_disease": "vascular disease",
	"bilirubin": "total bilirubin", "inr": "INR", "sodium": "serum sodium", "albumin": "serum albumin",
	"dialysis_twice_past_week": "dialysis at least twice in the past week",
}

// sourceLabel is the card's source, short: the authors of the model's
// citation (its text up to the first full stop).
func sourceLabel(m *scoring.Model) string {
	label, _, _ := strings.Cut(m.Citation, ".")
	return label
}

// sourceURL links the model's citation: its DOI (New serves only models
// that have one).
func sourceURL(m *scoring.Model) string { return "https://doi.org/" + m.DOI }

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
