package fhir

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// now is the time of the test hook call.
var now = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

// testCatalog is the scoring catalog the tests map onto, as the CDS
// service passes its own.
var testCatalog = scoring.NewCatalog()

// day is a FHIR date daysAgo days before now.
func day(daysAgo int) string { return now.AddDate(0, 0, -daysAgo).Format(time.DateOnly) }

// quantityObs is an Observation coded with LOINC code, final, on date,
// with a UCUM valueQuantity.
func quantityObs(id, code, date string, value float64, unit string) string {
	return fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":%q}]},`+
		`"effectiveDateTime":%q,"valueQuantity":{"value":%v,"unit":%q,"system":"http://unitsofmeasure.org","code":%q}}`,
		id, code, date, value, unit, unit)
}

// obsWith is quantityObs with extra top-level elements replacing the
// defaults given by name (status, effectiveDateTime, valueQuantity ...).
func obsWith(id, code string, fields map[string]string) string {
	f := map[string]string{
		"status":            `"final"`,
		"effectiveDateTime": fmt.Sprintf("%q", day(10)),
	}
	for k, v := range fields {
		f[k] = v
	}
	parts := []string{`"resourceType":"Observation"`, fmt.Sprintf(`"id":%q`, id),
		fmt.Sprintf(`"code":{"coding":[{"system":"http://loinc.org","code":%q}]}`, code)}
	for k, v := range f {
		if v != "" {
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func smokingObs(id, date, system, code string) string {
	return fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},`+
		`"effectiveDateTime":%q,"valueCodeableConcept":{"coding":[{"system":%q,"code":%q}]}}`, id, date, system, code)
}

func patient(gender, birthDate string, ombCodes ...string) string {
	var ext []string
	for _, c := range ombCodes {
		ext = append(ext, fmt.Sprintf(`{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":%q}}`, c))
	}
	ext = append(ext, `{"url":"text","valueString":"as the patient said"}`)
	return fmt.Sprintf(`{"resourceType":"Patient","id":"p1","gender":%q,"birthDate":%q,`+
		`"extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[%s]}]}`,
		gender, birthDate, strings.Join(ext, ","))
}

func conditionRes(id, system, code, clinical, verification string) string {
	s := fmt.Sprintf(`{"resourceType":"Condition","id":%q,"code":{"coding":[{"system":%q,"code":%q}]}`, id, system, code)
	if clinical != "" {
		s += fmt.Sprintf(`,"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":%q}]}`, clinical)
	}
	if verification != "" {
		s += fmt.Sprintf(`,"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":%q}]}`, verification)
	}
	return s + "}"
}

func medRequest(id, status, medication string) string {
	return fmt.Sprintf(`{"resourceType":"MedicationRequest","id":%q,"status":%q,"intent":"order",%s,"subject":{"reference":"Patient/p1"}}`, id, status, medication)
}

func rxnorm(code, display string) string {
	return fmt.Sprintf(`"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":%q,"display":%q}]}`, code, display)
}

func dialysisProc(id, status, code, performed string) string {
	return fmt.Sprintf(`{"resourceType":"Procedure","id":%q,"status":%q,"code":{"coding":[{"system":"http://snomed.info/sct","code":%q}]},"performedDateTime":%q}`,
		id, status, code, performed)
}

// bundle wraps resources in a searchset Bundle.
func bundle(resources ...string) string {
	entries := make([]string, len(resources))
	for i, r := range resources {
		entries[i] = `{"resource":` + r + `,"search":{"mode":"match"}}`
	}
	return `{"resourceType":"Bundle","type":"searchset","total":` + fmt.Sprint(len(resources)) + `,"entry":[` + strings.Join(entries, ",") + `]}`
}

// chartOf builds a chart with each key satisfied by its JSON value.
func chartOf(t *testing.T, keys map[string]string) *Chart {
	t.Helper()
	c := &Chart{}
	for k, v := range keys {
		rs, err := Decode([]byte(v))
		if err != nil {
			t.Fatalf("Decode(%s): %v", k, err)
		}
		if err := c.Add(k, rs); err != nil {
			t.Fatalf("Add(%s): %v", k, err)
		}
	}
	return c
}

// mapOne maps model from keys and returns the named input, or its gap.
func mapOne(t *testing.T, model, name string, keys map[string]string) (Input, *Gap) {
	t.Helper()
	m, ok := Map(testCatalog, model, chartOf(t, keys), now)
	if !ok {
		t.Fatalf("Map(%s): no service", model)
	}
	if in, ok := m.Inputs[name]; ok {
		return in, nil
	}
	for i := range m.Missing {
		if m.Missing[i].Name == name {
			return Input{}, &m.Missing[i]
		}
	}
	t.Fatalf("Map(%s): input %s neither mapped nor missing", model, name)
	return Input{}, nil
}
