# Healthcare Prediction API. `make` alone lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

FUNCTIONS := info health predict
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/healthcare-prediction/api/internal/app.version=$(VERSION)
# Lambda: static, no RPC shim (provided.al2023), reproducible paths.
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "$(LDFLAGS)"

.PHONY: help run test unit lint build bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## serve every route on :8000 with the embedded defaults (no AWS needed)
	go run -ldflags "$(LDFLAGS)" ./functions/server

test: lint unit ## everything CI checks: lint, then every test with the race detector

unit: ## go test -race over every package
	go test -race -count=1 ./...

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...
	cfn-lint template.yaml

build: $(FUNCTIONS:%=dist/%.zip) ## one zipped bootstrap per Lambda function (linux/arm64) in dist/

dist/%.zip: FORCE
	@mkdir -p dist/$*
	$(LAMBDA_ENV) go build $(LAMBDA_FLAGS) -o dist/$*/bootstrap ./functions/$*
	cd dist/$* && rm -f ../$*.zip && zip -q -X ../$*.zip bootstrap

bench: ## benchmarks of every package, benchstat-friendly
	go test -run '^$$' -bench . -benchmem -count 1 ./...

clean: ## remove build output
	rm -rf dist .aws-sam

# SAM (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-InfoFunction build-HealthFunction build-PredictFunction: build-%Function:
	$(LAMBDA_ENV) go build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo $* | tr A-Z a-z)

.PHONY: FORCE
FORCE:
