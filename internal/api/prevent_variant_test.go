package api

import (
	"encoding/json"
	"io"
	"slices"
	"testing"
)

// A PREVENT prediction names the variant it computed, and the model's
// catalog entry lists the variants and the optional inputs that choose it.
func TestPREVENTVariantOnTheWire(t *testing.T) {
	h, _ := newTestAPI(t, io.Discard)
	for _, tt := range []struct{ extra, want string }{
		{``, "base"},
		{`,"uacr":{"value":4.5,"unit":"mg/mmol"}`, "uacr"},
		{`,"hba1c":{"value":58,"unit":"mmol/mol"}`, "hba1c"},
		{`,"sdi_decile":8`, "sdi"},
		{`,"uacr":40,"hba1c":7.5,"sdi_decile":8`, "full"},
	} {
		inputs := `{"age":50,"sex":"female","total_cholesterol":200,"hdl_cholesterol":45,"systolic_bp":160,` +
			`"on_bp_treatment":true,"on_statin":false,"diabetes":true,"current_smoker":false,"bmi":35,"egfr":90` + tt.extra + `}`
		w := do(h, "POST", "/predict", "application/json", predictBody("prevent-10y", inputs))
		var got struct{ Variant string }
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
			t.Fatalf("%s: status %d, %v", tt.extra, w.Code, err)
		}
		if got.Variant != tt.want {
			t.Errorf("%s: variant %q, want %q", tt.extra, got.Variant, tt.want)
		}
	}

	w := do(h, "GET", "/models/prevent-30y", "", "")
	var m struct {
		Variants []string
		Inputs   []struct {
			Name          string
			Required      bool
			AcceptedUnits []string `json:"accepted_units"`
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 {
		t.Fatalf("GET /models/prevent-30y: status %d, %v", w.Code, err)
	}
	if !slices.Equal(m.Variants, []string{"base", "uacr", "hba1c", "sdi", "full"}) {
		t.Errorf("variants = %q", m.Variants)
	}
	optional := map[string]string{"uacr": "mg/mmol", "hba1c": "mmol/mol", "sdi_decile": ""}
	for _, in := range m.Inputs {
		unit, ok := optional[in.Name]
		if !ok {
			continue
		}
		delete(optional, in.Name)
		if in.Required || (unit != "" && !slices.Contains(in.AcceptedUnits, unit)) {
			t.Errorf("%s: required %v, accepted units %q; want optional, accepting %q", in.Name, in.Required, in.AcceptedUnits, unit)
		}
	}
	if len(optional) > 0 {
		t.Errorf("inputs missing from the catalog entry: %v", optional)
	}
}
