//go:build rehearsal

package scoring

// rehearsalModels, in builds with -tags rehearsal only (the reliability
// command's), is one model whose computation panics as a bug would, with
// clinical values in its stack frames: it lets make reliability check the
// real server binary's panic path for leaks. Real builds have none (see
// rehearsal_off.go).
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
// traceback prints such argument words), and indexes out of range with
// one of them, so the runtime's panic message carries it too.
//
//go:noinline
func explode(values [2]float64) {
	var table []float64
	_ = table[int(values[0])]
}
