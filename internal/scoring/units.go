package scoring

import "slices"

// ToCanonical converts x, given in unit code (a UCUM code or one of the
// aliases the catalog accepts), to the canonical unit of the named input of
// the shared vocabulary, exactly as /predict reads {"value", "unit"}
// inputs (both use inputDef.toCanonical). ok is false for an unknown
// input, an input without units, or a unit the catalog does not accept for
// it: callers (the FHIR mapping) must then treat the value as missing
// rather than guess.
func ToCanonical(input string, x float64, code string) (canonical float64, ok bool) {
	for i := range vocabulary {
		if d := &vocabulary[i]; d.name == input {
			return d.toCanonical(x, code)
		}
	}
	return 0, false
}

// toCanonical converts x, given in unit code (an accepted UCUM code or one
// of its aliases), to d's canonical unit: the one unit match of both
// ToCanonical and the parser of {"value", "unit"} inputs. ok is false for
// a unit d does not accept.
func (d *inputDef) toCanonical(x float64, code string) (canonical float64, ok bool) {
	for _, u := range d.units {
		if code == u.code || slices.Contains(u.aliases, code) {
			if u.toCanonical != nil {
				x = u.toCanonical(x)
			}
			return x, true
		}
	}
	return 0, false
}
