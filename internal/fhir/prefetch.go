package fhir

import (
	"slices"
	"strconv"
	"strings"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// Prefetch keys. A key is satisfied when the caller has added its data to
// the Chart (Chart.Add), even with no resources.
const (
	KeyPatient     = "patient"
	KeyConditions  = "conditions"
	KeyMedications = "medications"
	KeyProcedures  = "procedures"
	// KeyObservations is not asked for by Prefetch (it asks per group,
	// below); Observations added under it, or under any key, are read all
	// the same.
	KeyObservations = "observations"
)

// Observation prefetch keys: one search per group of inputs, so that the
// one page a prefetch value may hold (CDS Hooks 2.0, "no next page links
// allowed") is not filled by one kind of result crowding out the others.
const (
	KeyLipids        = "lipids"         // total and HDL cholesterol
	KeyBloodPressure = "blood-pressure" // systolic, alone or in a panel
	KeySmoking       = "smoking"        // tobacco smoking status
	KeyKidney        = "kidney"         // creatinine, eGFR, urine albumin/creatinine
	KeyBodySize      = "body-size"      // BMI, weight, height
	KeyLiver         = "liver"          // bilirubin, INR, albumin
	KeySodium        = "sodium"
	KeyHbA1c         = "hba1c"
)

// observationKeys maps the Observation inputs to their prefetch key.
var observationKeys = map[string]string{
	"total_cholesterol": KeyLipids, "hdl_cholesterol": KeyLipids,
	"systolic_bp":    KeyBloodPressure,
	"current_smoker": KeySmoking,
	"creatinine":     KeyKidney, "egfr": KeyKidney, "uacr": KeyKidney,
	"bmi":       KeyBodySize,
	"bilirubin": KeyLiver, "inr": KeyLiver, "albumin": KeyLiver,
	"sodium": KeySodium,
	"hba1c":  KeyHbA1c,
}

// observationPage is the size of the one page an Observation key asks for:
// newest first, so the latest result of each code is on it; a hundred
// covers a group's codes with room for repeated measurements (an
// inpatient's blood pressures).
const observationPage = 100

// services are the models with a CDS service: those whose inputs an EHR
// holds (shared/CDS_HOOKS.md, "Services"), in discovery order.
var services = []string{"ascvd-pce", "prevent-10y", "prevent-30y", "cha2ds2-vasc", "ckd-epi-2021", "meld-na", "meld-3.0"}

// Services lists the model ids that have a CDS service, in a stable order.
func Services() []string { return slices.Clone(services) }

// Prefetch returns the prefetch templates the service for model needs, key
// → query, within the CDS Hooks 2.0 restricted subset (instance read, type
// search by patient={{context.patientId}}, token equality with
// system|code lists, _count, _sort): the Patient; per group of inputs
// (KeyLipids, KeyBloodPressure, ...), the final, amended or corrected
// Observations of the LOINC codes those inputs are read from, newest
// first, one page of observationPage; and, as its inputs need them, all
// Conditions (history items count resolved ones), active
// MedicationRequests, and dialysis Procedures. MedicationStatements count
// when a caller adds them to the chart, but are not asked for: CDS clients
// hold the medication list as MedicationRequests (US Core), and an extra
// key a client cannot satisfy would only cost a fetch. The inputs are
// model's in catalog c. ok is false for a model with no service.
func Prefetch(c *scoring.Catalog, model string) (templates map[string]string, ok bool) {
	names, ok := serviceInputs(c, model)
	if !ok {
		return nil, false
	}
	t := map[string]string{}
	loinc := map[string][]string{} // key → codes
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
			key := observationKeys[name]
			loinc[key] = append(loinc[key], observationCodes(name)...)
		}
		if name == "egfr" { // derived from creatinine, age and sex when no eGFR is recorded
			t[KeyPatient] = "Patient/{{context.patientId}}"
		}
	}
	for key, codes := range loinc {
		// status: the statuses the mapping reads (latest), so that
		// preliminary or cancelled results do not take the page.
		t[key] = "Observation?patient={{context.patientId}}&code=" + tokens(systemLOINC, dedupe(codes)) +
			"&status=final,amended,corrected&_sort=-date&_count=" + strconv.Itoa(observationPage)
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
