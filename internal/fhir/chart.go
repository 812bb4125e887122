package fhir

import (
	"fmt"
	"reflect"
	"strings"
)

// Chart is one patient's resources gathered from all prefetch keys (and
// fetched queries) of one hook call.
//
// A hook call builds it with NewChart(context.patientId): Add then refuses
// any resource that is not that patient's. The zero value is an unbound
// chart, for data already known to be one patient's (tests): it takes the
// first patient a resource names (a Patient's id, a subject reference) as
// its own and refuses resources that name another, but accepts resources
// without a subject.
type Chart struct {
	patientID string // "" until bound
	bound     bool   // patientID came from NewChart: a subject is required
	satisfied map[string]bool
	seen      map[string]*body // Ref → the resource's read elements
	resources []Resource
}

// NewChart returns an empty chart bound to the patient of the hook call
// (context.patientId, a FHIR id).
func NewChart(patientID string) *Chart {
	return &Chart{patientID: patientID, bound: true}
}

// ResourceError is why Add refused a prefetch key's resources. Its message
// names the key, the Bundle entry and the resource type, never a value or
// an id from the data, so a caller can return it in a 400 problem.
type ResourceError struct {
	Key    string // the prefetch key (or query) Add was given
	Entry  int    // index of the Bundle entry; -1 when the value was one resource
	Type   string // resource type of the refused resource
	Reason string
}

func (e *ResourceError) Error() string {
	where := "prefetch." + e.Key
	if e.Entry >= 0 {
		where += fmt.Sprintf(" Bundle entry %d", e.Entry)
	}
	return "fhir: " + where + " (" + e.Type + "): " + e.Reason
}

// subjectTypes are the read types that belong to one patient through their
// subject element (R4: Observation.subject, Condition.subject,
// MedicationRequest.subject, MedicationStatement.subject,
// Procedure.subject). None of the read types names it "patient".
var subjectTypes = map[string]bool{
	"Observation": true, "Condition": true, "MedicationRequest": true,
	"MedicationStatement": true, "Procedure": true,
}

// Add records that prefetch key was satisfied, with resources (none for a
// key whose value was null or an empty searchset) and adds them to the
// chart. Keys never added are unsatisfied: inputs that need them are
// missing rather than false.
//
// It refuses the whole key, adding nothing and leaving the key
// unsatisfied, with a *ResourceError when a resource is not the chart's
// patient's: a Patient without an id or with another id; an Observation,
// Condition, MedicationRequest, MedicationStatement or Procedure whose
// subject is not Patient/<id> (relative, or an absolute URL ending in
// /Patient/<id>), or (bound chart) has no subject reference. It also
// refuses a resource with the same type and id as one already added but
// different content; an identical one (the same resource under two keys)
// is kept once.
func (c *Chart) Add(key string, resources []Resource) error {
	if c.satisfied == nil {
		c.satisfied = map[string]bool{}
		c.seen = map[string]*body{}
	}
	patientID := c.patientID
	batch := map[string]*body{}
	var add []Resource
	for _, r := range resources {
		refuse := func(reason string) error {
			return &ResourceError{Key: key, Entry: r.entry, Type: r.Type, Reason: reason}
		}
		if r.b == nil {
			add = append(add, r) // not read: never used for an input
			continue
		}
		owner, why := c.owner(r)
		if why != "" {
			return refuse(why)
		}
		if owner != "" {
			if patientID == "" {
				patientID = owner // unbound chart: the first patient named
			} else if owner != patientID {
				return refuse("it belongs to a patient other than the hook's context.patientId")
			}
		}
		if r.ID == "" {
			add = append(add, r)
			continue
		}
		prev, ok := c.seen[r.Ref()]
		if !ok {
			prev, ok = batch[r.Ref()]
		}
		if ok {
			if !reflect.DeepEqual(prev, r.b) {
				return refuse("another resource with the same type and id has different content")
			}
			continue
		}
		batch[r.Ref()] = r.b
		add = append(add, r)
	}
	c.patientID = patientID
	for ref, b := range batch {
		c.seen[ref] = b
	}
	c.satisfied[key] = true
	c.resources = append(c.resources, add...)
	return nil
}

// owner is the id of the patient r names ("" for a type that names none,
// or a resource without a subject in an unbound chart), or why r cannot be
// attributed to the chart's patient.
func (c *Chart) owner(r Resource) (id, why string) {
	switch {
	case r.Type == "Patient":
		if r.ID == "" {
			return "", "a Patient without an id cannot be matched to context.patientId"
		}
		return r.ID, ""
	case subjectTypes[r.Type]:
		if r.b.Subject == nil || r.b.Subject.Reference == "" {
			if c.bound {
				return "", "it has no subject reference, so it cannot be matched to context.patientId"
			}
			return "", ""
		}
		id, ok := patientRef(r.b.Subject.Reference)
		if !ok {
			return "", "its subject is not a reference to a Patient"
		}
		return id, ""
	}
	return "", ""
}

// patientRef is the id of a reference to a Patient: "Patient/<id>", or an
// absolute URL ending in "/Patient/<id>", either possibly version-specific
// ("/_history/<vid>", R4 References).
func patientRef(ref string) (string, bool) {
	rest, ok := strings.CutPrefix(ref, "Patient/")
	if !ok {
		if !strings.HasPrefix(ref, "http://") && !strings.HasPrefix(ref, "https://") {
			return "", false
		}
		i := strings.LastIndex(ref, "/Patient/")
		if i < 0 {
			return "", false
		}
		rest = ref[i+len("/Patient/"):]
	}
	if id, vid, ok := strings.Cut(rest, "/_history/"); ok && ValidID(vid) {
		rest = id
	}
	if !ValidID(rest) {
		return "", false
	}
	return rest, true
}

// Satisfied reports whether key was added.
func (c *Chart) Satisfied(key string) bool { return c.satisfied[key] }

// of lists the chart's resources of one type that the mapping reads.
func (c *Chart) of(resourceType string) []*body {
	var out []*body
	for _, r := range c.resources {
		if r.Type == resourceType && r.b != nil {
			out = append(out, r.b)
		}
	}
	return out
}
