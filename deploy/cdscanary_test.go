package deploy

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/healthcare-prediction/api/internal/metrics"
	"github.com/healthcare-prediction/api/internal/smoke"
)

// versionMinute is what one version of CdsHooksFunction did in a minute.
type versionMinute struct {
	good    int // calls with a trusted JWT that got a card
	missing int // calls with a trusted JWT answered 412 (prefetch_missing)
	refused int // requests whose JWT was missing or refused (401)

	invocationErrors, serverErrors int
}

// events is the count of CDSHookEvents event e: a refused request is no
// call, a 412 is one (internal/cdshooks).
func (m versionMinute) events(t *testing.T, e string) int {
	switch metrics.CDSEvent(e) {
	case metrics.CDSCall:
		return m.good + m.missing
	case metrics.CDSPrefetchMissing:
		return m.missing
	case metrics.CDSJWTRefused:
		return m.refused
	}
	t.Fatalf("the canary alarm reads CDSHookEvents Event=%s, which the scenarios do not model", e)
	return 0
}

// cdsCanary is CdsHooksCanaryAlarm as template.yaml states it: point
// evaluates it on one minute of the new and the old version, fires on the
// alarm's evaluation range.
type cdsCanary struct {
	props map[string]any
	alarm *mathAlarm
}

func loadCdsCanary(t *testing.T) cdsCanary {
	t.Helper()
	props := mapAt(loadTemplate(t), "Resources", "CdsHooksCanaryAlarm", "Properties")
	return cdsCanary{props, readMathAlarm(t, props)}
}

// canaryMinute is what both versions did in a minute, as CloudWatch has it
// when the alarm is evaluated: a minute whose EMF data has not arrived yet
// is canaryMinute{}.
type canaryMinute struct{ newV, oldV versionMinute }

// point maps each MetricStat of the alarm to the minute by what it
// selects: the new version's (FunctionVersion, or ExecutedVersion through
// the alias live) or every version's (no version dimension). A count of
// zero is no data point: EMF writes nothing when nothing happens.
func (c cdsCanary) point(t *testing.T, m canaryMinute) mathPoint {
	t.Helper()
	newV, oldV := m.newV, m.oldV
	const version = "${CdsHooksFunction.Version.Version}"
	p, points, err := c.alarm.value(func(id string, stat map[string]any) mathPoint {
		if num(stat["Period"]) != 60 || str(stat, "Stat") != "Sum" {
			t.Fatalf("%s: Period %v Stat %v, want 60 Sum", id, stat["Period"], stat["Stat"])
		}
		m := mapAt(stat, "Metric")
		dims := cfnDims(listAt(m, "Dimensions"))
		ours := dims[metrics.DimService] == metrics.Service && dims[metrics.DimEnvironment] == "${Stage}"
		newVersion := ours && dims[metrics.DimFunctionName] == "${CdsHooksFunction}" && dims[metrics.DimFunctionVersion] == version
		n := -1
		switch str(m, "Namespace") + " " + str(m, "MetricName") {
		case "AWS/Lambda Errors":
			if len(dims) == 3 && dims["FunctionName"] == "${CdsHooksFunction}" && dims["Resource"] == "${CdsHooksFunction}:live" && dims["ExecutedVersion"] == version {
				n = newV.invocationErrors
			}
		case metrics.Namespace + " " + metrics.ServerErrors.Name:
			if newVersion && len(dims) == 4 {
				n = newV.serverErrors
			}
		case metrics.Namespace + " " + metrics.CDSHookEvents.Name:
			switch {
			case newVersion && len(dims) == 5:
				n = newV.events(t, dims[metrics.DimEvent])
			case ours && len(dims) == 3: // {Service, Environment, Event}: every version
				n = newV.events(t, dims[metrics.DimEvent]) + oldV.events(t, dims[metrics.DimEvent])
			}
		}
		if n < 0 {
			t.Fatalf("%s selects %s %s %v: neither the new version's nor the whole service's", id, str(m, "Namespace"), str(m, "MetricName"), dims)
		}
		if n == 0 {
			return noPoint
		}
		return present(float64(n))
	})
	if err != nil {
		t.Fatal(err)
	}
	// CloudWatch drops the point of a division by zero, and the page does
	// not say what a comparison does with it: no expression may lose its
	// point, whatever the minute.
	for id := range c.alarm.exprs {
		if !points[id].ok {
			t.Errorf("new %+v, old %+v: %s has no data point", newV, oldV, id)
		}
	}
	return p
}

// beforeCanary is the alarm's points of the 5 minutes before the canary,
// when the new version had no traffic (it is new): more than the alarm
// evaluates, as CloudWatch retrieves.
func (c cdsCanary) beforeCanary(t *testing.T) []mathPoint {
	quiet := c.point(t, canaryMinute{})
	return []mathPoint{quiet, quiet, quiet, quiet, quiet}
}

// fires evaluates the alarm at the end of the last of minutes.
func (c cdsCanary) fires(t *testing.T, minutes ...canaryMinute) bool {
	t.Helper()
	window := c.beforeCanary(t)
	for _, m := range minutes {
		window = append(window, c.point(t, m))
	}
	return alarmFires(t, c.props, window)
}

// hookRefusals is how many token-less calls the pre-traffic hook sends the
// new version of CdsHooksFunction: its 401 checks, twice should Lambda
// retry the hook.
func hookRefusals(t *testing.T) int {
	n := 0
	for _, c := range smoke.Checks["cdshooks"] {
		if c.Status == 401 {
			n += 2
		}
	}
	if n == 0 {
		t.Fatal("the pre-traffic hook sends no token-less cdshooks call; the scenarios assume it does")
	}
	return n
}

// TestCdsHooksCanaryAlarm evaluates the alarm's real expression on minutes
// of a canary (10% of the alias traffic on the new version). It must roll
// back a new version that fails, answers 5xx, refuses good JWTs or loses
// prefetch while the old one does not; and never for refusals anyone on
// the internet can cause, which reach both versions by alias weight.
func TestCdsHooksCanaryAlarm(t *testing.T) {
	c := loadCdsCanary(t)
	hook := hookRefusals(t)
	for _, s := range []struct {
		name       string
		newV, oldV versionMinute
		want       bool
	}{
		{"(a) healthy, 100 calls a minute", versionMinute{good: 10}, versionMinute{good: 90}, false},
		{"(a) no CDS Hooks traffic at all", versionMinute{}, versionMinute{}, false},
		{"(a) a few calls a minute", versionMinute{good: 1}, versionMinute{good: 4, refused: 1}, false},
		{"(b) new version refuses every good token, 100 calls a minute", versionMinute{refused: 10}, versionMinute{good: 90}, true},
		{"(b) the same with a scanner's 20 token-less calls a minute", versionMinute{refused: 10 + 2}, versionMinute{good: 90, refused: 18}, true},
		{"(b) the same at 50 calls a minute: 5 refusals, too few to tell from the hook's", versionMinute{refused: 5}, versionMinute{good: 45}, false},
		{"(c) 200 token-less calls a minute spread 10/90, 100 good", versionMinute{good: 10, refused: 20}, versionMinute{good: 90, refused: 180}, false},
		{"(c) the same, the new version drawing more of the flood", versionMinute{good: 6, refused: 28}, versionMinute{good: 94, refused: 172}, false},
		{"(d) 200 token-less calls a minute, no good traffic", versionMinute{refused: 20}, versionMinute{refused: 180}, false},
		{"(d) an EHR misconfigured against both versions, 30 of 100", versionMinute{good: 7, refused: 3}, versionMinute{good: 63, refused: 27}, false},
		{"(d) only a misconfigured EHR calls", versionMinute{refused: 5}, versionMinute{refused: 45}, false},
		{"(e) the pre-traffic hook's token-less calls alone", versionMinute{refused: hook}, versionMinute{}, false},
		{"(e) the hook's calls while the old version serves 100 a minute", versionMinute{refused: hook}, versionMinute{good: 100}, false},
		{"(e) the hook's calls, then 10% of 20 token-less and 30 good a minute", versionMinute{refused: hook + 2, good: 3}, versionMinute{refused: 18, good: 27}, false},
		{"(e) the hook's calls and 6 good calls refused in the same minute", versionMinute{refused: hook + 6}, versionMinute{good: 100}, true},
		{"(f) new version answers 412 on every call, old serves", versionMinute{missing: 10}, versionMinute{good: 90}, true},
		{"(f) new version refuses half and 412s the rest", versionMinute{missing: 5, refused: 5}, versionMinute{good: 90}, true},
		{"(f) 412s on both versions alike (an EHR without prefetch)", versionMinute{good: 4, missing: 6}, versionMinute{good: 36, missing: 54}, false},
		{"(g) one invocation error", versionMinute{good: 10, invocationErrors: 1}, versionMinute{good: 90}, true},
		{"(g) one 5xx answer", versionMinute{good: 10, serverErrors: 1}, versionMinute{good: 90}, true},
		{"(g) an invocation error during a flood", versionMinute{refused: 20, invocationErrors: 1}, versionMinute{refused: 180}, true},
	} {
		if got := c.fires(t, canaryMinute{s.newV, s.oldV}); got != s.want {
			p := c.point(t, canaryMinute{s.newV, s.oldV})
			t.Errorf("%s: new %+v, old %+v: alarm %v (value %v, data point %v), want %v", s.name, s.newV, s.oldV, got, p.v, p.ok, s.want)
		}
	}
}

// TestCdsHooksCanaryAlarmSeesLateData: the alarm's inputs are EMF metrics,
// which reach CloudWatch through log ingestion, and every one is FILLed.
// "Using metric math" (FILL row) warns that when data arrives late the
// newest minute is always the FILL value and a 1-of-1 alarm can miss it;
// its workaround is M of N. A minute in which the new version refused
// every good token, evaluated when its data has come but the two minutes
// after it are still empty (0-filled), must roll back; and the same
// window, evaluated on its newest minute only, must not (so the scenario
// is the one the page warns of).
func TestCdsHooksCanaryAlarmSeesLateData(t *testing.T) {
	c := loadCdsCanary(t)
	late := canaryMinute{} // its data not yet in CloudWatch
	for _, s := range []struct {
		name   string
		failed canaryMinute
	}{
		{"refuses every good token, 100 calls a minute", canaryMinute{versionMinute{refused: 10}, versionMinute{good: 90}}},
		{"answers 412 on every call", canaryMinute{versionMinute{missing: 10}, versionMinute{good: 90}}},
		{"one invocation error", canaryMinute{versionMinute{good: 10, invocationErrors: 1}, versionMinute{good: 90}}},
	} {
		if !c.fires(t, s.failed, late, late) {
			t.Errorf("%s, then two minutes of late data: no rollback", s.name)
		}
		oneOfOne := maps.Clone(c.props)
		oneOfOne["EvaluationPeriods"], oneOfOne["DatapointsToAlarm"] = 1.0, 1.0
		if (cdsCanary{oneOfOne, c.alarm}).fires(t, s.failed, late, late) {
			t.Errorf("%s: a 1-of-1 alarm fires on the window too; it does not model late data", s.name)
		}
	}
}

// TestCdsHooksCanaryAlarmOnRandomSplits replays whole canaries: 5 minutes,
// each request reaching the new version with probability 0.1 (the alias
// weight), the first minute adding the retried pre-traffic hook's
// token-less calls and only half a minute of traffic; the alarm evaluated
// at the end of every minute, on its evaluation range. A healthy release
// must be rolled back in under 1% of canaries whatever the mix of good and
// token-less calls; one that refuses every good token, or answers 412 on
// every call, in over 99% from 100 good calls a minute while token-less
// calls are no more than the good ones.
func TestCdsHooksCanaryAlarmOnRandomSplits(t *testing.T) {
	c := loadCdsCanary(t)
	hook := hookRefusals(t)
	rng := rand.New(rand.NewPCG(20261205, 1))
	split := func(n int, share float64) (toNew, toOld int) {
		for range n {
			if rng.Float64() < share {
				toNew++
			}
		}
		return toNew, n - toNew
	}
	type release int
	const (
		healthy release = iota
		refusesGoodTokens
		losesPrefetch
	)
	before := c.beforeCanary(t)
	rolledBack := func(t *testing.T, good, tokenless int, r release) bool {
		window := slices.Clone(before)
		for minute := range 5 {
			share := 0.1
			var newV, oldV versionMinute
			if minute == 0 {
				newV.refused = hook
				share = 0.05 // the hook, then half a minute at 10%
			}
			gNew, gOld := split(good, share)
			fNew, fOld := split(tokenless, share)
			oldV.good, oldV.refused = gOld, fOld
			newV.refused += fNew
			switch r {
			case healthy:
				newV.good = gNew
			case refusesGoodTokens:
				newV.refused += gNew
			case losesPrefetch:
				newV.missing = gNew
			}
			window = append(window, c.point(t, canaryMinute{newV, oldV}))
			if alarmFires(t, c.props, window) {
				return true
			}
		}
		return false
	}
	const runs = 500
	for _, mix := range []struct{ good, tokenless int }{
		{0, 20}, {5, 20}, {20, 20}, {30, 10}, {60, 30}, {80, 80}, {100, 50}, {100, 100}, {150, 75}, {200, 100}, {300, 150}, {300, 600}, {1000, 3000},
	} {
		t.Run(fmt.Sprintf("%d good and %d token-less a minute", mix.good, mix.tokenless), func(t *testing.T) {
			n := 0
			for range runs {
				if rolledBack(t, mix.good, mix.tokenless, healthy) {
					n++
				}
			}
			if n*100 >= runs {
				t.Errorf("a healthy release rolled back in %d of %d canaries", n, runs)
			}
			if mix.good < 100 || mix.tokenless > mix.good {
				return
			}
			for _, r := range []release{refusesGoodTokens, losesPrefetch} {
				n := 0
				for range runs {
					if rolledBack(t, mix.good, mix.tokenless, r) {
						n++
					}
				}
				if n*100 <= 99*runs {
					t.Errorf("a release that %s rolled back in only %d of %d canaries", map[release]string{refusesGoodTokens: "refuses every good token", losesPrefetch: "answers 412 on every call"}[r], n, runs)
				}
			}
		})
	}
}
