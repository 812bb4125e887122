package scoring

// inputID names one input of the shared vocabulary (shared/MODELS.md). A
// model's Values are indexed by it, so reading an input is an array access.
type inputID int

const (
	inAge inputID = iota
	inSex
	inRace
	inTotalCholesterol
	inHDLCholesterol
	inSystolicBP
	inDiastolicBP
	inOnBPTreatment
	inOnStatin
	inDiabetes
	inCurrentSmoker
	inBMI
	inEGFR
	inRespiratoryRate
	inSpO2
	inSpO2Scale
	inOnOxygen
	inPulse
	inConsciousness
	inTemperature
	inGCS
	inAlteredMentation
	inCHF
	inHypertension
	inStrokeTIA
	inVascularDisease
	inCreatinine
	inBilirubin
	inINR
	inSodium
	inAlbumin
	inDialysis
	inWaist
	inPhysicallyActive
	inDailyVegetables
	inEverBPMedication
	inHighGlucose
	inFamilyHistoryDiabetes
	inConfusion
	inUrea
	inBUN
	inUACR
	inHbA1c
	inSDIDecile
	numInputs
)

// Input kinds, as they appear in the catalog.
const (
	kindNumber  = "number"
	kindInteger = "integer"
	kindBoolean = "boolean"
	kindEnum    = "enum"
)

// Conversion factors to canonical units. Where SPEC.md offers two, the one
// chosen is the one of the model's own reference implementation.
const (
	// mmol/L per mg/dL of cholesterol: the factor PREVENT itself uses
	// (Khan 2024; preventr), so mmol/L input reproduces its internal step.
	cholesterolMmolPerMg = 0.02586
	// µmol/L per mg/dL of creatinine: NKF calculator, kidney.epi and
	// preventr (admiral uses 88.42).
	creatinineUmolPerMg = 88.4
	// µmol/L per mg/dL of bilirubin (molar mass 584.7 g/mol).
	bilirubinUmolPerMg = 17.1
	cmPerInch          = 2.54
	// mg/g per mg/mmol of urine albumin-to-creatinine ratio: 1 mmol of
	// creatinine is 1000/8.84 mg at the 88.4 µmol/L per mg/dL above.
	uacrMgPerGPerMgPerMmol = creatinineUmolPerMg / 10
	// NGSP (%) from IFCC (mmol/mol) HbA1c: the IFCC-NGSP master equation,
	// NGSP = 0.09148 IFCC + 2.152 as ngsp.org/ifcc.asp states it (Hoelzel W
	// et al., Clin Chem 2004;50:166-174; the IFCC network rounds it to
	// 0.0915 IFCC + 2.15, inverse IFCC = 10.93 NGSP - 23.5).
	hba1cNGSPPerIFCC = 0.09148
	hba1cNGSPAtIFCC0 = 2.152
)

// unit is one accepted unit of an input and how to reach the canonical one.
type unit struct {
	code        string   // UCUM code
	aliases     []string // common spellings accepted too
	toCanonical func(float64) float64
}

// inputDef is an input of the shared vocabulary, before a model gives it a
// range. Units' first entry is the canonical unit (its toCanonical is nil).
type inputDef struct {
	name        string
	kind        string
	units       []unit
	values      []string // enum values
	description string
}

func canonical(code string, aliases ...string) unit { return unit{code: code, aliases: aliases} }

func convert(code string, f func(float64) float64, aliases ...string) unit {
	return unit{code: code, aliases: aliases, toCanonical: f}
}

var (
	mgdLCholesterol = []unit{
		canonical("mg/dL"),
		convert("mmol/L", func(x float64) float64 { return x / cholesterolMmolPerMg }),
	}
	mmHg       = []unit{canonical("mm[Hg]", "mmHg")}
	perMinute  = []unit{canonical("/min")}
	scoreUnits = []unit{canonical("{score}")}
)

// vocabulary is the shared input table; read-only after package load.
var vocabulary = [numInputs]inputDef{
	inAge:              {name: "age", kind: kindNumber, units: []unit{canonical("a")}, description: "age in years"},
	inSex:              {name: "sex", kind: kindEnum, values: []string{"female", "male"}, description: "sex"},
	inRace:             {name: "race", kind: kindEnum, values: []string{"white", "african_american", "other"}, description: "race, for the race-specific Pooled Cohort Equations; other uses the white equations"},
	inTotalCholesterol: {name: "total_cholesterol", kind: kindNumber, units: mgdLCholesterol, description: "total cholesterol"},
	inHDLCholesterol:   {name: "hdl_cholesterol", kind: kindNumber, units: mgdLCholesterol, description: "HDL cholesterol"},
	inSystolicBP:       {name: "systolic_bp", kind: kindNumber, units: mmHg, description: "systolic blood pressure"},
	inDiastolicBP:      {name: "diastolic_bp", kind: kindNumber, units: mmHg, description: "diastolic blood pressure"},
	inOnBPTreatment:    {name: "on_bp_treatment", kind: kindBoolean, description: "currently treated for hypertension"},
	inOnStatin:         {name: "on_statin", kind: kindBoolean, description: "currently taking a statin"},
	inDiabetes:         {name: "diabetes", kind: kindBoolean, description: "diabetes mellitus"},
	inCurrentSmoker:    {name: "current_smoker", kind: kindBoolean, description: "current smoker"},
	inBMI:              {name: "bmi", kind: kindNumber, units: []unit{canonical("kg/m2")}, description: "body-mass index"},
	inEGFR:             {name: "egfr", kind: kindNumber, units: []unit{canonical("mL/min/{1.73_m2}")}, description: "estimated GFR (CKD-EPI 2021)"},
	inRespiratoryRate:  {name: "respiratory_rate", kind: kindNumber, units: perMinute, description: "respiration rate, breaths per minute"},
	inSpO2:             {name: "spo2", kind: kindNumber, units: []unit{canonical("%")}, description: "oxygen saturation"},
	inSpO2Scale:        {name: "spo2_scale", kind: kindInteger, description: "NEWS2 SpO2 scale: 2 only for a prescribed target of 88-92 %"},
	inOnOxygen:         {name: "on_oxygen", kind: kindBoolean, description: "receiving any supplemental oxygen"},
	inPulse:            {name: "pulse", kind: kindNumber, units: perMinute, description: "pulse rate, beats per minute"},
	inConsciousness:    {name: "consciousness", kind: kindEnum, values: []string{"alert", "confusion", "voice", "pain", "unresponsive"}, description: "ACVPU level; confusion means new confusion"},
	inTemperature: {name: "temperature", kind: kindNumber, units: []unit{
		canonical("Cel", "°C"),
		convert("[degF]", func(f float64) float64 { return (f - 32) * 5 / 9 }, "°F"),
	}, description: "body temperature"},
	inGCS:              {name: "gcs", kind: kindInteger, units: scoreUnits, description: "Glasgow Coma Scale"},
	inAlteredMentation: {name: "altered_mentation", kind: kindBoolean, description: "altered mentation"},
	inCHF:              {name: "chf", kind: kindBoolean, description: "congestive heart failure or LV dysfunction"},
	inHypertension:     {name: "hypertension", kind: kindBoolean, description: "hypertension"},
	inStrokeTIA:        {name: "stroke_tia_thromboembolism", kind: kindBoolean, description: "prior stroke, TIA or thromboembolism"},
	inVascularDisease:  {name: "vascular_disease", kind: kindBoolean, description: "prior myocardial infarction, peripheral artery disease or aortic plaque"},
	inCreatinine: {name: "creatinine", kind: kindNumber, units: []unit{
		canonical("mg/dL"),
		convert("umol/L", func(x float64) float64 { return x / creatinineUmolPerMg }, "µmol/L"),
	}, description: "serum creatinine (IDMS-standardised)"},
	inBilirubin: {name: "bilirubin", kind: kindNumber, units: []unit{
		canonical("mg/dL"),
		convert("umol/L", func(x float64) float64 { return x / bilirubinUmolPerMg }, "µmol/L"),
	}, description: "total bilirubin"},
	inINR:    {name: "inr", kind: kindNumber, units: []unit{canonical("1")}, description: "international normalised ratio"},
	inSodium: {name: "sodium", kind: kindNumber, units: []unit{canonical("mmol/L", "meq/L", "mEq/L")}, description: "serum sodium"},
	inAlbumin: {name: "albumin", kind: kindNumber, units: []unit{
		canonical("g/dL"),
		convert("g/L", func(x float64) float64 { return x / 10 }),
	}, description: "serum albumin"},
	inDialysis: {name: "dialysis_twice_past_week", kind: kindBoolean, description: "dialysis at least twice, or CVVHD for 24 hours or more, in the past 7 days"},
	inWaist: {name: "waist", kind: kindNumber, units: []unit{
		canonical("cm"),
		convert("[in_i]", func(x float64) float64 { return x * cmPerInch }, "in"),
	}, description: "waist circumference"},
	inPhysicallyActive:      {name: "physically_active", kind: kindBoolean, description: "at least 30 minutes of physical activity daily"},
	inDailyVegetables:       {name: "daily_vegetables", kind: kindBoolean, description: "eats vegetables, fruit or berries every day"},
	inEverBPMedication:      {name: "ever_bp_medication", kind: kindBoolean, description: "has ever taken antihypertensive medication regularly"},
	inHighGlucose:           {name: "high_glucose_history", kind: kindBoolean, description: "has ever been found to have high blood glucose"},
	inFamilyHistoryDiabetes: {name: "family_history_diabetes", kind: kindEnum, values: []string{"none", "second_degree", "first_degree"}, description: "family history of diabetes: second_degree is grandparent, aunt, uncle or first cousin; first_degree is parent, sibling or own child"},
	inConfusion:             {name: "confusion", kind: kindBoolean, description: "new confusion (disorientation in person, place or time, or AMT 8 or less)"},
	inUrea:                  {name: "urea", kind: kindNumber, units: []unit{canonical("mmol/L")}, description: "blood urea; give urea or bun, not both"},
	inBUN:                   {name: "bun", kind: kindNumber, units: []unit{canonical("mg/dL")}, description: "blood urea nitrogen; give urea or bun, not both"},
	inUACR: {name: "uacr", kind: kindNumber, units: []unit{
		canonical("mg/g", "mg/g{creat}"),
		convert("mg/mmol", func(x float64) float64 { return x * uacrMgPerGPerMgPerMmol }, "mg/mmol{creat}", "g/mol{creat}"),
	}, description: "urine albumin-to-creatinine ratio"},
	inHbA1c: {name: "hba1c", kind: kindNumber, units: []unit{
		canonical("%"),
		convert("mmol/mol", func(x float64) float64 { return hba1cNGSPPerIFCC*x + hba1cNGSPAtIFCC0 }),
	}, description: "glycated haemoglobin A1c, NGSP/DCCT % (IFCC mmol/mol converted with the master equation)"},
	inSDIDecile: {name: "sdi_decile", kind: kindInteger, description: "Social Deprivation Index decile of the residence (Robert Graham Center), 1 least to 10 most deprived"},
}

// Input is one input of one model, as the catalog shows it.
type Input struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Unit          string   `json:"unit,omitempty"`
	AcceptedUnits []string `json:"accepted_units,omitempty"`
	Minimum       *float64 `json:"minimum,omitempty"`
	Maximum       *float64 `json:"maximum,omitempty"`
	Values        []string `json:"values,omitempty"`
	Required      bool     `json:"required"`
	Default       any      `json:"default,omitempty"`
	Description   string   `json:"description"`

	id  inputID
	min float64
	max float64
	def float64 // default value, used when the input is optional and absent
}

// number is a required numeric input valid in [min, max], canonical unit.
func number(id inputID, min, max float64) Input {
	d := &vocabulary[id]
	in := Input{Name: d.name, Type: d.kind, Required: true, Description: d.description, id: id, min: min, max: max}
	in.Minimum, in.Maximum = &in.min, &in.max
	for _, u := range d.units {
		in.AcceptedUnits = append(in.AcceptedUnits, u.code)
		in.AcceptedUnits = append(in.AcceptedUnits, u.aliases...)
	}
	if len(d.units) > 0 {
		in.Unit = d.units[0].code
	}
	return in
}

// flag is a required boolean input.
func flag(id inputID) Input {
	d := &vocabulary[id]
	return Input{Name: d.name, Type: kindBoolean, Required: true, Description: d.description, id: id}
}

// choice is a required enum input.
func choice(id inputID) Input {
	d := &vocabulary[id]
	return Input{Name: d.name, Type: kindEnum, Values: d.values, Required: true, Description: d.description, id: id}
}

// optional makes in optional. Without a default the model's check decides
// what its absence means (e.g. qSOFA's altered_mentation or gcs).
func optional(in Input) Input {
	in.Required = false
	return in
}

// withDefault makes in optional with a default value.
func withDefault(in Input, def float64) Input {
	in.Required = false
	in.def = def
	in.Default = def
	return in
}

// bools lists required boolean inputs.
func bools(ids ...inputID) []Input {
	ins := make([]Input, len(ids))
	for i, id := range ids {
		ins[i] = flag(id)
	}
	return ins
}

func inputs(groups ...[]Input) []Input {
	var all []Input
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

func one(ins ...Input) []Input { return ins }
