package scoring

import "math"

// pceCoef is one column of Table A of Goff et al. 2014 (Appendix 7): the
// Pooled Cohort Equations for one sex and race group.
type pceCoef struct {
	lnAge, lnAge2, lnTC, lnAgeLnTC, lnHDL, lnAgeLnHDL float64
	lnTreatedSBP, lnAgeLnTreatedSBP                   float64
	lnUntreatedSBP, lnAgeLnUntreatedSBP               float64
	smoker, lnAgeSmoker, diabetes                     float64
	mean, s10                                         float64
}

// The published Table A constants, three decimals as printed (SPEC.md §1).
// The ACC/AHA spreadsheet's 4-5 digit set differs by 0.01-0.1 points, and by
// up to about 0.2 points for African-American women.
var (
	pceWhiteFemale = pceCoef{lnAge: -29.799, lnAge2: 4.884, lnTC: 13.540, lnAgeLnTC: -3.114, lnHDL: -13.578, lnAgeLnHDL: 3.149,
		lnTreatedSBP: 2.019, lnUntreatedSBP: 1.957, smoker: 7.574, lnAgeSmoker: -1.665, diabetes: 0.661, mean: -29.18, s10: 0.9665}
	pceBlackFemale = pceCoef{lnAge: 17.114, lnTC: 0.940, lnHDL: -18.920, lnAgeLnHDL: 4.475,
		lnTreatedSBP: 29.291, lnAgeLnTreatedSBP: -6.432, lnUntreatedSBP: 27.820, lnAgeLnUntreatedSBP: -6.087,
		smoker: 0.691, diabetes: 0.874, mean: 86.61, s10: 0.9533}
	pceWhiteMale = pceCoef{lnAge: 12.344, lnTC: 11.853, lnAgeLnTC: -2.664, lnHDL: -7.990, lnAgeLnHDL: 1.769,
		lnTreatedSBP: 1.797, lnUntreatedSBP: 1.764, smoker: 7.837, lnAgeSmoker: -1.795, diabetes: 0.658, mean: 61.18, s10: 0.9144}
	pceBlackMale = pceCoef{lnAge: 2.469, lnTC: 0.302, lnHDL: -0.307,
		lnTreatedSBP: 1.916, lnUntreatedSBP: 1.809, smoker: 0.549, diabetes: 0.645, mean: 19.54, s10: 0.8954}
)

const warnPCEOtherRace = "race other: the white Pooled Cohort Equations were used, as the ACC/AHA guideline advises; they may over- or underestimate risk"

func pceModel() *Model {
	return &Model{
		ID:         "ascvd-pce",
		Version:    "2013-table-a",
		Title:      "ACC/AHA Pooled Cohort Equations: 10-year hard ASCVD risk",
		Citation:   "Goff DC Jr, Lloyd-Jones DM, Bennett G, et al. 2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk. Circulation 2014;129(25 Suppl 2):S49-S73, Appendix 7 Table A",
		DOI:        "10.1161/01.cir.0000437741.48606.98",
		Population: "adults aged 40-79 without clinical ASCVD",
		Inputs: inputs(
			one(number(inAge, 40, 79), choice(inSex), choice(inRace),
				number(inTotalCholesterol, 130, 320), number(inHDLCholesterol, 20, 100), number(inSystolicBP, 90, 200)),
			bools(inOnBPTreatment, inDiabetes, inCurrentSmoker),
		),
		Result: ResultSpec{Label: "10-year hard ASCVD risk", Unit: "%", Categories: ascvdCategories},
		Notes: []string{
			"Constants are Goff 2014 Appendix 7 Table A as printed (3 decimals; S10 and mean to 4 and 2 decimals). The ACC/AHA spreadsheet and online estimator use more digits; results differ by about 0.01-0.1 percentage points, and by up to about 0.2 for African-American women.",
			"The paper's worked example (white man, 5.3%) was computed from rounded intermediate values; the exact equation gives 5.38%.",
			"Categories are those of the 2018 ACC/AHA cholesterol and 2019 primary-prevention guidelines: low <5, borderline 5 to <7.5, intermediate 7.5 to <20, high >=20.",
			"Race other uses the white equations and adds a warning. Ranges are those of the ACC/AHA estimator: total cholesterol 130-320 mg/dL, HDL 20-100 mg/dL, systolic BP 90-200 mmHg.",
			"Contributions are coefficient x value for each term of the individual sum; risk = 1 - S10^exp(sum - mean).",
		},
		compute: computePCE,
	}
}

func computePCE(v *Values, p *Prediction) {
	c := &pceWhiteMale
	black := v.is(inRace, "african_american")
	switch {
	case v.female() && black:
		c = &pceBlackFemale
	case v.female():
		c = &pceWhiteFemale
	case black:
		c = &pceBlackMale
	}
	if v.is(inRace, "other") {
		p.Warnings = append(p.Warnings, warnPCEOtherRace)
	}
	lnAge := math.Log(v.get(inAge))
	lnTC := math.Log(v.get(inTotalCholesterol))
	lnHDL := math.Log(v.get(inHDLCholesterol))
	lnSBP := math.Log(v.get(inSystolicBP))
	smoker := points(v.flag(inCurrentSmoker))

	l := predictor{p: p}
	l.add("age", c.lnAge, lnAge)
	l.add("age:age", c.lnAge2, lnAge*lnAge)
	l.add("total_cholesterol", c.lnTC, lnTC)
	l.add("age:total_cholesterol", c.lnAgeLnTC, lnAge*lnTC)
	l.add("hdl_cholesterol", c.lnHDL, lnHDL)
	l.add("age:hdl_cholesterol", c.lnAgeLnHDL, lnAge*lnHDL)
	if v.flag(inOnBPTreatment) {
		l.add("systolic_bp", c.lnTreatedSBP, lnSBP)
		l.add("age:systolic_bp", c.lnAgeLnTreatedSBP, lnAge*lnSBP)
	} else {
		l.add("systolic_bp", c.lnUntreatedSBP, lnSBP)
		l.add("age:systolic_bp", c.lnAgeLnUntreatedSBP, lnAge*lnSBP)
	}
	l.add("current_smoker", c.smoker, smoker)
	l.add("age:current_smoker", c.lnAgeSmoker, lnAge*smoker)
	l.add("diabetes", c.diabetes, points(v.flag(inDiabetes)))

	risk := 100 * (1 - math.Pow(c.s10, math.Exp(l.sum-c.mean)))
	p.Result.Value = risk
	p.Result.Category = ascvdCategory(risk)
}
