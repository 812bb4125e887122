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
# way round, a DNS address that is not one IPv4 address, an overlay that
# is neither production-shaped (components/production or VPC_CIDR) nor
# named dev, and, reading the cluster through KUBE_CONTEXT (kubectl's
# current context is never used; the context and its API server go to
# stderr), a node whose InternalIP is outside VPC_CIDR and a cluster
# without kube-proxy (unless SOCKETLB_HOST_NAMESPACE_ONLY=true says that
# Cilium's socketLB.hostNamespaceOnly keeps the ClusterIP visible).
# k8s/falco_test.go renders each overlay with it; docs/eks.md, "Admission
# and runtime policy", installs the result.
#
# Usage: KUBE_CONTEXT=<context> scripts/falco-rules.sh <overlay directory> [cluster DNS IP] >rules.yaml
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

# Strict (staging, prod and any copy of them, whatever its name): the
# overlay uses components/production or sets VPC_CIDR. Dev: named dev and
# neither. Anything else is refused, never given dev's 0.0.0.0/0.
resolver=
if grep -qE '^[[:space:]]*-[[:space:]]*\.\./\.\./components/production[[:space:]]*$' "$dir/kustomization.yaml" ||
	[[ -n ${values[VPC_CIDR]+set} ]]; then
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
		resolver="$(int_ipv4 $(($(ipv4_int "${vpc%/*}") + 2))), "
	fi
elif [[ $(basename "$dir") == dev ]]; then
	vpc=
	https=0.0.0.0/0
else
	fail "kustomization.yaml does not use components/production and values.env has no VPC_CIDR, but the overlay is not dev: refusing to allow HTTPS to 0.0.0.0/0"
	vpc=''
	https=''
fi
# The link-local address of the same resolver, in every VPC (dev included,
# whose VPC_CIDR is not in its values.env).
resolver+=169.254.169.253

# The cluster, read only through the context named in KUBE_CONTEXT (never
# kubectl's current one), and only if it is this overlay's: every node's
# InternalIP inside VPC_CIDR. With a DNS address as the second argument
# and no KUBE_CONTEXT, nothing is read (a render for review or a test).
dns=${2-}
ctx=${KUBE_CONTEXT-}
if [[ -n $ctx ]]; then
	k() { kubectl --context "$ctx" --request-timeout=10s "$@"; }
	server=$(kubectl config view --minify --context "$ctx" -o jsonpath='{.clusters[0].cluster.server}') ||
		fail "kubectl has no context '$ctx'"
	echo "$dir: reading the cluster of kubectl context '$ctx' (API server ${server:-unknown})" >&2
	if [[ -n $vpc ]] && vpc_cidr "$vpc"; then
		if nodes=$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}'); then
			[[ -n $nodes ]] || fail "context '$ctx' lists no nodes: is it this environment's cluster?"
			while read -r node ip; do
				[[ -n $node ]] || continue
				if ! ipv4 "$ip" || ! in_cidr "$ip" "$vpc"; then
					fail "node $node has InternalIP '$ip', outside VPC_CIDR=$vpc: context '$ctx' is not this environment's cluster"
				fi
			done <<<"$nodes"
		else
			fail "cannot list the nodes of context '$ctx'"
		fi
	else
		echo "$dir: no VPC_CIDR: the nodes of context '$ctx' are not checked against it" >&2
	fi
	# healthcare_api_dns_servers holds the kube-dns ClusterIP, which Falco
	# sees only where kube-proxy translates it after connect. Socket-level
	# load balancing (Cilium's or Calico's eBPF, without kube-proxy)
	# rewrites it in connect itself: Falco then sees a CoreDNS pod's address.
	if ! k -n kube-system get daemonset kube-proxy -o name >/dev/null; then
		if [[ ${SOCKETLB_HOST_NAMESPACE_ONLY-} == true ]]; then
			echo "$dir: warning: no kube-system/kube-proxy DaemonSet; relying on SOCKETLB_HOST_NAMESPACE_ONLY=true (Cilium socketLB.hostNamespaceOnly) for Falco to see the kube-dns ClusterIP" >&2
		else
			fail "context '$ctx' has no kube-system/kube-proxy DaemonSet: with eBPF socket load balancing Falco sees CoreDNS pod addresses, not the kube-dns ClusterIP, and every lookup would alert (docs/eks.md, \"Admission and runtime policy\")"
		fi
	fi
	if [[ -z $dns ]]; then
		dns=$(k -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}') ||
			fail "cannot read the cluster DNS Service (kube-system/kube-dns) through context '$ctx'"
	fi
elif [[ -z $dns ]]; then
	fail "set KUBE_CONTEXT to this environment's kubectl context (or give the cluster DNS address as the second argument to render without reading a cluster)"
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
