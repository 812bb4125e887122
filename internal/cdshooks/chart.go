package cdshooks

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/healthcare-prediction/api/internal/fhir"
	"github.com/healthcare-prediction/api/internal/scoring"
)

// mapped is what the chart gives a card: the /predict inputs, each input
// used with its provenance, the required inputs missing, and what was
// assumed.
type mapped struct {
	inputs map[string]json.RawMessage
	used   []used
	gaps   []gap
	notes  []string
}

// used is one input taken from the chart.
type used struct {
	name    string
	value   json.RawMessage // exactly what /predict gets
	unit    string          // canonical unit, "" for booleans and enums
	source  string          // "Observation/123", "derived:ckd-epi-2021", "absent"
	display string          // the value as a clinician reads it
	date    string          // effective date, "" when none applies
}

// gap is an input that could not be used, and why, in a clinician's words.
type gap struct{ name, reason string }

// mapChart decodes the prefetch data (only the service's own keys) into a
// chart and maps it onto the inputs of model, of catalog c, at time now. A
// key the service fetched itself that does not decode is the EHR's FHIR
// server's failure (412), not a bad request by the client (400).
func mapChart(c *scoring.Catalog, model *scoring.Model, patientID string, prefetch map[string]json.RawMessage, fetched map[string]bool, now time.Time) (*mapped, error) {
	chart := fhir.NewChart(patientID) // other patients' resources are refused, never mixed in
	keys := make([]string, 0, len(prefetch))
	for k := range prefetch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		res, err := fhir.Decode(prefetch[key])
		if err == nil {
			err = chart.Add(key, res)
		}
		switch {
		case err != nil && fetched[key]:
			return nil, refuse(KindPrefetchRequired, "required prefetch key "+key+" is absent and the FHIR server's answer to it "+
				"is not a FHIR R4 resource or searchset Bundle of this patient's")
		case err != nil:
			var re *fhir.ResourceError
			if errors.As(err, &re) {
				// Entry, type and rule: never a value or an id.
				msg := re.Type + ": " + re.Reason
				if re.Entry >= 0 {
					msg = "Bundle entry " + strconv.Itoa(re.Entry) + " (" + msg + ")"
				}
				return nil, badField("prefetch."+key, msg)
			}
			return nil, badField("prefetch."+key, "is not a FHIR R4 resource, a searchset Bundle or null")
		}
	}
	m, ok := fhir.Map(c, model.ID, chart, now)
	if !ok {
		return nil, refuse(KindUnknownService, "no CDS service has this id; GET /cds-services lists them")
	}
	raw := m.Raw()
	mp := &mapped{inputs: raw}
	for _, in := range model.Inputs {
		v, ok := m.Inputs[in.Name]
		if !ok {
			continue
		}
		u := used{name: in.Name, value: raw[in.Name], unit: v.Unit, source: v.Source, display: display(v)}
		if !v.Date.IsZero() {
			u.date = v.Date.Format(time.DateOnly)
		}
		if len(v.From) > 0 {
			u.source += " (from " + strings.Join(v.From, ", ") + ")"
		}
		mp.used = append(mp.used, u)
		switch {
		case v.Source == "absent":
			mp.notes = append(mp.notes, inputWords(in.Name)+": nothing in the chart records it, so it is taken as no")
		case strings.HasPrefix(v.Source, "derived:"):
			mp.notes = append(mp.notes, inputWords(in.Name)+": not recorded, computed ("+strings.TrimPrefix(v.Source, "derived:")+")")
		}
	}
	for _, g := range m.Missing {
		if g.Required {
			mp.gaps = append(mp.gaps, gap{name: g.Name, reason: g.Reason})
		} else {
			mp.notes = append(mp.notes, inputWords(g.Name)+": "+g.Reason+"; the model's default applies")
		}
	}
	return mp, nil
}

// display is an input's value as the card's table shows it.
func display(in fhir.Input) string {
	switch v := in.Value.(type) {
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case float64:
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if len(s) > 8 { // a converted unit: enough digits to read, the extension has them all
			s = strconv.FormatFloat(v, 'g', 4, 64)
		}
		if in.Unit != "" {
			return s + " " + displayUnit(in.Unit)
		}
		return s
	case string:
		return strings.ReplaceAll(v, "_", " ")
	}
	return ""
}
