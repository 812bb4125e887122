package scoring

import (
	"math"
	"testing"
)

// Points scores: every threshold of every item is tested on both sides,
// with the points read from the chart or table that SPEC.md transcribes
// (section named on each table). Each case starts from a profile that
// scores 0 on every item and changes one input, so the expected item points
// are also the expected total.

// itemCase changes one input of a zero profile.
type itemCase struct {
	name   string
	inputs string
	item   string  // contribution that must carry the points
	want   float64 // points of that item, and the total
}

// contribution returns the points recorded for input name.
func contribution(t *testing.T, p *Prediction, name string) float64 {
	t.Helper()
	for _, c := range p.Contributions {
		if c.Input == name {
			return c.Value
		}
	}
	t.Fatalf("no contribution %q in %+v", name, p.Contributions)
	return 0
}

func runItemCases(t *testing.T, model string, tests []itemCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPredict(t, model, tt.inputs)
			if got := contribution(t, p, tt.item); got != tt.want {
				t.Errorf("%s points = %v, want %v", tt.item, got, tt.want)
			}
			if got := p.Result.Value; got != tt.want {
				t.Errorf("total = %v, want %v", got, tt.want)
			}
		})
	}
}

type totalCase struct {
	name     string
	inputs   string
	want     float64
	category string
}

func runTotalCases(t *testing.T, model string, tests []totalCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPredict(t, model, tt.inputs)
			if got := p.Result.Value; got != tt.want {
				t.Errorf("total = %v, want %v", got, tt.want)
			}
			if got := p.Result.Category; got != tt.category {
				t.Errorf("category = %q, want %q", got, tt.category)
			}
		})
	}
}

// ---------------------------------------------------------------------
// NEWS2: RCP 2017 Chart 1 (SPEC.md §4).

// news2Zero scores 0 on every Chart 1 row: RR 16, SpO2 97 on air (scale
// 1), SBP 120, pulse 75, alert, 37.0 °C.
const news2Zero = `{"respiratory_rate":16,"spo2":97,"on_oxygen":false,"systolic_bp":120,"pulse":75,"consciousness":"alert","temperature":37.0}`

func TestNEWS2Chart1Thresholds(t *testing.T) {
	w := func(kv ...any) string { return with(t, news2Zero, kv...) }
	runItemCases(t, "news2", []itemCase{
		{"zero profile", news2Zero, "respiratory_rate", 0},
		// Respiration rate: <=8 3; 9-11 1; 12-20 0; 21-24 2; >=25 3.
		{"rr 8", w("respiratory_rate", 8), "respiratory_rate", 3},
		{"rr 9", w("respiratory_rate", 9), "respiratory_rate", 1},
		{"rr 11", w("respiratory_rate", 11), "respiratory_rate", 1},
		{"rr 12", w("respiratory_rate", 12), "respiratory_rate", 0},
		{"rr 20", w("respiratory_rate", 20), "respiratory_rate", 0},
		{"rr 21", w("respiratory_rate", 21), "respiratory_rate", 2},
		{"rr 24", w("respiratory_rate", 24), "respiratory_rate", 2},
		{"rr 25", w("respiratory_rate", 25), "respiratory_rate", 3},
		// SpO2 scale 1: <=91 3; 92-93 2; 94-95 1; >=96 0.
		{"spo2 s1 91", w("spo2", 91), "spo2", 3},
		{"spo2 s1 92", w("spo2", 92), "spo2", 2},
		{"spo2 s1 93", w("spo2", 93), "spo2", 2},
		{"spo2 s1 94", w("spo2", 94), "spo2", 1},
		{"spo2 s1 95", w("spo2", 95), "spo2", 1},
		{"spo2 s1 96", w("spo2", 96), "spo2", 0},
		{"spo2 explicit scale 1", w("spo2", 92, "spo2_scale", 1), "spo2", 2},
		// SpO2 scale 2 on air: <=83 3; 84-85 2; 86-87 1; 88-92 0; >=93 on air 0.
		{"spo2 s2 air 83", w("spo2_scale", 2, "spo2", 83), "spo2", 3},
		{"spo2 s2 air 84", w("spo2_scale", 2, "spo2", 84), "spo2", 2},
		{"spo2 s2 air 85", w("spo2_scale", 2, "spo2", 85), "spo2", 2},
		{"spo2 s2 air 86", w("spo2_scale", 2, "spo2", 86), "spo2", 1},
		{"spo2 s2 air 87", w("spo2_scale", 2, "spo2", 87), "spo2", 1},
		{"spo2 s2 air 88", w("spo2_scale", 2, "spo2", 88), "spo2", 0},
		{"spo2 s2 air 92", w("spo2_scale", 2, "spo2", 92), "spo2", 0},
		{"spo2 s2 air 93", w("spo2_scale", 2, "spo2", 93), "spo2", 0},
		{"spo2 s2 air 97", w("spo2_scale", 2, "spo2", 97), "spo2", 0},
		{"spo2 s2 air 100", w("spo2_scale", 2, "spo2", 100), "spo2", 0},
		// SBP: <=90 3; 91-100 2; 101-110 1; 111-219 0; >=220 3.
		{"sbp 90", w("systolic_bp", 90), "systolic_bp", 3},
		{"sbp 91", w("systolic_bp", 91), "systolic_bp", 2},
		{"sbp 100", w("systolic_bp", 100), "systolic_bp", 2},
		{"sbp 101", w("systolic_bp", 101), "systolic_bp", 1},
		{"sbp 110", w("systolic_bp", 110), "systolic_bp", 1},
		{"sbp 111", w("systolic_bp", 111), "systolic_bp", 0},
		{"sbp 219", w("systolic_bp", 219), "systolic_bp", 0},
		{"sbp 220", w("systolic_bp", 220), "systolic_bp", 3},
		// Pulse: <=40 3; 41-50 1; 51-90 0; 91-110 1; 111-130 2; >=131 3.
		{"pulse 40", w("pulse", 40), "pulse", 3},
		{"pulse 41", w("pulse", 41), "pulse", 1},
		{"pulse 50", w("pulse", 50), "pulse", 1},
		{"pulse 51", w("pulse", 51), "pulse", 0},
		{"pulse 90", w("pulse", 90), "pulse", 0},
		{"pulse 91", w("pulse", 91), "pulse", 1},
		{"pulse 110", w("pulse", 110), "pulse", 1},
		{"pulse 111", w("pulse", 111), "pulse", 2},
		{"pulse 130", w("pulse", 130), "pulse", 2},
		{"pulse 131", w("pulse", 131), "pulse", 3},
		// Temperature: <=35.0 3; 35.1-36.0 1; 36.1-38.0 0; 38.1-39.0 1; >=39.1 2.
		{"temp 35.0", w("temperature", 35.0), "temperature", 3},
		{"temp 35.1", w("temperature", 35.1), "temperature", 1},
		{"temp 36.0", w("temperature", 36.0), "temperature", 1},
		{"temp 36.1", w("temperature", 36.1), "temperature", 0},
		{"temp 38.0", w("temperature", 38.0), "temperature", 0},
		{"temp 38.1", w("temperature", 38.1), "temperature", 1},
		{"temp 39.0", w("temperature", 39.0), "temperature", 1},
		{"temp 39.1", w("temperature", 39.1), "temperature", 2},
		// Consciousness: Alert 0; new Confusion, Voice, Pain, Unresponsive 3.
		{"alert", w("consciousness", "alert"), "consciousness", 0},
		{"new confusion", w("consciousness", "confusion"), "consciousness", 3},
		{"voice", w("consciousness", "voice"), "consciousness", 3},
		{"pain", w("consciousness", "pain"), "consciousness", 3},
		{"unresponsive", w("consciousness", "unresponsive"), "consciousness", 3},
	})
}

// Temperatures between Chart 1's one-decimal bands. The Sensyne Health
// SEND NEWS2 temperature ruleset (vectors.md §4.1, "This ruleset implements
// NEWS2 scoring for temperature") puts the thresholds half-way: <35.05 3,
// [35.05, 36.05) 1, [36.05, 38.05) 0, [38.05, 39.05) 1, >=39.05 2, which is
// what our documented rounding to 0.1 °C does.
func TestNEWS2TemperatureBetweenBands(t *testing.T) {
	w := func(x float64) string { return with(t, news2Zero, "temperature", x) }
	runItemCases(t, "news2", []itemCase{
		{"35.04", w(35.04), "temperature", 3},
		{"35.05", w(35.05), "temperature", 1},
		{"36.04", w(36.04), "temperature", 1},
		{"36.05", w(36.05), "temperature", 0},
		{"38.04", w(38.04), "temperature", 0},
		{"38.05", w(38.05), "temperature", 1},
		{"39.04", w(39.04), "temperature", 1},
		{"39.05", w(39.05), "temperature", 2},
	})
}

// Scale 2 with supplemental oxygen (Chart 1): 93-94 1, 95-96 2, >=97 3, and
// the separate "Air or oxygen?" row adds 2 for any oxygen, on either scale.
func TestNEWS2OxygenAndScale2(t *testing.T) {
	tests := []struct {
		name              string
		scale             int
		spo2              float64
		spo2Pts, totalPts float64
	}{
		{"s2 o2 83", 2, 83, 3, 5},
		{"s2 o2 84", 2, 84, 2, 4},
		{"s2 o2 85", 2, 85, 2, 4},
		{"s2 o2 86", 2, 86, 1, 3},
		{"s2 o2 87", 2, 87, 1, 3},
		{"s2 o2 88", 2, 88, 0, 2},
		{"s2 o2 92", 2, 92, 0, 2},
		{"s2 o2 93", 2, 93, 1, 3},
		{"s2 o2 94", 2, 94, 1, 3},
		{"s2 o2 95", 2, 95, 2, 4},
		{"s2 o2 96", 2, 96, 2, 4},
		{"s2 o2 97", 2, 97, 3, 5},
		{"s2 o2 100", 2, 100, 3, 5},
		{"s1 o2 96", 1, 96, 0, 2},
		{"s1 o2 91", 1, 91, 3, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPredict(t, "news2", with(t, news2Zero, "spo2_scale", tt.scale, "spo2", tt.spo2, "on_oxygen", true))
			if got := contribution(t, p, "spo2"); got != tt.spo2Pts {
				t.Errorf("spo2 points = %v, want %v", got, tt.spo2Pts)
			}
			if got := contribution(t, p, "on_oxygen"); got != 2 {
				t.Errorf("on_oxygen points = %v, want 2", got)
			}
			if got := p.Result.Value; got != tt.totalPts {
				t.Errorf("total = %v, want %v", got, tt.totalPts)
			}
		})
	}
}

// Chart 2: 0 low; 1-4 low; a 3 in any single parameter with aggregate <5
// low-medium; 5-6 medium; >=7 high. Aggregate range 0-20.
func TestNEWS2Chart2Categories(t *testing.T) {
	w := func(kv ...any) string { return with(t, news2Zero, kv...) }
	runTotalCases(t, "news2", []totalCase{
		{"0", news2Zero, 0, "low"},
		{"1 (pulse 91)", w("pulse", 91), 1, "low"},
		{"4 without a 3 (rr 21, sbp 91)", w("respiratory_rate", 21, "systolic_bp", 91), 4, "low"},
		{"single 3 (rr 25)", w("respiratory_rate", 25), 3, "low_medium"},
		{"single 3 plus 1 (rr 25, pulse 91)", w("respiratory_rate", 25, "pulse", 91), 4, "low_medium"},
		{"new confusion alone", w("consciousness", "confusion"), 3, "low_medium"},
		{"5 with a 3 (rr 25, sbp 91)", w("respiratory_rate", 25, "systolic_bp", 91), 5, "medium"},
		{"5 without a 3 (rr 21, sbp 91, pulse 91)", w("respiratory_rate", 21, "systolic_bp", 91, "pulse", 91), 5, "medium"},
		{"6 (rr 21, sbp 91, oxygen)", w("respiratory_rate", 21, "systolic_bp", 91, "on_oxygen", true), 6, "medium"},
		{"7 (rr 21, sbp 91, oxygen, pulse 91)", w("respiratory_rate", 21, "systolic_bp", 91, "on_oxygen", true, "pulse", 91), 7, "high"},
		{"20, every row at its maximum", w("respiratory_rate", 25, "spo2", 91, "on_oxygen", true, "systolic_bp", 90,
			"pulse", 131, "consciousness", "unresponsive", "temperature", 35.0), 20, "high"},
	})
}

// ---------------------------------------------------------------------
// qSOFA: Seymour 2016 (SPEC.md §5): RR >=22, SBP <=100, altered mentation;
// with gcs, altered = GCS <15 (qSOFA.org, the documented choice).

const qsofaZero = `{"respiratory_rate":16,"systolic_bp":120,"altered_mentation":false}`

func TestQSOFAThresholds(t *testing.T) {
	w := func(kv ...any) string { return with(t, qsofaZero, kv...) }
	gcs := func(g int) string { return with(t, without(t, qsofaZero, "altered_mentation"), "gcs", g) }
	runItemCases(t, "qsofa", []itemCase{
		{"zero profile", qsofaZero, "respiratory_rate", 0},
		{"rr 21", w("respiratory_rate", 21), "respiratory_rate", 0},
		{"rr 22", w("respiratory_rate", 22), "respiratory_rate", 1},
		{"sbp 101", w("systolic_bp", 101), "systolic_bp", 0},
		{"sbp 100", w("systolic_bp", 100), "systolic_bp", 1},
		{"altered mentation", w("altered_mentation", true), "altered_mentation", 1},
		{"gcs 15", gcs(15), "gcs", 0},
		{"gcs 14", gcs(14), "gcs", 1},
		{"gcs 3", gcs(3), "gcs", 1},
	})
	runTotalCases(t, "qsofa", []totalCase{
		{"0 negative", qsofaZero, 0, "negative"},
		{"1 negative", w("respiratory_rate", 22), 1, "negative"},
		{"2 positive", w("respiratory_rate", 22, "systolic_bp", 100), 2, "positive"},
		{"3 positive", w("respiratory_rate", 22, "systolic_bp", 100, "altered_mentation", true), 3, "positive"},
		// Low authority (rhavekost/clinical-toolkit qsofa.md, vectors.md §5):
		// "RR 26, SBP 98, GCS 15: Score = 2".
		{"clinical-toolkit example", `{"respiratory_rate":26,"systolic_bp":98,"gcs":15}`, 2, "positive"},
	})
}

// ---------------------------------------------------------------------
// CHA2DS2-VASc: Lip 2010 (SPEC.md §6).

const chadsZero = `{"age":50,"sex":"male","chf":false,"hypertension":false,"diabetes":false,"stroke_tia_thromboembolism":false,"vascular_disease":false}`

func TestCHA2DS2VAScItems(t *testing.T) {
	w := func(kv ...any) string { return with(t, chadsZero, kv...) }
	runItemCases(t, "cha2ds2-vasc", []itemCase{
		{"zero profile", chadsZero, "age", 0},
		{"age 64", w("age", 64), "age", 0},
		{"age 65", w("age", 65), "age", 1},
		{"age 74", w("age", 74), "age", 1},
		{"age 75", w("age", 75), "age", 2},
		{"chf", w("chf", true), "chf", 1},
		{"hypertension", w("hypertension", true), "hypertension", 1},
		{"diabetes", w("diabetes", true), "diabetes", 1},
		{"stroke tia thromboembolism", w("stroke_tia_thromboembolism", true), "stroke_tia_thromboembolism", 2},
		{"vascular disease", w("vascular_disease", true), "vascular_disease", 1},
		{"female", w("sex", "female"), "sex", 1},
	})
}

// Categories count the female point (MODELS.md): low 0 (male) or 1
// (female); moderate 1 (male) or 2 (female); high >=2 (male) or >=3
// (female). Worked patients from vectors.md §6.
func TestCHA2DS2VAScCategories(t *testing.T) {
	w := func(kv ...any) string { return with(t, chadsZero, kv...) }
	runTotalCases(t, "cha2ds2-vasc", []totalCase{
		{"male 0", chadsZero, 0, "low"},
		{"male 1", w("hypertension", true), 1, "moderate"},
		{"male 2", w("hypertension", true, "diabetes", true), 2, "high"},
		{"female 1", w("sex", "female"), 1, "low"},
		{"female 2", w("sex", "female", "hypertension", true), 2, "moderate"},
		{"female 3", w("sex", "female", "hypertension", true, "diabetes", true), 3, "high"},
		{"maximum 9", w("sex", "female", "age", 80, "chf", true, "hypertension", true, "diabetes", true,
			"stroke_tia_thromboembolism", true, "vascular_disease", true), 9, "high"},
		// MedCalc-Bench-Verified one-shot key "4": 62-year-old man with a prior
		// ischaemic stroke, other items absent -> 2.
		{"medcalc-bench one-shot 4", w("age", 62, "stroke_tia_thromboembolism", true), 2, "high"},
		// Low authority (rhavekost/clinical-toolkit cha2ds2-vasc.md): female 70,
		// hypertension, diabetes -> 4.
		{"clinical-toolkit example", w("sex", "female", "age", 70, "hypertension", true, "diabetes", true), 4, "high"},
	})
}

// Friberg 2012 annual rates without anticoagulation (openEHR CKM archetype
// transcription, SPEC.md §6 table 1; score 0 from mdicu.com calc-1080,
// vectors.md §6.1): ischaemic stroke, then stroke/TIA/systemic embolism.
func TestCHA2DS2VAScFribergRates(t *testing.T) {
	rates := [10][2]float64{
		{0.2, 0.3}, {0.6, 0.9}, {2.2, 2.9}, {3.2, 4.6}, {4.8, 6.7},
		{7.2, 10.0}, {9.7, 13.6}, {11.2, 15.7}, {10.8, 15.2}, {12.2, 17.4},
	}
	w := func(kv ...any) string { return with(t, chadsZero, kv...) }
	five := []any{"hypertension", true, "diabetes", true, "chf", true, "vascular_disease", true, "sex", "female"}
	profiles := []string{
		chadsZero,
		w("hypertension", true),
		w("hypertension", true, "diabetes", true),
		w("hypertension", true, "diabetes", true, "chf", true),
		w("hypertension", true, "diabetes", true, "chf", true, "vascular_disease", true),
		w(five...),
		w(join(five, "age", 65)...),
		w(join(five, "age", 75)...),
		w(join(five, "age", 65, "stroke_tia_thromboembolism", true)...),
		w(join(five, "age", 75, "stroke_tia_thromboembolism", true)...),
	}
	for score, inputs := range profiles {
		checkFriberg(t, inputs, score, rates[score])
	}
}

func checkFriberg(t *testing.T, inputs string, score int, want [2]float64) {
	t.Helper()
	p := mustPredict(t, "cha2ds2-vasc", inputs)
	if got := p.Result.Value; got != float64(score) {
		t.Fatalf("%s: score = %v, want %d", inputs, got, score)
	}
	if got := outcome(t, p, "ischemic_stroke_rate"); !near(got, want[0], tiny) {
		t.Errorf("score %d: ischemic_stroke_rate = %v, want %v", score, got, want[0])
	}
	if got := outcome(t, p, "stroke_tia_se_rate"); !near(got, want[1], tiny) {
		t.Errorf("score %d: stroke_tia_se_rate = %v, want %v", score, got, want[1])
	}
}

// ---------------------------------------------------------------------
// FINDRISC: Lindström 2003, official form (SPEC.md §9).

const findriscZero = `{"age":40,"bmi":22,"waist":80,"sex":"male","physically_active":true,"daily_vegetables":true,"ever_bp_medication":false,"high_glucose_history":false,"family_history_diabetes":"none"}`

func TestFINDRISCItems(t *testing.T) {
	w := func(kv ...any) string { return with(t, findriscZero, kv...) }
	women := with(t, findriscZero, "sex", "female", "waist", 70)
	ww := func(waist float64) string { return with(t, women, "waist", waist) }
	runItemCases(t, "findrisc", []itemCase{
		{"zero profile", findriscZero, "age", 0},
		// Age: <45 0; 45-54 2; 55-64 3; >64 4.
		{"age 44", w("age", 44), "age", 0},
		{"age 45", w("age", 45), "age", 2},
		{"age 54", w("age", 54), "age", 2},
		{"age 55", w("age", 55), "age", 3},
		{"age 64", w("age", 64), "age", 3},
		{"age 65", w("age", 65), "age", 4},
		// BMI: <25 0; 25-30 1; >30 3.
		{"bmi 24.9", w("bmi", 24.9), "bmi", 0},
		{"bmi 25", w("bmi", 25), "bmi", 1},
		{"bmi 30", w("bmi", 30), "bmi", 1},
		{"bmi 30.1", w("bmi", 30.1), "bmi", 3},
		// Waist, men: <94 0; 94-102 3; >102 4.
		{"men waist 93.9", w("waist", 93.9), "waist", 0},
		{"men waist 94", w("waist", 94), "waist", 3},
		{"men waist 102", w("waist", 102), "waist", 3},
		{"men waist 102.1", w("waist", 102.1), "waist", 4},
		// Waist, women: <80 0; 80-88 3; >88 4.
		{"women waist 79.9", ww(79.9), "waist", 0},
		{"women waist 80", ww(80), "waist", 3},
		{"women waist 88", ww(88), "waist", 3},
		{"women waist 88.1", ww(88.1), "waist", 4},
		// Physical activity >=30 min daily: no 2.
		{"inactive", w("physically_active", false), "physically_active", 2},
		// Vegetables, fruit or berries: not every day 1.
		{"no daily vegetables", w("daily_vegetables", false), "daily_vegetables", 1},
		// Ever regular antihypertensive medication: yes 2.
		{"bp medication", w("ever_bp_medication", true), "ever_bp_medication", 2},
		// Ever high blood glucose: yes 5.
		{"high glucose", w("high_glucose_history", true), "high_glucose_history", 5},
		// Family history: grandparent/aunt/uncle/first cousin 3;
		// parent/sibling/own child 5.
		{"second degree relative", w("family_history_diabetes", "second_degree"), "family_history_diabetes", 3},
		{"first degree relative", w("family_history_diabetes", "first_degree"), "family_history_diabetes", 5},
	})
}

// Totals: <7 low; 7-11 slightly elevated; 12-14 moderate; 15-20 high; >20
// very high. Totals are built from the item points above.
func TestFINDRISCCategories(t *testing.T) {
	w := func(kv ...any) string { return with(t, findriscZero, kv...) }
	glucoseFamily := []any{"high_glucose_history", true, "family_history_diabetes", "first_degree"}                   // 5 + 5
	fifteen := join(glucoseFamily, "physically_active", false, "ever_bp_medication", true, "daily_vegetables", false) // 10+2+2+1
	runTotalCases(t, "findrisc", []totalCase{
		{"0", findriscZero, 0, "low"},
		{"6 (glucose 5, vegetables 1)", w("high_glucose_history", true, "daily_vegetables", false), 6, "low"},
		{"7 (glucose 5, inactive 2)", w("high_glucose_history", true, "physically_active", false), 7, "slightly_elevated"},
		{"11 (glucose, first-degree, vegetables)", w(join(glucoseFamily, "daily_vegetables", false)...), 11, "slightly_elevated"},
		{"12 (glucose, first-degree, inactive)", w(join(glucoseFamily, "physically_active", false)...), 12, "moderate"},
		{"14 (+ bp medication)", w(join(glucoseFamily, "physically_active", false, "ever_bp_medication", true)...), 14, "moderate"},
		{"15 (+ vegetables)", w(fifteen...), 15, "high"},
		{"20 (+ age 65 4, bmi 25 1)", w(join(fifteen, "age", 65, "bmi", 25)...), 20, "high"},
		{"21 (+ age 55 3, bmi 30.1 3)", w(join(fifteen, "age", 55, "bmi", 30.1)...), 21, "very_high"},
		{"26 maximum", w(join(fifteen, "age", 65, "bmi", 31, "waist", 103)...), 26, "very_high"},
	})
}

// ---------------------------------------------------------------------
// CURB-65: Lim 2003 (SPEC.md §10): confusion; urea >7 mmol/L (BUN >19
// mg/dL, the documented MDCalc reading); RR >=30; SBP <90 or DBP <=60;
// age >=65.

const curbZero = `{"confusion":false,"urea":5,"respiratory_rate":16,"systolic_bp":120,"diastolic_bp":80,"age":50}`

func TestCURB65Items(t *testing.T) {
	w := func(kv ...any) string { return with(t, curbZero, kv...) }
	bun := func(x float64) string { return with(t, without(t, curbZero, "urea"), "bun", x) }
	runItemCases(t, "curb-65", []itemCase{
		{"zero profile", curbZero, "urea", 0},
		{"confusion", w("confusion", true), "confusion", 1},
		{"urea 7", w("urea", 7), "urea", 0},
		{"urea 7.1", w("urea", 7.1), "urea", 1},
		{"bun 19", bun(19), "bun", 0},
		{"bun 19.1", bun(19.1), "bun", 1},
		{"rr 29", w("respiratory_rate", 29), "respiratory_rate", 0},
		{"rr 30", w("respiratory_rate", 30), "respiratory_rate", 1},
		{"sbp 90", w("systolic_bp", 90), "systolic_bp:diastolic_bp", 0},
		{"sbp 89", w("systolic_bp", 89), "systolic_bp:diastolic_bp", 1},
		{"dbp 61", w("diastolic_bp", 61), "systolic_bp:diastolic_bp", 0},
		{"dbp 60", w("diastolic_bp", 60), "systolic_bp:diastolic_bp", 1},
		// B is one item: both low pressures still count 1.
		{"sbp 89 and dbp 60", w("systolic_bp", 89, "diastolic_bp", 60), "systolic_bp:diastolic_bp", 1},
		{"age 64", w("age", 64), "age", 0},
		{"age 65", w("age", 65), "age", 1},
	})
}

// Management groups (Lim 2003; SPEC.md §10): 0-1 low, 2 moderate
// (hospital-supervised), 3-5 high (severe).
func TestCURB65Categories(t *testing.T) {
	w := func(kv ...any) string { return with(t, curbZero, kv...) }
	runTotalCases(t, "curb-65", []totalCase{
		{"0", curbZero, 0, "low"},
		{"1", w("confusion", true), 1, "low"},
		{"2", w("confusion", true, "urea", 8), 2, "moderate"},
		{"3", w("confusion", true, "urea", 8, "respiratory_rate", 30), 3, "high"},
		{"4", w("confusion", true, "urea", 8, "respiratory_rate", 30, "systolic_bp", 85), 4, "high"},
		{"5", w("confusion", true, "urea", 8, "respiratory_rate", 30, "systolic_bp", 85, "age", 80), 5, "high"},
	})
}

// 30-day mortality by score, derivation cohort of Lim et al., Thorax
// 2003;58:377-382, abstract (PMC1746657; also the Thorax PDF): "score 0,
// 0.7%; score 1, 3.2%; score 2, 3%; score 3, 17%; score 4, 41.5% and score
// 5, 57%. The validation cohort confirmed a similar pattern." The abstract's
// "3%" for score 2 is a typesetting slip for 13% (icuroom, caddy.health;
// vectors.md §11.1); the sequence must rise between 3.2 and 17.
//
// (An earlier table, 0.7/2.1/9.2/14.5/40/57, SPEC.md §10 set b, traced
// only to bugsanddrugs.org, failed this test until commit 49c9484.)
func TestCURB65MortalityLim2003(t *testing.T) {
	w := func(kv ...any) string { return with(t, curbZero, kv...) }
	profiles := []string{
		curbZero,
		w("confusion", true),
		w("confusion", true, "urea", 8),
		w("confusion", true, "urea", 8, "respiratory_rate", 30),
		w("confusion", true, "urea", 8, "respiratory_rate", 30, "systolic_bp", 85),
		w("confusion", true, "urea", 8, "respiratory_rate", 30, "systolic_bp", 85, "age", 80),
	}
	want := []float64{0.7, 3.2, 13, 17, 41.5, 57}
	for score, inputs := range profiles {
		p := mustPredict(t, "curb-65", inputs)
		if got := p.Result.Value; got != float64(score) {
			t.Fatalf("score = %v, want %d", got, score)
		}
		if got := outcome(t, p, "mortality_30d"); !near(got, want[score], tiny) {
			t.Errorf("score %d: mortality_30d = %v%%, want %v%% (Lim 2003 abstract, derivation cohort)", score, got, want[score])
		}
	}
}

// Points results are whole numbers (MODELS.md: "points scores have unit
// {score} and integer values").
func TestPointsScoresAreWholeNumbers(t *testing.T) {
	for _, tt := range []struct{ model, inputs string }{
		{"news2", news2Zero}, {"qsofa", qsofaZero}, {"cha2ds2-vasc", chadsZero},
		{"findrisc", findriscZero}, {"curb-65", curbZero},
	} {
		p := mustPredict(t, tt.model, tt.inputs)
		if p.Result.Unit != "{score}" || p.Result.Value != math.Trunc(p.Result.Value) {
			t.Errorf("%s: result = %v %q, want a whole number in {score}", tt.model, p.Result.Value, p.Result.Unit)
		}
	}
}
