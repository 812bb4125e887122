package scoring

import "math"

func findriscModel() *Model {
	return &Model{
		ID:         "findrisc",
		Version:    "2003-form",
		Title:      "FINDRISC: Finnish Diabetes Risk Score",
		Citation:   "Lindstrom J, Tuomilehto J. The Diabetes Risk Score: a practical tool to predict type 2 diabetes risk. Diabetes Care 2003;26(3):725-731; items and bands of the Finnish Diabetes Association's Type 2 Diabetes Risk Assessment Form",
		DOI:        "10.2337/diacare.26.3.725",
		Population: "adults without known diabetes",
		Inputs: inputs(
			one(number(inAge, 18, 120), number(inBMI, 10, 80), number(inWaist, 40, 250), choice(inSex)),
			bools(inPhysicallyActive, inDailyVegetables, inEverBPMedication, inHighGlucose),
			one(choice(inFamilyHistoryDiabetes)),
		),
		Result: ResultSpec{Label: "FINDRISC score", Unit: "{score}", Integer: true,
			Categories: []string{"low", "slightly_elevated", "moderate", "high", "very_high"}},
		Notes: []string{
			"Items and bands of the public form (maximum 26), which includes family history; the 2003 paper's derivation score may not. The German FINDRISK variant (other age bands, 2 points for diet) is a different form and is not used.",
			"Age counts in completed years (54.9 is 45-54). BMI and waist bands read continuously: BMI below 25 is 0, 25 to 30 is 1, above 30 is 3; waist for men below 94 cm is 0, 94 to 102 is 3, above 102 is 4; for women below 80 is 0, 80 to 88 is 3, above 88 is 4.",
			"Categories by total: low <7 (about 1 in 100 over 10 years), slightly_elevated 7-11 (1 in 25), moderate 12-14 (1 in 6), high 15-20 (1 in 3), very_high >20 (1 in 2).",
		},
		compute: computeFINDRISC,
	}
}

func computeFINDRISC(v *Values, p *Prediction) {
	age := math.Floor(v.get(inAge))
	agePts := 0.0
	switch {
	case age > 64:
		agePts = 4
	case age >= 55:
		agePts = 3
	case age >= 45:
		agePts = 2
	}
	bmi := v.get(inBMI)
	bmiPts := 0.0
	switch {
	case bmi > 30:
		bmiPts = 3
	case bmi >= 25:
		bmiPts = 1
	}
	waist := v.get(inWaist)
	low, high := 94.0, 102.0
	if v.female() {
		low, high = 80, 88
	}
	waistPts := 0.0
	switch {
	case waist > high:
		waistPts = 4
	case waist >= low:
		waistPts = 3
	}
	family := 0.0
	switch {
	case v.is(inFamilyHistoryDiabetes, "first_degree"):
		family = 5
	case v.is(inFamilyHistoryDiabetes, "second_degree"):
		family = 3
	}
	items := [...]Contribution{
		{"age", agePts},
		{"bmi", bmiPts},
		{"waist", waistPts},
		{"physically_active", 2 * points(!v.flag(inPhysicallyActive))},
		{"daily_vegetables", points(!v.flag(inDailyVegetables))},
		{"ever_bp_medication", 2 * points(v.flag(inEverBPMedication))},
		{"high_glucose_history", 5 * points(v.flag(inHighGlucose))},
		{"family_history_diabetes", family},
	}
	score := 0.0
	for _, it := range items {
		score += it.Value
		p.Contributions = append(p.Contributions, it)
	}
	p.Result.Value = score
	switch {
	case score > 20:
		p.Result.Category = "very_high"
	case score >= 15:
		p.Result.Category = "high"
	case score >= 12:
		p.Result.Category = "moderate"
	case score >= 7:
		p.Result.Category = "slightly_elevated"
	default:
		p.Result.Category = "low"
	}
}
