// Package addons holds the offline tests of the optional parts of the EKS
// deployment that build on other projects' APIs: External Secrets Operator
// (k8s/external-secrets), Sealed Secrets (k8s/sealed-secrets), Istio
// (k8s/components/istio) and CloudWatch Container Insights (infra/eks.yaml).
//
// It is a module of its own: those projects' Go packages need a newer
// k8s.io than the main module, which kube-score pins to v0.32. make test
// runs it (Makefile, unit and lint).
package addons
