package fhir

import (
	"strings"
	"testing"
)

// Every SNOMED CT concept and ICD-10-CM prefix of the contract's condition
// rows makes its input true, from the Condition that carries it.
func TestConditionCodes(t *testing.T) {
	tests := []struct {
		input  string
		system string
		codes  []string
	}{
		{"diabetes", systemSNOMED, []string{"73211009", "44054006", "46635009"}},
		{"diabetes", systemICD10CM, []string{"E08.65", "E09.9", "E10.9", "E11.9", "E11", "E13.10", "E119"}},
		{"hypertension", systemSNOMED, []string{"38341003", "59621000"}},
		{"hypertension", systemICD10CM, []string{"I10", "I11.9", "I12.9", "I13.0", "I15.0", "I16.9"}},
		{"chf", systemSNOMED, []string{"84114007", "42343007"}},
		{"chf", systemICD10CM, []string{"I50.9", "I50.22"}},
		{"stroke_tia_thromboembolism", systemSNOMED, []string{"230690007", "266257000"}},
		{"stroke_tia_thromboembolism", systemICD10CM, []string{"I63.9", "G45.9", "I74.3"}},
		{"vascular_disease", systemSNOMED, []string{"22298006", "399957001"}},
		{"vascular_disease", systemICD10CM, []string{"I21.4", "I22.0", "I25.2", "I70.0", "I73.9", "i70.213"}},
	}
	for _, tt := range tests {
		for _, code := range tt.codes {
			in, gap := mapOne(t, "cha2ds2-vasc", tt.input, map[string]string{KeyConditions: bundle(conditionRes("c1", tt.system, code, "active", "confirmed"))})
			if gap != nil || in.Value != true || in.Source != "Condition/c1" {
				t.Errorf("%s from %s|%s: %+v %+v, want true from Condition/c1", tt.input, tt.system, code, in, gap)
			}
		}
	}
	// Near misses are not the condition: other ICD-10-CM codes of the same
	// chapter, a SNOMED code under the ICD system, a prefix in the middle.
	for input, code := range map[string]string{
		"vascular_disease": "I25.10", // chronic ischaemic heart disease without angina: not I25.2 (old MI)
		"hypertension":     "I27.0",  // pulmonary hypertension
		"diabetes":         "R73.03", // prediabetes
		"chf":              "I51.9",
	} {
		in, _ := mapOne(t, "cha2ds2-vasc", input, map[string]string{KeyConditions: bundle(conditionRes("c1", systemICD10CM, code, "active", ""))})
		if in.Value != false || in.Source != "absent" {
			t.Errorf("%s from ICD-10-CM %s: %+v, want false from absent", input, code, in)
		}
	}
	in, _ := mapOne(t, "cha2ds2-vasc", "chf", map[string]string{KeyConditions: bundle(conditionRes("c1", systemICD10CM, "84114007", "active", ""))})
	if in.Value != false {
		t.Errorf("a SNOMED code under the ICD-10-CM system counted: %+v", in)
	}
}

// Status rules: refuted or entered-in-error never count; diabetes and
// hypertension need clinicalStatus active, recurrence or relapse, while
// the history items count inactive, remission and resolved ones too.
func TestConditionStatus(t *testing.T) {
	clinical := []string{"active", "recurrence", "relapse", "inactive", "remission", "resolved", ""}
	verification := []string{"", "confirmed", "provisional", "differential", "unconfirmed", "refuted", "entered-in-error"}
	for _, cs := range clinical {
		for _, vs := range verification {
			conds := bundle(
				conditionRes("dm", systemSNOMED, "44054006", cs, vs),
				conditionRes("mi", systemSNOMED, "22298006", cs, vs),
			)
			m, _ := Map(testCatalog, "cha2ds2-vasc", chartOf(t, map[string]string{KeyConditions: conds}), now)
			refuted := vs == "refuted" || vs == "entered-in-error"
			active := cs == "active" || cs == "recurrence" || cs == "relapse"
			if got, want := m.Inputs["diabetes"].Value, active && !refuted; got != want {
				t.Errorf("diabetes, clinical %q, verification %q: %v, want %v", cs, vs, got, want)
			}
			if got, want := m.Inputs["vascular_disease"].Value, !refuted; got != want {
				t.Errorf("vascular disease (history), clinical %q, verification %q: %v, want %v", cs, vs, got, want)
			}
		}
	}
}

// A satisfied conditions key with no match is false from "absent"; an
// unsatisfied key leaves every condition missing. null counts as satisfied.
func TestConditionKey(t *testing.T) {
	for _, value := range []string{"null", bundle(), bundle(conditionRes("x", systemSNOMED, "195967001", "active", ""))} { // 195967001 Asthma
		m, _ := Map(testCatalog, "cha2ds2-vasc", chartOf(t, map[string]string{KeyConditions: value}), now)
		for _, c := range conditions {
			if in := m.Inputs[c.input]; in.Value != false || in.Source != "absent" {
				t.Errorf("%s with conditions %.40s: %+v, want false from absent", c.input, value, in)
			}
		}
	}
	m, _ := Map(testCatalog, "cha2ds2-vasc", chartOf(t, map[string]string{KeyPatient: patient("female", "1950-01-01")}), now)
	for _, c := range conditions {
		if _, ok := m.Inputs[c.input]; ok {
			t.Errorf("%s mapped without the conditions key", c.input)
		}
	}
	if len(m.Missing) != 5 || m.Complete() {
		t.Errorf("without conditions: %d gaps (%+v), complete %v; want the 5 conditions missing", len(m.Missing), m.Missing, m.Complete())
	}
	// Conditions arriving under another key still count once the conditions key is satisfied.
	c := chartOf(t, map[string]string{"extra": bundle(conditionRes("c9", systemSNOMED, "84114007", "active", ""))})
	c.Add(KeyConditions, nil)
	m, _ = Map(testCatalog, "cha2ds2-vasc", c, now)
	if m.Inputs["chf"].Source != "Condition/c9" {
		t.Errorf("chf from another key: %+v", m.Inputs["chf"])
	}
}

// Medications: an active MedicationRequest (with an order intent) or
// MedicationStatement whose ingredient is in the class, by RxNorm
// ingredient code or by name. An order whose Medication was not received
// leaves the inputs it does not prove true missing (unknown).
func TestMedications(t *testing.T) {
	lisinopril := rxnorm("29046", "lisinopril")
	tests := []struct {
		name, resource string
		bp, statin     bool
		unknown        bool
	}{
		{"RxNorm ingredient lisinopril", medRequest("m", "active", rxnorm("29046", "")), true, false, false},
		{"RxNorm ingredient rosuvastatin", medRequest("m", "active", rxnorm("301542", "")), false, true, false},
		{"RxNorm ingredient metoprolol", medRequest("m", "active", rxnorm("6918", "")), true, false, false},
		{"SCD display amlodipine", medRequest("m", "active", rxnorm("308135", "amlodipine 10 MG Oral Tablet")), true, false, false},
		{"SCD display hydrochlorothiazide", medRequest("m", "active", rxnorm("310798", "Hydrochlorothiazide 25 MG Oral Tablet")), true, false, false},
		{"SCD display losartan", medRequest("m", "active", rxnorm("979485", "losartan potassium 100 MG Oral Tablet")), true, false, false},
		{"SCD display atorvastatin", medRequest("m", "active", rxnorm("617312", "atorvastatin 10 MG Oral Tablet")), false, true, false},
		{"SCD display simvastatin", medRequest("m", "active", rxnorm("312961", "simvastatin 20 MG Oral Tablet")), false, true, false},
		{"combination amlodipine / atorvastatin", medRequest("m", "active", rxnorm("404011", "amlodipine 5 MG / atorvastatin 10 MG Oral Tablet")), true, true, false},
		{"text only", medRequest("m", "active", `"medicationCodeableConcept":{"text":"Metoprolol succinate ER 50 mg"}`), true, false, false},
		{"ezetimibe/simvastatin with a hyphen", medRequest("m", "active", `"medicationCodeableConcept":{"text":"ezetimibe-simvastatin 10-40 mg"}`), false, true, false},
		{"not an antihypertensive: metformin", medRequest("m", "active", rxnorm("6809", "metformin")), false, false, false},
		{"ingredient name inside another word", medRequest("m", "active", `"medicationCodeableConcept":{"text":"prelisinoprilx"}`), false, false, false},
		{"stopped", medRequest("m", "stopped", rxnorm("29046", "lisinopril")), false, false, false},
		{"completed", medRequest("m", "completed", rxnorm("83367", "atorvastatin")), false, false, false},
		{"on-hold", medRequest("m", "on-hold", rxnorm("29046", "lisinopril")), false, false, false},
		{"draft", medRequest("m", "draft", rxnorm("29046", "lisinopril")), false, false, false},
		{"do not perform", strings.Replace(medRequest("m", "active", rxnorm("29046", "lisinopril")), `"intent"`, `"doNotPerform":true,"intent"`, 1), false, false, false},
		{"contained Medication", `{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","contained":[{"resourceType":"Medication","id":"med1","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"36567"}]}}],"medicationReference":{"reference":"#med1"}}`, false, true, false},
		{"contained Medication with another id", `{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","contained":[{"resourceType":"Medication","id":"med2","code":{"text":"simvastatin"}}],"medicationReference":{"reference":"#med1"}}`, false, false, true},
		{"medicationReference display", `{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationReference":{"reference":"Medication/x9","display":"Pravastatin 40 mg tablet"}}`, false, true, true},
		{"Medication not received", `{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationReference":{"reference":"Medication/x9"}}`, false, false, true},
		{"Medication not received, order stopped", `{"resourceType":"MedicationRequest","id":"m","status":"stopped","intent":"order","medicationReference":{"reference":"Medication/x9"}}`, false, false, false},
		{"intent proposal", strings.Replace(medRequest("m", "active", lisinopril), `"order"`, `"proposal"`, 1), false, false, false},
		{"intent plan", strings.Replace(medRequest("m", "active", lisinopril), `"order"`, `"plan"`, 1), false, false, false},
		{"intent option", strings.Replace(medRequest("m", "active", lisinopril), `"order"`, `"option"`, 1), false, false, false},
		{"no intent", strings.Replace(medRequest("m", "active", lisinopril), `"intent":"order",`, ``, 1), false, false, false},
		{"intent original-order", strings.Replace(medRequest("m", "active", lisinopril), `"order"`, `"original-order"`, 1), true, false, false},
		{"intent reflex-order", strings.Replace(medRequest("m", "active", lisinopril), `"order"`, `"reflex-order"`, 1), true, false, false},
		{"intent filler-order", strings.Replace(medRequest("m", "active", lisinopril), `"order"`, `"filler-order"`, 1), true, false, false},
		{"intent instance-order", strings.Replace(medRequest("m", "active", lisinopril), `"order"`, `"instance-order"`, 1), true, false, false},
		{"MedicationStatement active", `{"resourceType":"MedicationStatement","id":"m","status":"active","medicationCodeableConcept":{"text":"valsartan 80 mg"},"subject":{"reference":"Patient/p1"}}`, true, false, false},
		{"MedicationStatement not-taken", `{"resourceType":"MedicationStatement","id":"m","status":"not-taken","medicationCodeableConcept":{"text":"valsartan 80 mg"},"subject":{"reference":"Patient/p1"}}`, false, false, false},
	}
	for _, tt := range tests {
		m, _ := Map(testCatalog, "prevent-10y", chartOf(t, map[string]string{KeyMedications: bundle(tt.resource)}), now)
		for input, want := range map[string]bool{"on_bp_treatment": tt.bp, "on_statin": tt.statin} {
			in, ok := m.Inputs[input]
			if !want && tt.unknown {
				if ok || !hasGap(m, input, "not received") {
					t.Errorf("%s: %s = %+v, want missing (Medication not received)", tt.name, input, in)
				}
				continue
			}
			wantSource := "absent"
			if want {
				wantSource = "MedicationRequest/m"
				if strings.Contains(tt.resource, "MedicationStatement") {
					wantSource = "MedicationStatement/m"
				}
			}
			if in.Value != want || in.Source != wantSource {
				t.Errorf("%s: %s = %+v, want %v from %s", tt.name, input, in, want, wantSource)
			}
		}
	}
	// A Medication resource referenced from the order, found in the chart.
	c := chartOf(t, map[string]string{
		KeyMedications: bundle(`{"resourceType":"MedicationRequest","id":"m","status":"active","intent":"order","medicationReference":{"reference":"Medication/x9"}}`,
			`{"resourceType":"Medication","id":"x9","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"52175","display":"losartan"}]}}`),
	})
	m, _ := Map(testCatalog, "prevent-10y", c, now)
	if m.Inputs["on_bp_treatment"].Value != true {
		t.Errorf("referenced Medication in the chart: %+v", m.Inputs["on_bp_treatment"])
	}
	// Without the medications key both are missing.
	m, _ = Map(testCatalog, "prevent-10y", chartOf(t, nil), now)
	for _, input := range []string{"on_bp_treatment", "on_statin"} {
		if _, ok := m.Inputs[input]; ok {
			t.Errorf("%s mapped without the medications key", input)
		}
	}
}

// Every ingredient of both classes is recognised by name, and by code
// where it has one; no ingredient is in both classes.
func TestIngredientTables(t *testing.T) {
	for input, class := range medicationClasses {
		for _, in := range class {
			byName := &codeableConcept{Text: in.name + " 10 MG Oral Tablet"}
			if !matchesIngredient(byName, class) {
				t.Errorf("%s: %s not recognised by name", input, in.name)
			}
			if in.rxnorm != "" && !matchesIngredient(&codeableConcept{Coding: []coding{{System: systemRxNorm, Code: in.rxnorm}}}, class) {
				t.Errorf("%s: %s not recognised by code", input, in.name)
			}
		}
	}
	for _, a := range antihypertensives {
		for _, s := range statins {
			if a.name == s.name || (a.rxnorm != "" && a.rxnorm == s.rxnorm) {
				t.Errorf("%s in both classes", a.name)
			}
		}
	}
	// An RxNorm code under another system is not the drug.
	if matchesIngredient(&codeableConcept{Coding: []coding{{System: "http://example.org/drugs", Code: "29046"}}}, antihypertensives) {
		t.Error("code 29046 of another system read as lisinopril")
	}
}

// Dialysis twice in the past week: at least two completed (or in-progress)
// dialysis procedures performed in the 7 days before the call.
func TestDialysis(t *testing.T) {
	recent := func(id string, daysAgo int) string {
		return dialysisProc(id, "completed", "108241001", now.AddDate(0, 0, -daysAgo).Format("2006-01-02T15:04:05Z07:00"))
	}
	tests := []struct {
		name  string
		procs []string
		want  bool
	}{
		{"two this week", []string{recent("d1", 1), recent("d2", 4)}, true},
		{"two, 265764009", []string{dialysisProc("d1", "completed", "265764009", day(2)+"T08:00:00Z"), dialysisProc("d2", "in-progress", "265764009", day(0)+"T08:00:00Z")}, true},
		{"one", []string{recent("d1", 1)}, false},
		{"two, one 8 days ago", []string{recent("d1", 1), recent("d2", 8)}, false},
		{"two, one not done", []string{recent("d1", 1), dialysisProc("d2", "not-done", "108241001", day(2)+"T08:00:00Z")}, false},
		{"two, one entered in error", []string{recent("d1", 1), dialysisProc("d2", "entered-in-error", "108241001", day(2)+"T08:00:00Z")}, false},
		{"two, one another procedure", []string{recent("d1", 1), dialysisProc("d2", "completed", "71651007", day(2)+"T08:00:00Z")}, false}, // 71651007 Mammography
		{"two, one in the future", []string{recent("d1", 1), dialysisProc("d2", "completed", "108241001", now.AddDate(0, 0, 1).Format(time3339))}, false},
		{"performedPeriod", []string{recent("d1", 1), `{"resourceType":"Procedure","id":"d2","status":"completed","code":{"coding":[{"system":"http://snomed.info/sct","code":"108241001"}]},"performedPeriod":{"start":"` + day(3) + `T08:00:00Z","end":"` + day(3) + `T12:00:00Z"}}`}, true},
		{"none", nil, false},
	}
	for _, tt := range tests {
		in, gap := mapOne(t, "meld-na", "dialysis_twice_past_week", map[string]string{KeyProcedures: bundle(tt.procs...)})
		if gap != nil || in.Value != tt.want {
			t.Errorf("%s: %+v %+v, want %v", tt.name, in, gap, tt.want)
		}
		if !tt.want && in.Source != "absent" {
			t.Errorf("%s: source %q, want absent", tt.name, in.Source)
		}
	}
	if _, gap := mapOne(t, "meld-na", "dialysis_twice_past_week", map[string]string{KeyObservations: "null"}); gap == nil || !strings.Contains(gap.Reason, "procedure list") {
		t.Errorf("without the procedures key: gap %+v", gap)
	}
}

const time3339 = "2006-01-02T15:04:05Z07:00"

// hasGap reports whether m has input missing with a reason containing why.
func hasGap(m Mapping, input, why string) bool {
	for _, g := range m.Missing {
		if g.Name == input && strings.Contains(g.Reason, why) {
			return true
		}
	}
	return false
}
