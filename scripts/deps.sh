#!/usr/bin/env bash
# Installs the Debian packages a group of targets needs beyond Go, only
# those missing, with one apt-get update for all of them (Debian, root or
# sudo, packages reachable). Preinstalled on this kind of machine and not
# handled here: Go, kubectl, cfn-lint and moto_server.
#
#   scripts/deps.sh test      make test: promtool, prometheus, amtool, alertmanager; jq (make lint), curl;
#                             strace (k8s/falco_test.go traces Go's resolver)
#   scripts/deps.sh image     the image test in k8s/: podman, runc, the CA bundle the stand-in base copies
#   scripts/deps.sh load      make load and make reliability: wrk, haproxy
#   scripts/deps.sh browser   the /docs browser test in internal/docs: chromium (large: only this group)
#
# Groups combine: scripts/deps.sh test image load browser.
set -euo pipefail

missing=()
# need PACKAGE TEST...: PACKAGE is missing when a TEST fails.
need() {
	local pkg=$1
	shift
	"$@" >/dev/null 2>&1 || missing+=("$pkg")
}
for group in "$@"; do
	case $group in
	test)
		need prometheus command -v promtool
		need prometheus command -v prometheus
		need prometheus-alertmanager command -v amtool
		need prometheus-alertmanager command -v prometheus-alertmanager
		need jq command -v jq
		need curl command -v curl
		need strace command -v strace
		;;
	image)
		need podman command -v podman
		need runc command -v runc
		need ca-certificates test -r /etc/ssl/certs/ca-certificates.crt
		;;
	load)
		need wrk command -v wrk
		need haproxy command -v haproxy
		;;
	browser)
		need chromium command -v chromium
		;;
	*)
		echo "deps.sh: unknown group $group (want test, image, load or browser)" >&2
		exit 2
		;;
	esac
done
[ ${#missing[@]} -gt 0 ] || exit 0

pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "deps.sh: installing $pkgs"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
# env: sudo would drop an exported DEBIAN_FRONTEND.
# shellcheck disable=SC2086 # one word per package
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs
