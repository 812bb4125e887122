package docs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/docs"
	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/secrets"
)

// browserRequired is set by the Makefile: under make test a missing
// Chromium fails the test instead of skipping it.
const browserRequired = "DOCS_BROWSER_REQUIRED"

// chromium finds Debian's headless Chromium (scripts/deps.sh browser), or
// the Chrome of a GitHub runner.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(browserRequired) != "" {
		t.Fatalf("no chromium on PATH and %s is set: run scripts/deps.sh browser", browserRequired)
	}
	t.Skipf("no chromium on PATH (scripts/deps.sh browser installs it; make test requires it)")
	return ""
}

// browserKey is the API key the page is given through its Authorize dialog.
const browserKey = "docs-browser-test-9xQ2mVb7LkR4sTz8WcN1pYh6Ej3Ud5Fa0GoKi"

// The page, in a real browser, under an API Gateway stage prefix: it
// renders the operations, takes the API key through its Authorize dialog,
// runs a published example of POST /predict and a 422 example from the
// page and shows their answers, and in all of that loads nothing from
// another origin and logs no error (a refusal by the Content-Security-
// Policy would be one).
func TestDocsPageInBrowser(t *testing.T) {
	exe := chromium(t)
	keys, err := secrets.Static("browser:" + browserKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Options{
		Logger:        slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Catalog:       scoring.NewCatalog(),
		Build:         api.Build{Version: "browser-test"},
		Lifecycle:     api.NewLifecycle(),
		Routes:        api.All,
		Keys:          keys,
		Docs:          docs.New(),
		StripBasePath: true, // as the Lambda functions: "/prod/docs" reaches /docs
	}))
	defer srv.Close()
	stage := srv.URL + "/prod"

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctx, cancelBrowser := chromedp.NewContext(ctx, chromedp.WithAllocatorOptions(
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Flag("headless", "new"),
		chromedp.WindowSize(1280, 2400),
		chromedp.UserDataDir(t.TempDir()),
	))
	defer cancelBrowser()

	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.Method+" "+e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	var console []chromedp.ConsoleMessage
	consoleDone := make(chan struct{})
	consoleCtx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(consoleCtx)
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m)
			mu.Unlock()
		}
	}()

	op := "#operations-predict-predict"
	start := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(stage+"/docs"),
		chromedp.WaitVisible(op),
		chromedp.WaitVisible("#operations-info-listModels"),
	); err != nil {
		t.Fatalf("the page did not render its operations: %v", err)
	}
	t.Logf("operations rendered %v after navigating", time.Since(start).Round(time.Millisecond))

	// The API key, through the Authorize dialog (ApiKey: X-API-Key).
	if err := chromedp.Do(ctx,
		chromedp.Click(".auth-wrapper .authorize"),
		chromedp.WaitVisible(".auth-container input"),
		chromedp.SendKeys(".auth-container input", browserKey),
		chromedp.Click(".auth-container .auth-btn-wrapper .authorize"),
		chromedp.WaitVisible(".auth-container .auth-btn-wrapper .btn-done"),
		chromedp.Click(".auth-container .auth-btn-wrapper .btn-done"),
		chromedp.WaitNotPresent(".dialog-ux"),
	); err != nil {
		t.Fatalf("authorize: %v", err)
	}

	// Expand POST /predict and try it out.
	if err := chromedp.Do(ctx,
		chromedp.Click(op+" .opblock-summary-control"),
		chromedp.WaitVisible(op+" .try-out__btn"),
		chromedp.Click(op+" .try-out__btn"),
		chromedp.WaitVisible(op+" .opblock-section-request-body .examples-select select"),
	); err != nil {
		t.Fatalf("open POST /predict: %v", err)
	}

	// run picks a request example by name, executes it and returns the
	// status and body the page shows.
	run := func(example string) (string, string) {
		t.Helper()
		sel := op + " .opblock-section-request-body .examples-select select"
		// React listens for the change event; setting the value alone is not
		// a choice.
		pick := `(() => { const s = document.querySelector(` + jsString(sel) + `);
			s.value = ` + jsString(example) + `; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value; })()`
		chosen, err := chromedp.Run(ctx, chromedp.Evaluate[string](pick))
		if err != nil || chosen != example {
			t.Fatalf("choose example %s: got %q, %v", example, chosen, err)
		}
		textarea, err := chromedp.Run(ctx, chromedp.Value(op+" .body-param__text"))
		if err != nil || !strings.Contains(textarea, `"model"`) {
			t.Fatalf("request body after choosing %s: %q, %v", example, textarea, err)
		}
		// Clear the previous answer so the wait below sees the new one.
		_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { for (const b of document.querySelectorAll(`+
			jsString(op+" .btn-clear")+`)) b.click(); return true; })()`))
		if err := chromedp.Do(ctx,
			chromedp.WaitNotPresent(op+" .live-responses-table"),
			chromedp.Click(op+" .execute"),
			chromedp.WaitVisible(op+" .live-responses-table tbody .response-col_status"),
		); err != nil {
			t.Fatalf("execute %s: %v", example, err)
		}
		status, err := chromedp.Run(ctx, chromedp.Text(op+" .live-responses-table tbody .response-col_status"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := chromedp.Run(ctx, chromedp.TextContent(op+" .live-responses-table .response-col_description .microlight"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(status), body
	}

	// Goff 2014 Table A, white man of 55: 5.38 % (README, first example).
	status, body := run("ascvd-pce-goff-2014")
	var prediction struct {
		Result struct {
			Value    float64
			Category string
		}
	}
	if err := json.Unmarshal([]byte(body), &prediction); err != nil || status != "200" {
		t.Fatalf("ascvd-pce example: status %s, body %.300s (%v)", status, body, err)
	}
	// 5 to < 7.5 % is borderline (MODELS.md, the 2018 cholesterol guideline's bands).
	if v := prediction.Result.Value; v < 5.375 || v >= 5.385 || prediction.Result.Category != "borderline" {
		t.Errorf("ascvd-pce example shows %v %%, %s; Goff 2014 publishes 5.38 %%: borderline", v, prediction.Result.Category)
	}
	shot(t, ctx, "docs-200.png")

	status, body = run("ascvd-pce-cholesterol-out-of-range")
	var problem struct {
		Type   string
		Errors []struct{ Field string }
	}
	if err := json.Unmarshal([]byte(body), &problem); err != nil || status != "422" {
		t.Fatalf("422 example: status %s, body %.300s (%v)", status, body, err)
	}
	if problem.Type != "urn:healthcare-api:problem:validation" || len(problem.Errors) != 1 || problem.Errors[0].Field != "inputs.total_cholesterol" {
		t.Errorf("422 example shows %+v, want a validation problem naming inputs.total_cholesterol", problem)
	}
	shot(t, ctx, "docs-422.png")

	stopConsole()
	<-consoleDone
	mu.Lock()
	defer mu.Unlock()
	var sawDocument, sawPredict bool
	for _, r := range requests {
		method, url, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(url, srv.URL+"/") && !strings.HasPrefix(url, "data:") {
			t.Errorf("the browser requested %s, outside the test server", url)
		}
		sawDocument = sawDocument || url == stage+"/openapi.json"
		sawPredict = sawPredict || (method == "POST" && url == stage+"/predict")
	}
	if !sawDocument || !sawPredict {
		t.Errorf("under the stage the page must read %s/openapi.json and call POST %s/predict; requests:\n  %s",
			stage, stage, strings.Join(requests, "\n  "))
	}
	for _, m := range console {
		// Chrome logs every 4xx answer to fetch as a network error: the 422
		// example's is the one expected.
		if m.Type == chromedp.ConsoleError && m.URL == stage+"/predict" && strings.Contains(m.Text, "422") {
			continue
		}
		if m.Type == chromedp.ConsoleError || m.IsException() || m.Type == chromedp.ConsoleWarning {
			t.Errorf("console %s: %s (%s)", m.Type, m.Text, m.URL)
		}
	}
}

// shot saves a screenshot of the whole page into the test's output
// directory (go test -artifacts keeps it; the path is logged).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
