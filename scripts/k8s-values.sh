#!/usr/bin/env bash
# k8s-values: writes an overlay's values.env from the environment variable
# K8S_VALUES, which the deploy workflow fills from the GitHub environment's
# variable of the same name (the whole file: KEY=value lines). The committed
# values.env stays a template of REPLACE_ME: it says which keys the overlay
# takes, and this writes exactly those, in its order, each from K8S_VALUES.
# A key of the template that K8S_VALUES lacks (or holds twice) fails; a key
# K8S_VALUES has beyond the template is left out with a warning (an older
# commit's overlay, for a rollback, takes fewer). The values are plain
# data, never secrets; scripts/k8s-check.sh then checks their shape.
#
# Usage: K8S_VALUES="$(cat values)" scripts/k8s-values.sh <overlay directory>
set -euo pipefail

dir=${1:?usage: K8S_VALUES=... scripts/k8s-values.sh <overlay directory, e.g. k8s/overlays/prod>}
file=$dir/values.env
if [[ -z "${K8S_VALUES:-}" ]]; then
	echo "::error::K8S_VALUES is empty: set the GitHub environment's variable K8S_VALUES to the filled-in $file (docs/cicd.md)" >&2
	exit 1
fi

# keys <text>: the KEY of each KEY=value line, comments and blanks skipped.
keys() {
	sed -nE 's/^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=.*$/\1/p' <<<"$1"
}

declare -A given=()
failed=0
n=0
while IFS= read -r line; do
	n=$((n + 1))
	[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
	if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
		echo "::error::K8S_VALUES line $n is not KEY=value" >&2
		failed=1
		continue
	fi
	if [[ -v given[${BASH_REMATCH[1]}] ]]; then
		echo "::error::K8S_VALUES sets ${BASH_REMATCH[1]} twice" >&2
		failed=1
	fi
	given[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]%$'\r'}
done <<<"$K8S_VALUES"

out=
declare -A want=()
while IFS= read -r key; do
	want[$key]=1
	if [[ ! -v given[$key] ]]; then
		echo "::error::K8S_VALUES has no $key, which $file takes" >&2
		failed=1
		continue
	fi
	out+="$key=${given[$key]}"$'\n'
done < <(keys "$(cat "$file")")
for key in "${!given[@]}"; do
	if [[ ! -v want[$key] ]]; then
		echo "::warning::K8S_VALUES has $key, which $file does not take: left out" >&2
	fi
done
if [[ $failed -ne 0 ]]; then
	exit 1
fi
printf '%s' "$out" >"$file"
echo "$file: $(wc -l <"$file") values written from K8S_VALUES"
