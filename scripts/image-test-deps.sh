#!/usr/bin/env bash
# Installs what the image test in k8s/ (TestImage) needs beyond Go: podman
# and runc from Debian (ko and crane are Go tools pinned in
# k8s/tools/image.mod), and the CA bundle the stand-in base image copies.
# Idempotent: installs only what is missing. Needs root (CI runs as root).
set -euo pipefail

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
[ -r /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)

if [ ${#missing[@]} -eq 0 ]; then
	echo "image-test-deps: podman, runc and CA certificates are installed"
	exit 0
fi
echo "image-test-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
podman --version
runc --version | head -n 1
