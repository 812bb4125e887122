package fhir

// Medication classes, recognised by RxNorm ingredient code (RXCUI, term
// type IN) or by ingredient name in a display or text (RxNorm clinical
// drug names, the SCD/SBD strings EHRs send, start with the ingredient:
// "lisinopril 10 MG Oral Tablet"; combinations name each one).
//
// Antihypertensives: the oral drugs of the 2017 ACC/AHA blood-pressure
// guideline (Whelton PK et al., Hypertension 2018;71:e13-e115, Table 18,
// primary and secondary agents). Statins: the seven of the 2018 AHA/ACC
// cholesterol guideline (Grundy SM et al., Circulation 2019;139:e1082,
// Table 3).
//
// RxNorm codes, from the NLM Value Set Authority Center (VSAC) eCQM value
// sets whose expansion lists ingredients, eCQM Update 2025-05-08:
// "ACE Inhibitor or ARB or ARNI Ingredient" (2.16.840.1.113883.3.526.3.1489),
// "Beta Blocker Therapy Ingredient" (2.16.840.1.113883.3.526.3.1493, oral
// agents of Table 18 only: not ophthalmic timolol, carteolol, levobunolol,
// metipranolol, nor esmolol or sotalol) and "Statin Allergen"
// (2.16.840.1.113762.1.4.1110.42). Classes without such a value set are
// recognised by name only.
type ingredient struct {
	name   string
	rxnorm string // ingredient RXCUI; empty: by name only
}

var antihypertensives = []ingredient{
	// ACE inhibitors (VSAC 2.16.840.1.113883.3.526.3.1489)
	{"benazepril", "18867"}, {"captopril", "1998"}, {"enalapril", "3827"}, {"fosinopril", "50166"},
	{"lisinopril", "29046"}, {"moexipril", "30131"}, {"perindopril", "54552"}, {"quinapril", "35208"},
	{"ramipril", "35296"}, {"trandolapril", "38454"},
	// Angiotensin receptor blockers (same value set)
	{"azilsartan", "1091643"}, {"candesartan", "214354"}, {"eprosartan", "83515"}, {"irbesartan", "83818"},
	{"losartan", "52175"}, {"olmesartan", "321064"}, {"telmisartan", "73494"}, {"valsartan", "69749"},
	// Beta blockers, oral (VSAC 2.16.840.1.113883.3.526.3.1493)
	{"acebutolol", "149"}, {"atenolol", "1202"}, {"betaxolol", "1520"}, {"bisoprolol", "19484"},
	{"carvedilol", "20352"}, {"labetalol", "6185"}, {"metoprolol", "6918"}, {"nadolol", "7226"},
	{"nebivolol", "31555"}, {"pindolol", "8332"}, {"propranolol", "8787"}, {"penbutolol", ""},
	// Thiazide and thiazide-like diuretics
	{"chlorthalidone", ""}, {"hydrochlorothiazide", ""}, {"indapamide", ""}, {"metolazone", ""},
	// Loop, potassium-sparing diuretics and aldosterone antagonists
	{"bumetanide", ""}, {"furosemide", ""}, {"torsemide", ""}, {"amiloride", ""}, {"triamterene", ""},
	{"eplerenone", ""}, {"spironolactone", ""},
	// Calcium-channel blockers
	{"amlodipine", ""}, {"felodipine", ""}, {"isradipine", ""}, {"nicardipine", ""}, {"nifedipine", ""},
	{"nisoldipine", ""}, {"diltiazem", ""}, {"verapamil", ""},
	// Renin inhibitor, alpha-1 blockers, central alpha-2 agonists, direct vasodilators
	{"aliskiren", ""}, {"doxazosin", ""}, {"prazosin", ""}, {"terazosin", ""},
	{"clonidine", ""}, {"guanfacine", ""}, {"methyldopa", ""}, {"hydralazine", ""}, {"minoxidil", ""},
}

var statins = []ingredient{
	// VSAC 2.16.840.1.113762.1.4.1110.42
	{"atorvastatin", "83367"}, {"fluvastatin", "41127"}, {"lovastatin", "6472"}, {"pitavastatin", "861634"},
	{"pravastatin", "42463"}, {"rosuvastatin", "301542"}, {"simvastatin", "36567"},
}

// medicationClasses maps the medication inputs to their ingredients.
var medicationClasses = map[string][]ingredient{
	"on_bp_treatment": antihypertensives,
	"on_statin":       statins,
}
