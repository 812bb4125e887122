package scoring

import "slices"

// ToCanonical converts x, given in unit code (a UCUM code or one of the
// aliases the catalog accepts), to the canonical unit of the named input of
// the shared vocabulary, with the same table /predict uses for {"value",
// "unit"} inputs. ok is false for an unknown input, an input without units,
// or a unit the catalog does not accept for it: callers (the FHIR mapping)
// must then treat the value as missing rather than guess.
func ToCanonical(input string, x float64, code string) (canonical float64, ok bool) {
	for i := range vocabulary {
		d := &vocabulary[i]
		if d.name != input {
			continue
		}
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
	return 0, false
}
