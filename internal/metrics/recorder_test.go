package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every sink records a failed key refresh under the vocabulary's name.
func TestKeyRefreshFailed(t *testing.T) {
	t.Run("EMF", func(t *testing.T) {
		var out bytes.Buffer
		e := NewEMF(&out, "dev", Function{Name: "predict", Version: "3"}, nil)
		e.now = func() time.Time { return time.Unix(1700000000, 0) }
		e.KeyRefreshFailed(context.Background())
		line := strings.TrimSpace(out.String())
		if strings.Count(line, "\n") != 0 {
			t.Fatalf("want one document, got:\n%s", out.String())
		}
		if err := validateEMFErr(t, []byte(line+"\n")); err != nil {
			t.Fatalf("invalid EMF: %v\n%s", err, line)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatal(err)
		}
		if doc["KeyRefreshFailures"] != float64(1) || doc["Service"] != Service || doc["Environment"] != "dev" {
			t.Errorf("document = %s", line)
		}
		if _, ok := doc["ColdStart"]; ok {
			t.Error("a key refresh is not a request: no ColdStart")
		}
	})
}

// A CDS Hooks event is one valid EMF document with the service and the
// event as dimensions.
func TestCDSHookEMF(t *testing.T) {
	var out bytes.Buffer
	e := NewEMF(&out, "dev", Function{Name: "cdshooks", Version: "3"}, func(err error) { t.Error(err) })
	e.CDSHook(context.Background(), "meld-na", CDSPrefetchMissing)
	line := strings.TrimSpace(out.String())
	if err := validateEMFErr(t, []byte(line+"\n")); err != nil {
		t.Fatalf("invalid EMF: %v\n%s", err, line)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["CDSHookEvents"] != float64(1) || doc[DimCDSService] != "meld-na" || doc[DimEvent] != "prefetch_missing" {
		t.Errorf("document = %s", line)
	}
	// The canary gate of the cdshooks function selects the new version's
	// events by {Service, Environment, FunctionName, FunctionVersion, Event}.
	if doc[DimFunctionName] != "cdshooks" || doc[DimFunctionVersion] != "3" {
		t.Errorf("document lacks the function and version: %s", line)
	}
	want := []any{DimService, DimEnvironment, DimFunctionName, DimFunctionVersion, DimEvent}
	found := false
	for _, d := range doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
		for _, set := range d.(map[string]any)["Dimensions"].([]any) {
			found = found || slices.Equal(set.([]any), want)
		}
	}
	if !found {
		t.Errorf("CDSHookEvents is not published under %v:\n%s", want, line)
	}
}
