package scoring

import (
	"math"
	"strconv"
)

// PREVENT terms, in the order of the coefficient tables below
// (Khan et al. 2024, supplement; SPEC.md §2).
const (
	pvAge = iota
	pvAge2
	pvNonHDL
	pvHDL
	pvSBPLow
	pvSBPHigh
	pvDiabetes
	pvSmoker
	pvBMILow
	pvBMIHigh
	pvEGFRLow
	pvEGFRHigh
	pvAntiHTN
	pvStatin
	pvAntiHTNxSBPHigh
	pvStatinxNonHDL
	pvAgexNonHDL
	pvAgexHDL
	pvAgexSBPHigh
	pvAgexDiabetes
	pvAgexSmoker
	pvAgexBMIHigh
	pvAgexEGFRLow
	pvConst
	// Add-on terms (UACR, HbA1c, SDI models and the full model); zero in
	// the base tables. A missing-indicator term is 1 when the input is absent.
	pvSDIMid       // SDI decile 4-6
	pvSDIHigh      // SDI decile 7-10
	pvSDIMissing   // no SDI
	pvLnUACR       // ln(UACR in mg/g)
	pvUACRMissing  // no UACR
	pvHbA1cDM      // (HbA1c - 5.3) with diabetes
	pvHbA1cNoDM    // (HbA1c - 5.3) without diabetes
	pvHbA1cMissing // no HbA1c
	pvTerms
)

// PREVENT variants, named as preventr names them.
const (
	pvVariantBase = iota
	pvVariantUACR
	pvVariantHbA1c
	pvVariantSDI
	pvVariantFull
	pvVariants
)

// preventVariantNames are the variant names a prediction reports.
var preventVariantNames = [pvVariants]string{"base", "uacr", "hba1c", "sdi", "full"}

// preventTermInputs names the inputs each term is built from.
var preventTermInputs = [pvTerms]string{
	pvAge: "age", pvAge2: "age:age", pvNonHDL: "total_cholesterol:hdl_cholesterol", pvHDL: "hdl_cholesterol",
	pvSBPLow: "systolic_bp", pvSBPHigh: "systolic_bp", pvDiabetes: "diabetes", pvSmoker: "current_smoker",
	pvBMILow: "bmi", pvBMIHigh: "bmi", pvEGFRLow: "egfr", pvEGFRHigh: "egfr",
	pvAntiHTN: "on_bp_treatment", pvStatin: "on_statin", pvAntiHTNxSBPHigh: "on_bp_treatment:systolic_bp",
	pvStatinxNonHDL: "on_statin:total_cholesterol:hdl_cholesterol", pvAgexNonHDL: "age:total_cholesterol:hdl_cholesterol",
	pvAgexHDL: "age:hdl_cholesterol", pvAgexSBPHigh: "age:systolic_bp", pvAgexDiabetes: "age:diabetes",
	pvAgexSmoker: "age:current_smoker", pvAgexBMIHigh: "age:bmi", pvAgexEGFRLow: "age:egfr", pvConst: "constant",
	pvSDIMid: "sdi_decile", pvSDIHigh: "sdi_decile", pvSDIMissing: "sdi_decile", pvLnUACR: "uacr", pvUACRMissing: "uacr",
	pvHbA1cDM: "hba1c:diabetes", pvHbA1cNoDM: "hba1c:diabetes", pvHbA1cMissing: "hba1c",
}

// Outcome models of PREVENT, in the order of MODELS.md's outcomes.
const (
	pvCVD = iota
	pvASCVD
	pvHF
	pvOutcomes
)

type preventCoef [pvTerms]float64

// preventTables[horizon][sex][outcome]; horizon 0 = 10 years, 1 = 30 years;
// sex 0 = female, 1 = male. Zero means the term is not in that model.
var preventTables = [2][2][pvOutcomes]preventCoef{
	{ // 10-year base model: Stata SSC prevent10i.ado = PooledCohort coefs_prevent.xlsx base_10
		{ // female
			{0.7939329, 0, 0.0305239, -0.1606857, -0.2394003, 0.3600781, 0.8667604, 0.5360739, 0, 0, 0.6045917, 0.0433769, 0.3151672, -0.1477655, -0.0663612, 0.1197879, -0.0819715, 0.0306769, -0.0946348, -0.27057, -0.078715, 0, -0.1637806, -3.307728},
			{0.719883, 0, 0.1176967, -0.151185, -0.0835358, 0.3592852, 0.8348585, 0.4831078, 0, 0, 0.4864619, 0.0397779, 0.2265309, -0.0592374, -0.0395762, 0.0844423, -0.0567839, 0.0325692, -0.1035985, -0.2417542, -0.0791142, 0, -0.1671492, -3.819975},
			{0.8998235, 0, 0, 0, -0.4559771, 0.3576505, 1.038346, 0.583916, -0.0072294, 0.2997706, 0.7451638, 0.0557087, 0.3534442, 0, -0.0981511, 0, 0, 0, -0.0946663, -0.3581041, -0.1159453, -0.003878, -0.1884289, -4.310409},
		},
		{ // male
			{0.7688528, 0, 0.0736174, -0.0954431, -0.4347345, 0.3362658, 0.7692857, 0.4386871, 0, 0, 0.5378979, 0.0164827, 0.288879, -0.1337349, -0.0475924, 0.150273, -0.0517874, 0.0191169, -0.1049477, -0.2251948, -0.0895067, 0, -0.1543702, -3.031168},
			{0.7099847, 0, 0.1658663, -0.1144285, -0.2837212, 0.3239977, 0.7189597, 0.3956973, 0, 0, 0.3690075, 0.0203619, 0.2036522, -0.0865581, -0.0322916, 0.114563, -0.0300005, 0.0232747, -0.0927024, -0.2018525, -0.0970527, 0, -0.1217081, -3.500655},
			{0.8972642, 0, 0, 0, -0.6811466, 0.3634461, 0.923776, 0.5023736, -0.0485841, 0.3726929, 0.6926917, 0.0251827, 0.2980922, 0, -0.0497731, 0, 0, 0, -0.1289201, -0.3040924, -0.1401688, 0.0068126, -0.1797778, -3.946391},
		},
	},
	{ // 30-year base model: PooledCohort coefs_prevent.xlsx base_30
		{ // female
			{0.5503079, -0.0928369, 0.0409794, -0.1663306, -0.1628654, 0.3299505, 0.6793894, 0.3196112, 0, 0, 0.1857101, 0.0553528, 0.2894, -0.075688, -0.056367, 0.1071019, -0.0751438, 0.0301786, -0.0998776, -0.3206166, -0.1607862, 0, -0.1450788, -1.318827},
			{0.4669202, -0.0893118, 0.1256901, -0.1542255, -0.0018093, 0.322949, 0.6296707, 0.268292, 0, 0, 0.100106, 0.0499663, 0.1875292, 0.0152476, -0.0276123, 0.0736147, -0.0521962, 0.0316918, -0.1046101, -0.2727793, -0.1530907, 0, -0.1299149, -1.974074},
			{0.6254374, -0.0983038, 0, 0, -0.3919241, 0.3142295, 0.8330787, 0.3438651, 0.0594874, 0.2525536, 0.2981642, 0.0667159, 0.333921, 0, -0.0893177, 0, 0, 0, -0.0974299, -0.404855, -0.1982991, -0.0035619, -0.1564215, -2.205379},
		},
		{ // male
			{0.4627309, -0.0984281, 0.0836088, -0.1029824, -0.2140352, 0.2904325, 0.5331276, 0.2141914, 0, 0, 0.1155556, 0.0603775, 0.232714, -0.0272112, -0.0384488, 0.134192, -0.0511759, 0.0165865, -0.1101437, -0.2585943, -0.1566406, 0, -0.1166776, -1.148204},
			{0.3994099, -0.0937484, 0.1744643, -0.120203, -0.0665117, 0.2753037, 0.4790257, 0.1782635, 0, 0, -0.0218789, 0.0602553, 0.1421182, 0.0135996, -0.0218265, 0.1013148, -0.0312619, 0.020673, -0.0920935, -0.2159947, -0.1548811, 0, -0.0712547, -1.736444},
			{0.5681541, -0.1048388, 0, 0, -0.4761564, 0.30324, 0.6840338, 0.2656273, 0.0833107, 0.26999, 0.2541805, 0.0638923, 0.2583631, 0, -0.0391938, 0, 0, 0, -0.1269124, -0.3273572, -0.2043019, -0.0182831, -0.1342618, -1.95751},
		},
	},
}

// preventTerms computes the transformed predictors z of every variant.
// Cholesterol is converted to mmol/L with PREVENT's own factor.
func preventTerms(v *Values) (z preventCoef) {
	age := (v.get(inAge) - 55) / 10
	nonHDL := (v.get(inTotalCholesterol)-v.get(inHDLCholesterol))*cholesterolMmolPerMg - 3.5
	hdl := (v.get(inHDLCholesterol)*cholesterolMmolPerMg - 1.3) / 0.3
	sbp := v.get(inSystolicBP)
	bmi := v.get(inBMI)
	egfr := v.get(inEGFR)
	dm := points(v.flag(inDiabetes))
	smoker := points(v.flag(inCurrentSmoker))
	antiHTN := points(v.flag(inOnBPTreatment))
	statin := points(v.flag(inOnStatin))

	z[pvAge] = age
	z[pvAge2] = age * age
	z[pvNonHDL] = nonHDL
	z[pvHDL] = hdl
	z[pvSBPLow] = (math.Min(sbp, 110) - 110) / 20
	z[pvSBPHigh] = (math.Max(sbp, 110) - 130) / 20
	z[pvDiabetes] = dm
	z[pvSmoker] = smoker
	z[pvBMILow] = (math.Min(bmi, 30) - 25) / 5
	z[pvBMIHigh] = (math.Max(bmi, 30) - 30) / 5
	z[pvEGFRLow] = (math.Min(egfr, 60) - 60) / -15
	z[pvEGFRHigh] = (math.Max(egfr, 60) - 90) / -15
	z[pvAntiHTN] = antiHTN
	z[pvStatin] = statin
	z[pvAntiHTNxSBPHigh] = antiHTN * z[pvSBPHigh]
	z[pvStatinxNonHDL] = statin * nonHDL
	z[pvAgexNonHDL] = age * nonHDL
	z[pvAgexHDL] = age * hdl
	z[pvAgexSBPHigh] = age * z[pvSBPHigh]
	z[pvAgexDiabetes] = age * dm
	z[pvAgexSmoker] = age * smoker
	z[pvAgexBMIHigh] = age * z[pvBMIHigh]
	z[pvAgexEGFRLow] = age * z[pvEGFRLow]
	z[pvConst] = 1

	// Optional inputs, as preventr's prep_terms and the AHA's own equations
	// code them; an absent input sets its missing indicator instead.
	if v.has(inSDIDecile) {
		d := v.get(inSDIDecile)
		z[pvSDIMid] = points(d >= 4 && d <= 6)
		z[pvSDIHigh] = points(d >= 7)
	} else {
		z[pvSDIMissing] = 1
	}
	if v.has(inUACR) {
		// The AHA's equations count UACR below 0.1 mg/g as 0.1.
		z[pvLnUACR] = math.Log(math.Max(v.get(inUACR), preventMinUACR))
	} else {
		z[pvUACRMissing] = 1
	}
	if v.has(inHbA1c) {
		a1c := v.get(inHbA1c) - 5.3
		z[pvHbA1cDM] = a1c * dm
		z[pvHbA1cNoDM] = a1c * (1 - dm)
	} else {
		z[pvHbA1cMissing] = 1
	}
	return z
}

// Limits of the optional inputs. preventr accepts UACR 0.1-25000 mg/g and
// HbA1c 4.5-15 %; the AHA's equations take any UACR >= 0 (below 0.1 as
// 0.1), and preventr's documentation says they permit HbA1c down to 3 %.
// This service accepts the wider ranges and warns outside preventr's.
const (
	preventMinUACR  = 0.1
	preventMinHbA1c = 4.5
)

// Warnings of the optional inputs: fixed texts, never the value received.
const (
	warnUACRLow  = "uacr is below 0.1 mg/g; counted as 0.1 mg/g, as the AHA's PREVENT equations do (outside the range preventr accepts, 0.1-25000)"
	warnHbA1cLow = "hba1c is below 4.5 %, outside the range preventr accepts (4.5-15 %); the equations are published for values down to 3 %"
	// The full model's missing-value terms stand for a typical absent
	// value, not the patient's: say which input they replaced.
	warnFullNoUACR  = "full model without uacr: its published missing-UACR term was used in place of a value"
	warnFullNoHbA1c = "full model without hba1c: its published missing-HbA1c term was used in place of a value"
	warnFullNoSDI   = "full model without sdi_decile: its published missing-SDI term was used in place of a value"
)

// preventVariant chooses the model as preventr's estimate_risk does when
// it is not told which: no optional input, the base model; exactly one,
// the model adding it; two or three, the full model, whose missing
// indicators account for the one still absent.
func preventVariant(v *Values) int {
	uacr, a1c, sdi := v.has(inUACR), v.has(inHbA1c), v.has(inSDIDecile)
	switch n := int(points(uacr) + points(a1c) + points(sdi)); {
	case n == 0:
		return pvVariantBase
	case n >= 2:
		return pvVariantFull
	case uacr:
		return pvVariantUACR
	case a1c:
		return pvVariantHbA1c
	}
	return pvVariantSDI
}

// preventRisk is the logistic risk in percent; contributions go to p when
// it is not nil.
func preventRisk(c *preventCoef, z *preventCoef, p *Prediction) float64 {
	var sum float64
	if p == nil {
		// A plain dot product: terms absent from a model have coefficient 0.
		for i := range c {
			sum += c[i] * z[i]
		}
	} else {
		l := predictor{p: p}
		for i := range c {
			l.add(preventTermInputs[i], c[i], z[i])
		}
		sum = l.sum
	}
	return 100 / (1 + math.Exp(-sum))
}

// preventWarnings appends the warnings of the optional inputs: the full
// model's missing-value terms, values outside preventr's ranges. Fixed
// texts only, so nothing is allocated once p has room.
func preventWarnings(v *Values, variant int, p *Prediction) {
	if variant == pvVariantFull {
		for _, w := range [...]struct {
			id   inputID
			text string
		}{{inUACR, warnFullNoUACR}, {inHbA1c, warnFullNoHbA1c}, {inSDIDecile, warnFullNoSDI}} {
			if !v.has(w.id) {
				p.Warnings = append(p.Warnings, w.text)
			}
		}
	}
	if v.has(inUACR) && v.get(inUACR) < preventMinUACR {
		p.Warnings = append(p.Warnings, warnUACRLow)
	}
	if v.has(inHbA1c) && v.get(inHbA1c) < preventMinHbA1c {
		p.Warnings = append(p.Warnings, warnHbA1cLow)
	}
}

func preventModel(years int) *Model {
	horizon, maxAge := 0, 79.0
	if years == 30 {
		horizon, maxAge = 1, 59
	}
	y := strconv.Itoa(years)
	m := &Model{
		ID:         "prevent-" + y + "y",
		Version:    "2024",
		Title:      "AHA PREVENT equations: " + y + "-year total cardiovascular disease risk",
		Citation:   "Khan SS, Matsushita K, Sang Y, et al. Development and Validation of the American Heart Association's PREVENT Equations. Circulation 2024;149(6):430-449",
		DOI:        "10.1161/CIRCULATIONAHA.123.067626",
		Population: "adults aged 30-" + strconv.Itoa(int(maxAge)) + " without known cardiovascular disease",
		Inputs: inputs(
			one(number(inAge, 30, maxAge), choice(inSex),
				number(inTotalCholesterol, 130, 320), number(inHDLCholesterol, 20, 100), number(inSystolicBP, 90, 180)),
			bools(inOnBPTreatment, inOnStatin, inDiabetes, inCurrentSmoker),
			one(number(inBMI, 18.5, 39.9), number(inEGFR, 15, 140)),
			one(optional(number(inUACR, 0, 25000)), optional(number(inHbA1c, 3, 15)), optional(number(inSDIDecile, 1, 10))),
		),
		Variants: preventVariantNames[:],
		Result:   ResultSpec{Label: y + "-year total CVD risk", Unit: "%"},
		Outcomes: []ValueSpec{
			{ID: "total_cvd", Label: y + "-year total CVD risk (ASCVD or heart failure)", Unit: "%"},
			{ID: "ascvd", Label: y + "-year ASCVD risk", Unit: "%"},
			{ID: "heart_failure", Label: y + "-year heart failure risk", Unit: "%"},
		},
		Notes: []string{
			"Sex-specific and race-free. Optional uacr, hba1c and sdi_decile choose the variant as preventr does: none, the base model; one, the model adding it (uacr, hba1c or sdi); two or three, the full model, with the published missing-indicator term for the one absent (and a warning naming it). The prediction's variant field names the model used.",
			"Add-on terms: ln(UACR, mg/g); HbA1c - 5.3 %, with separate coefficients with and without diabetes; SDI deciles 4-6 and 7-10 against 1-3. UACR in mg/mmol is converted at 8.84 mg/g per mg/mmol, HbA1c in mmol/mol with the IFCC-NGSP master equation (NGSP = 0.09148 IFCC + 2.152).",
			"UACR below 0.1 mg/g counts as 0.1, as the AHA's equations do; UACR below 0.1 and HbA1c below 4.5 % (preventr's range is UACR 0.1-25000 mg/g, HbA1c 4.5-15 %) are computed with a warning.",
			"Ranges are those of the preventr package (age 30-79, total cholesterol 130-320 mg/dL, HDL 20-100 mg/dL, systolic BP 90-180 mmHg, BMI 18.5-39.9, eGFR 15-140); other implementations accept systolic BP to 200 and eGFR to 150.",
			"eGFR is expected from the CKD-EPI 2021 creatinine equation (model ckd-epi-2021).",
			"Cholesterol in mmol/L is converted with PREVENT's own factor, 0.02586 mmol/L per mg/dL.",
			"The three outcome models are separate, so ASCVD plus heart-failure risk can exceed total CVD risk.",
			"Contributions are coefficient x transformed value for each term of the total CVD logistic model, constant included; risk = 1/(1+exp(-sum)).",
		},
	}
	if years == 10 {
		m.Result.Categories = ascvdCategories
		m.Notes = append(m.Notes, "Categories reuse the ACC/AHA bands (low <5, borderline 5 to <7.5, intermediate 7.5 to <20, high >=20 percent); the PREVENT paper defines none, so treat them as a convention, not part of the model.")
	} else {
		m.Notes = append(m.Notes, "30-year estimates are refused above age 59, where the developers flag them as unreliable; there are no risk categories.")
	}
	m.compute = func(v *Values, p *Prediction) {
		sex := 1
		if v.female() {
			sex = 0
		}
		z := preventTerms(v)
		variant := preventVariant(v)
		p.Variant = preventVariantNames[variant]
		preventWarnings(v, variant, p)
		t := &preventVariantTables[variant][horizon][sex]
		cvd := preventRisk(&t[pvCVD], &z, p)
		p.addOutcome(m.Outcomes[pvCVD], cvd)
		p.addOutcome(m.Outcomes[pvASCVD], preventRisk(&t[pvASCVD], &z, nil))
		p.addOutcome(m.Outcomes[pvHF], preventRisk(&t[pvHF], &z, nil))
		p.Result.Value = cvd
		if horizon == 0 {
			p.Result.Category = ascvdCategory(cvd)
		}
	}
	return m
}
