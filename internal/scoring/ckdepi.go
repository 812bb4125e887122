package scoring

import "math"

func ckdEpiModel() *Model {
	return &Model{
		ID:         "ckd-epi-2021",
		Version:    "2021",
		Title:      "CKD-EPI 2021 creatinine equation (race-free eGFR)",
		Citation:   "Inker LA, Eneanya ND, Coresh J, et al. New Creatinine- and Cystatin C-Based Equations to Estimate GFR without Race. N Engl J Med 2021;385:1737-1749",
		DOI:        "10.1056/NEJMoa2102953",
		Population: "adults aged 18 and over",
		Inputs:     one(number(inCreatinine, 0.1, 30), number(inAge, 18, 120), choice(inSex)),
		Result: ResultSpec{Label: "estimated GFR", Unit: "mL/min/{1.73_m2}",
			Categories: []string{"G1", "G2", "G3a", "G3b", "G4", "G5"}},
		Notes: []string{
			"eGFR = 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.200 x 0.9938^age x 1.012 (female); k 0.7 female, 0.9 male; a -0.241 female, -0.302 male. No race term.",
			"Creatinine in umol/L is divided by 88.4 (NKF, kidney.epi, preventr); admiral uses 88.42, which moves the second decimal.",
			"The value is unrounded (the NKF calculator shows an integer); the KDIGO 2012 category is taken from the unrounded value: G1 >=90, G2 60-89, G3a 45-59, G3b 30-44, G4 15-29, G5 <15.",
			"Contributions are the terms of ln(eGFR): ln 142, the creatinine term (a ln min(Scr/k,1) - 1.200 ln max(Scr/k,1)), age x ln 0.9938 and, for women, ln 1.012 (a zero term is omitted).",
			"Creatinine 0.1-30 mg/dL and age up to 120 are plausibility limits, not derivation limits.",
		},
		compute: computeCKDEpi,
	}
}

// Logarithms of the constant factors of CKD-EPI 2021, computed once at
// start-up and never written: ln 142, ln 0.9938 (per year of age) and ln of
// the sex factor (1.012 female, 1 male).
var (
	ckdEpiLnConstant = math.Log(142)
	ckdEpiLnAge      = math.Log(0.9938)
	ckdEpiLnFemale   = math.Log(1.012)
	ckdEpiLnMale     = math.Log(1.0)
)

func computeCKDEpi(v *Values, p *Prediction) {
	kappa, alpha, lnSex := 0.9, -0.302, ckdEpiLnMale
	if v.female() {
		kappa, alpha, lnSex = 0.7, -0.241, ckdEpiLnFemale
	}
	r := v.get(inCreatinine) / kappa
	// The product, written as a sum of logarithms so each factor shows as a
	// contribution to ln(eGFR).
	l := predictor{p: p}
	l.add("constant", ckdEpiLnConstant, 1)
	l.add("creatinine", 1, alpha*math.Log(math.Min(r, 1))-1.200*math.Log(math.Max(r, 1)))
	l.add("age", ckdEpiLnAge, v.get(inAge))
	l.add("sex", lnSex, 1)
	egfr := math.Exp(l.sum)
	p.Result.Value = egfr
	p.Result.Category = kdigoCategory(egfr)
}

// kdigoCategory is the KDIGO 2012 GFR category.
func kdigoCategory(egfr float64) string {
	switch {
	case egfr >= 90:
		return "G1"
	case egfr >= 60:
		return "G2"
	case egfr >= 45:
		return "G3a"
	case egfr >= 30:
		return "G3b"
	case egfr >= 15:
		return "G4"
	}
	return "G5"
}
