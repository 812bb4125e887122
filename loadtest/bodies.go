package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Key is the API key every generated request carries; the server under
// test gets it through API_KEYS (or a moto secret holding its digest).
const (
	KeyID = "loadtest"
	Key   = "lt-tDZaFMWcdoDXPghtZsqMSAaRVrVuQdFqQrJiIgJW"
)

// Request is one request of the mix.
type Request struct {
	Method string
	Path   string
	Body   string // empty for GET
	Model  string // "" for GET /health
}

// Sentinels are distinctive clinical values carried by the request mix
// (valid and invalid); none may appear in anything the server writes.
var Sentinels = []string{
	"67.123457", "143.987651", "213.456791", "49.876543", "38.765432",
	"1.234567", "131.246813", "97.531246", "24.681357", "61.482731",
	"167.123457", "543.987651", "22.345679", "94.135792", "3.246813",
}

// Predictions is Mix without GET /health.
func Predictions() []Request { return Mix[:len(Mix)-1] }

// Mix is a realistic mix: valid POST /predict bodies for eight models (the
// cardiovascular risk models weigh most, as in a clinic's traffic) and
// GET /health, one in ten. Values are sentinels where a model's range
// allows.
var Mix = []Request{
	predict("ascvd-pce", `{"age":67.123457,"sex":"male","race":"white","total_cholesterol":213.456791,"hdl_cholesterol":49.876543,"systolic_bp":143.987651,"on_bp_treatment":true,"diabetes":false,"current_smoker":false}`),
	predict("prevent-10y", `{"age":61.482731,"sex":"female","total_cholesterol":213.456791,"hdl_cholesterol":49.876543,"systolic_bp":131.246813,"on_bp_treatment":true,"on_statin":false,"diabetes":true,"current_smoker":false,"bmi":24.681357,"egfr":97.531246}`),
	predict("news2", `{"respiratory_rate":22.345679,"spo2":94.135792,"on_oxygen":true,"systolic_bp":131.246813,"pulse":97.531246,"consciousness":"alert","temperature":38.765432}`),
	predict("ascvd-pce", `{"age":61.482731,"sex":"female","race":"african_american","total_cholesterol":213.456791,"hdl_cholesterol":49.876543,"systolic_bp":131.246813,"on_bp_treatment":false,"diabetes":true,"current_smoker":true}`),
	predict("qsofa", `{"respiratory_rate":24.681357,"systolic_bp":97.531246,"gcs":14}`),
	predict("cha2ds2-vasc", `{"age":67.123457,"sex":"female","chf":false,"hypertension":true,"diabetes":true,"stroke_tia_thromboembolism":false,"vascular_disease":false}`),
	predict("ckd-epi-2021", `{"creatinine":1.234567,"age":67.123457,"sex":"male"}`),
	predict("framingham-cvd", `{"age":61.482731,"sex":"female","total_cholesterol":213.456791,"hdl_cholesterol":49.876543,"systolic_bp":143.987651,"on_bp_treatment":false,"diabetes":false,"current_smoker":true}`),
	predict("meld-3.0", `{"bilirubin":1.234567,"creatinine":1.234567,"inr":1.234567,"sodium":131.246813,"albumin":3.246813,"sex":"female","dialysis_twice_past_week":false}`),
	{Method: "GET", Path: "/health"},
}

func predict(model, inputs string) Request {
	return Request{Method: "POST", Path: "/predict", Body: `{"model":"` + model + `","inputs":` + inputs + `}`, Model: model}
}

// BadRequest is a request the server must refuse with Status, whose
// refusal must not echo the clinical values in it.
type BadRequest struct {
	Name   string
	Method string
	Path   string
	Body   string
	Status int
}

// BadRequests are refusals that carry sentinels: out of range, malformed
// next to a value, a bad unit, a value in the URL, an unknown input.
var BadRequests = []BadRequest{
	{"out of range", "POST", "/predict", `{"model":"ascvd-pce","inputs":{"age":167.123457,"sex":"male","race":"white","total_cholesterol":213.456791,"hdl_cholesterol":49.876543,"systolic_bp":543.987651,"on_bp_treatment":true,"diabetes":false,"current_smoker":false}}`, 422},
	{"malformed after a value", "POST", "/predict", `{"model":"qsofa","inputs":{"respiratory_rate":24.681357,"systolic_bp":97.531246x}}`, 400},
	{"string for a number", "POST", "/predict", `{"model":"qsofa","inputs":{"respiratory_rate":"24.681357","systolic_bp":97.531246,"gcs":14}}`, 422},
	{"bad unit", "POST", "/predict", `{"model":"ckd-epi-2021","inputs":{"creatinine":{"value":1.234567,"unit":"67.123457"},"age":67.123457,"sex":"male"}}`, 422},
	{"unknown input", "POST", "/predict", `{"model":"qsofa","inputs":{"respiratory_rate":24.681357,"systolic_bp":97.531246,"gcs":14,"blood_glucose":143.987651}}`, 422},
	{"duplicate key", "POST", "/predict", `{"model":"qsofa","inputs":{"gcs":14,"gcs":143.987651}}`, 400},
	{"values in the URL", "GET", "/predict?age=67.123457&systolic_bp=143.987651", "", 405},
	{"unknown model", "POST", "/predict", `{"model":"apache-ii","inputs":{"age":67.123457}}`, 404},
	// CDS Hooks: FHIR values, and an access token, that must not leave in
	// a log or the refusal. Without CDS_HOOKS_CLIENTS nothing is fetched:
	// the absent keys are a 412.
	{"cds hook, required data absent", "POST", "/cds-services/ascvd-pce", `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",` +
		`"fhirServer":"https://ehr.example.org/fhir","fhirAuthorization":{"access_token":"143.987651","token_type":"Bearer","expires_in":300,"scope":"patient/*.read","subject":"cds"},"context":{"patientId":"p1"},` +
		`"prefetch":{"observations":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"o1","status":"final",` +
		`"code":{"coding":[{"system":"http://loinc.org","code":"2093-3"}]},"valueQuantity":{"value":213.456791,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}}]}}}`, 412},
	{"cds hook, another patient's chart", "POST", "/cds-services/ckd-epi-2021", `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",` +
		`"context":{"patientId":"p1"},"prefetch":{"patient":{"resourceType":"Patient","id":"p2","gender":"male","birthDate":"1958-02-01"},` +
		`"kidney":{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"o2","status":"final",` +
		`"code":{"coding":[{"system":"http://loinc.org","code":"2160-0"}]},"valueQuantity":{"value":1.234567,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}}]}}}`, 400},
}

// sentinelBits are the sentinels as a Go traceback prints float64
// argument words: the IEEE 754 bits in hex.
var sentinelBits = func() map[string]string {
	bits := map[string]string{}
	for _, s := range Sentinels {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			panic(err)
		}
		bits[s] = strconv.FormatUint(math.Float64bits(f), 16)
	}
	return bits
}()

// ScanSentinels reports every sentinel found in the files, as
// "file:line: value" lines. A sentinel counts where it stands as a number
// of its own: digits right before or after it belong to another number,
// as in a timestamp's "…:41.2345678Z" holding "1.234567". Its float64
// bits in hex count anywhere.
func ScanSentinels(paths []string) []string {
	var hits []string
	for _, path := range paths {
		f, err := os.Open(path) // #nosec G304 -- log files this run created
		if err != nil {
			hits = append(hits, fmt.Sprintf("%s: cannot read: %v", path, err))
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Bytes()
			for _, s := range Sentinels {
				if containsNumber(line, s) {
					hits = append(hits, fmt.Sprintf("%s:%d: %s", path, n, s))
				}
				if bytes.Contains(line, []byte(sentinelBits[s])) {
					hits = append(hits, fmt.Sprintf("%s:%d: %s as float64 bits %s", path, n, s, sentinelBits[s]))
				}
			}
		}
		if err := sc.Err(); err != nil { // a line too long or a read error: the rest is unscanned
			hits = append(hits, fmt.Sprintf("%s: scan stopped: %v", path, err))
		}
		_ = f.Close()
	}
	return hits
}

// containsNumber reports whether number occurs in line as a number of
// its own: no digit right next to it, and no decimal point next to it
// that has a digit beyond (as in "67.123457.1"). A point with no digit
// beyond, as a full stop in "age 67.123457.", does not hide it, nor do
// trailing zeros, a fixed-precision print of the same value
// ("67.12345700").
func containsNumber(line []byte, number string) bool {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 0; ; {
		j := bytes.Index(line[i:], []byte(number))
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(number)
		before := start > 0 && (isDigit(line[start-1]) ||
			line[start-1] == '.' && start > 1 && isDigit(line[start-2]))
		k := end
		for k < len(line) && line[k] == '0' {
			k++
		}
		after := k < len(line) && (isDigit(line[k]) ||
			line[k] == '.' && k+1 < len(line) && isDigit(line[k+1]))
		if !before && !after {
			return true
		}
		i = start + 1
	}
}

// luaString quotes s as a Lua long string.
func luaString(s string) string {
	eq := "="
	for strings.Contains(s, "]"+eq+"]") {
		eq += "="
	}
	return "[" + eq + "[" + s + "]" + eq + "]"
}
