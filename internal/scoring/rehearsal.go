//go:build rehearsal

package scoring

import "fmt"

// rehearsalModels, in builds with -tags rehearsal only (the reliability
// command's), is one model whose computation panics with clinical values
// in its stack frames and in the panic's value: it lets make reliability
// check that the real server binary's panic path logs neither. Real
// builds have none (see rehearsal_off.go).
func rehearsalModels() []*Model {
	return []*Model{{
		ID:         "rehearsal-panic",
		Version:    "0",
		Title:      "Panics on purpose (reliability rehearsal builds only)",
		Citation:   "none",
		Population: "none",
		Inputs:     one(number(inAge, 0, 150), number(inSystolicBP, 0, 300)),
		Result:     ResultSpec{Label: "none", Unit: "1"},
		Notes:      []string{"Exists only in builds with -tags rehearsal."},
		compute: func(v *Values, p *Prediction) {
			explode([2]float64{v.get(inAge), v.get(inSystolicBP)})
		},
	}}
}

// explode takes the values as an array, which Go passes on the stack (a
// traceback prints such argument words), and panics with them in its
// message, as a careless bug report would.
//
//go:noinline
func explode(values [2]float64) {
	panic(fmt.Sprintf("rehearsal: cannot compute %v", values))
}
