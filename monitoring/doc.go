// Package monitoring holds no code. Its tests keep the Prometheus rules
// (prometheus/), the Alertmanager routing (alertmanager/), the Grafana
// dashboard (grafana/) and the Prometheus Operator objects in k8s/monitoring
// valid and in step with the metrics that functions/server really exposes.
package monitoring
