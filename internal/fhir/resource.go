package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/healthcare-prediction/api/internal/token"
)

// Resource is one FHIR R4 resource of a prefetch or fetch result. Type and
// ID identify it (ID is always a FHIR id or empty) (Ref builds the relative reference provenance uses); the
// elements the mapping reads are decoded for the types it reads (Patient,
// Observation, Condition, MedicationRequest, MedicationStatement,
// Medication, Procedure) and kept private.
type Resource struct {
	Type  string
	ID    string
	b     *body // nil for resource types the mapping does not read
	entry int   // index of the Bundle entry it came from; -1 for a lone resource
	badID bool  // its id is not a FHIR id: dropped, and the resource not read
}

// Ref is the relative reference "Type/id", or "Type" for a resource
// without an id (contained or synthetic data), or "Type/(invalid id)" for
// one whose id is not a FHIR id (never echoed: it goes into cards).
func (r Resource) Ref() string {
	if r.badID {
		return r.Type + "/(invalid id)"
	}
	if r.ID == "" {
		return r.Type
	}
	return r.Type + "/" + r.ID
}

// readTypes are the resource types whose elements the mapping reads.
var readTypes = map[string]bool{
	"Patient": true, "Observation": true, "Condition": true, "MedicationRequest": true,
	"MedicationStatement": true, "Medication": true, "Procedure": true,
}

// body holds the elements of the read types, one struct for all of them:
// an element name means the same thing in each of them (status, code,
// effective[x], ...). Only these elements are type-checked; every other
// element is ignored.
type body struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`

	// Patient
	Gender    string      `json:"gender"`
	BirthDate string      `json:"birthDate"`
	Extension []extension `json:"extension"`

	// The patient an Observation, Condition, MedicationRequest,
	// MedicationStatement or Procedure is about (R4 names it subject in
	// all five).
	Subject *reference `json:"subject"`

	// Observation, and the status and code of the others
	Status               string           `json:"status"`
	Code                 *codeableConcept `json:"code"`
	EffectiveDateTime    string           `json:"effectiveDateTime"`
	EffectiveInstant     string           `json:"effectiveInstant"`
	EffectivePeriod      *period          `json:"effectivePeriod"`
	Issued               string           `json:"issued"`
	ValueQuantity        *quantity        `json:"valueQuantity"`
	ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept"`
	Component            []component      `json:"component"`

	// Condition
	ClinicalStatus     *codeableConcept `json:"clinicalStatus"`
	VerificationStatus *codeableConcept `json:"verificationStatus"`

	// MedicationRequest, MedicationStatement
	Intent                    string            `json:"intent"`
	MedicationCodeableConcept *codeableConcept  `json:"medicationCodeableConcept"`
	MedicationReference       *reference        `json:"medicationReference"`
	DoNotPerform              bool              `json:"doNotPerform"`
	Contained                 []json.RawMessage `json:"contained"`
	contained                 []Resource        // the contained Medications, decoded

	// Procedure
	PerformedDateTime string  `json:"performedDateTime"`
	PerformedPeriod   *period `json:"performedPeriod"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text"`
}

type quantity struct {
	Value      *float64 `json:"value"`
	Comparator string   `json:"comparator"`
	Unit       string   `json:"unit"`
	System     string   `json:"system"`
	Code       string   `json:"code"`
}

type period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type reference struct {
	Reference string `json:"reference"`
	Display   string `json:"display"`
}

type extension struct {
	URL         string      `json:"url"`
	ValueCoding *coding     `json:"valueCoding"`
	Extension   []extension `json:"extension"`
}

type component struct {
	Code                 *codeableConcept `json:"code"`
	ValueQuantity        *quantity        `json:"valueQuantity"`
	ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept"`
}

// Decode reads one prefetch value or fetch response: a single resource, a
// searchset (or collection) Bundle, whose entries' resources it returns in
// order, or JSON null (a key with no data: no resources, no error). A caller
// that pages through a search concatenates the pages' results.
//
// It refuses what is not a FHIR resource (not JSON, trailing data, not an
// object, no resourceType, an OperationOutcome, a Bundle of another type,
// an element the mapping reads with the wrong JSON type) and accepts what
// real EHRs vary in: unknown elements and resource types, extensions,
// contained resources, absent optional elements, entries without a
// resource, and OperationOutcome entries (warnings, skipped). Errors name the element
// or entry, never a value.
func Decode(data []byte) ([]Resource, error) {
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, errors.New("fhir: not valid JSON")
	}
	if string(data) == "null" {
		return nil, nil
	}
	r, err := decodeResource(data)
	if err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	if r.Type != "Bundle" {
		r.entry = -1
		return []Resource{r}, nil
	}
	var bundle struct {
		Type  string `json:"type"`
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
			Search   struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		return nil, fmt.Errorf("fhir: %w", shapeError("Bundle", err))
	}
	if bundle.Type != "searchset" && bundle.Type != "collection" {
		return nil, errors.New("fhir: a Bundle that is not a searchset or collection")
	}
	var out []Resource
	for i, e := range bundle.Entry {
		if len(e.Resource) == 0 || string(e.Resource) == "null" || e.Search.Mode == "outcome" {
			continue
		}
		r, err := decodeResource(e.Resource)
		if errors.Is(err, errOutcome) {
			continue // a warning beside the data, even without search.mode outcome
		}
		if err != nil {
			return nil, fmt.Errorf("fhir: Bundle entry %d: %w", i, err)
		}
		r.entry = i
		out = append(out, r)
	}
	return out, nil
}

var errOutcome = errors.New("an OperationOutcome instead of data")

// decodeResource decodes one resource object from valid JSON.
func decodeResource(data []byte) (Resource, error) {
	if len(data) == 0 || data[0] != '{' {
		return Resource{}, errors.New("not a resource (a JSON object)")
	}
	var id struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if err := json.Unmarshal(data, &id); err != nil {
		return Resource{}, shapeError("a resource", err)
	}
	switch id.ResourceType {
	case "":
		return Resource{}, errors.New("a resource without resourceType")
	case "OperationOutcome":
		return Resource{}, errOutcome
	}
	r := Resource{Type: id.ResourceType, ID: id.ID}
	if r.ID != "" && !ValidID(r.ID) {
		// Ids reach card Markdown and provenance: one that is not a FHIR id
		// is not kept, and the resource is not used for any input.
		return Resource{Type: r.Type, badID: true}, nil
	}
	if !readTypes[r.Type] {
		return r, nil
	}
	b := new(body)
	if err := json.Unmarshal(data, b); err != nil {
		return Resource{}, shapeError(r.Type, err)
	}
	for i, c := range b.Contained {
		cr, err := decodeResource(c)
		if err != nil {
			return Resource{}, fmt.Errorf("%s contained resource %d: %w", r.Type, i, err)
		}
		if cr.Type == "Medication" {
			b.contained = append(b.contained, cr)
		}
	}
	b.Contained = nil
	r.b = b
	return r, nil
}

// shapeError reports a decoding error by element path only: encoding/json's
// own texts can quote the offending value.
func shapeError(what string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("%s element %s has the wrong JSON type", what, te.Field)
	}
	return fmt.Errorf("%s does not have the shape of a FHIR resource", what)
}

// ValidID reports whether s is a FHIR id: 1 to 64 letters, digits, '-' or
// '.' (R4 datatypes, id: [A-Za-z0-9\-\.]{1,64}).
func ValidID(s string) bool { return token.Valid(s, 64, "-.") }
