package scoring

import "math"

func news2Model() *Model {
	return &Model{
		ID:         "news2",
		Version:    "2017",
		Title:      "National Early Warning Score 2 (NEWS2)",
		Citation:   "Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the assessment of acute-illness severity in the NHS. Updated report of a working party. London: RCP, 2017. ISBN 978-1-86016-682-2",
		Population: "adults (16 and over) in acute care; not validated in pregnancy or in children",
		Inputs: inputs(
			one(number(inRespiratoryRate, 0, 80), number(inSpO2, 0, 100), withDefault(number(inSpO2Scale, 1, 2), 1)),
			bools(inOnOxygen),
			one(number(inSystolicBP, 0, 300), number(inPulse, 0, 300), choice(inConsciousness), number(inTemperature, 25, 45)),
		),
		Result: ResultSpec{Label: "NEWS2 aggregate score", Unit: "{score}", Integer: true, Categories: []string{"low", "low_medium", "medium", "high"}},
		Notes: []string{
			"Chart 1 bands are whole numbers (one decimal for temperature), so values are first rounded half away from zero to that resolution: 20.5 breaths/min counts as 21, 36.05 degrees C as 36.1.",
			"SpO2 scale 2 is only for patients with a clinician-prescribed target of 88-92% (e.g. hypercapnic respiratory failure); scale 1 is the default.",
			"Clinical risk (Chart 2): high for 7 or more, medium for 5-6, low_medium for a 3 in any single parameter with an aggregate below 5, low otherwise.",
			"Input ranges are physiological plausibility limits, not derivation limits; values beyond them are refused as likely entry errors.",
		},
		compute: computeNEWS2,
	}
}

// band returns the points of x in a NEWS2 chart row: bounds[i] is the upper
// end of band i (inclusive), pts[i] its points, and the last points apply
// above every bound.
func band(x float64, bounds []float64, pts []float64) float64 {
	for i, b := range bounds {
		if x <= b {
			return pts[i]
		}
	}
	return pts[len(pts)-1]
}

// NEWS2 Chart 1 rows: upper ends of the bands and their points.
var (
	news2RespBounds  = []float64{8, 11, 20, 24}
	news2RespPoints  = []float64{3, 1, 0, 2, 3}
	news2SpO21Bounds = []float64{91, 93, 95}
	news2SpO21Points = []float64{3, 2, 1, 0}
	news2SBPBounds   = []float64{90, 100, 110, 219}
	news2SBPPoints   = []float64{3, 2, 1, 0, 3}
	news2PulseBounds = []float64{40, 50, 90, 110, 130}
	news2PulsePoints = []float64{3, 1, 0, 1, 2, 3}
	news2TempBounds  = []float64{35.0, 36.0, 38.0, 39.0}
	news2TempPoints  = []float64{3, 1, 0, 1, 2}
)

func news2SpO2(spo2 float64, scale2, oxygen bool) float64 {
	if !scale2 {
		return band(spo2, news2SpO21Bounds, news2SpO21Points)
	}
	switch {
	case spo2 <= 83:
		return 3
	case spo2 <= 85:
		return 2
	case spo2 <= 87:
		return 1
	case spo2 <= 92 || !oxygen:
		return 0 // 88-92, or 93 and above on air
	case spo2 <= 94:
		return 1
	case spo2 <= 96:
		return 2
	}
	return 3
}

func computeNEWS2(v *Values, p *Prediction) {
	oxygen := v.flag(inOnOxygen)
	items := [...]struct {
		input string
		pts   float64
	}{
		{"respiratory_rate", band(math.Round(v.get(inRespiratoryRate)), news2RespBounds, news2RespPoints)},
		{"spo2", news2SpO2(math.Round(v.get(inSpO2)), v.get(inSpO2Scale) == 2, oxygen)},
		{"on_oxygen", 2 * points(oxygen)},
		{"systolic_bp", band(math.Round(v.get(inSystolicBP)), news2SBPBounds, news2SBPPoints)},
		{"pulse", band(math.Round(v.get(inPulse)), news2PulseBounds, news2PulsePoints)},
		{"consciousness", 3 * points(!v.is(inConsciousness, "alert"))},
		{"temperature", band(math.Round(v.get(inTemperature)*10)/10, news2TempBounds, news2TempPoints)},
	}
	total, red := 0.0, false
	for _, it := range items {
		total += it.pts
		red = red || it.pts == 3
		p.Contributions = append(p.Contributions, Contribution{Input: it.input, Value: it.pts})
	}
	p.Result.Value = total
	switch {
	case total >= 7:
		p.Result.Category = "high"
	case total >= 5:
		p.Result.Category = "medium"
	case red:
		p.Result.Category = "low_medium"
	default:
		p.Result.Category = "low"
	}
}
