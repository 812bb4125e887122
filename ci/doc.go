// Package ci holds the tests of the delivery pipeline itself: the GitHub
// Actions workflows in .github/workflows, the AWS access they rely on
// (infra/ci.yaml), and the smoke test the deploy workflow runs
// (smoke-test.sh). They run offline with `go test ./ci/`; docs/cicd.md
// describes the pipeline.
package ci
