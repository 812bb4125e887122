#!/usr/bin/env bash
# k8s-check: refuses to deploy a kustomize overlay that still holds a
# placeholder. Renders the overlay the way `kubectl apply -k` would and
# fails, naming each line, on any marker below, and on an image that is not
# pinned by digest. The deploy workflow runs it (make k8s-check ENV=<env>)
# after setting the image and before kubectl apply; k8s/guard_test.go proves
# that each marker trips it.
#
# Usage: scripts/k8s-check.sh <kustomize directory>
set -euo pipefail

dir=${1:?usage: scripts/k8s-check.sh <kustomize directory, e.g. k8s/overlays/prod>}
out=$(kubectl kustomize "$dir")
failed=0

# report <what> <lines>: print the offending lines under a heading.
report() {
	echo "$dir: $1:" >&2
	sed 's/^/    /' <<<"$2" >&2
	failed=1
}

# marker <extended regexp> <what it means>
marker() {
	local hits
	if hits=$(grep -nE -- "$1" <<<"$out"); then
		report "$2" "$hits"
	fi
}

marker 'REPLACE_ME' "a value in values.env is not filled in (REPLACE_ME)"
marker '(^|[^0-9])(111122223333|123456789012)([^0-9]|$)' "an AWS documentation example account id"
marker '[.]invalid([^a-z0-9-]|$)|(^|[^a-z0-9-])example[.](com|net|org)([^a-z0-9-]|$)' "an example host name (RFC 2606)"
marker '0{8}-0{4}-0{4}-0{4}-0{12}' "an all-zero certificate id"
marker 'set-by-deploy' "the image is not set (kustomize edit set image healthcare-api=<repository>@sha256:<digest>)"

# Every container image by digest: a tag can be pushed again elsewhere.
if unpinned=$(grep -nE '^[[:space:]]*image: ' <<<"$out" | grep -vE '@sha256:[0-9a-f]{64}"?[[:space:]]*$'); then
	report "an image is not pinned by digest" "$unpinned"
fi

if [[ $failed -ne 0 ]]; then
	echo "$dir: not deployable: fill in $dir/values.env and set the image (docs/eks.md)" >&2
	exit 1
fi
echo "$dir: no placeholder left"
