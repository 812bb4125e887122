package scoring

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// preventAddOnCase is one published value of one PREVENT outcome.
type preventAddOnCase struct {
	name    string
	model   string // prevent-10y or prevent-30y
	inputs  string
	variant string
	outcome string // total_cvd, ascvd or heart_failure
	want    float64
	tol     float64
}

// s12With is the Table S12 profile (see s12) with optional inputs added.
func s12With(t testing.TB, sex string, kv ...any) string {
	t.Helper()
	return with(t, s12(sex), kv...)
}

// preventAddOnCases are the published worked examples of the UACR, HbA1c,
// SDI and full models, as percentages. Proportions printed with 4 decimals are
// percentages to 2 (tol2dp), with 3 decimals to 1 (tol1dp).
func preventAddOnCases(t testing.TB) []preventAddOnCase {
	var cases []preventAddOnCase
	add := func(source, model, variant, outcome string, tol float64, sexValues map[string]float64, kv ...any) {
		for _, sex := range []string{"female", "male"} {
			cases = append(cases, preventAddOnCase{
				name:  fmt.Sprintf("%s %s %s %s %s", source, model, variant, outcome, sex),
				model: model, inputs: s12With(t, sex, kv...), variant: variant, outcome: outcome,
				want: sexValues[sex], tol: tol,
			})
		}
	}
	uacr40 := []any{"uacr", 40}
	a1c75 := []any{"hba1c", 7.5}
	full := []any{"uacr", 40, "hba1c", 7.5, "sdi_decile", 8}
	fs := func(f, m float64) map[string]float64 { return map[string]float64{"female": f, "male": m} }

	// Khan 2024 Supplemental Table S12 worked examples (profile of s12 with
	// UACR 40 mg/g, HbA1c 7.5 %, SDI decile 8), as asserted by
	// bcjaeger/PooledCohort "Replicate examples from Khan supplemental table
	// S12": test-predict_10yr_cvd_risk.R @ db2fa500 (4 dp),
	// test-predict_10yr_hf_risk.R @ 390163ec (4 dp),
	// test-predict_30yr_ascvd_risk.R @ a335c8e7 (3 dp).
	const s12src = "Table S12"
	add(s12src, "prevent-10y", "uacr", "total_cvd", tol2dp, fs(15.99, 17.18), uacr40...)
	add(s12src, "prevent-10y", "hba1c", "total_cvd", tol2dp, fs(13.59, 15.51), a1c75...)
	add(s12src, "prevent-10y", "sdi", "total_cvd", tol2dp, fs(15.65, 18.23), "sdi_decile", 8)
	add(s12src, "prevent-10y", "full", "total_cvd", tol2dp, fs(15.60, 18.08), full...)
	add(s12src, "prevent-10y", "uacr", "heart_failure", tol2dp, fs(8.93, 10.99), uacr40...)
	add(s12src, "prevent-10y", "hba1c", "heart_failure", tol2dp, fs(8.06, 10.13), a1c75...)
	add(s12src, "prevent-10y", "sdi", "heart_failure", tol2dp, fs(8.86, 12.26), "sdi_decile", 8)
	add(s12src, "prevent-10y", "full", "heart_failure", tol2dp, fs(9.27, 12.06), full...)
	add(s12src, "prevent-30y", "uacr", "ascvd", tol1dp, fs(36.3, 35.5), uacr40...)
	add(s12src, "prevent-30y", "hba1c", "ascvd", tol1dp, fs(32.2, 31.7), a1c75...)
	add(s12src, "prevent-30y", "sdi", "ascvd", tol1dp, fs(36.7, 36.1), "sdi_decile", 8)
	add(s12src, "prevent-30y", "full", "ascvd", tol1dp, fs(34.4, 33.8), full...)
	// Full model with SDI missing: the AHA online calculator's values (3 dp)
	// quoted in PooledCohort test-predict_10yr_cvd_risk.R @ db2fa500.
	add("AHA calculator", "prevent-10y", "full", "total_cvd", tol1dp, fs(15.0, 16.2), "uacr", 40, "hba1c", 7.5)

	// martingmayer/preventr @ 126eccd1, tests/testthat/test-prevent_equations.R,
	// "HbA1c model works, female/male" (hba1c 9.2) and "UACR model works,
	// female/male" (uacr 92) on the Table S12 profile; 3 dp, half-up.
	const pr = "preventr"
	add(pr, "prevent-10y", "hba1c", "total_cvd", tol1dp, fs(16.5, 18.7), "hba1c", 9.2)
	add(pr, "prevent-10y", "hba1c", "ascvd", tol1dp, fs(10.3, 11.2), "hba1c", 9.2)
	add(pr, "prevent-10y", "hba1c", "heart_failure", tol1dp, fs(10.7, 13.0), "hba1c", 9.2)
	add(pr, "prevent-30y", "hba1c", "total_cvd", tol1dp, fs(54.1, 52.4), "hba1c", 9.2)
	add(pr, "prevent-30y", "hba1c", "ascvd", tol1dp, fs(35.6, 34.0), "hba1c", 9.2)
	add(pr, "prevent-30y", "hba1c", "heart_failure", tol1dp, fs(44.9, 45.7), "hba1c", 9.2)
	add(pr, "prevent-10y", "uacr", "total_cvd", tol1dp, fs(18.1, 19.5), "uacr", 92)
	add(pr, "prevent-10y", "uacr", "ascvd", tol1dp, fs(11.1, 12.3), "uacr", 92)
	add(pr, "prevent-10y", "uacr", "heart_failure", tol1dp, fs(10.5, 13.0), "uacr", 92)
	add(pr, "prevent-30y", "uacr", "total_cvd", tol1dp, fs(56.5, 53.5), "uacr", 92)
	add(pr, "prevent-30y", "uacr", "ascvd", tol1dp, fs(38.1, 36.8), "uacr", 92)
	add(pr, "prevent-30y", "uacr", "heart_failure", tol1dp, fs(43.7, 44.8), "uacr", 92)

	// preventr @ 126eccd1, tests/testthat/_snaps/prevent_equations.md, "Zip
	// model 10-year (30-year) risks give expected results & SDI lookup
	// works": the Table S12 profile with zip codes 03883, 49544 and 49507,
	// which get_sdi maps to SDI deciles 3, 5 and 10 (printed to 0.1 %). One
	// decile of each SDI group, so every SDI row is used with each term.
	for _, z := range []struct {
		decile               int
		cvd10, ascvd10, hf10 map[string]float64
		cvd30, ascvd30, hf30 map[string]float64
	}{
		{3, fs(12.7, 14.3), fs(8.0, 8.8), fs(7.0, 8.9), fs(48.5, 48.0), fs(32.2, 31.7), fs(35.8, 38.4)},
		{5, fs(14.4, 15.4), fs(9.2, 9.4), fs(8.0, 9.9), fs(51.4, 48.7), fs(34.8, 32.2), fs(38.0, 40.0)},
		{10, fs(15.7, 18.2), fs(10.0, 11.4), fs(8.9, 12.3), fs(53.5, 53.0), fs(36.7, 36.1), fs(40.4, 44.7)},
	} {
		src := fmt.Sprintf("preventr SDI %d", z.decile)
		add(src, "prevent-10y", "sdi", "total_cvd", tol1dp, z.cvd10, "sdi_decile", z.decile)
		add(src, "prevent-10y", "sdi", "ascvd", tol1dp, z.ascvd10, "sdi_decile", z.decile)
		add(src, "prevent-10y", "sdi", "heart_failure", tol1dp, z.hf10, "sdi_decile", z.decile)
		add(src, "prevent-30y", "sdi", "total_cvd", tol1dp, z.cvd30, "sdi_decile", z.decile)
		add(src, "prevent-30y", "sdi", "ascvd", tol1dp, z.ascvd30, "sdi_decile", z.decile)
		add(src, "prevent-30y", "sdi", "heart_failure", tol1dp, z.hf30, "sdi_decile", z.decile)
	}
	// Same snapshots, "Full model 10-year risks give expected results":
	// age 75, no diabetes, smoker, on a statin, HbA1c 7.5 %, UACR 40 mg/g,
	// zip 49507 (SDI 10), the rest as in Table S12. (Its 30-year twin is
	// outside this service's age range for 30-year risk.)
	full75 := []any{"age", 75, "diabetes", false, "current_smoker", true, "on_statin", true, "hba1c", 7.5, "uacr", 40, "sdi_decile", 10}
	add(pr, "prevent-10y", "full", "total_cvd", tol1dp, fs(36.1, 39.4), full75...)
	add(pr, "prevent-10y", "full", "ascvd", tol1dp, fs(22.7, 26.3), full75...)
	add(pr, "prevent-10y", "full", "heart_failure", tol1dp, fs(29.5, 33.9), full75...)
	return cases
}

func TestPREVENTAddOnPublishedValues(t *testing.T) {
	for _, tt := range preventAddOnCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPredict(t, tt.model, tt.inputs)
			if p.Variant != tt.variant {
				t.Errorf("variant = %q, want %q", p.Variant, tt.variant)
			}
			if got := outcome(t, p, tt.outcome); !near(got, tt.want, tt.tol) {
				t.Errorf("%s = %.4f%%, want %.4g%% ± %.3g", tt.outcome, got, tt.want, tt.tol)
			}
			if p.Result.Value != outcome(t, p, "total_cvd") {
				t.Errorf("result %v is not the total CVD outcome", p.Result.Value)
			}
		})
	}
}

// Every combination of the optional inputs picks the variant preventr's
// estimate_risk picks (its documentation, "Model selection when model =
// NULL"). The full model warns which input its missing-value term replaced.
func TestPREVENTVariantChoice(t *testing.T) {
	for _, tt := range []struct {
		uacr, hba1c, sdi bool
		want             string
		warn             string
	}{
		{false, false, false, "base", ""},
		{true, false, false, "uacr", ""},
		{false, true, false, "hba1c", ""},
		{false, false, true, "sdi", ""},
		{true, true, false, "full", warnFullNoSDI},
		{true, false, true, "full", warnFullNoHbA1c},
		{false, true, true, "full", warnFullNoUACR},
		{true, true, true, "full", ""},
	} {
		var kv []any
		if tt.uacr {
			kv = append(kv, "uacr", 40)
		}
		if tt.hba1c {
			kv = append(kv, "hba1c", 7.5)
		}
		if tt.sdi {
			kv = append(kv, "sdi_decile", 8)
		}
		for _, id := range []string{"prevent-10y", "prevent-30y"} {
			p := mustPredict(t, id, s12With(t, "female", kv...))
			if p.Variant != tt.want {
				t.Errorf("%s uacr=%v hba1c=%v sdi=%v: variant %q, want %q", id, tt.uacr, tt.hba1c, tt.sdi, p.Variant, tt.want)
			}
			var want []string
			if tt.warn != "" {
				want = []string{tt.warn}
			}
			if !slices.Equal(p.Warnings, want) && !(len(p.Warnings) == 0 && len(want) == 0) {
				t.Errorf("%s uacr=%v hba1c=%v sdi=%v: warnings %q, want %q", id, tt.uacr, tt.hba1c, tt.sdi, p.Warnings, want)
			}
		}
	}
	// The catalog lists the variants a prediction may name.
	for _, id := range []string{"prevent-10y", "prevent-30y"} {
		m, _ := testCatalog.Model(id)
		if !slices.Equal(m.Variants, []string{"base", "uacr", "hba1c", "sdi", "full"}) {
			t.Errorf("%s variants = %q", id, m.Variants)
		}
		for _, name := range []string{"uacr", "hba1c", "sdi_decile"} {
			in := inputNamed(t, m, name)
			if in.Required {
				t.Errorf("%s: %s is required, want optional", id, name)
			}
		}
	}
}

func inputNamed(t *testing.T, m *Model, name string) Input {
	t.Helper()
	for _, in := range m.Inputs {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("%s has no input %s", m.ID, name)
	return Input{}
}

// SDI deciles 1-3 are the reference; 4-6 and 7-10 each share one term
// (Khan 2024; preventr prep_terms: is_between(sdi, 4, 6), (7, 10)).
// Checked in the SDI model (SDI alone) and the full model (with UACR).
func TestPREVENTSDIDeciles(t *testing.T) {
	for _, others := range [][]any{nil, {"uacr", 40}} {
		risk := func(d int) float64 {
			return mustPredict(t, "prevent-10y", s12With(t, "female", join(others, "sdi_decile", d)...)).Result.Value
		}
		for _, group := range [][]int{{1, 2, 3}, {4, 5, 6}, {7, 8, 9, 10}} {
			for _, d := range group[1:] {
				if risk(d) != risk(group[0]) {
					t.Errorf("with %v, decile %d: %v, want decile %d's %v", others, d, risk(d), group[0], risk(group[0]))
				}
			}
		}
		if !(risk(1) < risk(4) && risk(4) < risk(7)) {
			t.Errorf("with %v, deciles 1, 4, 7: %v, %v, %v, want increasing", others, risk(1), risk(4), risk(7))
		}
	}
}

// Higher UACR or HbA1c never lowers any outcome, all else equal: every
// ln(UACR) and HbA1c coefficient is positive in every variant, sex, outcome
// and horizon that has one.
func TestPREVENTMonotoneInUACRAndHbA1c(t *testing.T) {
	uacrs := []float64{0.1, 1, 10, 30, 100, 300, 1000, 5000, 25000}
	a1cs := []float64{3, 4.5, 5.3, 6, 6.5, 7, 8, 10, 15}
	for _, id := range []string{"prevent-10y", "prevent-30y"} {
		for _, sex := range []string{"female", "male"} {
			for _, dm := range []bool{false, true} {
				profile := with(t, s12(sex), "diabetes", dm)
				for _, others := range [][]any{nil, {"hba1c", 7.5}, {"sdi_decile", 5}} {
					checkMonotone(t, id, with(t, profile, others...), "uacr", uacrs)
				}
				for _, others := range [][]any{nil, {"uacr", 40}, {"sdi_decile", 9}} {
					checkMonotone(t, id, with(t, profile, others...), "hba1c", a1cs)
				}
			}
		}
	}
}

func checkMonotone(t *testing.T, id, inputs, name string, xs []float64) {
	t.Helper()
	var prev *Prediction
	for _, x := range xs {
		p := mustPredict(t, id, with(t, inputs, name, x))
		if prev != nil {
			for i, o := range p.Outcomes {
				if o.Value < prev.Outcomes[i].Value {
					t.Errorf("%s %s: %s %v lowers %s from %v to %v (inputs %s)", id, p.Variant, name, x, o.ID, prev.Outcomes[i].Value, o.Value, inputs)
				}
			}
		}
		prev = p
	}
}

// A value in another accepted unit gives the prediction of its canonical
// value, and back: UACR 1 mg/mmol = 8.84 mg/g (creatinine 113.12 g/mol, the
// 88.4 µmol/L per mg/dL used for creatinine), HbA1c by the IFCC-NGSP master
// equation NGSP % = 0.09148 IFCC mmol/mol + 2.152 (ngsp.org), whose inverse
// takes the % back to mmol/mol.
func TestPREVENTUnitConversions(t *testing.T) {
	q := func(v float64, unit string) map[string]any { return map[string]any{"value": v, "unit": unit} }
	for _, mgg := range []float64{0.5, 3, 30, 299, 2500} {
		for _, unit := range []string{"mg/mmol", "mg/mmol{creat}", "g/mol{creat}"} {
			samePREVENT(t, s12With(t, "female", "uacr", mgg), s12With(t, "female", "uacr", q(mgg/8.84, unit)))
		}
		samePREVENT(t, s12With(t, "female", "uacr", mgg), s12With(t, "female", "uacr", q(mgg, "mg/g{creat}")))
	}
	for _, ngsp := range []float64{4.5, 5.7, 6.5, 9.2, 14} {
		ifcc := (ngsp - 2.152) / 0.09148
		samePREVENT(t, s12With(t, "male", "hba1c", ngsp), s12With(t, "male", "hba1c", q(ifcc, "mmol/mol")))
	}
	// Anchors of the master equation: 53 mmol/mol is 7.0 % and 48 mmol/mol
	// is 6.5 % (IFCC network tables), here to 0.05 %.
	for _, tt := range []struct{ ifcc, ngsp float64 }{{53, 7.0}, {48, 6.5}, {31, 5.0}} {
		v := parsePREVENT(t, s12With(t, "male", "hba1c", q(tt.ifcc, "mmol/mol")))
		if got := v.get(inHbA1c); !near(got, tt.ngsp, 0.05) {
			t.Errorf("hba1c %v mmol/mol = %v %%, want %v", tt.ifcc, got, tt.ngsp)
		}
	}
}

func parsePREVENT(t *testing.T, inputs string) Values {
	t.Helper()
	m, _ := testCatalog.Model("prevent-10y")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(inputs), &raw); err != nil {
		t.Fatal(err)
	}
	v, err := m.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", inputs, err)
	}
	return v
}

func samePREVENT(t *testing.T, a, b string) {
	t.Helper()
	for _, id := range []string{"prevent-10y", "prevent-30y"} {
		pa, pb := mustPredict(t, id, a), mustPredict(t, id, b)
		for i := range pa.Outcomes {
			if !near(pa.Outcomes[i].Value, pb.Outcomes[i].Value, 1e-9) {
				t.Errorf("%s %s: %v from %s, %v from %s", id, pa.Outcomes[i].ID, pa.Outcomes[i].Value, a, pb.Outcomes[i].Value, b)
			}
		}
	}
}

// Out-of-range and malformed optional inputs are refused as field errors;
// values the equations take but preventr refuses are computed with a
// warning that names no value.
func TestPREVENTOptionalInputLimits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		value any
		field string
	}{
		{"uacr", -1, "uacr"},
		{"uacr", 25001, "uacr"},
		{"uacr", map[string]any{"value": 30, "unit": "mg/L"}, "uacr.unit"},
		{"hba1c", 2.9, "hba1c"},
		{"hba1c", 15.1, "hba1c"},
		{"hba1c", map[string]any{"value": 200, "unit": "mmol/mol"}, "hba1c"},
		{"sdi_decile", 0, "sdi_decile"},
		{"sdi_decile", 11, "sdi_decile"},
		{"sdi_decile", 4.5, "sdi_decile"},
		{"sdi_decile", "8", "sdi_decile"},
	} {
		for _, id := range []string{"prevent-10y", "prevent-30y"} {
			if _, err := predict(t, id, s12With(t, "female", tt.name, tt.value)); !hasFieldError(err, tt.field) {
				t.Errorf("%s %s=%v: err = %v, want a %s field error", id, tt.name, tt.value, err, tt.field)
			}
		}
	}

	low := mustPredict(t, "prevent-10y", s12With(t, "female", "uacr", 0))
	floor := mustPredict(t, "prevent-10y", s12With(t, "female", "uacr", 0.1))
	if low.Result.Value != floor.Result.Value || !slices.Equal(low.Warnings, []string{warnUACRLow}) || len(floor.Warnings) != 0 {
		t.Errorf("uacr 0: %v %q, want uacr 0.1's %v with one warning (0.1 gave %q)", low.Result.Value, low.Warnings, floor.Result.Value, floor.Warnings)
	}
	p := mustPredict(t, "prevent-30y", s12With(t, "male", "hba1c", 4.0))
	if !slices.Equal(p.Warnings, []string{warnHbA1cLow}) {
		t.Errorf("hba1c 4.0: warnings %q, want the low-HbA1c warning", p.Warnings)
	}
}

// The full model, the largest PREVENT variant, and the SDI model stay
// within the scoring goals: no allocation once the Prediction's slices have
// grown, warnings included.
func TestPREVENTFullComputeDoesNotAllocate(t *testing.T) {
	for _, id := range []string{"prevent-10y", "prevent-30y"} {
		m, _ := testCatalog.Model(id)
		for _, kv := range [][]any{
			{"uacr", 40, "hba1c", 7.5, "sdi_decile", 8},
			{"uacr", 0.05, "hba1c", 4, "sdi_decile", 8},
			{"uacr", 0.05, "hba1c", 4},
			{"sdi_decile", 8},
		} {
			v := parsePREVENT(t, s12With(t, "female", kv...))
			p := &Prediction{}
			m.Compute(&v, p)
			if n := testing.AllocsPerRun(100, func() { m.Compute(&v, p) }); n != 0 {
				t.Errorf("%s %v: %v allocations per Compute, want 0", id, kv, n)
			}
		}
	}
}

// BenchmarkPREVENTFull measures Compute of the full model (UACR, HbA1c and
// SDI given). Target as BenchmarkCompute: at most 1µs and 0 allocs per op.
func BenchmarkPREVENTFull(b *testing.B) {
	for _, id := range []string{"prevent-10y", "prevent-30y"} {
		b.Run(id, func(b *testing.B) {
			m, _ := testCatalog.Model(id)
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(s12With(b, "female", "uacr", 40, "hba1c", 7.5, "sdi_decile", 8)), &raw); err != nil {
				b.Fatal(err)
			}
			v, err := m.Parse(raw)
			if err != nil {
				b.Fatal(err)
			}
			p := &Prediction{}
			m.Compute(&v, p)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				m.Compute(&v, p)
			}
		})
	}
}
