package scoring

// Categories shared by the cardiovascular risk models.

// ascvdCategory bands a 10-year ASCVD risk in percent as the 2018 ACC/AHA
// cholesterol and 2019 primary-prevention guidelines do.
func ascvdCategory(risk float64) string {
	switch {
	case risk < 5:
		return "low"
	case risk < 7.5:
		return "borderline"
	case risk < 20:
		return "intermediate"
	}
	return "high"
}

var ascvdCategories = []string{"low", "borderline", "intermediate", "high"}

// predictor accumulates a linear predictor and records each term as a
// contribution, skipping terms whose coefficient is zero (absent from the
// published model).
type predictor struct {
	p   *Prediction
	sum float64
}

func (l *predictor) add(input string, coef, x float64) {
	if coef == 0 {
		return
	}
	t := coef * x
	l.sum += t
	if l.p != nil {
		l.p.Contributions = append(l.p.Contributions, Contribution{Input: input, Value: t})
	}
}
