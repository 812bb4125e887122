package scoring

func qsofaModel() *Model {
	return &Model{
		ID:         "qsofa",
		Version:    "2016",
		Title:      "quick Sequential Organ Failure Assessment (qSOFA)",
		Citation:   "Seymour CW, Liu VX, Iwashyna TJ, et al. Assessment of Clinical Criteria for Sepsis: For the Third International Consensus Definitions for Sepsis and Septic Shock (Sepsis-3). JAMA 2016;315(8):762-774",
		DOI:        "10.1001/jama.2016.0288",
		Population: "adults with suspected infection outside the ICU",
		Inputs: inputs(
			one(number(inRespiratoryRate, 0, 80), number(inSystolicBP, 0, 300)),
			one(optional(flag(inAlteredMentation)), optional(number(inGCS, 3, 15))),
		),
		Result: ResultSpec{Label: "qSOFA score", Unit: "{score}", Integer: true, Categories: []string{"negative", "positive"}},
		Notes: []string{
			"One point each for respiratory rate >=22/min, systolic BP <=100 mmHg and altered mentation; 2 or more is positive (Seymour 2016). It is a prompt to consider sepsis, not a diagnosis.",
			"Give altered_mentation or gcs, exactly one. With gcs, altered mentation means GCS below 15, as qSOFA.org operationalises it; the derivation analysis used GCS 13 or less.",
		},
		check:   checkMentation,
		compute: computeQSOFA,
	}
}

func checkMentation(v *Values) []FieldError {
	switch {
	case v.has(inAlteredMentation) && v.has(inGCS):
		return []FieldError{{"gcs", "give altered_mentation or gcs, not both"}}
	case !v.has(inAlteredMentation) && !v.has(inGCS):
		return []FieldError{{"altered_mentation", "is required unless gcs is given"}}
	}
	return nil
}

func computeQSOFA(v *Values, p *Prediction) {
	altered := v.flag(inAlteredMentation)
	mentation := "altered_mentation"
	if v.has(inGCS) {
		altered = v.get(inGCS) < 15
		mentation = "gcs"
	}
	items := [...]Contribution{
		{"respiratory_rate", points(v.get(inRespiratoryRate) >= 22)},
		{"systolic_bp", points(v.get(inSystolicBP) <= 100)},
		{mentation, points(altered)},
	}
	for _, it := range items {
		p.Result.Value += it.Value
		p.Contributions = append(p.Contributions, it)
	}
	p.Result.Category = "negative"
	if p.Result.Value >= 2 {
		p.Result.Category = "positive"
	}
}
