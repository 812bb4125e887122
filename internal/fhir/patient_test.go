package fhir

import (
	"strings"
	"testing"
	"time"
)

// Age in completed years from birthDate to the day of the call.
func TestAge(t *testing.T) {
	tests := []struct {
		birth string
		at    time.Time
		want  float64 // < 0: missing
	}{
		{"1971-12-05", now, 55}, // birthday today
		{"1971-12-06", now, 54}, // birthday tomorrow
		{"1971-11-30", now, 55}, // last month
		{"1972-02-29", time.Date(2027, 2, 28, 12, 0, 0, 0, time.UTC), 54}, // leap-day birth, not yet in a common year
		{"1972-02-29", time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), 55},
		{"1972-02-29", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), 56},
		{"1971", now, -1},       // year only: completed years unknown
		{"1971-12", now, -1},    // month only
		{"2027-01-01", now, -1}, // after the call
		{"5 Dec 1971", now, -1},
		{"", now, -1},
	}
	for _, tt := range tests {
		c := chartOf(t, map[string]string{KeyPatient: patient("male", tt.birth, "2106-3")})
		m, _ := Map(testCatalog, "cha2ds2-vasc", c, tt.at)
		in, ok := m.Inputs["age"]
		if tt.want < 0 {
			if ok {
				t.Errorf("birth %q: age %v, want missing", tt.birth, in.Value)
			}
			continue
		}
		if !ok || in.Value != tt.want || in.Source != "Patient/p1" || in.Unit != "a" {
			t.Errorf("birth %q at %s: %+v, want %v a from Patient/p1", tt.birth, tt.at.Format(time.DateOnly), in, tt.want)
		}
	}
	// No Patient, or two of them.
	if _, gap := mapOne(t, "cha2ds2-vasc", "age", map[string]string{KeyConditions: "null"}); gap == nil || !strings.Contains(gap.Reason, "no Patient") {
		t.Errorf("no patient: gap %+v", gap)
	}
	two := bundle(patient("male", "1950-01-01"), strings.Replace(patient("male", "1950-01-01"), `"id":"p1"`, `"id":"p2"`, 1))
	rs, err := Decode([]byte(two))
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Chart{}).Add(KeyPatient, rs); err == nil {
		t.Errorf("two patients: Add accepted them")
	}
}

// Sex from Patient.gender: male and female; other and unknown are missing.
func TestSex(t *testing.T) {
	for gender, want := range map[string]string{"male": "male", "female": "female", "other": "", "unknown": "", "": "", "Male": ""} {
		in, gap := mapOne(t, "cha2ds2-vasc", "sex", map[string]string{KeyPatient: patient(gender, "1950-01-01")})
		if want == "" {
			if gap == nil {
				t.Errorf("gender %q: sex %v, want missing", gender, in.Value)
			}
			continue
		}
		if gap != nil || in.Value != want {
			t.Errorf("gender %q: %+v %+v", gender, in, gap)
		}
	}
}

// Race from the US Core race extension's ombCategory (OMB 1997 codes).
func TestRace(t *testing.T) {
	tests := []struct {
		name  string
		codes []string
		want  string // "" missing
	}{
		{"White", []string{"2106-3"}, "white"},
		{"Black or African American", []string{"2054-5"}, "african_american"},
		{"Asian", []string{"2028-9"}, "other"},
		{"American Indian or Alaska Native", []string{"1002-5"}, "other"},
		{"Native Hawaiian or Other Pacific Islander", []string{"2076-8"}, "other"},
		{"Asian and Native Hawaiian (both other)", []string{"2028-9", "2076-8"}, "other"},
		{"White twice", []string{"2106-3", "2106-3"}, "white"},
		{"White and Black", []string{"2106-3", "2054-5"}, ""},
		{"White and Asian", []string{"2106-3", "2028-9"}, ""},
		{"none recorded", nil, ""},
		{"a detailed code as ombCategory", []string{"1586-7"}, ""},
	}
	for _, tt := range tests {
		in, gap := mapOne(t, "ascvd-pce", "race", map[string]string{KeyPatient: patient("female", "1960-01-01", tt.codes...)})
		if tt.want == "" {
			if gap == nil {
				t.Errorf("%s: race %v, want missing", tt.name, in.Value)
			}
			continue
		}
		if gap != nil || in.Value != tt.want {
			t.Errorf("%s: %+v %+v, want %s", tt.name, in, gap, tt.want)
		}
	}
	// The race extension as US Core's example Patient carries it: three OMB
	// categories (White, American Indian or Alaska Native, Asian), two
	// detailed codes and a text. White and other differ: missing.
	usCore := `{"resourceType":"Patient","id":"example","extension":[{"extension":[` +
		`{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3","display":"White"}},` +
		`{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"1002-5","display":"American Indian or Alaska Native"}},` +
		`{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2028-9","display":"Asian"}},` +
		`{"url":"detailed","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"1586-7","display":"Shoshone"}},` +
		`{"url":"detailed","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2036-2","display":"Filipino"}},` +
		`{"url":"text","valueString":"Mixed"}],"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"}],` +
		`"gender":"male","birthDate":"1987-02-20"}`
	if in, gap := mapOne(t, "ascvd-pce", "race", map[string]string{KeyPatient: usCore}); gap == nil || !strings.Contains(gap.Reason, "more than one") {
		t.Errorf("US Core example: %+v %+v, want missing (more than one category)", in, gap)
	}
	if in, _ := mapOne(t, "ascvd-pce", "sex", map[string]string{KeyPatient: usCore}); in.Value != "male" || in.Source != "Patient/example" {
		t.Errorf("US Core example sex: %+v", in)
	}

	// UNK / ASKU come from the v3 NullFlavor system: missing. A race coding
	// outside the US Core extension is not read.
	unk := `{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1960-01-01","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",` +
		`"extension":[{"url":"ombCategory","valueCoding":{"system":"http://terminology.hl7.org/CodeSystem/v3-NullFlavor","code":"UNK"}},{"url":"text","valueString":"Unknown"}]},` +
		`{"url":"http://example.org/other-race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3"}}]}]}`
	if _, gap := mapOne(t, "ascvd-pce", "race", map[string]string{KeyPatient: unk}); gap == nil {
		t.Error("UNK race: mapped, want missing")
	}
}
