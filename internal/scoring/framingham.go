package scoring

import "math"

// framinghamCoef is one sex's column of D'Agostino 2008, Table 2.
type framinghamCoef struct {
	lnAge, lnTC, lnHDL, lnUntreatedSBP, lnTreatedSBP, smoker, diabetes float64
	mean, s0                                                           float64
}

var (
	framinghamMale = framinghamCoef{lnAge: 3.06117, lnTC: 1.12370, lnHDL: -0.93263, lnUntreatedSBP: 1.93303, lnTreatedSBP: 1.99881,
		smoker: 0.65451, diabetes: 0.57367, mean: 23.9802, s0: 0.88936}
	framinghamFemale = framinghamCoef{lnAge: 2.32888, lnTC: 1.20904, lnHDL: -0.70833, lnUntreatedSBP: 2.76157, lnTreatedSBP: 2.82263,
		smoker: 0.52873, diabetes: 0.69154, mean: 26.1931, s0: 0.95012}
)

func framinghamModel() *Model {
	return &Model{
		ID:         "framingham-cvd",
		Version:    "2008",
		Title:      "Framingham general cardiovascular disease: 10-year risk",
		Citation:   "D'Agostino RB Sr, Vasan RS, Pencina MJ, et al. General Cardiovascular Risk Profile for Use in Primary Care: The Framingham Heart Study. Circulation 2008;117:743-753",
		DOI:        "10.1161/CIRCULATIONAHA.107.699579",
		Population: "adults aged 30-74 free of cardiovascular disease",
		Inputs: inputs(
			one(number(inAge, 30, 74), choice(inSex),
				number(inTotalCholesterol, 130, 320), number(inHDLCholesterol, 20, 100), number(inSystolicBP, 90, 200)),
			bools(inOnBPTreatment, inDiabetes, inCurrentSmoker),
		),
		Result: ResultSpec{Label: "10-year general CVD risk", Unit: "%", Categories: []string{"low", "intermediate", "high"}},
		Notes: []string{
			"Laboratory (cholesterol) model with the published betas, means and baseline survival; the BMI model is not offered.",
			"The paper publishes no input limits beyond age 30-74; cholesterol and blood-pressure ranges are those of the ACC/AHA estimator (total cholesterol 130-320 mg/dL, HDL 20-100 mg/dL, systolic BP 90-200 mmHg).",
			"Categories low <10, intermediate 10-20, high >20 percent are the commonly quoted ones; the paper defines none.",
			"Contributions are coefficient x value for each term; risk = 1 - S0^exp(sum - mean).",
		},
		compute: computeFramingham,
	}
}

func computeFramingham(v *Values, p *Prediction) {
	c := &framinghamMale
	if v.female() {
		c = &framinghamFemale
	}
	lnSBP := math.Log(v.get(inSystolicBP))
	l := predictor{p: p}
	l.add("age", c.lnAge, math.Log(v.get(inAge)))
	l.add("total_cholesterol", c.lnTC, math.Log(v.get(inTotalCholesterol)))
	l.add("hdl_cholesterol", c.lnHDL, math.Log(v.get(inHDLCholesterol)))
	if v.flag(inOnBPTreatment) {
		l.add("systolic_bp", c.lnTreatedSBP, lnSBP)
	} else {
		l.add("systolic_bp", c.lnUntreatedSBP, lnSBP)
	}
	l.add("current_smoker", c.smoker, points(v.flag(inCurrentSmoker)))
	l.add("diabetes", c.diabetes, points(v.flag(inDiabetes)))

	risk := 100 * (1 - math.Pow(c.s0, math.Exp(l.sum-c.mean)))
	p.Result.Value = risk
	switch {
	case risk < 10:
		p.Result.Category = "low"
	case risk <= 20:
		p.Result.Category = "intermediate"
	default:
		p.Result.Category = "high"
	}
}
