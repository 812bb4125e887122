package scoring

import "math"

// Lab inputs shared by the MELD models, with plausibility limits.
func meldLabs() []Input {
	return one(number(inBilirubin, 0.1, 80), number(inCreatinine, 0.1, 30), number(inINR, 0.5, 20), number(inSodium, 100, 180))
}

var meldClassic = ValueSpec{ID: "meld", Label: "MELD (UNOS, before sodium)", Unit: "{score}"}

func meldNaModel() *Model {
	return &Model{
		ID:         "meld-na",
		Version:    "unos-2016",
		Title:      "MELD(Na): Model for End-Stage Liver Disease with sodium, UNOS/OPTN 2016",
		Citation:   "Kim WR, Biggins SW, Kremers WK, et al. Hyponatremia and mortality among patients on the liver-transplant waiting list. N Engl J Med 2008;359:1018-1026; as adopted in OPTN/UNOS allocation policy from January 2016",
		DOI:        "10.1056/NEJMoa0801209",
		Population: "adults (12 and over) with chronic liver disease",
		Inputs:     inputs(meldLabs(), bools(inDialysis)),
		Result:     ResultSpec{Label: "MELD(Na) score", Unit: "{score}", Integer: true},
		Outcomes:   []ValueSpec{meldClassic},
		Notes: []string{
			"UNOS/OPTN form: bilirubin, INR and creatinine below 1.0 count as 1.0; creatinine above 4.0, or dialysis twice in the past week (or CVVHD 24 hours), counts as 4.0.",
			"MELD(i) = 0.957 ln(creatinine) + 0.378 ln(bilirubin) + 1.120 ln(INR) + 0.643, rounded to the tenth and multiplied by 10. Above 11, MELD(Na) = MELD + 1.32 (137 - Na) - 0.033 MELD (137 - Na), sodium bounded to 125-137; rounded to an integer and bounded to 6-40.",
			"This is the UNOS 2016 allocation form, not Kim 2008's published MELD-Na (bounds 125-140, different coefficients).",
			"Contributions are on the MELD scale (terms x 10, constant 6.43), plus the sodium adjustment.",
		},
		compute: computeMELDNa,
	}
}

func computeMELDNa(v *Values, p *Prediction) {
	cr := math.Max(v.get(inCreatinine), 1)
	if cr > 4 || v.flag(inDialysis) {
		cr = 4
	}
	bili := math.Max(v.get(inBilirubin), 1)
	inr := math.Max(v.get(inINR), 1)

	l := predictor{p: p}
	l.add("creatinine", 9.57, math.Log(cr))
	l.add("bilirubin", 3.78, math.Log(bili))
	l.add("inr", 11.20, math.Log(inr))
	l.add("constant", 6.43, 1)
	// OPTN rounds MELD(i) to the tenth before scaling: the classic MELD.
	meld := math.Round(l.sum)
	score := meld
	if meld > 11 {
		na := 137 - clamp(v.get(inSodium), 125, 137)
		adj := 1.32*na - 0.033*meld*na
		p.Contributions = append(p.Contributions, Contribution{"sodium", adj})
		score = math.Round(meld + adj)
	}
	p.Result.Value = clamp(score, 6, 40)
	p.addOutcome(meldClassic, clamp(meld, 6, 40))
}

var meld3Survival = ValueSpec{ID: "survival_90d", Label: "90-day survival without transplant", Unit: "%"}

func meld3Model() *Model {
	return &Model{
		ID:         "meld-3.0",
		Version:    "2021",
		Title:      "MELD 3.0: Model for End-Stage Liver Disease updated for the modern era",
		Citation:   "Kim WR, Mannalithara A, Heimbach JK, et al. MELD 3.0: The Model for End-Stage Liver Disease Updated for the Modern Era. Gastroenterology 2021;161(6):1887-1895.e4",
		DOI:        "10.1053/j.gastro.2021.08.050",
		Population: "adults (12 and over) with chronic liver disease",
		Inputs:     inputs(meldLabs(), one(number(inAlbumin, 0.5, 7), choice(inSex)), bools(inDialysis)),
		Result:     ResultSpec{Label: "MELD 3.0 score", Unit: "{score}", Integer: true},
		Outcomes:   []ValueSpec{meld3Survival},
		Notes: []string{
			"MELD 3.0 = 1.33 (female) + 4.56 ln(bili) + 0.82 (137 - Na) - 0.24 (137 - Na) ln(bili) + 9.09 ln(INR) + 11.14 ln(Cr) + 1.85 (3.5 - albumin) - 1.83 (3.5 - albumin) ln(Cr) + 6, rounded to an integer.",
			"Bounds: bilirubin, INR, creatinine below 1.0 count as 1.0; creatinine above 3.0, or dialysis twice in the past week, counts as 3.0; sodium bounded 125-137 mmol/L; albumin bounded 1.5-3.5 g/dL.",
			"The score is rounded to an integer and bounded to 6-40 as OPTN allocation policy does (and MedCalc-Bench-Verified); Kim 2021 scaled it without presuming a cap, so scores above 40 exist in the paper's terms.",
			"90-day survival = 0.946^exp(0.17698 x MELD 3.0 - 3.56) (Kim 2021), evaluated at the score as reported (the rounded integer, bounded to 6-40), so survival and score agree with Kim 2021's table of survival by integer score; every patient with the same reported score gets the same survival.",
			"The female term is applied by sex as given; OPTN also applies it to candidates aged 12-17 of either sex, which this model does not do.",
		},
		compute: computeMELD3,
	}
}

func computeMELD3(v *Values, p *Prediction) {
	cr := math.Max(v.get(inCreatinine), 1)
	if cr > 3 || v.flag(inDialysis) {
		cr = 3
	}
	lnBili := math.Log(math.Max(v.get(inBilirubin), 1))
	lnCr := math.Log(cr)
	na := 137 - clamp(v.get(inSodium), 125, 137)
	alb := 3.5 - clamp(v.get(inAlbumin), 1.5, 3.5)

	l := predictor{p: p}
	l.add("sex", 1.33, points(v.female()))
	l.add("bilirubin", 4.56, lnBili)
	l.add("sodium", 0.82, na)
	l.add("sodium:bilirubin", -0.24, na*lnBili)
	l.add("inr", 9.09, math.Log(math.Max(v.get(inINR), 1)))
	l.add("creatinine", 11.14, lnCr)
	l.add("albumin", 1.85, alb)
	l.add("albumin:creatinine", -1.83, alb*lnCr)
	l.add("constant", 6, 1)
	score := clamp(math.Round(l.sum), 6, 40)
	p.Result.Value = score
	p.addOutcome(meld3Survival, meld3SurvivalAt(score))
}

// meld3SurvivalAt is Kim 2021's 90-day survival in percent at a MELD 3.0
// score. It takes the reported (rounded, bounded) score, not the raw sum:
// a clinician compares the pair against the paper's table by integer score.
func meld3SurvivalAt(score float64) float64 {
	return 100 * math.Pow(0.946, math.Exp(0.17698*score-3.56))
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(x, hi)) }
