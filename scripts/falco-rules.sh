#!/usr/bin/env bash
# falco-rules: prints the Falco rules file of one cluster, the template
# k8s/falco/healthcare-api_rules.yaml with its three network lists filled in
# from the same values the overlay's NetworkPolicies take, so that Falco
# flags what those policies should have dropped, and nothing they allow:
#
#   healthcare_api_dns_servers     the cluster DNS Service's ClusterIP
#                                  (kube-system/kube-dns, read with kubectl,
#                                  or the second argument)
#   healthcare_api_https_networks  staging and prod (any overlay with
#                                  VPC_CIDR): VPC_CIDR, and CDS_EHR_CIDR when
#                                  the overlay uses components/cds-hooks-egress;
#                                  dev: 0.0.0.0/0, as its NetworkPolicy (its
#                                  pods reach AWS's public endpoints)
#   healthcare_api_vpc_resolver    the VPC's Amazon-provided DNS, VPC_CIDR's
#                                  base + 2 (not in dev, which has no
#                                  VPC_CIDR), and 169.254.169.253: Go's
#                                  resolver's UDP route probes (port 53,
#                                  inside the HTTPS list) are allowed, never
#                                  to it
#
# values.env is the one scripts/k8s-values.sh writes from the GitHub
# environment's K8S_VALUES, as for a deploy: nothing here is typed by hand.
# Refuses, printing nothing, a placeholder, a VPC_CIDR that is not a VPC's
# block (/16 to /28: never 10.0.0.0/8 or another RFC 1918 superset), an EHR
# range wider than /16, a CDS_EHR_CIDR without the component or the other
# way round, and a DNS address that is not one IPv4 address.
# k8s/falco_test.go renders each overlay with it; docs/eks.md, "Admission
# and runtime policy", installs the result.
#
# Usage: scripts/falco-rules.sh <overlay directory> [cluster DNS IP] >rules.yaml
set -euo pipefail

dir=${1:?usage: scripts/falco-rules.sh <overlay directory, e.g. k8s/overlays/prod> [cluster DNS IP]}
here=$(dirname "$0")
template=$here/../k8s/falco/healthcare-api_rules.yaml
# shellcheck source=scripts/cidr.sh
. "$here/cidr.sh"

failed=0
fail() {
	echo "$dir: $1" >&2
	failed=1
}

declare -A values=()
while IFS= read -r line || [[ -n $line ]]; do
	[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
	values[${line%%=*}]=${line#*=}
done <"$dir/values.env"

env=$(basename "$dir")
resolver=
if [[ -n ${values[VPC_CIDR]+set} || $env == staging || $env == prod ]]; then
	vpc=${values[VPC_CIDR]-}
	vpc_cidr "$vpc" || fail "values.env: VPC_CIDR=$vpc is not the VPC's IPv4 CIDR, /16 to /28 (write values.env with scripts/k8s-values.sh)"
	https=$vpc
	uses_component=
	if grep -qE '^[[:space:]]*-[[:space:]]*\.\./\.\./components/cds-hooks-egress[[:space:]]*$' "$dir/kustomization.yaml"; then
		uses_component=1
	fi
	if [[ -n ${values[CDS_EHR_CIDR]+set} ]]; then
		ehr=${values[CDS_EHR_CIDR]}
		ehr_cidr "$ehr" || fail "values.env: CDS_EHR_CIDR=$ehr is not the EHR's IPv4 range, /16 or narrower"
		[[ -n $uses_component ]] || fail "values.env has CDS_EHR_CIDR but kustomization.yaml does not use components/cds-hooks-egress: the pods cannot reach it"
		https+=", $ehr"
	elif [[ -n $uses_component ]]; then
		fail "kustomization.yaml uses components/cds-hooks-egress but values.env has no CDS_EHR_CIDR"
	fi
	# The VPC's resolver, its base address plus two (the Amazon-provided
	# DNS): healthcare_api_route_probe never allows UDP 53 to it.
	if vpc_cidr "$vpc"; then
		IFS=./ read -r a b c d n <<<"$vpc"
		base=$(((a << 24 | b << 16 | c << 8 | d) & (0xffffffff << (32 - n)) & 0xffffffff))
		r=$((base + 2))
		resolver="$((r >> 24 & 255)).$((r >> 16 & 255)).$((r >> 8 & 255)).$((r & 255)), "
	fi
else
	https=0.0.0.0/0
fi
# The link-local address of the same resolver, in every VPC (dev included,
# whose VPC_CIDR is not in its values.env).
resolver+=169.254.169.253

dns=${2-}
if [[ -z $dns ]]; then
	dns=$(kubectl -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}') ||
		fail "cannot read the cluster DNS Service (kubectl -n kube-system get service kube-dns): is kubectl's context this environment's cluster?"
fi
ipv4 "$dns" || fail "the cluster DNS address '$dns' is not one IPv4 address"

if [[ $failed -ne 0 ]]; then
	echo "$dir: no Falco rules written" >&2
	exit 1
fi

# The template's three placeholder lines, each right after its list's
# name, each exactly once: a list written into the template by hand is
# refused.
if ! out=$(awk -v dns="$dns" -v https="$https" -v resolver="$resolver" '
	function items(values, n, a, i, s) {
		n = split(values, a, ", "); s = "  items: ["
		for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") "\"" a[i] "\""
		return s "]"
	}
	$0 == "  items: [REPLACE_ME]" && prev == "- list: healthcare_api_dns_servers" { $0 = items(dns); d++ }
	$0 == "  items: [REPLACE_ME]" && prev == "- list: healthcare_api_https_networks" { $0 = items(https); h++ }
	$0 == "  items: [REPLACE_ME]" && prev == "- list: healthcare_api_vpc_resolver" { $0 = items(resolver); r++ }
	{ print; prev = $0 }
	END { exit !(d == 1 && h == 1 && r == 1) }
' "$template") || grep -q REPLACE_ME <<<"$out"; then
	echo "$template: the lists healthcare_api_dns_servers, healthcare_api_https_networks and healthcare_api_vpc_resolver must each say items: [REPLACE_ME] once, and nothing else REPLACE_ME: no Falco rules written" >&2
	exit 1
fi
printf '# Rendered by scripts/falco-rules.sh %s from its values.env and the\n# cluster DNS Service; never edit, render again.\n%s\n' "$dir" "$out"
