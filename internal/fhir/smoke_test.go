package fhir

import (
	"os"
	"testing"
	"time"
)

func TestSmokePCE(t *testing.T) {
	data, err := os.ReadFile("testdata/pce-bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	obs, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	pat, err := Decode([]byte(`{"resourceType":"Patient","id":"p1","gender":"male","birthDate":"1971-03-02","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"ombCategory","valueCoding":{"system":"urn:oid:2.16.840.1.113883.6.238","code":"2106-3","display":"White"}},{"url":"text","valueString":"White"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var c Chart
	c.Add(KeyPatient, pat)
	c.Add(KeyObservations, obs)
	c.Add(KeyConditions, nil)
	c.Add(KeyMedications, nil)
	m, ok := Map("ascvd-pce", &c, time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	t.Logf("%v %+v", ok, m)
	t.Logf("%s", m.Raw())
	p, _ := Prefetch("prevent-10y")
	t.Logf("%v", p)
}
