package fhir

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
)

// prefetchCodes lists the system|code tokens of a template's code parameter.
func prefetchCodes(t *testing.T, template string) []string {
	t.Helper()
	_, query, _ := strings.Cut(template, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatalf("template %q: %v", template, err)
	}
	if q.Get("code") == "" {
		return nil
	}
	return strings.Split(q.Get("code"), ",")
}

// observationCodesOf are the codes of all the Observation templates.
func observationCodesOf(t *testing.T, templates map[string]string) []string {
	t.Helper()
	var codes []string
	for _, tpl := range templates {
		if strings.HasPrefix(tpl, "Observation?") {
			codes = append(codes, prefetchCodes(t, tpl)...)
		}
	}
	return codes
}

// modelFor is a service model that takes input (uacr and hba1c: whichever
// takes them, once the catalog has them).
func modelFor(input string) string {
	for _, id := range services {
		names, _ := serviceInputs(testCatalog, id)
		if contains(names, input) {
			return id
		}
	}
	return ""
}

// Every LOINC code of the contract's table, each read into its input in
// the canonical unit. Sources: shared/CDS_HOOKS.md "From FHIR to model
// inputs"; units are those of each code's LOINC property (MCnc mg/dL,
// SCnc mmol/L or umol/L, Ratio 1).
func TestLabCodes(t *testing.T) {
	tests := []struct {
		input, loinc string
		value        float64
		unit         string
		want         float64
	}{
		{"total_cholesterol", "2093-3", 213, "mg/dL", 213},
		{"total_cholesterol", "14647-2", 5.5, "mmol/L", 5.5 / 0.02586},
		{"hdl_cholesterol", "2085-9", 50, "mg/dL", 50},
		{"hdl_cholesterol", "14646-4", 1.3, "mmol/L", 1.3 / 0.02586},
		{"systolic_bp", "8480-6", 120, "mm[Hg]", 120},
		{"creatinine", "2160-0", 1.1, "mg/dL", 1.1},
		{"creatinine", "38483-4", 0.9, "mg/dL", 0.9},
		{"creatinine", "14682-9", 97.24, "umol/L", 97.24 / 88.4},
		{"egfr", "98979-8", 74, "mL/min/{1.73_m2}", 74},
		{"bmi", "39156-5", 27.4, "kg/m2", 27.4},
		{"bilirubin", "1975-2", 1.8, "mg/dL", 1.8},
		{"bilirubin", "14631-6", 34.2, "umol/L", 2},
		{"inr", "6301-6", 1.4, "1", 1.4},
		{"inr", "34714-6", 1.6, "{INR}", 1.6},
		{"sodium", "2951-2", 131, "mmol/L", 131},
		{"sodium", "2947-0", 133, "meq/L", 133},
		{"albumin", "1751-7", 3.1, "g/dL", 3.1},
		{"albumin", "61151-7", 28, "g/L", 2.8},
	}
	for _, tt := range tests {
		t.Run(tt.input+"/"+tt.loinc, func(t *testing.T) {
			model := modelFor(tt.input)
			in, gap := mapOne(t, model, tt.input, map[string]string{
				KeyObservations: bundle(quantityObs("o1", tt.loinc, day(3), tt.value, tt.unit)),
			})
			if gap != nil {
				t.Fatalf("%s from %s: missing (%s)", tt.input, tt.loinc, gap.Reason)
			}
			if got := in.Value.(float64); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("%s from %s = %v, want %v", tt.input, tt.loinc, got, tt.want)
			}
			if in.Source != "Observation/o1" || in.Date.Format("2006-01-02") != day(3) {
				t.Errorf("provenance = %q %v, want Observation/o1 on %s", in.Source, in.Date, day(3))
			}
			templates, _ := Prefetch(testCatalog, model)
			if !contains(observationCodesOf(t, templates), "http://loinc.org|"+tt.loinc) {
				t.Errorf("prefetch of %s does not ask for %s", model, tt.loinc)
			}
		})
	}
}

// uacr and hba1c are read only for a model whose catalog entry takes them:
// for every other service they are neither mapped nor prefetched.
func TestOptionalLabsOnlyWhereAccepted(t *testing.T) {
	obs := bundle(
		quantityObs("u1", "9318-7", day(3), 30, "mg/g"),
		quantityObs("u2", "14959-1", day(4), 30, "mg/g"),
		quantityObs("u3", "32294-1", day(5), 30, "mg/g"),
		quantityObs("h1", "4548-4", day(3), 6.1, "%"),
		quantityObs("h2", "17856-6", day(4), 6.1, "%"),
		quantityObs("h3", "59261-8", day(5), 43, "mmol/mol"),
	)
	for _, model := range services {
		names, _ := serviceInputs(testCatalog, model)
		m, _ := Map(testCatalog, model, chartOf(t, map[string]string{KeyObservations: obs}), now)
		templates, _ := Prefetch(testCatalog, model)
		for input, codes := range map[string][]string{"uacr": {"9318-7", "14959-1", "32294-1"}, "hba1c": {"4548-4", "17856-6", "59261-8"}} {
			_, mapped := m.Inputs[input]
			takes := contains(names, input)
			if mapped && !takes {
				t.Errorf("%s: %s mapped but the model does not take it", model, input)
			}
			if takes && !mapped {
				t.Errorf("%s takes %s but it was not mapped", model, input)
			}
			for _, c := range codes {
				if got := contains(observationCodesOf(t, templates), "http://loinc.org|"+c); got != takes {
					t.Errorf("%s: prefetch asks for %s = %v, want %v", model, c, got, takes)
				}
			}
		}
	}
	// The codes themselves are recognised (the reader finds them) whatever the catalog says.
	mp := &mapper{model: "prevent-10y", chart: chartOf(t, map[string]string{KeyObservations: obs}), now: now}
	for input, want := range map[string]string{"uacr": "Observation/u1", "hba1c": "Observation/h1"} {
		v, ok := mp.latest(labCodes(input), nil)
		if !ok || v.ref != want {
			t.Errorf("latest %s = %q, %v; want %s", input, v.ref, ok, want)
		}
	}
}

// Status: only final, amended and corrected results count (CDS_HOOKS.md);
// a preliminary result does not hide an older final one.
func TestObservationStatus(t *testing.T) {
	for _, tt := range []struct {
		status string
		used   bool
	}{
		{"final", true}, {"amended", true}, {"corrected", true},
		{"registered", false}, {"preliminary", false}, {"cancelled", false},
		{"entered-in-error", false}, {"unknown", false}, {"", false},
	} {
		t.Run(tt.status, func(t *testing.T) {
			newer := obsWith("new", "2093-3", map[string]string{
				"status":            `"` + tt.status + `"`,
				"effectiveDateTime": `"` + day(1) + `"`,
				"valueQuantity":     `{"value":250,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}`,
			})
			older := quantityObs("old", "2093-3", day(100), 180, "mg/dL")
			in, gap := mapOne(t, "ascvd-pce", "total_cholesterol", map[string]string{KeyObservations: bundle(newer, older)})
			if gap != nil {
				t.Fatalf("missing: %s", gap.Reason)
			}
			want := "Observation/old"
			if tt.used {
				want = "Observation/new"
			}
			if in.Source != want {
				t.Errorf("status %q: source %s, want %s", tt.status, in.Source, want)
			}
		})
	}
}

// The date of a result: effectiveDateTime, else effectivePeriod.end, else
// issued; the most recent wins; no date, or a date in the future: skipped.
func TestObservationDates(t *testing.T) {
	q := `{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}`
	tests := []struct {
		name   string
		fields map[string]string
		want   string // source, or "" for missing
	}{
		{"effectiveDateTime", map[string]string{"effectiveDateTime": `"` + day(2) + `T08:30:00-05:00"`}, "Observation/x"},
		{"effectiveInstant", map[string]string{"effectiveDateTime": "", "effectiveInstant": `"` + day(2) + `T08:30:00.123Z"`}, "Observation/x"},
		{"effectivePeriod.end", map[string]string{"effectiveDateTime": "", "effectivePeriod": `{"start":"` + day(3) + `","end":"` + day(2) + `"}`}, "Observation/x"},
		{"issued", map[string]string{"effectiveDateTime": "", "issued": `"` + day(2) + `T09:00:00+01:00"`}, "Observation/x"},
		{"partial year-month", map[string]string{"effectiveDateTime": `"` + day(40)[:7] + `"`}, "Observation/x"},
		{"period without end and no issued", map[string]string{"effectiveDateTime": "", "effectivePeriod": `{"start":"` + day(3) + `"}`}, ""},
		{"no date", map[string]string{"effectiveDateTime": ""}, ""},
		{"unparseable date", map[string]string{"effectiveDateTime": `"last Tuesday"`}, ""},
		{"time without zone", map[string]string{"effectiveDateTime": `"` + day(2) + `T08:30:00"`}, ""},
		{"future", map[string]string{"effectiveDateTime": `"` + now.AddDate(0, 0, 2).Format("2006-01-02") + `"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fields["valueQuantity"] = q
			in, gap := mapOne(t, "ascvd-pce", "systolic_bp", map[string]string{KeyObservations: bundle(obsWith("x", "8480-6", tt.fields))})
			if tt.want == "" {
				if gap == nil {
					t.Fatalf("mapped from %s, want missing", in.Source)
				}
				return
			}
			if gap != nil || in.Source != tt.want {
				t.Fatalf("got %+v, gap %+v; want %s", in, gap, tt.want)
			}
		})
	}
	// Ordering across the three date elements.
	in, _ := mapOne(t, "ascvd-pce", "systolic_bp", map[string]string{KeyObservations: bundle(
		obsWith("a", "8480-6", map[string]string{"effectiveDateTime": `"` + day(5) + `"`, "valueQuantity": q}),
		obsWith("b", "8480-6", map[string]string{"effectiveDateTime": "", "effectivePeriod": `{"end":"` + day(1) + `T07:00:00Z"}`, "valueQuantity": q}),
		obsWith("c", "8480-6", map[string]string{"effectiveDateTime": "", "issued": `"` + day(3) + `T07:00:00Z"`, "valueQuantity": q}),
	)})
	if in.Source != "Observation/b" {
		t.Errorf("latest of three = %s, want Observation/b", in.Source)
	}
}

// Units: converted with the catalog's table; anything else (another
// unit, a non-UCUM system, a comparator, no value) is missing, never a
// guess. The latest result decides: an unreadable newer result is not
// replaced by an older readable one.
func TestObservationUnits(t *testing.T) {
	tests := []struct {
		name, quantity string
		want           float64 // < 0: missing
		reason         string
	}{
		{"UCUM code", `{"value":5.2,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}`, 5.2 / 0.02586, ""},
		{"code without display unit", `{"value":200,"system":"http://unitsofmeasure.org","code":"mg/dL"}`, 200, ""},
		{"display unit only, a catalog unit", `{"value":200,"unit":"mg/dL"}`, 200, ""},
		{"display unit only, not a catalog unit", `{"value":200,"unit":"mg/100mL"}`, -1, "not one the service converts"},
		{"unknown UCUM unit", `{"value":2,"unit":"g/L","system":"http://unitsofmeasure.org","code":"g/L"}`, -1, "not one the service converts"},
		{"another unit system", `{"value":200,"unit":"mg/dL","system":"http://example.org/units","code":"mg/dL"}`, -1, "not a UCUM unit"},
		{"code without system", `{"value":200,"unit":"mg/dL","code":"mg/dL"}`, -1, "not a UCUM unit"},
		{"comparator", `{"value":300,"comparator":">","unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}`, -1, "bound"},
		{"no value", `{"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}`, -1, "no numeric value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newer := obsWith("new", "2093-3", map[string]string{"effectiveDateTime": `"` + day(1) + `"`, "valueQuantity": tt.quantity})
			older := quantityObs("old", "2093-3", day(30), 180, "mg/dL")
			in, gap := mapOne(t, "ascvd-pce", "total_cholesterol", map[string]string{KeyObservations: bundle(older, newer)})
			if tt.want < 0 {
				if gap == nil {
					t.Fatalf("mapped %v from %s, want missing", in.Value, in.Source)
				}
				if !strings.Contains(gap.Reason, tt.reason) {
					t.Errorf("reason %q, want it to say %q", gap.Reason, tt.reason)
				}
				return
			}
			if gap != nil || math.Abs(in.Value.(float64)-tt.want) > 1e-9 || in.Source != "Observation/new" {
				t.Fatalf("got %+v (gap %+v), want %v from Observation/new", in, gap, tt.want)
			}
		})
	}
	// A value in a component or valueCodeableConcept is not a quantity.
	_, gap := mapOne(t, "ascvd-pce", "total_cholesterol", map[string]string{KeyObservations: bundle(
		obsWith("s", "2093-3", map[string]string{"valueString": `"213 mg/dL"`}))})
	if gap == nil {
		t.Error("valueString read as a quantity")
	}
}

// INR is a ratio: UCUM 1, the annotations {INR} and {ratio}, or no unit.
func TestINRUnits(t *testing.T) {
	for _, tt := range []struct {
		quantity string
		ok       bool
	}{
		{`{"value":1.3,"system":"http://unitsofmeasure.org","code":"1"}`, true},
		{`{"value":1.3,"unit":"INR","system":"http://unitsofmeasure.org","code":"{INR}"}`, true},
		{`{"value":1.3,"system":"http://unitsofmeasure.org","code":"{ratio}"}`, true},
		{`{"value":1.3}`, true},
		{`{"value":1.3,"unit":"s","system":"http://unitsofmeasure.org","code":"s"}`, false}, // a prothrombin time, not an INR
		{`{"value":1.3,"unit":"%","system":"http://unitsofmeasure.org","code":"%"}`, false},
	} {
		in, gap := mapOne(t, "meld-na", "inr", map[string]string{KeyObservations: bundle(obsWith("i", "6301-6", map[string]string{"valueQuantity": tt.quantity}))})
		if (gap == nil) != tt.ok {
			t.Errorf("INR %s: mapped=%v (%+v), want %v", tt.quantity, gap == nil, in, tt.ok)
		}
		if tt.ok && in.Value.(float64) != 1.3 {
			t.Errorf("INR %s = %v, want 1.3", tt.quantity, in.Value)
		}
	}
}

// Every maximum age of the table: a result one day inside the limit is
// used, one day outside is missing with the limit in the reason.
func TestMaximumAges(t *testing.T) {
	codes := map[string]struct{ loinc, unit string }{
		"total_cholesterol": {"2093-3", "mg/dL"}, "hdl_cholesterol": {"2085-9", "mg/dL"}, "systolic_bp": {"8480-6", "mm[Hg]"},
		"creatinine": {"2160-0", "mg/dL"}, "egfr": {"98979-8", "mL/min/{1.73_m2}"}, "bmi": {"39156-5", "kg/m2"},
		"bilirubin": {"1975-2", "mg/dL"}, "inr": {"6301-6", "1"}, "sodium": {"2951-2", "mmol/L"}, "albumin": {"1751-7", "g/dL"},
	}
	checked := 0
	for _, row := range maxAges {
		c, ok := codes[row.input]
		if !ok {
			continue // smoking, weight, height, uacr, hba1c: tested where they are read
		}
		models := row.models
		if models == nil {
			models = []string{modelFor(row.input)}
			if row.input == "creatinine" {
				models = []string{"ckd-epi-2021"}
			}
		}
		for _, model := range models {
			if names, _ := serviceInputs(testCatalog, model); !contains(names, row.input) {
				continue // albumin: MELD 3.0 only
			}
			oldest := row.oldest(now)
			inside := oldest.AddDate(0, 0, 1).Format("2006-01-02")
			outside := oldest.AddDate(0, 0, -1).Format("2006-01-02")
			keys := func(date string) map[string]string {
				return map[string]string{KeyObservations: bundle(quantityObs("o", c.loinc, date, 1.5, c.unit)), KeyPatient: patient("female", "1960-01-01")}
			}
			if _, gap := mapOne(t, model, row.input, keys(inside)); gap != nil {
				t.Errorf("%s in %s dated %s (limit %s): missing (%s)", row.input, model, inside, row.words, gap.Reason)
			}
			_, gap := mapOne(t, model, row.input, keys(outside))
			if row.input == "egfr" {
				continue // a stale eGFR falls back to creatinine; tested in TestEGFR
			}
			if gap == nil || !strings.Contains(gap.Reason, "older than "+row.words) {
				t.Errorf("%s in %s dated %s (limit %s): gap %+v, want older than %s", row.input, model, outside, row.words, gap, row.words)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Errorf("checked %d limits; the table changed shape", checked)
	}
	// Every observation input of every service has a limit.
	for _, model := range services {
		names, _ := serviceInputs(testCatalog, model)
		for _, n := range names {
			if source(n) != KeyObservations {
				continue
			}
			if _, ok := limit(model, n); !ok {
				t.Errorf("%s: input %s has no maximum age", model, n)
			}
		}
	}
}

// Systolic pressure from the 85354-9 panel's (and 55284-4's) 8480-6
// component, e.g. the FHIR R4 example Observation "blood-pressure"
// (hl7.org/fhir/R4/observation-example-bloodpressure.json: 107/60 mm[Hg],
// interpretation, bodySite and all, dated here within the limit).
func TestBloodPressurePanel(t *testing.T) {
	r4Example := `{"resourceType":"Observation","id":"blood-pressure","meta":{"profile":["http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
	 "identifier":[{"system":"urn:ietf:rfc:3986","value":"urn:uuid:187e0c12-8dd2-67e2-99b2-bf273c878281"}],"basedOn":[{"identifier":{"system":"https://acme.org/identifiers","value":"1234"}}],
	 "status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],
	 "code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel with all children optional"}],"text":"Blood pressure systolic & diastolic"},
	 "subject":{"reference":"Patient/example"},"effectiveDateTime":"` + day(20) + `","performer":[{"reference":"Practitioner/example"}],
	 "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"L","display":"low"}],"text":"Below low normal"}],
	 "bodySite":{"coding":[{"system":"http://snomed.info/sct","code":"368209003","display":"Right arm"}]},
	 "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic blood pressure"},{"system":"http://snomed.info/sct","code":"271649006","display":"Systolic blood pressure"},{"system":"http://acme.org/devices/clinical-codes","code":"bp-s","display":"Systolic Blood pressure"}]},
	   "valueQuantity":{"value":107,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"},
	   "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"normal"}],"text":"Normal"}]},
	  {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4","display":"Diastolic blood pressure"}]},
	   "valueQuantity":{"value":60,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`
	in, gap := mapOne(t, "ascvd-pce", "systolic_bp", map[string]string{KeyObservations: bundle(r4Example)})
	if gap != nil || in.Value != 107.0 || in.Source != "Observation/blood-pressure" {
		t.Fatalf("R4 example: %+v %+v, want 107 from Observation/blood-pressure", in, gap)
	}
	older := quantityObs("alone", "8480-6", day(40), 130, "mm[Hg]")
	panel55284 := strings.Replace(strings.Replace(r4Example, "85354-9", "55284-4", 1), `"id":"blood-pressure"`, `"id":"old-panel"`, 1)
	in, _ = mapOne(t, "ascvd-pce", "systolic_bp", map[string]string{KeyObservations: bundle(older, panel55284)})
	if in.Source != "Observation/old-panel" {
		t.Errorf("55284-4 panel: source %s", in.Source)
	}
	// A panel with only a diastolic component is no systolic reading.
	noSys := strings.Replace(r4Example, `"code":"8480-6"`, `"code":"8462-4"`, 1)
	in, _ = mapOne(t, "ascvd-pce", "systolic_bp", map[string]string{KeyObservations: bundle(older, noSys)})
	if in.Source != "Observation/alone" {
		t.Errorf("panel without a systolic component: source %s, want Observation/alone", in.Source)
	}
}

// Smoking status answers, exactly as the contract lists them.
func TestSmokingStatus(t *testing.T) {
	tests := []struct {
		system, code string
		want         any // bool, or nil for missing
	}{
		{systemSNOMED, "449868002", true},       // Current every day smoker
		{systemSNOMED, "428041000124106", true}, // Current some day smoker
		{systemSNOMED, "428071000124103", true}, // Current heavy tobacco smoker
		{systemSNOMED, "428061000124105", true}, // Current light tobacco smoker
		{systemSNOMED, "77176002", true},        // Smoker, current status unknown
		{systemSNOMED, "8517006", false},        // Former smoker
		{systemSNOMED, "266919005", false},      // Never smoker
		{systemSNOMED, "266927001", nil},        // Unknown if ever smoked
		{systemSNOMED, "230063004", nil},        // Heavy cigarette smoker: not in the list, so not read
		{"http://example.org/local", "449868002", nil},
	}
	for _, tt := range tests {
		in, gap := mapOne(t, "ascvd-pce", "current_smoker", map[string]string{KeyObservations: bundle(smokingObs("s", day(30), tt.system, tt.code))})
		switch {
		case tt.want == nil && gap == nil:
			t.Errorf("%s|%s: mapped %v, want missing", tt.system, tt.code, in.Value)
		case tt.want != nil && (gap != nil || in.Value != tt.want):
			t.Errorf("%s|%s: %+v %+v, want %v", tt.system, tt.code, in, gap, tt.want)
		}
	}
	// Conflicting answers in one result, and a result older than a year.
	both := `{"resourceType":"Observation","id":"b","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},"effectiveDateTime":"` + day(3) +
		`","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"77176002"},{"system":"http://snomed.info/sct","code":"266919005"}]}}`
	if _, gap := mapOne(t, "ascvd-pce", "current_smoker", map[string]string{KeyObservations: bundle(both)}); gap == nil || !strings.Contains(gap.Reason, "conflicting") {
		t.Errorf("conflicting answers: gap %+v", gap)
	}
	if _, gap := mapOne(t, "ascvd-pce", "current_smoker", map[string]string{KeyObservations: bundle(smokingObs("s", day(370), systemSNOMED, "8517006"))}); gap == nil || !strings.Contains(gap.Reason, "older than 1 year") {
		t.Errorf("stale smoking status: gap %+v", gap)
	}
}

// The documented limits, pinned: a change to the table is a clinical
// decision and must change this test too.
func TestMaximumAgeTable(t *testing.T) {
	want := map[string]string{
		"meld-na/bilirubin": "30 days", "meld-na/creatinine": "30 days", "meld-na/inr": "30 days", "meld-na/sodium": "30 days",
		"meld-3.0/albumin": "30 days", "meld-3.0/creatinine": "30 days",
		"ascvd-pce/total_cholesterol": "5 years", "ascvd-pce/hdl_cholesterol": "5 years", "ascvd-pce/systolic_bp": "1 year",
		"ascvd-pce/current_smoker": "1 year", "ckd-epi-2021/creatinine": "1 year", "prevent-10y/egfr": "1 year",
		"prevent-10y/uacr": "1 year", "prevent-10y/hba1c": "1 year", "prevent-10y/bmi": "1 year",
		"prevent-10y/weight": "1 year", "prevent-10y/height": "5 years",
	}
	for key, words := range want {
		model, input, _ := strings.Cut(key, "/")
		r, ok := limit(model, input)
		if !ok || r.words != words {
			t.Errorf("%s: limit %q, want %q", key, r.words, words)
		}
		if !strings.Contains(r.words, fmt.Sprint(r.years+r.months+r.days)) {
			t.Errorf("%s: words %q disagree with %d/%d/%d", key, r.words, r.years, r.months, r.days)
		}
		if r.basis == "" {
			t.Errorf("%s: no basis", key)
		}
	}
}
