package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	"gopkg.in/yaml.v3"
)

// Timings are the termination and readiness settings of the Deployment, as
// the rolling-restart rehearsal replays them.
type Timings struct {
	PreStop         time.Duration // lifecycle.preStop.sleep.seconds
	GracePeriod     time.Duration // terminationGracePeriodSeconds
	DrainDelay      time.Duration // ConfigMap DRAIN_DELAY
	ShutdownTimeout time.Duration // ConfigMap SHUTDOWN_TIMEOUT
	ReadyPeriod     time.Duration // readinessProbe.periodSeconds
	ReadyFailures   int           // readinessProbe.failureThreshold
	ReadySuccesses  int           // readinessProbe.successThreshold
	// Env is the container's literal env, NAME=value: the Go runtime
	// settings the pod runs with (GOGC, GOMEMLIMIT), which every rehearsal
	// gives the server too.
	Env    []string
	Source string
}

// ReadTimings builds the kustomize overlay (kubectl kustomize) and reads
// the timings of its Deployment and ConfigMap, and the container's env.
func ReadTimings(overlay string) (Timings, error) {
	out, err := exec.Command("kubectl", "kustomize", overlay).Output() // #nosec G204 -- fixed program; the overlay is a directory given by the operator
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return Timings{}, fmt.Errorf("kubectl kustomize %s: %w", overlay, err)
	}
	t := Timings{Source: "kubectl kustomize " + overlay}
	var cfg map[string]string
	found := false
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var doc struct {
			Kind string
			Data map[string]string
			Spec struct {
				Template struct {
					Spec struct {
						TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
						Containers                    []struct {
							Lifecycle struct {
								PreStop struct {
									Sleep *struct{ Seconds int }
									Exec  *struct{ Command []string }
								} `yaml:"preStop"`
							}
							Env []struct {
								Name      string
								Value     string
								ValueFrom any `yaml:"valueFrom"`
							}
							ReadinessProbe struct {
								PeriodSeconds    int `yaml:"periodSeconds"`
								FailureThreshold int `yaml:"failureThreshold"`
								SuccessThreshold int `yaml:"successThreshold"`
							} `yaml:"readinessProbe"`
						}
					}
				}
			}
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			return Timings{}, fmt.Errorf("%s: %w", t.Source, err)
		}
		switch doc.Kind {
		case "ConfigMap":
			if _, ok := doc.Data["DRAIN_DELAY"]; ok {
				cfg = doc.Data
			}
		case "Deployment":
			ps := doc.Spec.Template.Spec
			if len(ps.Containers) == 0 {
				continue
			}
			found = true
			c := ps.Containers[0]
			t.GracePeriod = 30 * time.Second // the Kubernetes default
			if ps.TerminationGracePeriodSeconds != nil {
				t.GracePeriod = time.Duration(*ps.TerminationGracePeriodSeconds) * time.Second
			}
			if s := c.Lifecycle.PreStop.Sleep; s != nil {
				t.PreStop = time.Duration(s.Seconds) * time.Second
			} else if c.Lifecycle.PreStop.Exec != nil {
				return Timings{}, fmt.Errorf("%s: preStop exec %v: only the sleep action is replayed", t.Source, c.Lifecycle.PreStop.Exec.Command)
			}
			// Unset (0) means the Kubernetes default: every 10s, 3 failures
			// to turn unready, 1 success to turn ready. (Negative values,
			// which the API server rejects, give 10s, 1 and 1.)
			rp := c.ReadinessProbe
			t.ReadyPeriod, t.ReadyFailures, t.ReadySuccesses = 10*time.Second, 3, 1
			if rp.PeriodSeconds > 0 {
				t.ReadyPeriod = time.Duration(rp.PeriodSeconds) * time.Second
			}
			if rp.FailureThreshold != 0 {
				t.ReadyFailures = max(rp.FailureThreshold, 1)
			}
			if rp.SuccessThreshold > 0 {
				t.ReadySuccesses = rp.SuccessThreshold
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil { // values from Secrets or fields exist only in a cluster
					t.Env = append(t.Env, e.Name+"="+e.Value)
				}
			}
		}
	}
	if !found {
		return Timings{}, fmt.Errorf("%s: no Deployment", t.Source)
	}
	t.ShutdownTimeout = 20 * time.Second // the server's defaults
	for name, dst := range map[string]*time.Duration{"DRAIN_DELAY": &t.DrainDelay, "SHUTDOWN_TIMEOUT": &t.ShutdownTimeout} {
		if s, ok := cfg[name]; ok {
			d, err := time.ParseDuration(s)
			if err != nil {
				return Timings{}, fmt.Errorf("%s: %s %q: %w", t.Source, name, s, err)
			}
			*dst = d
		}
	}
	return t, nil
}

// Check reports whether the timings can work at all: the process must be
// able to drain and shut down between SIGTERM and SIGKILL.
func (t Timings) Check() error {
	if budget := t.GracePeriod - t.PreStop; t.DrainDelay+t.ShutdownTimeout > budget {
		return fmt.Errorf("DRAIN_DELAY %s + SHUTDOWN_TIMEOUT %s exceed terminationGracePeriodSeconds %s - preStop %s",
			t.DrainDelay, t.ShutdownTimeout, t.GracePeriod, t.PreStop)
	}
	return nil
}

func (t Timings) String() string {
	return fmt.Sprintf("preStop sleep %s, terminationGracePeriodSeconds %s, DRAIN_DELAY %s, SHUTDOWN_TIMEOUT %s, readiness every %s (fail %d, succeed %d), env %v [%s]",
		t.PreStop, t.GracePeriod, t.DrainDelay, t.ShutdownTimeout, t.ReadyPeriod, t.ReadyFailures, t.ReadySuccesses, t.Env, t.Source)
}
