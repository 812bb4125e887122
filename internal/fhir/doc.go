// Package fhir turns a patient's FHIR R4 resources into the inputs of a
// scoring model, as the CDS Hooks contract says (shared/CDS_HOOKS.md,
// "Services/prefetch" and "From FHIR to model inputs"). It is pure: no I/O,
// no clock (the caller passes the time of the call), no logging.
//
// The flow, for one hook call:
//
//	templates, ok := fhir.Prefetch("ascvd-pce") // key → query, for discovery
//	var chart fhir.Chart
//	for key, data := range prefetch {           // and fetched queries
//		res, err := fhir.Decode(data)
//		...
//		chart.Add(key, res)
//	}
//	m, ok := fhir.Map("ascvd-pce", &chart, now)
//	raw := m.Raw() // the /predict "inputs" object, canonical units
//
// Every input of a mapping records where it came from ("Observation/123",
// "derived:ckd-epi-2021", "absent"); an input that cannot be trusted
// (unknown unit or answer code, too old, not final, ambiguous) is a Gap with
// a reason a clinician can read and no patient value, never a guess.
//
// FHIR model: hand-written structs for the few elements read, rather than a
// generated R4 model (github.com/samply/golang-fhir-models, or the heavy
// github.com/google/fhir/go). The generated models decode every element of
// every resource and fail a whole Bundle on one code they do not know (their
// enums are closed: one odd Observation.status from an EHR refuses the
// whole searchset), while this package must skip that one resource and read
// the rest. The hand-written structs decode only what the mapping reads, so
// decoding is strict where it matters (wrong JSON types in those elements,
// not JSON, not a resource, trailing data) and lenient elsewhere (extra and
// unknown elements, extensions, contained resources, unknown resource
// types), and the package adds no dependency.
package fhir
