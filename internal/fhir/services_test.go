package fhir

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestServices(t *testing.T) {
	want := []string{"ascvd-pce", "prevent-10y", "prevent-30y", "cha2ds2-vasc", "ckd-epi-2021", "meld-na", "meld-3.0"}
	if got := Services(); !slices.Equal(got, want) {
		t.Fatalf("Services() = %v, want %v", got, want)
	}
	Services()[0] = "changed"
	if Services()[0] != "ascvd-pce" {
		t.Error("Services returns the package's own slice")
	}
	for _, id := range []string{"qsofa", "news2", "no-such-model", ""} {
		if _, ok := Prefetch(testCatalog, id); ok {
			t.Errorf("Prefetch(%q) ok", id)
		}
		if _, ok := Map(testCatalog, id, &Chart{}, now); ok {
			t.Errorf("Map(testCatalog, %q) ok", id)
		}
	}
}

// Templates stay within the CDS Hooks 2.0 restricted subset ("Prefetch
// query restrictions", cds-hooks/docs specification/current.md): instance
// read of the patient, or a type search by patient={{context.patientId}}
// with token equality (system|code lists, and status lists), _count and
// _sort only. Observations come one group of inputs per key, final,
// amended or corrected, newest first, one page of 100: a prefetch value
// is one page ("no next page links allowed").
func TestPrefetchTemplates(t *testing.T) {
	read := regexp.MustCompile(`^Patient/\{\{context\.patientId\}\}$`)
	token := regexp.MustCompile(`^[a-z0-9:/._-]+\|[A-Za-z0-9.-]+$`)
	wantKeys := map[string][]string{
		"ascvd-pce":    {KeyBloodPressure, KeyConditions, KeyLipids, KeyMedications, KeyPatient, KeySmoking},
		"prevent-10y":  {KeyBloodPressure, KeyBodySize, KeyConditions, KeyHbA1c, KeyKidney, KeyLipids, KeyMedications, KeyPatient, KeySmoking},
		"prevent-30y":  {KeyBloodPressure, KeyBodySize, KeyConditions, KeyHbA1c, KeyKidney, KeyLipids, KeyMedications, KeyPatient, KeySmoking},
		"cha2ds2-vasc": {KeyConditions, KeyPatient},
		"ckd-epi-2021": {KeyKidney, KeyPatient},
		"meld-na":      {KeyKidney, KeyLiver, KeyProcedures, KeySodium},
		"meld-3.0":     {KeyKidney, KeyLiver, KeyPatient, KeyProcedures, KeySodium},
	}
	for _, model := range Services() {
		templates, ok := Prefetch(testCatalog, model)
		if !ok {
			t.Fatalf("%s: no templates", model)
		}
		var keys []string
		for key, tpl := range templates {
			keys = append(keys, key)
			if read.MatchString(tpl) {
				continue
			}
			typ, query, ok := strings.Cut(tpl, "?")
			if !ok || !slices.Contains([]string{"Observation", "Condition", "MedicationRequest", "Procedure"}, typ) {
				t.Errorf("%s %s: %q is neither a patient read nor a search", model, key, tpl)
				continue
			}
			q, err := url.ParseQuery(query)
			if err != nil {
				t.Errorf("%s %s: %v", model, key, err)
				continue
			}
			if q.Get("patient") != "{{context.patientId}}" {
				t.Errorf("%s %s: patient=%q", model, key, q.Get("patient"))
			}
			if typ == "Observation" && (q.Get("status") == "" || q.Get("_sort") == "" || q.Get("_count") == "") {
				t.Errorf("%s %s: an Observation search without status, _sort and _count: %q", model, key, tpl)
			}
			for p, vs := range q {
				if len(vs) != 1 {
					t.Errorf("%s %s: parameter %q repeated", model, key, p)
				}
				switch p {
				case "patient":
				case "code":
					for _, tok := range strings.Split(vs[0], ",") {
						if !token.MatchString(tok) {
							t.Errorf("%s %s: token %q is not system|code", model, key, tok)
						}
					}
				case "status":
					want := "active"
					if typ == "Observation" {
						want = "final,amended,corrected" // the statuses latest reads
					}
					if vs[0] != want {
						t.Errorf("%s %s: status=%q, want %q", model, key, vs[0], want)
					}
				case "_count":
					if typ != "Observation" || vs[0] != "100" {
						t.Errorf("%s %s: _count=%q", model, key, vs[0])
					}
				case "_sort":
					if vs[0] != "-date" {
						t.Errorf("%s %s: _sort=%q", model, key, vs[0])
					}
				default:
					t.Errorf("%s %s: parameter %q outside the subset this service uses", model, key, p)
				}
			}
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys[model]) {
			t.Errorf("%s: keys %v, want %v", model, keys, wantKeys[model])
		}
	}
	p, _ := Prefetch(testCatalog, "ascvd-pce")
	for key, want := range map[string]string{
		KeyLipids: "Observation?patient={{context.patientId}}&code=http://loinc.org|2093-3,http://loinc.org|14647-2,http://loinc.org|2085-9,http://loinc.org|14646-4" +
			"&status=final,amended,corrected&_sort=-date&_count=100",
		KeyBloodPressure: "Observation?patient={{context.patientId}}&code=http://loinc.org|8480-6,http://loinc.org|85354-9,http://loinc.org|55284-4" +
			"&status=final,amended,corrected&_sort=-date&_count=100",
		KeySmoking: "Observation?patient={{context.patientId}}&code=http://loinc.org|72166-2&status=final,amended,corrected&_sort=-date&_count=100",
	} {
		if p[key] != want {
			t.Errorf("ascvd-pce %s:\n got %s\nwant %s", key, p[key], want)
		}
	}
	p, _ = Prefetch(testCatalog, "meld-na")
	if p[KeyProcedures] != "Procedure?patient={{context.patientId}}&code=http://snomed.info/sct|108241001,http://snomed.info/sct|265764009&_sort=-date" {
		t.Errorf("meld-na procedures: %s", p[KeyProcedures])
	}
}

// One complete chart per service: every required input mapped, and the
// inputs object is exactly what POST /predict takes. PCE: the Goff 2014
// worked example (white man, 55, total cholesterol 213 mg/dL, HDL 50,
// untreated systolic 120, non-smoker, no diabetes).
func TestCompleteCharts(t *testing.T) {
	full := map[string]string{
		KeyPatient: patient("male", "1971-06-01", "2106-3"),
		KeyObservations: bundle(
			quantityObs("tc", "2093-3", day(30), 213, "mg/dL"),
			quantityObs("hdl", "2085-9", day(30), 50, "mg/dL"),
			quantityObs("sbp", "8480-6", day(5), 120, "mm[Hg]"),
			smokingObs("smk", day(60), systemSNOMED, "266919005"),
			quantityObs("cr", "2160-0", day(10), 1.0, "mg/dL"),
			quantityObs("bmi", "39156-5", day(5), 27, "kg/m2"),
			quantityObs("bili", "1975-2", day(2), 1.9, "mg/dL"),
			quantityObs("inr", "6301-6", day(2), 1.5, "1"),
			quantityObs("na", "2951-2", day(2), 134, "mmol/L"),
			quantityObs("alb", "1751-7", day(2), 3.2, "g/dL"),
		),
		KeyConditions:  "null",
		KeyMedications: bundle(),
		KeyProcedures:  "null",
	}
	for _, model := range Services() {
		m, _ := Map(testCatalog, model, chartOf(t, full), now)
		if !m.Complete() {
			t.Errorf("%s: incomplete: %+v", model, m.Missing)
			continue
		}
		sm, _ := testCatalog.Model(model)
		if _, err := sm.Predict(m.Raw()); err != nil {
			t.Errorf("%s: the mapped inputs do not predict: %v", model, err)
		}
	}
	m, _ := Map(testCatalog, "ascvd-pce", chartOf(t, full), now)
	got, _ := json.Marshal(m.Raw())
	want := `{"age":55,"current_smoker":false,"diabetes":false,"hdl_cholesterol":50,"on_bp_treatment":false,"race":"white","sex":"male","systolic_bp":120,"total_cholesterol":213}`
	if string(got) != want {
		t.Errorf("PCE inputs\n got %s\nwant %s", got, want)
	}
	sm, _ := testCatalog.Model("ascvd-pce")
	p, _ := sm.Predict(m.Raw())
	if p.Result.Value < 5.3 || p.Result.Value > 5.4 {
		t.Errorf("PCE for the Goff example = %v %%, want 5.38 (exact equation)", p.Result.Value)
	}
	for name, in := range m.Inputs {
		if in.Source == "" {
			t.Errorf("%s has no source", name)
		}
	}
}

// Reasons are read by clinicians and may reach logs: they name the input
// and the rule, never a value from the chart.
func TestReasonsCarryNoPatientValue(t *testing.T) {
	const v = 4711.0815
	keys := map[string]string{
		KeyPatient: `{"resourceType":"Patient","id":"p4711","gender":"other","birthDate":"4711"}`,
		KeyObservations: bundle(
			quantityObs("o4711", "2093-3", day(1), v, "mg/4711"),
			quantityObs("o4712", "2085-9", day(4000), v, "mg/dL"),
			obsWith("o4713", "8480-6", map[string]string{"valueQuantity": `{"value":4711.0815,"comparator":">","unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}`}),
			smokingObs("o4714", day(2), systemSNOMED, "4711"),
			quantityObs("o4715", "2160-0", day(1), v, "mg/dL"),
			quantityObs("o4716", "29463-7", day(1), v, "kg"),
			quantityObs("o4717", "1975-2", day(1), v, "mmol/4711"),
		),
	}
	for _, model := range Services() {
		m, _ := Map(testCatalog, model, chartOf(t, keys), now)
		if len(m.Missing) == 0 {
			t.Errorf("%s: no gaps", model)
		}
		for _, g := range m.Missing {
			if strings.Contains(g.Reason, "4711") || strings.Contains(g.Reason, "p4711") {
				t.Errorf("%s %s: reason %q carries a chart value", model, g.Name, g.Reason)
			}
			if g.Reason == "" || strings.HasPrefix(g.Reason, g.Name) {
				t.Errorf("%s %s: gap %+v", model, g.Name, g)
			}
		}
	}
}

// An input of a service model that FHIR does not carry (PREVENT's
// sdi_decile, once the catalog has it) is a gap and is never prefetched.
func TestInputsNotFromFHIR(t *testing.T) {
	mp := &mapper{model: "prevent-10y", chart: chartOf(t, nil), now: now}
	for _, name := range []string{"sdi_decile", "waist"} {
		if source(name) != "" {
			t.Errorf("source(%s) = %q", name, source(name))
		}
		if _, why := mp.input(name); why != "not read from FHIR data by this service" {
			t.Errorf("%s: reason %q", name, why)
		}
	}
}

// Every Observation input has its group key, and each LOINC code is asked
// for under one key only: one page per key holds each code's latest.
func TestObservationGroups(t *testing.T) {
	for _, model := range Services() {
		names, _ := serviceInputs(testCatalog, model)
		templates, _ := Prefetch(testCatalog, model)
		if _, ok := templates[""]; ok {
			t.Errorf("%s: a template under an empty key", model)
		}
		for _, name := range names {
			if source(name) == KeyObservations && observationKeys[name] == "" {
				t.Errorf("%s: input %s has no prefetch key", model, name)
			}
		}
		seen := map[string]string{}
		for key, tpl := range templates {
			if !strings.HasPrefix(tpl, "Observation?") {
				continue
			}
			for _, c := range prefetchCodes(t, tpl) {
				if other, ok := seen[c]; ok {
					t.Errorf("%s: %s asked for under %s and %s", model, c, other, key)
				}
				seen[c] = key
			}
		}
	}
}
