package fhir

import (
	"slices"
	"strings"
)

// Prefetch keys. A key is satisfied when the caller has added its data to
// the Chart (Chart.Add), even with no resources.
const (
	KeyPatient      = "patient"
	KeyObservations = "observations"
	KeyConditions   = "conditions"
	KeyMedications  = "medications"
	KeyProcedures   = "procedures"
)

// services are the models with a CDS service: those whose inputs an EHR
// holds (shared/CDS_HOOKS.md, "Services"), in discovery order.
var services = []string{"ascvd-pce", "prevent-10y", "prevent-30y", "cha2ds2-vasc", "ckd-epi-2021", "meld-na", "meld-3.0"}

// Services lists the model ids that have a CDS service, in a stable order.
func Services() []string { return slices.Clone(services) }

// Prefetch returns the prefetch templates the service for model needs, key
// → query, within the CDS Hooks 2.0 restricted subset (instance read, type
// search by patient={{context.patientId}}, token lists as system|code,
// _sort): the Patient, the Observations of every LOINC code the model's
// inputs are read from (newest first), and, as its inputs need them, all
// Conditions (history items count resolved ones), active
// MedicationRequests, and dialysis Procedures. MedicationStatements count
// when a caller adds them to the chart, but are not asked for: CDS clients
// hold the medication list as MedicationRequests (US Core), and an extra
// key a client cannot satisfy would only cost a fetch. ok is false for a
// model with no service.
func Prefetch(model string) (templates map[string]string, ok bool) {
	names, ok := serviceInputs(model)
	if !ok {
		return nil, false
	}
	t := map[string]string{}
	var loinc []string
	for _, name := range names {
		switch source(name) {
		case KeyPatient:
			t[KeyPatient] = "Patient/{{context.patientId}}"
		case KeyConditions:
			t[KeyConditions] = "Condition?patient={{context.patientId}}"
		case KeyMedications:
			t[KeyMedications] = "MedicationRequest?patient={{context.patientId}}&status=active"
		case KeyProcedures:
			t[KeyProcedures] = "Procedure?patient={{context.patientId}}&code=" + tokens(systemSNOMED, dialysisCodes) + "&_sort=-date"
		case KeyObservations:
			loinc = append(loinc, observationCodes(name)...)
		}
		if name == "egfr" { // derived from creatinine, age and sex when no eGFR is recorded
			t[KeyPatient] = "Patient/{{context.patientId}}"
		}
	}
	if len(loinc) > 0 {
		t[KeyObservations] = "Observation?patient={{context.patientId}}&code=" + tokens(systemLOINC, dedupe(loinc)) + "&_sort=-date"
	}
	return t, true
}

// observationCodes lists the LOINC codes input name is read from,
// including those of derived values and panels.
func observationCodes(name string) []string {
	var codes []string
	switch name {
	case "systolic_bp":
		codes = append(codes, bpPanels...)
	case "current_smoker":
		return []string{loincSmoking}
	case "egfr":
		codes = append(codes, labCodes("creatinine")...)
	case "bmi":
		codes = append(codes, loincWeight, loincHeight)
	}
	return append(labCodes(name), codes...)
}

func labCodes(name string) []string {
	for _, l := range labs {
		if l.input == name {
			return l.loinc
		}
	}
	return nil
}

// tokens is a token search value: system|code pairs joined by commas (OR).
func tokens(system string, codes []string) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = system + "|" + c
	}
	return strings.Join(parts, ",")
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
