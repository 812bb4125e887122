package fhir

// The code tables of shared/CDS_HOOKS.md ("From FHIR to model inputs"):
// what each input is read from. Codes not in the contract are added only
// where their meaning is certain, each with its source.
//
// Sources: LOINC codes and their names from loinc.org (search.loinc.org,
// each code's page); SNOMED CT concepts from the SNOMED International
// browser (browser.ihtsdotools.org, International Edition) and, for the
// smoking answers, the ONC smoking-status value set (C-CDA Current Smoking
// Status, OID 2.16.840.1.113883.11.20.9.38) that US Core 3.1 binds to the
// value of 72166-2; ICD-10-CM
// categories from the CDC/NCHS ICD-10-CM tabular list; race categories from
// the OMB 1997 standard as bound in the US Core Race extension
// (hl7.org/fhir/us/core/StructureDefinition-us-core-race).

// Code systems, as FHIR R4 names them.
const (
	systemLOINC     = "http://loinc.org"
	systemSNOMED    = "http://snomed.info/sct"
	systemICD10CM   = "http://hl7.org/fhir/sid/icd-10-cm"
	systemRxNorm    = "http://www.nlm.nih.gov/research/umls/rxnorm"
	systemUCUM      = "http://unitsofmeasure.org"
	systemOMBRace   = "urn:oid:2.16.840.1.113883.6.238"
	extensionUSRace = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
)

// lab is an input read from the valueQuantity of Observations.
type lab struct {
	input string
	loinc []string
	// units maps UCUM codes the catalog does not list to one it does,
	// for dimensionless annotations only ({INR} is the unit 1).
	units map[string]string
}

// labs are the quantity inputs, by input name. systolic_bp is also read
// from the components of bpPanels; bmi, weight and height feed the derived
// bmi; creatinine feeds the derived egfr.
var labs = []lab{
	// 2093-3 Cholesterol [Mass/volume] in Serum or Plasma; 14647-2 Cholesterol [Moles/volume] in Serum or Plasma.
	{input: "total_cholesterol", loinc: []string{"2093-3", "14647-2"}},
	// 2085-9 Cholesterol in HDL [Mass/volume] in Serum or Plasma; 14646-4 Cholesterol in HDL [Moles/volume] in Serum or Plasma.
	{input: "hdl_cholesterol", loinc: []string{"2085-9", "14646-4"}},
	// 8480-6 Systolic blood pressure.
	{input: "systolic_bp", loinc: []string{loincSystolic}},
	// 2160-0 Creatinine [Mass/volume] in Serum or Plasma; 38483-4 Creatinine [Mass/volume] in Blood; 14682-9 Creatinine [Moles/volume] in Serum or Plasma.
	{input: "creatinine", loinc: []string{"2160-0", "38483-4", "14682-9"}},
	// 98979-8 Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI 2021).
	{input: "egfr", loinc: []string{"98979-8"}},
	// 39156-5 Body mass index (BMI) [Ratio].
	{input: "bmi", loinc: []string{"39156-5"}},
	// 1975-2 Bilirubin.total [Mass/volume] in Serum or Plasma; 14631-6 Bilirubin.total [Moles/volume] in Serum or Plasma.
	{input: "bilirubin", loinc: []string{"1975-2", "14631-6"}},
	// 6301-6 INR in Platelet poor plasma by Coagulation assay; 34714-6 INR in Blood by Coagulation assay.
	// The INR is a ratio: UCUM 1, or the annotations {INR} and {ratio} (annotations carry no meaning in UCUM).
	{input: "inr", loinc: []string{"6301-6", "34714-6"}, units: map[string]string{"{INR}": "1", "{ratio}": "1", "": "1"}},
	// 2951-2 Sodium [Moles/volume] in Serum or Plasma; 2947-0 Sodium [Moles/volume] in Blood.
	{input: "sodium", loinc: []string{"2951-2", "2947-0"}},
	// 1751-7 Albumin [Mass/volume] in Serum or Plasma; 61151-7 Albumin [Mass/volume] in Serum or Plasma by Bromocresol green (BCG) dye binding method.
	{input: "albumin", loinc: []string{"1751-7", "61151-7"}},
	// 9318-7 Albumin/Creatinine [Mass Ratio] in Urine; 14959-1 Microalbumin/Creatinine [Mass Ratio] in Urine; 32294-1 Albumin/Creatinine [Ratio] in Urine.
	{input: "uacr", loinc: []string{"9318-7", "14959-1", "32294-1"}},
	// 4548-4 Hemoglobin A1c/Hemoglobin.total in Blood; 17856-6 ... by HPLC; 59261-8 ... by IFCC protocol (mmol/mol).
	{input: "hba1c", loinc: []string{"4548-4", "17856-6", "59261-8"}},
}

// Codes used outside the labs table.
const (
	loincSystolic = "8480-6"  // Systolic blood pressure
	loincSmoking  = "72166-2" // Tobacco smoking status
	loincWeight   = "29463-7" // Body weight
	loincHeight   = "8302-2"  // Body height
)

// bpPanels are panels whose 8480-6 component is a systolic pressure:
// 85354-9 Blood pressure panel with all children optional (the FHIR R4
// vital-signs profile's panel) and 55284-4 Blood pressure systolic and
// diastolic (the older panel some EHRs still send).
var bpPanels = []string{"85354-9", "55284-4"}

// bodyUnits converts weight and height to kg and m, for the derived bmi
// only: the catalog has no weight or height input, so it has no table for
// them. UCUM codes: kg, g, [lb_av] (avoirdupois pound, 0.45359237 kg
// exactly); m, cm, [in_i] (international inch, 2.54 cm exactly).
var (
	weightToKg = map[string]float64{"kg": 1, "g": 0.001, "[lb_av]": 0.45359237}
	heightToM  = map[string]float64{"m": 1, "cm": 0.01, "[in_i]": 0.0254}
)

// Smoking status answers (valueCodeableConcept of 72166-2, SNOMED CT), as
// the contract lists them. Any other answer (266927001 Unknown if ever
// smoked, or a code not listed here) leaves the input missing.
var smokingAnswers = map[string]bool{
	"449868002":       true,  // Current every day smoker
	"428041000124106": true,  // Current some day smoker
	"428071000124103": true,  // Current heavy tobacco smoker
	"428061000124105": true,  // Current light tobacco smoker
	"77176002":        true,  // Smoker, current status unknown
	"8517006":         false, // Former smoker
	"266919005":       false, // Never smoker
}

// raceCategories maps OMB race categories (ombCategory of the US Core race
// extension) to the race input; any other OMB category is "other".
var raceCategories = map[string]string{
	"2106-3": "white",            // White
	"2054-5": "african_american", // Black or African American
	"1002-5": "other",            // American Indian or Alaska Native
	"2028-9": "other",            // Asian
	"2076-8": "other",            // Native Hawaiian or Other Pacific Islander
}

// condition is a boolean input read from Conditions.
type condition struct {
	input  string
	snomed []string
	icd10  []string // ICD-10-CM prefixes, without the dot
	// history counts inactive, remission and resolved conditions too: a
	// past stroke is a CHA2DS2-VASc point whatever its status now.
	history bool
}

var conditions = []condition{
	// 73211009 Diabetes mellitus; 44054006 Diabetes mellitus type 2; 46635009 Diabetes mellitus type 1.
	// ICD-10-CM E08 (due to underlying condition), E09 (drug induced), E10 (type 1), E11 (type 2), E13 (other specified); E12 is not used in ICD-10-CM.
	{input: "diabetes", snomed: []string{"73211009", "44054006", "46635009"}, icd10: []string{"E08", "E09", "E10", "E11", "E12", "E13"}},
	// 38341003 Hypertensive disorder, systemic arterial; 59621000 Essential hypertension.
	// ICD-10-CM I10-I16, hypertensive diseases (I14 is not used).
	{input: "hypertension", snomed: []string{"38341003", "59621000"}, icd10: []string{"I10", "I11", "I12", "I13", "I14", "I15", "I16"}},
	// 84114007 Heart failure; 42343007 Congestive heart failure. ICD-10-CM I50 Heart failure.
	{input: "chf", snomed: []string{"84114007", "42343007"}, icd10: []string{"I50"}, history: true},
	// 230690007 Cerebrovascular accident; 266257000 Transient ischemic attack.
	// ICD-10-CM I63 Cerebral infarction, G45 Transient cerebral ischemic attacks, I74 Arterial embolism and thrombosis.
	{input: "stroke_tia_thromboembolism", snomed: []string{"230690007", "266257000"}, icd10: []string{"I63", "G45", "I74"}, history: true},
	// 22298006 Myocardial infarction; 399957001 Peripheral arterial occlusive disease.
	// ICD-10-CM I21 Acute MI, I22 Subsequent MI, I25.2 Old MI, I70 Atherosclerosis, I73.9 Peripheral vascular disease, unspecified.
	{input: "vascular_disease", snomed: []string{"22298006", "399957001"}, icd10: []string{"I21", "I22", "I252", "I70", "I739"}, history: true},
}

// Dialysis procedures (SNOMED CT): 108241001 Dialysis procedure;
// 265764009 Renal dialysis.
var dialysisCodes = []string{"108241001", "265764009"}
