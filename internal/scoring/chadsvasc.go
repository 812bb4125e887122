package scoring

// friberg2012 holds annual rates without anticoagulation by CHA2DS2-VASc
// score (Friberg, Rosenqvist, Lip. Eur Heart J 2012;33:1500-1510, as
// transcribed in the openEHR CKM CHA2DS2-VASc archetype): ischaemic stroke,
// then stroke/TIA/systemic embolism, in percent per year.
var friberg2012 = [10][2]float64{
	{0.2, 0.3}, {0.6, 0.9}, {2.2, 2.9}, {3.2, 4.6}, {4.8, 6.7},
	{7.2, 10.0}, {9.7, 13.6}, {11.2, 15.7}, {10.8, 15.2}, {12.2, 17.4},
}

var (
	chadsVascIschemicStroke = ValueSpec{ID: "ischemic_stroke_rate", Label: "annual ischaemic stroke rate without anticoagulation (Friberg 2012)", Unit: "%/a"}
	chadsVascStrokeTIASE    = ValueSpec{ID: "stroke_tia_se_rate", Label: "annual stroke, TIA or systemic embolism rate without anticoagulation (Friberg 2012)", Unit: "%/a"}
)

func chadsVascModel() *Model {
	return &Model{
		ID:         "cha2ds2-vasc",
		Version:    "2010",
		Title:      "CHA2DS2-VASc stroke risk in atrial fibrillation",
		Citation:   "Lip GYH, Nieuwlaat R, Pisters R, Lane DA, Crijns HJGM. Refining clinical risk stratification for predicting stroke and thromboembolism in atrial fibrillation using a novel risk factor-based approach: the Euro Heart Survey on Atrial Fibrillation. Chest 2010;137:263-272",
		DOI:        "10.1378/chest.09-1584",
		Population: "adults with non-valvular atrial fibrillation",
		Inputs: inputs(
			one(number(inAge, 18, 120), choice(inSex)),
			bools(inCHF, inHypertension, inDiabetes, inStrokeTIA, inVascularDisease),
		),
		Result:   ResultSpec{Label: "CHA2DS2-VASc score", Unit: "{score}", Integer: true, Categories: []string{"low", "moderate", "high"}},
		Outcomes: []ValueSpec{chadsVascIschemicStroke, chadsVascStrokeTIASE},
		Notes: []string{
			"Points: CHF 1, hypertension 1, age >=75 2, diabetes 1, stroke/TIA/thromboembolism 2, vascular disease 1, age 65-74 1, female 1.",
			"Categories count the female point: low is 0 (male) or 1 (female), moderate 1 (male) or 2 (female), high 2 or more (male) or 3 or more (female).",
			"Event rates are Friberg 2012 (Swedish AF cohort, no anticoagulation), not the ESC 2010 'adjusted stroke rate' many calculators show. The score-0 rates (0.2 and 0.3 %/year) could not be confirmed against the paper.",
		},
		compute: computeChadsVasc,
	}
}

func computeChadsVasc(v *Values, p *Prediction) {
	age := v.get(inAge)
	agePoints := 0.0
	switch {
	case age >= 75:
		agePoints = 2
	case age >= 65:
		agePoints = 1
	}
	female := v.female()
	items := [...]Contribution{
		{"chf", points(v.flag(inCHF))},
		{"hypertension", points(v.flag(inHypertension))},
		{"age", agePoints},
		{"diabetes", points(v.flag(inDiabetes))},
		{"stroke_tia_thromboembolism", 2 * points(v.flag(inStrokeTIA))},
		{"vascular_disease", points(v.flag(inVascularDisease))},
		{"sex", points(female)},
	}
	score := 0.0
	for _, it := range items {
		score += it.Value
		p.Contributions = append(p.Contributions, it)
	}
	p.Result.Value = score
	// The female point alone does not raise risk: bands shift by one.
	risk := score - points(female)
	switch {
	case risk <= 0:
		p.Result.Category = "low"
	case risk == 1:
		p.Result.Category = "moderate"
	default:
		p.Result.Category = "high"
	}
	rates := friberg2012[int(score)]
	p.addOutcome(chadsVascIschemicStroke, rates[0])
	p.addOutcome(chadsVascStrokeTIASE, rates[1])
}
