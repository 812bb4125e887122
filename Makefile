# Healthcare Prediction API. `make` alone lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# go.mod asks for a patched toolchain (govulncheck finds the standard
# library of older ones vulnerable); the go command fetches it from the
# module proxy. Machines of this kind default to GOTOOLCHAIN=local.
export GOTOOLCHAIN := auto

# The Go vulnerability database as a module from the proxy: the default
# online database is unreachable here. GitHub CI uses the online one.
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018

FUNCTIONS := info health predict cdshooks pretraffic
# The version the binaries report (GET /, /health, the metrics). `sam build`
# runs the build-<LogicalId> targets in a copy of the tree without .git,
# where git describe has nothing to describe: set VERSION in the
# environment there (CI does: VERSION=$GITHUB_SHA sam build).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/healthcare-prediction/api/internal/app.version=$(VERSION)
# Lambda: static, no RPC shim (provided.al2023), reproducible paths.
# template.yaml says arm64; LAMBDA_GOARCH=amd64 builds a bootstrap for an
# x86 host's aws-lambda-rie (tests), never for a deploy.
LAMBDA_GOARCH ?= arm64
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH)
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "$(LDFLAGS)"

.PHONY: help run test deps unit lint build bench clean image image-deps load reliability fuzz k8s-check docs-assets

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## serve every route on :8000, open (AUTH_DISABLED=true) unless API_KEYS or API_KEYS_SECRET_ID is set
	@echo "API docs: http://localhost:$${PORT:-8000}/docs"
	$(if $(API_KEYS)$(API_KEYS_SECRET_ID),,AUTH_DISABLED=true) go run -ldflags "$(LDFLAGS)" ./functions/server

test: deps lint unit ## everything CI checks: test tools, lint, then every test with the race detector

deps: ## install the Debian packages the tests need, if missing
	@scripts/deps.sh test image browser

# DOCS_BROWSER_REQUIRED: the /docs browser test fails without Chromium
# instead of skipping. Test artifacts (its screenshots) go to dist/test.
# k8s/addons is a module of its own: the External Secrets, Sealed Secrets
# and Istio API packages its tests decode with need a newer k8s.io than
# kube-score lets go.mod have. Its tests run no goroutines of their own,
# so without -race (which would double their build).
ADDONS := k8s/addons

unit: ## go test -race over every package (fuzz seeds included), and the k8s/addons module
	@mkdir -p dist/test
	DOCS_BROWSER_REQUIRED=1 go test -race -count=1 -timeout 20m -artifacts -outputdir $(CURDIR)/dist/test ./...
	cd $(ADDONS) && go test -count=1 -timeout 10m ./...

lint: ## gofmt, go vet, staticcheck, gosec, govulncheck, actionlint, cfn-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	cd $(ADDONS) && go vet ./...
	go tool staticcheck ./...
	sc=$$(go tool -n staticcheck) && cd $(ADDONS) && $$sc ./...
	go tool gosec -quiet -exclude-generated ./...
	go tool govulncheck -db file://$$(go mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | jq -r .Dir)/data/osv ./...
	go tool actionlint
	cfn-lint template.yaml infra/*.yaml

build: $(FUNCTIONS:%=dist/%.zip) ## one zipped bootstrap per Lambda function (linux/arm64) in dist/

dist/%.zip: FORCE
	@mkdir -p dist/$*
	$(LAMBDA_ENV) go build $(LAMBDA_FLAGS) -o dist/$*/bootstrap ./functions/$*
	cd dist/$* && rm -f ../$*.zip && zip -q -X ../$*.zip bootstrap

# Container image for EKS (docs/eks.md). ko and crane are pinned in
# k8s/tools/image.mod, apart from go.mod: ko v0.18.1 needs k8s.io v0.34,
# kube-score v1.20.0 builds only against v0.32.
KO := go tool -modfile=k8s/tools/image.mod ko

image: ## build the image (linux/amd64, linux/arm64) with ko and push it to KO_DOCKER_REPO; ref in dist/image.ref
	@test -n "$(KO_DOCKER_REPO)" || { echo "set KO_DOCKER_REPO=<RepositoryUri of infra/eks.yaml>"; exit 1; }
	@mkdir -p dist
	VERSION=$(VERSION) $(KO) build --bare --tags=$(VERSION) --image-refs=dist/image.ref ./functions/server

k8s-check: ## fail while k8s/overlays/$(ENV) holds a placeholder or an unpinned image (ENV=dev|staging|prod)
	@test -n "$(ENV)" || { echo "set ENV=dev, staging or prod"; exit 1; }
	scripts/k8s-check.sh k8s/overlays/$(ENV)

# Swagger UI for GET /docs (internal/docs): the recorded version again, or
# SWAGGER_UI_VERSION=x.y.z to move; checked against npm's integrity.
docs-assets: ## refresh the /docs page's Swagger UI files from the npm registry (SWAGGER_UI_VERSION to change version)
	scripts/docs-assets.sh $(SWAGGER_UI_VERSION)

image-deps: ## install podman and runc for the image test in k8s/ (apt-get, only what is missing)
	scripts/deps.sh image

bench: ## benchmarks of every package, benchstat-friendly
	go test -run '^$$' -bench . -benchmem -count 1 ./...

# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report "context deadline exceeded" at the deadline with no failing input
# (golang/go#75804, fixed in Go 1.27). 20,000 inputs take 3-10 s a target.
FUZZTIME ?= 20000x
FUZZ_TARGETS := FuzzObjectMembers FuzzDecodePredict FuzzHandler FuzzLambdaHandler FuzzPredictionEncoding

load: ## load test on loopback (500 rps for 60s, then 64 connections with wrk) against a minimal net/http handler; Lambda cold/warm vs hello-world
	@scripts/deps.sh load
	go run ./loadtest/cmd/load $(LOAD_FLAGS)
	go run ./loadtest/cmd/load lambda

reliability: ## SIGTERM, rolling restart behind haproxy, AWS outages (moto), slow clients, sentinel scan, then fuzzing; under 5 minutes
	@scripts/deps.sh load
	go run ./loadtest/cmd/reliability
	$(MAKE) --no-print-directory fuzz

fuzz: ## fuzz each internal/api target for FUZZTIME inputs (the seeds always run in make test)
	@for t in $(FUZZ_TARGETS); do go test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./internal/api || exit 1; done

clean: ## remove build output
	rm -rf dist .aws-sam

# SAM (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set,
# in a copy of the tree without .git (see VERSION).
build-InfoFunction build-HealthFunction build-PredictFunction build-CdsHooksFunction build-PreTrafficFunction: build-%Function:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)"; exit 1; }
	@echo "building $* version $(VERSION) for linux/$(LAMBDA_GOARCH)"
	$(LAMBDA_ENV) go build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo $* | tr A-Z a-z)

.PHONY: FORCE
FORCE:
