package scoring

// lim2003Mortality is 30-day mortality in percent by CURB-65 score in the
// derivation cohort, as the abstract of Lim et al. 2003 reports it.
var lim2003Mortality = [6]float64{0.7, 3.2, 13, 17, 41.5, 57}

var curb65Mortality = ValueSpec{ID: "mortality_30d", Label: "30-day mortality (Lim 2003 derivation cohort)", Unit: "%"}

func curb65Model() *Model {
	return &Model{
		ID:         "curb-65",
		Version:    "2003",
		Title:      "CURB-65 severity of community-acquired pneumonia",
		Citation:   "Lim WS, van der Eerden MM, Laing R, et al. Defining community acquired pneumonia severity on presentation to hospital: an international derivation and validation study. Thorax 2003;58:377-382",
		DOI:        "10.1136/thorax.58.5.377",
		Population: "adults presenting to hospital with community-acquired pneumonia",
		Inputs: inputs(
			one(flag(inConfusion), optional(number(inUrea, 0, 150)), optional(number(inBUN, 0, 420))),
			one(number(inRespiratoryRate, 0, 80), number(inSystolicBP, 0, 300), number(inDiastolicBP, 0, 200), number(inAge, 18, 120)),
		),
		Result:   ResultSpec{Label: "CURB-65 score", Unit: "{score}", Integer: true, Categories: []string{"low", "moderate", "high"}},
		Outcomes: []ValueSpec{curb65Mortality},
		Notes: []string{
			"One point each: new confusion; urea >7 mmol/L; respiratory rate >=30/min; systolic BP <90 or diastolic BP <=60 mmHg; age >=65.",
			"Give urea (mmol/L) or bun (mg/dL), exactly one. BUN counts above 19 mg/dL, as MDCalc does (7 mmol/L urea is about 19.6 mg/dL BUN); some sources use >20.",
			"Categories: low 0-1 (consider home treatment), moderate 2 (consider hospital-supervised treatment), high 3-5 (severe pneumonia).",
			"30-day mortality is the derivation cohort's as the Lim 2003 abstract gives it (0: 0.7, 1: 3.2, 2: 13, 3: 17, 4: 41.5, 5: 57 percent). Another table in circulation (2.1, 9.2, 14.5, 40 for scores 1-4) could not be traced to the paper; 1.5, 9.2 and 22 percent are the paper's figures for the groups 0-1, 2 and 3-5.",
		},
		check:   checkUrea,
		compute: computeCURB65,
	}
}

func checkUrea(v *Values) []FieldError {
	switch {
	case v.has(inUrea) && v.has(inBUN):
		return []FieldError{{"bun", "give urea or bun, not both"}}
	case !v.has(inUrea) && !v.has(inBUN):
		return []FieldError{{"urea", "is required unless bun is given"}}
	}
	return nil
}

func computeCURB65(v *Values, p *Prediction) {
	urea := Contribution{"urea", points(v.get(inUrea) > 7)}
	if v.has(inBUN) {
		urea = Contribution{"bun", points(v.get(inBUN) > 19)}
	}
	items := [...]Contribution{
		{"confusion", points(v.flag(inConfusion))},
		urea,
		{"respiratory_rate", points(v.get(inRespiratoryRate) >= 30)},
		{"systolic_bp:diastolic_bp", points(v.get(inSystolicBP) < 90 || v.get(inDiastolicBP) <= 60)},
		{"age", points(v.get(inAge) >= 65)},
	}
	score := 0.0
	for _, it := range items {
		score += it.Value
		p.Contributions = append(p.Contributions, it)
	}
	p.Result.Value = score
	switch {
	case score >= 3:
		p.Result.Category = "high"
	case score == 2:
		p.Result.Category = "moderate"
	default:
		p.Result.Category = "low"
	}
	p.addOutcome(curb65Mortality, lim2003Mortality[int(score)])
}
