package fhir

import (
	"errors"
	"strings"
	"testing"
)

// withSubject gives a resource JSON object a subject reference.
func withSubject(res, ref string) string {
	return strings.Replace(res, `{`, `{"subject":{"reference":`+`"`+ref+`"},`, 1)
}

// A chart bound to the hook's patient uses only that patient's resources:
// the reviewer's repro (a 320 mg/dL total cholesterol of another patient
// in the observations searchset) is refused, naming key and entry only.
func TestChartPatientBinding(t *testing.T) {
	mine := withSubject(quantityObs("o1", "2093-3", day(3), 180, "mg/dL"), "Patient/p1")
	other := withSubject(quantityObs("o2", "2093-3", day(1), 320, "mg/dL"), "Patient/someone-else")
	tests := []struct {
		name, key, data string
		entry           int // -2: accepted
	}{
		{"own relative subject", KeyObservations, bundle(mine), -2},
		{"own absolute subject", KeyObservations, bundle(withSubject(quantityObs("o3", "2093-3", day(3), 180, "mg/dL"), "https://ehr.example/fhir/Patient/p1")), -2},
		{"own versioned subject", KeyObservations, bundle(withSubject(quantityObs("o3", "2093-3", day(3), 180, "mg/dL"), "Patient/p1/_history/2")), -2},
		{"another patient's versioned subject", KeyObservations, bundle(withSubject(quantityObs("o3", "2093-3", day(3), 180, "mg/dL"), "https://ehr.example/fhir/Patient/p2/_history/2")), 0},
		{"another patient's observation", KeyObservations, bundle(mine, other), 1},
		{"another patient's absolute subject", KeyObservations, bundle(withSubject(quantityObs("o3", "2093-3", day(3), 180, "mg/dL"), "https://ehr.example/fhir/Patient/p12")), 0},
		{"subject not a Patient", KeyObservations, bundle(withSubject(quantityObs("o3", "2093-3", day(3), 180, "mg/dL"), "Group/p1")), 0},
		{"relative path ending in the patient", KeyObservations, bundle(withSubject(quantityObs("o3", "2093-3", day(3), 180, "mg/dL"), "x/Patient/p1")), 0},
		{"no subject", KeyObservations, bundle(quantityObs("o4", "2093-3", day(3), 180, "mg/dL")), 0},
		{"another patient's condition", KeyConditions, bundle(withSubject(conditionRes("c1", systemSNOMED, "38341003", "active", ""), "Patient/p2")), 0},
		{"another patient's order", KeyMedications, bundle(strings.Replace(medRequest("m1", "active", rxnorm("29046", "lisinopril")), "Patient/p1", "Patient/p2", 1)), 0},
		{"another patient's statement", KeyMedications, withSubject(`{"resourceType":"MedicationStatement","id":"s1","status":"active"}`, "Patient/p2"), -1},
		{"another patient's procedure", KeyProcedures, bundle(withSubject(dialysisProc("d1", "completed", "302497006", day(1)), "Patient/p2")), 0},
		{"another Patient", KeyPatient, strings.Replace(patient("male", "1950-01-01"), `"p1"`, `"p2"`, 1), -1},
		{"a Patient without id", KeyPatient, strings.Replace(patient("male", "1950-01-01"), `"id":"p1",`, ``, 1), -1},
		{"the Patient", KeyPatient, patient("male", "1950-01-01"), -2},
		{"same id, other content", KeyObservations, bundle(mine, strings.Replace(mine, "180", "320", 1)), 1},
		{"same resource twice", KeyObservations, bundle(mine, mine), -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Decode([]byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			c := NewChart("p1")
			err = c.Add(tt.key, rs)
			if tt.entry == -2 {
				if err != nil {
					t.Fatalf("Add: %v", err)
				}
				return
			}
			var re *ResourceError
			if !errors.As(err, &re) || re.Key != tt.key || re.Entry != tt.entry {
				t.Fatalf("Add: %v; want a ResourceError for %s entry %d", err, tt.key, tt.entry)
			}
			for _, leak := range []string{"p2", "someone-else", "p12", "320", "example"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q quotes the data (%s)", err, leak)
				}
			}
			if c.Satisfied(tt.key) || len(c.resources) != 0 {
				t.Errorf("a refused key was added")
			}
		})
	}
}

// The repro end to end: with the other patient's newer result refused,
// nothing of it reaches the mapping; the own data of other keys still maps.
func TestChartOtherPatientNeverUsed(t *testing.T) {
	c := NewChart("p1")
	for key, data := range map[string]string{
		KeyPatient:      patient("male", "1960-01-01", "2106-3"),
		KeyObservations: bundle(withSubject(quantityObs("o1", "2093-3", day(3), 180, "mg/dL"), "Patient/p1"), withSubject(quantityObs("o2", "2093-3", day(1), 320, "mg/dL"), "Patient/someone-else")),
	} {
		rs, err := Decode([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Add(key, rs) // the observations key is refused
	}
	m, _ := Map(testCatalog, "ascvd-pce", c, now)
	if in, ok := m.Inputs["total_cholesterol"]; ok {
		t.Fatalf("total_cholesterol %v from %s: another patient's data was used", in.Value, in.Source)
	}
	if _, ok := m.Inputs["age"]; !ok {
		t.Errorf("the patient's own age is missing")
	}
}

// An unbound chart (the zero value) still refuses a second patient.
func TestUnboundChartOnePatient(t *testing.T) {
	var c Chart
	rs, _ := Decode([]byte(patient("male", "1950-01-01")))
	if err := c.Add(KeyPatient, rs); err != nil {
		t.Fatal(err)
	}
	rs, _ = Decode([]byte(bundle(withSubject(quantityObs("o2", "2093-3", day(1), 320, "mg/dL"), "Patient/p2"))))
	if err := c.Add(KeyObservations, rs); err == nil {
		t.Fatal("an unbound chart took a second patient's observation")
	}
}
