package fhir

import (
	"os"
	"strings"
	"testing"
)

// secret stands for a patient value: no error may contain it.
const secret = "4711.0815"

func TestDecodeRefuses(t *testing.T) {
	tests := []struct{ name, data string }{
		{"empty", ``},
		{"not JSON", `<Patient xmlns="http://hl7.org/fhir"/>`},
		{"truncated", `{"resourceType":"Patient","id":"` + secret},
		{"trailing data", `{"resourceType":"Patient"} {"resourceType":"Patient"}`},
		{"array", `[{"resourceType":"Patient"}]`},
		{"string", `"` + secret + `"`},
		{"number", secret},
		{"object without resourceType", `{"id":"` + secret + `"}`},
		{"resourceType not a string", `{"resourceType":` + secret + `}`},
		{"id not a string", `{"resourceType":"Patient","id":` + secret + `}`},
		{"OperationOutcome", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","diagnostics":"` + secret + `"}]}`},
		{"transaction Bundle", `{"resourceType":"Bundle","type":"transaction","entry":[]}`},
		{"Bundle without type", `{"resourceType":"Bundle","entry":[]}`},
		{"entry not an object", `{"resourceType":"Bundle","type":"searchset","entry":[` + secret + `]}`},
		{"entry resource not an object", `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":"` + secret + `"}]}`},
		{"entry resource without resourceType", `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"id":"x"}}]}`},
		{"status a number", `{"resourceType":"Observation","status":` + secret + `}`},
		{"value a string", `{"resourceType":"Observation","status":"final","valueQuantity":{"value":"` + secret + `"}}`},
		{"coding not a list", `{"resourceType":"Condition","code":{"coding":{"code":"` + secret + `"}}}`},
		{"birthDate a number", `{"resourceType":"Patient","birthDate":` + secret + `}`},
		{"doNotPerform a string", `{"resourceType":"MedicationRequest","doNotPerform":"` + secret + `"}`},
		{"contained garbage", `{"resourceType":"MedicationRequest","contained":[{"resourceType":"Medication","code":` + secret + `}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Decode([]byte(tt.data))
			if err == nil {
				t.Fatalf("Decode accepted it: %+v", rs)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "4711") {
				t.Errorf("error %q quotes the value", err)
			}
			if strings.Contains(err.Error(), "json:") || strings.Contains(err.Error(), "Go struct") {
				t.Errorf("error %q is encoding/json's text, not the element's name", err)
			}
			if !strings.HasPrefix(err.Error(), "fhir: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string // refs, in order
	}{
		{"null", `null`, nil},
		{"null with whitespace", " \n null \t", nil},
		{"empty searchset", `{"resourceType":"Bundle","type":"searchset","total":0}`, nil},
		{"collection", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}`, []string{"Patient/p"}},
		{"single resource with unknown elements", `{"resourceType":"Patient","id":"p","x-vendor":{"a":[1,2]},"name":[{"family":"Chalmers"}],"_birthDate":{"extension":[]}}`, []string{"Patient/p"}},
		{"unknown resource type with a type element", `{"resourceType":"Encounter","id":"e","type":[{"text":"visit"}],"status":"finished"}`, []string{"Encounter/e"}},
		{"entries without resource, outcome skipped", `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"x"},{"resource":null},` +
			`{"resource":{"resourceType":"OperationOutcome","issue":[]},"search":{"mode":"outcome"}},{"resource":{"resourceType":"Condition","id":"c"},"search":{"mode":"match"}},` +
			`{"resource":{"resourceType":"Medication","id":"m"},"search":{"mode":"include"}}],"link":[{"relation":"next","url":"https://fhir.example.org/page2"}]}`, []string{"Condition/c", "Medication/m"}},
		{"an OperationOutcome entry without search mode", `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"incomplete"}]}},{"resource":{"resourceType":"Condition","id":"c"}}]}`, []string{"Condition/c"}},
		{"contained resources of other types", `{"resourceType":"Observation","id":"o","status":"final","contained":[{"resourceType":"Specimen","id":"s","type":{"text":"serum"}}],"specimen":{"reference":"#s"}}`, []string{"Observation/o"}},
		{"absent optional elements", `{"resourceType":"Observation"}`, []string{"Observation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Decode([]byte(tt.data))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.Ref())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("resources %v, want %v", got, tt.want)
			}
		})
	}
}

// A searchset as an EHR sends it: a page of labs with links, fullUrls,
// categories, and an OperationOutcome warning entry.
func TestDecodeSearchset(t *testing.T) {
	data, err := os.ReadFile("testdata/pce-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("%d resources, want 4 (the outcome entry skipped)", len(rs))
	}
	for _, r := range rs {
		if r.Type != "Observation" || r.b == nil {
			t.Errorf("%s not decoded as an Observation", r.Ref())
		}
	}
}

// The chart keeps a resource once when two keys (or two pages) carry it.
func TestChartDedupe(t *testing.T) {
	c := chartOf(t, map[string]string{"a": bundle(quantityObs("o1", "2093-3", day(1), 200, "mg/dL"))})
	rs, _ := Decode([]byte(bundle(quantityObs("o1", "2093-3", day(1), 200, "mg/dL"), quantityObs("o2", "2093-3", day(2), 190, "mg/dL"))))
	c.Add("b", rs)
	if n := len(c.of("Observation")); n != 2 {
		t.Errorf("%d observations, want 2", n)
	}
	if !c.Satisfied("a") || !c.Satisfied("b") || c.Satisfied("c") {
		t.Error("satisfied keys wrong")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`null`, `{"resourceType":"Patient"}`, bundle(quantityObs("o", "2093-3", "2026-01-01", 1, "mg/dL")), `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{}}]}`,
		bundle(medRequest("m", "active", `"contained":[{"resourceType":"Medication","id":"x y"}],"medicationReference":{"reference":"#x y"}`))} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Decode(data)
		if err != nil {
			return
		}
		for _, c := range []*Chart{{}, NewChart("p1")} {
			for _, key := range []string{KeyPatient, KeyObservations, KeyConditions, KeyMedications, KeyProcedures} {
				_ = c.Add(key, rs) // a refusal leaves the key out
			}
			for _, model := range services {
				m, _ := Map(testCatalog, model, c, now)
				_ = m.Raw()
			}
		}
	})
}

// Ids go into card Markdown and provenance: one that is not a FHIR id
// ([A-Za-z0-9\-\.]{1,64}) makes the resource unusable and is never echoed.
func TestInvalidIDNeverUsed(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		id   string
		used bool
	}{
		{"o-1.2", true},
		{long, true},
		{long + "a", false},
		{"](javascript:alert(1))", false},
		{"o 1", false},
		{"ö1", false},
		{"o/1", false},
	}
	for _, tt := range tests {
		obs := withSubject(quantityObs(tt.id, "2093-3", day(3), 180, "mg/dL"), "Patient/p1")
		rs, err := Decode([]byte(bundle(obs)))
		if err != nil {
			t.Fatalf("id %q: %v", tt.id, err)
		}
		if !tt.used && (rs[0].ID != "" || rs[0].Ref() != "Observation/(invalid id)") {
			t.Errorf("id %q: ID %q Ref %q; want it dropped", tt.id, rs[0].ID, rs[0].Ref())
		}
		c := NewChart("p1")
		if err := c.Add(KeyObservations, rs); err != nil {
			t.Fatalf("id %q: %v", tt.id, err)
		}
		m, _ := Map(testCatalog, "ascvd-pce", c, now)
		in, ok := m.Inputs["total_cholesterol"]
		if ok != tt.used {
			t.Errorf("id %q: used %v, want %v", tt.id, ok, tt.used)
		}
		if ok && in.Source != "Observation/"+tt.id {
			t.Errorf("id %q: source %q", tt.id, in.Source)
		}
	}
	// A contained Medication with a bad id is not read (and does not panic).
	med := `{"resourceType":"MedicationRequest","id":"m1","status":"active","intent":"order","subject":{"reference":"Patient/p1"},` +
		`"contained":[{"resourceType":"Medication","id":"x y","code":{"text":"atorvastatin 10 MG"}}],"medicationReference":{"reference":"#x y"}}`
	rs, err := Decode([]byte(bundle(med)))
	if err != nil {
		t.Fatal(err)
	}
	c := NewChart("p1")
	if err := c.Add(KeyMedications, rs); err != nil {
		t.Fatal(err)
	}
	m, _ := Map(testCatalog, "prevent-10y", c, now)
	if in, ok := m.Inputs["on_statin"]; ok && in.Value == true {
		t.Errorf("on_statin true from a Medication with an invalid id")
	}
}
