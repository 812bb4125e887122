package fhir

import "time"

// maxAge is how old an observation may be and still stand for the
// patient's value today, for one input (and, for model-specific limits,
// the models it applies to). One table, so a clinician can review it.
type maxAge struct {
	input  string
	models []string // nil: every model
	years  int
	months int
	days   int
	words  string // the limit as a card says it
	basis  string // why
}

var maxAges = []maxAge{
	// MELD labs first: the more specific row wins.
	{input: "bilirubin", models: meldModels, days: 30, words: "30 days", basis: basisOPTN},
	{input: "creatinine", models: meldModels, days: 30, words: "30 days", basis: basisOPTN},
	{input: "inr", models: meldModels, days: 30, words: "30 days", basis: basisOPTN},
	{input: "sodium", models: meldModels, days: 30, words: "30 days", basis: basisOPTN},
	{input: "albumin", models: meldModels, days: 30, words: "30 days", basis: basisOPTN},

	{input: "total_cholesterol", years: 5, words: "5 years", basis: basisLipids},
	{input: "hdl_cholesterol", years: 5, words: "5 years", basis: basisLipids},
	{input: "systolic_bp", years: 1, words: "1 year", basis: "ACC/AHA 2017 blood pressure guideline (Whelton 2018) and USPSTF 2021: blood pressure is screened at least yearly in adults 40 and over, the population of these risk models"},
	{input: "current_smoker", years: 1, words: "1 year", basis: "USPSTF 2021 tobacco screening and CMS eCQM 138 (tobacco use screened within the 12-month measurement period)"},
	{input: "creatinine", years: 1, words: "1 year", basis: basisKidney},
	{input: "egfr", years: 1, words: "1 year", basis: basisKidney},
	{input: "uacr", years: 1, words: "1 year", basis: basisKidney},
	{input: "hba1c", years: 1, words: "1 year", basis: "ADA Standards of Care 2024 section 6: HbA1c at least twice a year in diabetes; a value older than a year no longer describes glycaemia"},
	{input: "bmi", years: 1, words: "1 year", basis: basisWeight},
	{input: "weight", years: 1, words: "1 year", basis: basisWeight},
	{input: "height", years: 5, words: "5 years", basis: "adult height changes by about 1 cm per decade after 40; a 5-year-old height moves BMI by well under 1 %"},
}

var meldModels = []string{"meld-na", "meld-3.0"}

const (
	basisOPTN = "OPTN Policy 9.2 (MELD recertification): laboratory values no older than 30 days even for the lowest score band (48 hours to 14 days for higher bands)"
	// Lipids move little without treatment; the guidelines repeat them every 4-6 years.
	basisLipids = "2018 AHA/ACC cholesterol guideline (Grundy 2019) and NCEP ATP III: a lipid profile every 4 to 6 years in adults at average risk; 5 years is the middle of that interval"
	basisKidney = "KDIGO 2024 CKD guideline: eGFR and albuminuria at least yearly in people at risk; a laboratory value older than a year does not describe kidney or liver function today"
	basisWeight = "weight is measured at least yearly at a preventive visit (USPSTF 2018 obesity screening); BMI older than a year does not describe the patient today"
)

// limit returns the row for input in model; ok is false when the table has
// none (the input is not read from observations).
func limit(model, input string) (maxAge, bool) {
	for _, r := range maxAges {
		if r.input != input {
			continue
		}
		if r.models == nil || contains(r.models, model) {
			return r, true
		}
	}
	return maxAge{}, false
}

// oldest is the earliest acceptable date at now.
func (r maxAge) oldest(now time.Time) time.Time {
	return now.AddDate(-r.years, -r.months, -r.days)
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}
