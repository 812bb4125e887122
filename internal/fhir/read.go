package fhir

import (
	"strings"
	"time"

	"github.com/healthcare-prediction/api/internal/scoring"
)

// mapper reads one model's inputs from one chart at one time.
type mapper struct {
	catalog *scoring.Catalog
	model   string
	chart   *Chart
	now     time.Time
}

// input reads one input; a non-empty reason means it is missing: why, in
// a clinician's words, without the input's name (Gap.Name has it).
func (mp *mapper) input(name string) (Input, string) {
	if source(name) == "" {
		return Input{}, "not read from FHIR data by this service"
	}
	switch name {
	case "age":
		return mp.age()
	case "sex":
		return mp.sex()
	case "race":
		return mp.race()
	case "current_smoker":
		return mp.smoker()
	case "egfr":
		return mp.egfr()
	case "bmi":
		return mp.bmi()
	case "on_bp_treatment", "on_statin":
		return mp.medication(name)
	case "dialysis_twice_past_week":
		return mp.dialysis()
	}
	for _, c := range conditions {
		if c.input == name {
			return mp.condition(c)
		}
	}
	for _, l := range labs {
		if l.input == name {
			return mp.lab(l)
		}
	}
	return Input{}, "not read from FHIR data by this service"
}

// patient is the chart's one Patient; more than one is ambiguous.
func (mp *mapper) patient() (*body, string) {
	ps := mp.chart.of("Patient")
	switch {
	case len(ps) == 0:
		return nil, "no Patient resource was available"
	case len(ps) > 1:
		return nil, "more than one Patient resource was received"
	}
	return ps[0], ""
}

func (mp *mapper) age() (Input, string) {
	p, why := mp.patient()
	if p == nil {
		return Input{}, why
	}
	b, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil {
		return Input{}, "the birth date is absent or not a full date"
	}
	ny, nm, nd := mp.now.Date()
	years := ny - b.Year()
	if nm < b.Month() || (nm == b.Month() && nd < b.Day()) {
		years-- // birthday not yet reached this year (29 February counts from 1 March)
	}
	if years < 0 {
		return Input{}, "the birth date is after the date of the call"
	}
	return Input{Value: float64(years), Source: ref(p)}, ""
}

func (mp *mapper) sex() (Input, string) {
	p, why := mp.patient()
	if p == nil {
		return Input{}, why
	}
	switch p.Gender {
	case "male", "female":
		return Input{Value: p.Gender, Source: ref(p)}, ""
	}
	// other and unknown: the models' sex-specific equations need one of the two
	return Input{}, "administrative gender is not recorded as male or female"
}

// race reads the ombCategory codes of the US Core race extension. Codes
// that map to different inputs (e.g. White and Black or African American)
// leave the race missing: the Pooled Cohort Equations take one.
func (mp *mapper) race() (Input, string) {
	p, why := mp.patient()
	if p == nil {
		return Input{}, why
	}
	var got []string
	for _, e := range p.Extension {
		if e.URL != extensionUSRace {
			continue
		}
		for _, sub := range e.Extension {
			if sub.URL != "ombCategory" || sub.ValueCoding == nil || sub.ValueCoding.System != systemOMBRace {
				continue // text and detailed are not read; UNK and ASKU are in another system
			}
			if v, ok := raceCategories[sub.ValueCoding.Code]; ok && !contains(got, v) {
				got = append(got, v)
			}
		}
	}
	switch len(got) {
	case 0:
		return Input{}, "no OMB race category is recorded (US Core race extension)"
	case 1:
		return Input{Value: got[0], Source: ref(p)}, ""
	}
	return Input{}, "more than one race category is recorded; the equations take one"
}

// observed is one candidate value of an observation input.
type observed struct {
	ref  string
	date time.Time
	q    *quantity
	cc   *codeableConcept
}

// latest finds the most recent usable Observation coded with one of codes
// (or, for panels, carrying a component coded with one of them): status
// final, amended or corrected, with a date no later than now (five
// minutes of clock skew allowed). Observations without a date it can read
// are skipped: they cannot be ordered.
func (mp *mapper) latest(codes, panels []string) (observed, bool) {
	var best observed
	found := false
	for _, o := range mp.chart.of("Observation") {
		switch o.Status {
		case "final", "amended", "corrected":
		default:
			continue
		}
		var cand observed
		switch {
		case hasCode(o.Code, systemLOINC, codes):
			cand = observed{q: o.ValueQuantity, cc: o.ValueCodeableConcept}
		case panels != nil && hasCode(o.Code, systemLOINC, panels):
			ok := false
			for _, c := range o.Component {
				if hasCode(c.Code, systemLOINC, codes) {
					cand, ok = observed{q: c.ValueQuantity, cc: c.ValueCodeableConcept}, true
					break
				}
			}
			if !ok {
				continue
			}
		default:
			continue
		}
		d, ok := effective(o)
		if !ok || d.After(mp.now.Add(5*time.Minute)) {
			continue
		}
		cand.ref, cand.date = ref(o), d
		if !found || d.After(best.date) {
			best, found = cand, true
		}
	}
	return best, found
}

// effective is an Observation's clinically relevant time: effectiveDateTime
// (or effectiveInstant), else effectivePeriod.end, else issued.
func effective(o *body) (time.Time, bool) {
	for _, s := range []string{o.EffectiveDateTime, o.EffectiveInstant, periodEnd(o.EffectivePeriod), o.Issued} {
		if s != "" {
			return parseDateTime(s)
		}
	}
	return time.Time{}, false
}

func periodEnd(p *period) string {
	if p == nil {
		return ""
	}
	return p.End
}

// parseDateTime reads a FHIR dateTime or instant. A partial date (YYYY,
// YYYY-MM, YYYY-MM-DD) stands for its first instant, in UTC: the oldest it
// can be, so staleness is never understated. A time without a zone is
// refused, as FHIR requires one.
func parseDateTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly, "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// fresh checks the date of v against the input's maximum age.
func (mp *mapper) fresh(input string, v observed) string {
	lim, ok := limit(mp.model, input)
	if !ok {
		return "no maximum age is set for it"
	}
	if v.date.Before(lim.oldest(mp.now)) {
		return "the latest result is older than " + lim.words
	}
	return ""
}

// quantityIn converts v's valueQuantity to input's canonical unit with the
// catalog's unit table (units maps annotation codes to catalog ones).
func quantityIn(input string, q *quantity, units map[string]string) (float64, string) {
	if q == nil || q.Value == nil {
		return 0, "the latest result has no numeric value"
	}
	if q.Comparator != "" {
		return 0, "the latest result is a bound (<, >), not a value"
	}
	code, ok := ucum(q)
	if !ok {
		return 0, "the latest result's unit is not a UCUM unit"
	}
	if c, ok := units[code]; ok {
		code = c
	}
	x, ok := scoring.ToCanonical(input, *q.Value, code)
	if !ok {
		return 0, "the latest result's unit is not one the service converts"
	}
	return x, ""
}

// ucum is a quantity's UCUM code: code when the system is UCUM; when code
// is absent (R4 allows it), the human unit, which then must itself be a
// unit the catalog lists, so nothing is guessed from free text.
func ucum(q *quantity) (string, bool) {
	if q.System != "" && q.System != systemUCUM {
		return "", false
	}
	if q.Code != "" {
		if q.System == "" {
			return "", false // a code without a system has no meaning
		}
		return q.Code, true
	}
	return q.Unit, true
}

func (mp *mapper) lab(l lab) (Input, string) {
	var panels []string
	if l.input == "systolic_bp" {
		panels = bpPanels
	}
	v, ok := mp.latest(l.loinc, panels)
	if !ok {
		return Input{}, "no final result was found"
	}
	if why := mp.fresh(l.input, v); why != "" {
		return Input{}, why
	}
	x, why := quantityIn(l.input, v.q, l.units)
	if why != "" {
		return Input{}, why
	}
	return Input{Value: x, Source: v.ref, Date: v.date}, ""
}

func (mp *mapper) smoker() (Input, string) {
	v, ok := mp.latest([]string{loincSmoking}, nil)
	if !ok {
		return Input{}, "no final smoking status was found"
	}
	if why := mp.fresh("current_smoker", v); why != "" {
		return Input{}, why
	}
	answer, known := false, 0
	if v.cc != nil {
		for _, c := range v.cc.Coding {
			if a, ok := smokingAnswers[c.Code]; ok && c.System == systemSNOMED {
				if known > 0 && a != answer {
					return Input{}, "the latest smoking status has conflicting answers"
				}
				answer, known = a, known+1
			}
		}
	}
	if known == 0 {
		return Input{}, "the latest smoking status answer is not one the service recognises"
	}
	return Input{Value: answer, Source: v.ref, Date: v.date}, ""
}

// egfr is the recorded CKD-EPI 2021 eGFR (98979-8) unless a usable
// creatinine is newer, in which case (and when none is recorded) it is
// computed by the ckd-epi-2021 model from creatinine, age and sex. When it
// cannot be computed, a usable recorded value stands.
func (mp *mapper) egfr() (Input, string) {
	recorded, recordedWhy := mp.lab(lab{input: "egfr", loinc: labCodes("egfr")})
	creat, creatWhy := mp.lab(lab{input: "creatinine", loinc: labCodes("creatinine")})
	return recordedOrDerived(recorded, recordedWhy, creat, creatWhy, mp.ckdEPI)
}

// recordedOrDerived chooses between a recorded value and one derived from
// a newer source measurement (creatinine for eGFR, weight for BMI): the
// recorded value unless the source is usable and newer; the derived one
// when it can be computed; else the recorded one if usable.
func recordedOrDerived(recorded Input, recordedWhy string, source Input, sourceWhy string,
	derive func(Input, string) (Input, string)) (Input, string) {
	if recordedWhy == "" && (sourceWhy != "" || !source.Date.After(recorded.Date)) {
		return recorded, ""
	}
	derived, why := derive(source, sourceWhy)
	switch {
	case why == "":
		return derived, ""
	case recordedWhy == "":
		return recorded, ""
	}
	return Input{}, recordedWhy + "; it cannot be computed either (" + why + ")"
}

// ckdEPI computes eGFR with the catalog's ckd-epi-2021 model.
func (mp *mapper) ckdEPI(creat Input, creatWhy string) (Input, string) {
	if creatWhy != "" {
		return Input{}, "creatinine: " + creatWhy
	}
	age, why := mp.age()
	if why != "" {
		return Input{}, "age: " + why
	}
	sex, why := mp.sex()
	if why != "" {
		return Input{}, "sex: " + why
	}
	m, _ := mp.catalog.Model("ckd-epi-2021") // every catalog with a service has it
	p, err := m.Predict(Mapping{Inputs: map[string]Input{"creatinine": creat, "age": age, "sex": sex}}.Raw())
	if err != nil {
		return Input{}, "creatinine or age is outside the range of CKD-EPI 2021"
	}
	return Input{Value: p.Result.Value, Source: "derived:ckd-epi-2021", From: []string{creat.Source, age.Source}, Date: creat.Date}, ""
}

// bmi is the recorded BMI (39156-5) unless a usable weight is newer, in
// which case (and when none is recorded) it is weight / height² from the
// latest body weight (29463-7) and height (8302-2), each within its own
// maximum age, dated by the older of the two. When it cannot be computed,
// a usable recorded value stands.
func (mp *mapper) bmi() (Input, string) {
	recorded, recordedWhy := mp.lab(lab{input: "bmi", loinc: labCodes("bmi")})
	w, wWhy := mp.body(loincWeight, "weight", weightToKg)
	return recordedOrDerived(recorded, recordedWhy, w, wWhy, mp.quetelet)
}

// quetelet computes BMI as weight / height².
func (mp *mapper) quetelet(w Input, wWhy string) (Input, string) {
	if wWhy != "" {
		return Input{}, "body weight: " + wWhy
	}
	h, why := mp.body(loincHeight, "height", heightToM)
	if why != "" {
		return Input{}, "body height: " + why
	}
	kg, m := w.Value.(float64), h.Value.(float64)
	if kg <= 0 || m <= 0 {
		return Input{}, "weight or height is not positive"
	}
	date := w.Date
	if h.Date.Before(date) {
		date = h.Date
	}
	return Input{Value: kg / (m * m), Source: "derived:bmi", From: []string{w.Source, h.Source}, Date: date}, ""
}

// body reads a weight or height in kg or m with its own unit table (the
// catalog has neither input).
func (mp *mapper) body(code, input string, units map[string]float64) (Input, string) {
	v, ok := mp.latest([]string{code}, nil)
	if !ok {
		return Input{}, "no final result was found"
	}
	if why := mp.fresh(input, v); why != "" {
		return Input{}, why
	}
	if v.q == nil || v.q.Value == nil || v.q.Comparator != "" {
		return Input{}, "the latest result has no numeric value"
	}
	u, ok := ucum(v.q)
	f, known := units[u]
	if !ok || !known {
		return Input{}, "the latest result's unit is not one the service converts"
	}
	return Input{Value: *v.q.Value * f, Source: v.ref, Date: v.date}, ""
}

// Condition statuses (R4 condition-clinical and condition-ver-status).
var (
	activeStatuses  = []string{"active", "recurrence", "relapse"}
	refutedStatuses = []string{"refuted", "entered-in-error"}
)

// condition is true when a Condition with one of c's codes is neither
// refuted nor entered in error and, unless c is a history item, is active
// (or a recurrence or relapse). With the conditions key satisfied and no
// such Condition, it is false from "absent".
func (mp *mapper) condition(c condition) (Input, string) {
	if !mp.chart.Satisfied(KeyConditions) {
		return Input{}, "the patient's condition list was not available"
	}
	for _, r := range mp.chart.of("Condition") {
		if r.VerificationStatus != nil && anyCode(r.VerificationStatus, refutedStatuses) {
			continue
		}
		if !c.history && (r.ClinicalStatus == nil || !anyCode(r.ClinicalStatus, activeStatuses)) {
			continue
		}
		if hasCode(r.Code, systemSNOMED, c.snomed) || hasICD10Prefix(r.Code, c.icd10) {
			return Input{Value: true, Source: ref(r)}, ""
		}
	}
	return Input{Value: false, Source: "absent"}, ""
}

// orderIntents are the MedicationRequest intents that are an order (R4
// medicationrequest-intent: order and its specialisations); proposal, plan
// and option are not treatment.
var orderIntents = []string{"order", "original-order", "reflex-order", "filler-order", "instance-order"}

// medication is true when an active MedicationRequest with an order intent
// or an active MedicationStatement (not a do-not-perform order) names an
// ingredient of the input's class. When none does but one of them refers
// to a Medication that was not received, the drug is unknown and the
// input missing, not false.
func (mp *mapper) medication(input string) (Input, string) {
	if !mp.chart.Satisfied(KeyMedications) {
		return Input{}, "the patient's medication list was not available"
	}
	class := medicationClasses[input]
	unresolved := false
	for _, typ := range []string{"MedicationRequest", "MedicationStatement"} {
		for _, r := range mp.chart.of(typ) {
			if r.Status != "active" || r.DoNotPerform {
				continue
			}
			if typ == "MedicationRequest" && !contains(orderIntents, r.Intent) {
				continue
			}
			concepts, resolved := mp.medicationConcepts(r)
			for _, cc := range concepts {
				if matchesIngredient(cc, class) {
					return Input{Value: true, Source: ref(r)}, ""
				}
			}
			if !resolved {
				unresolved = true
			}
		}
	}
	if unresolved {
		return Input{}, "a current medication refers to a Medication resource that was not received, so its drug is unknown"
	}
	return Input{Value: false, Source: "absent"}, ""
}

// medicationConcepts are the codes and names a medication order carries:
// medicationCodeableConcept, or medicationReference's display and the
// code of the Medication it points to (contained, or in the chart).
// resolved is false when medicationReference points to a Medication that
// is neither.
func (mp *mapper) medicationConcepts(r *body) (out []*codeableConcept, resolved bool) {
	if r.MedicationCodeableConcept != nil {
		out = append(out, r.MedicationCodeableConcept)
	}
	mr := r.MedicationReference
	if mr == nil {
		return out, true
	}
	if mr.Display != "" {
		out = append(out, &codeableConcept{Text: mr.Display})
	}
	if mr.Reference == "" {
		return out, true // a display only: nothing more to read
	}
	if id, ok := strings.CutPrefix(mr.Reference, "#"); ok {
		for _, c := range r.contained {
			if c.ID == id && c.b != nil {
				if c.b.Code != nil {
					out = append(out, c.b.Code)
				}
				resolved = true
			}
		}
		return out, resolved
	}
	for _, m := range mp.chart.of("Medication") {
		if isRef(mr.Reference, ref(m)) {
			if m.Code != nil {
				out = append(out, m.Code)
			}
			resolved = true
		}
	}
	return out, resolved
}

// isRef reports whether reference points to the resource with relative
// reference rel: rel itself, or an absolute URL ending in "/"+rel.
func isRef(reference, rel string) bool {
	if reference == rel {
		return true
	}
	return (strings.HasPrefix(reference, "http://") || strings.HasPrefix(reference, "https://")) &&
		strings.HasSuffix(reference, "/"+rel)
}

// matchesIngredient reports whether cc names one of the ingredients: an
// RxNorm coding with its RXCUI, or its name as a word in a display or text.
func matchesIngredient(cc *codeableConcept, class []ingredient) bool {
	texts := []string{cc.Text}
	for _, c := range cc.Coding {
		texts = append(texts, c.Display)
		if c.System != systemRxNorm {
			continue
		}
		for _, in := range class {
			if in.rxnorm != "" && c.Code == in.rxnorm {
				return true
			}
		}
	}
	for _, t := range texts {
		words := strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return r < 'a' || r > 'z' })
		for _, w := range words {
			for _, in := range class {
				if w == in.name {
					return true
				}
			}
		}
	}
	return false
}

// dialysis is true with at least two completed (or in-progress) dialysis
// Procedures performed in the 7 days before now.
func (mp *mapper) dialysis() (Input, string) {
	if !mp.chart.Satisfied(KeyProcedures) {
		return Input{}, "the patient's procedure list was not available"
	}
	since := mp.now.AddDate(0, 0, -7)
	var from []string
	for _, p := range mp.chart.of("Procedure") {
		if p.Status != "completed" && p.Status != "in-progress" {
			continue
		}
		if !hasCode(p.Code, systemSNOMED, dialysisCodes) {
			continue
		}
		s := p.PerformedDateTime
		if s == "" && p.PerformedPeriod != nil {
			s = p.PerformedPeriod.End
			if s == "" {
				s = p.PerformedPeriod.Start
			}
		}
		d, ok := parseDateTime(s)
		if !ok || d.Before(since) || d.After(mp.now.Add(5*time.Minute)) {
			continue
		}
		from = append(from, ref(p))
	}
	if len(from) >= 2 {
		return Input{Value: true, Source: from[0], From: from}, ""
	}
	return Input{Value: false, Source: "absent", From: from}, ""
}

func ref(b *body) string { return Resource{Type: b.ResourceType, ID: b.ID}.Ref() }

// hasCode reports whether cc has a coding of system with one of codes.
func hasCode(cc *codeableConcept, system string, codes []string) bool {
	if cc == nil {
		return false
	}
	for _, c := range cc.Coding {
		if c.System == system && contains(codes, c.Code) {
			return true
		}
	}
	return false
}

// anyCode reports whether cc has a coding with one of codes, whatever its
// system (status concepts have one fixed system each).
func anyCode(cc *codeableConcept, codes []string) bool {
	for _, c := range cc.Coding {
		if contains(codes, c.Code) {
			return true
		}
	}
	return false
}

// hasICD10Prefix reports whether cc has an ICD-10-CM coding starting with
// one of prefixes (codes compared without their dot: I25.2 and I252).
func hasICD10Prefix(cc *codeableConcept, prefixes []string) bool {
	if cc == nil {
		return false
	}
	for _, c := range cc.Coding {
		if c.System != systemICD10CM {
			continue
		}
		code := strings.ToUpper(strings.ReplaceAll(c.Code, ".", ""))
		for _, p := range prefixes {
			if strings.HasPrefix(code, p) {
				return true
			}
		}
	}
	return false
}
