// Package k8s holds no code: its tests check the Kubernetes manifests
// (kustomize base and overlays), the container image recipes (.ko.yaml,
// Dockerfile) and the CloudFormation in infra/ against each other and
// against the server's code. docs/eks.md describes the deployment.
package k8s
