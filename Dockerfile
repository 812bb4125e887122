# syntax=docker/dockerfile:1
# The same image as `make image` (ko, .ko.yaml), for those who build with
# Docker or BuildKit: docker buildx build --platform linux/amd64,linux/arm64
#   --build-arg VERSION=$(git describe --tags --always) -t <repo>:<tag> --push .
# Both bases are pinned by digest (multi-platform indexes); bump them
# deliberately, the runtime one together with .ko.yaml.
ARG GO_IMAGE=golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
# The builder image matches go.mod's go line (the minimum, 1.26.8); go.mod's
# toolchain line names the patched toolchain (go1.26.11: the standard
# library of 1.26.8 has known vulnerabilities), which GOTOOLCHAIN=auto makes
# the go command fetch from the module proxy, checksummed by sum.golang.org.
# So the build needs the proxy, and a new toolchain line needs no new image.
ENV CGO_ENABLED=0 GOTOOLCHAIN=auto
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X github.com/healthcare-prediction/api/internal/app.version=${VERSION}" \
      -o /out/server ./functions/server

FROM ${BASE_IMAGE}
COPY --from=build /out/server /server
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/server"]
