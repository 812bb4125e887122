package fhir

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// Mapping is the inputs of one model picked from a chart.
type Mapping struct {
	Model   string
	Inputs  map[string]Input // name → value in the model's canonical unit
	Missing []Gap            // inputs not found or not trusted, in catalog order
}

// Input is one input value and where it came from.
type Input struct {
	// Value is a float64 (in Unit, the model's canonical unit), a bool, or
	// a string enum value, as POST /predict takes it.
	Value any
	Unit  string // canonical unit (UCUM); empty for booleans and enums
	// Source is the relative reference of the resource the value was read
	// from ("Observation/123", "Patient/p1"), "derived:<what>" for a
	// computed value ("derived:ckd-epi-2021", "derived:bmi"), or "absent"
	// for a false read from a satisfied key with no matching resource.
	Source string
	// From lists the resources a derived value was computed from, and those
	// a dialysis count was read from.
	From []string
	Date time.Time // effective date of the observation; zero when none applies
}

// Gap is an input the mapping could not fill. Reason says why, for a
// clinician, without repeating the input's name (show it next to Name) and
// never with a value from the chart.
type Gap struct {
	Name     string
	Reason   string
	Required bool // the model cannot be computed without it
}

// Complete reports whether every required input was found.
func (m Mapping) Complete() bool {
	for _, g := range m.Missing {
		if g.Required {
			return false
		}
	}
	return true
}

// Raw returns the inputs as the "inputs" object of POST /predict (and the
// argument of scoring.Model.Predict): numbers in the canonical unit,
// booleans and enum strings as they are.
func (m Mapping) Raw() map[string]json.RawMessage {
	raw := make(map[string]json.RawMessage, len(m.Inputs))
	for name, in := range m.Inputs {
		b, err := json.Marshal(in.Value)
		if err != nil { // Value is only ever a finite float64, a bool or a string
			continue
		}
		raw[name] = b
	}
	return raw
}

// serviceInputs lists the input names of a model of c with a service.
func serviceInputs(c *scoring.Catalog, model string) ([]string, bool) {
	m, ok := serviceModel(c, model)
	if !ok {
		return nil, false
	}
	names := make([]string, len(m.Inputs))
	for i, in := range m.Inputs {
		names[i] = in.Name
	}
	return names, true
}

func serviceModel(c *scoring.Catalog, model string) (*scoring.Model, bool) {
	if !slices.Contains(services, model) {
		return nil, false
	}
	return c.Model(model)
}

// source is the prefetch key an input is read from; "" for an input this
// package does not read from FHIR (e.g. PREVENT's sdi_decile).
func source(name string) string {
	switch name {
	case "age", "sex", "race":
		return KeyPatient
	case "on_bp_treatment", "on_statin":
		return KeyMedications
	case "dialysis_twice_past_week":
		return KeyProcedures
	}
	for _, c := range conditions {
		if c.input == name {
			return KeyConditions
		}
	}
	switch name {
	case "current_smoker", "egfr", "bmi":
		return KeyObservations
	}
	if labCodes(name) != nil {
		return KeyObservations
	}
	return ""
}

// Map picks the inputs of model, as catalog c lists them, from chart at
// time now (the time of the call; ages and staleness are counted to it);
// a derived eGFR is computed by c's ckd-epi-2021. ok is false for a model
// with no service.
func Map(c *scoring.Catalog, model string, chart *Chart, now time.Time) (m Mapping, ok bool) {
	sm, ok := serviceModel(c, model)
	if !ok {
		return Mapping{}, false
	}
	if chart == nil {
		chart = &Chart{}
	}
	mp := &mapper{catalog: c, model: model, chart: chart, now: now}
	m = Mapping{Model: model, Inputs: map[string]Input{}}
	for _, in := range sm.Inputs {
		v, reason := mp.input(in.Name)
		if reason != "" {
			m.Missing = append(m.Missing, Gap{Name: in.Name, Reason: reason, Required: in.Required})
			continue
		}
		v.Unit = in.Unit
		m.Inputs[in.Name] = v
	}
	return m, true
}
