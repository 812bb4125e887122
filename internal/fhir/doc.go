// Package fhir turns a patient's FHIR R4 resources into the inputs of a
// scoring model, as the CDS Hooks contract says (shared/CDS_HOOKS.md,
// "Services/prefetch" and "From FHIR to model inputs"). It is pure: no I/O,
// no clock (the caller passes the time of the call), no logging.
//
// The flow, for one hook call:
//
//	catalog := scoring.NewCatalog()                      // the one the caller predicts with
//	templates, ok := fhir.Prefetch(catalog, "ascvd-pce") // key → query, for discovery
//	chart := fhir.NewChart(patientID)                    // context.patientId
//	for key, data := range prefetch {                    // and fetched queries
//		res, err := fhir.Decode(data)
//		...
//		err = chart.Add(key, res) // another patient's data: a 400
//		...
//	}
//	m, ok := fhir.Map(catalog, "ascvd-pce", chart, now)
//	raw := m.Raw() // the /predict "inputs" object, canonical units
//
// Every input of a mapping records where it came from ("Observation/123",
// "derived:ckd-epi-2021", "absent"); an input that cannot be trusted
// (unknown unit or answer code, too old, not final, ambiguous) is a Gap with
// a reason a clinician can read and no patient value, never a guess.
//
// The code tables are codes.go (LOINC, SNOMED CT, ICD-10-CM, OMB race) and
// meds.go (RxNorm ingredients, with their sources); the maximum age of each
// observation input is one table in maxage.go, each row with its basis.
//
// Decisions where shared/CDS_HOOKS.md is silent:
//
//   - A chart is one patient's. A resource that is not context.patientId's
//     (a Patient with another id or none; an Observation, Condition,
//     MedicationRequest, MedicationStatement or Procedure whose subject is
//     not Patient/<id>, relative or absolute, or is absent) makes Add refuse
//     its key, as does a second resource with the same type and id but other
//     content: mixing two people's data, or picking one of two versions, is
//     never silent.
//   - The latest Observation with status final, amended or corrected
//     decides. If its value cannot be read (a unit the catalog does not
//     convert, a comparator such as "<0.2", no value), the input is missing:
//     an older readable result is not used in place of a newer one.
//   - valueQuantity.code must be UCUM (system http://unitsofmeasure.org). A
//     quantity with no code (R4 allows it) is read by its unit text only if
//     that text is itself a unit the catalog lists; a code without a system
//     is refused (R4 invariant qty-3).
//   - Dates: a partial date stands for its first instant (staleness is never
//     understated); an Observation without a readable date, or dated more
//     than five minutes after the call, is skipped.
//   - egfr: the recorded CKD-EPI 2021 result (98979-8) unless a usable
//     creatinine is newer; then, or when none is recorded, the catalog's
//     ckd-epi-2021 model computes it. Other eGFR codes (MDRD, CKD-EPI 2009
//     with its race term) are not read. bmi: the recorded BMI unless a
//     usable weight is newer; a computed BMI is dated by the older of weight
//     and height.
//   - race: ombCategory codes that map to different values (e.g. White and
//     Black or African American) leave race missing; UNK/ASKU are missing.
//   - Conditions match SNOMED CT codes exactly (no subsumption: a descendant
//     such as "type 2 diabetes without complication" is recognised only
//     through its ICD-10-CM code) and ICD-10-CM codes by prefix, with or
//     without the dot. The history items count a Condition whatever its
//     clinicalStatus (or none); diabetes and hypertension need active,
//     recurrence or relapse. A satisfied key without a match is false.
//     Refuted and entered-in-error Conditions never count, any other
//     verificationStatus (or none) does: that is the contract's rule
//     ("a Condition neither refuted nor entered-in-error"), kept over a
//     review's suggestion to narrow it.
//   - Medications: status active; a MedicationRequest only with an order
//     intent (order, original-order, reflex-order, filler-order,
//     instance-order: a proposal, plan or option is not treatment); never a
//     doNotPerform order. The drug from medicationCodeableConcept,
//     medicationReference.display, or the referenced Medication (contained
//     or in the chart); a reference to a Medication that was not received
//     leaves the input missing unless another order already proves it
//     true (the drug is unknown, so "absent" would be a guess). Beta
//     blockers and diuretics count as blood-pressure treatment whatever the
//     indication, as the Pooled Cohort Equations' "treated" term does.
//   - Dialysis: completed or in-progress Procedures within the 7 days
//     before the call; CVVHD for 24 hours is not recognised from FHIR, so
//     one session of it counts once.
//   - Age is counted to the calendar day of now in now's location: the
//     caller passes the time of the call (UTC unless it knows the EHR's
//     zone).
//
// FHIR model: hand-written structs for the few elements read, rather than a
// generated R4 model (github.com/samply/golang-fhir-models v0.3.2, or the
// heavy and strict github.com/google/fhir/go). samply's code types are
// closed enums whose UnmarshalJSON refuses any code they do not list, with
// an error that quotes it (fhir-models/fhir/administrativeGender.go:
// "unknown AdministrativeGender code `...`"): one local status or gender
// value would fail the resource, and the error would carry chart text. The
// hand-written structs decode only what the mapping reads, so decoding is
// strict where it matters (wrong JSON types in those elements, not JSON,
// not a resource, trailing data), lenient elsewhere (unknown elements and
// codes, extensions, contained resources, unknown resource types: an odd
// code is then a Gap of the one input that reads it), errors never quote
// the document, and the package adds no dependency.
package fhir
