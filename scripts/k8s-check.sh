#!/usr/bin/env bash
# k8s-check: refuses to deploy a kustomize overlay that still holds a
# placeholder or a value of the wrong shape. Checks each key of the
# overlay's values.env against what it must be (an ARN of the right
# service, region and account, a CIDR, a DNS name), then renders the overlay
# the way `kubectl apply -k` would and fails, naming each line, on any
# marker below, on an image that is not pinned by digest, and on a jti
# table whose DynamoDB endpoint (read from the rendered ConfigMap, however
# the overlay set it) is missing, not the VPC endpoint, or not values.env's. The deploy
# workflow runs it (make k8s-check ENV=<env>) after writing values.env and
# setting the image, before kubectl apply; k8s/guard_test.go proves that
# each check trips it.
#
# Usage: scripts/k8s-check.sh <kustomize directory>
set -euo pipefail

dir=${1:?usage: scripts/k8s-check.sh <kustomize directory, e.g. k8s/overlays/prod>}
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

# values.env, key by key. The overlay's directory name is the environment
# (infra/edge.yaml names the web ACL healthcare-api-<env>).
env=$(basename "$dir")
declare -A values=()
keys=()
while IFS= read -r line || [[ -n $line ]]; do
	[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
	keys+=("${line%%=*}")
	values[${line%%=*}]=${line#*=}
done <"$dir/values.env"

# bad <key> <what it must be>
bad() {
	report "values.env: $1 is not $2" "$1=${values[$1]-}"
}

# cidr, vpc_cidr, ehr_cidr: the CIDR shapes, shared with scripts/falco-rules.sh.
# shellcheck source=scripts/cidr.sh
. "$(dirname "$0")/cidr.sh"

region=${values[AWS_REGION]-}
account=
# arn <key> <service> <region or ""> <resource regexp>: an ARN of that
# service, in the cluster's region (IAM: none), in the same account as the
# other ARNs.
arn() {
	local v=${values[$1]} re="^arn:aws(-[a-z]+)*:$2:$3:([0-9]{12}):$4\$"
	if [[ ! $v =~ $re ]]; then
		bad "$1" "an ARN arn:aws:$2:$3:<account>:$4"
		return
	fi
	if [[ -z $account ]]; then
		account=${BASH_REMATCH[2]}
	elif [[ ${BASH_REMATCH[2]} != "$account" ]]; then
		bad "$1" "in the account $account of the other ARNs"
	fi
}

if [[ ! $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]]; then
	bad AWS_REGION "an AWS region (eu-west-1)"
	region='[a-z0-9-]+'
fi

# vpce <url>: infra/vpc-endpoints.yaml output DynamoDbEndpointUrl, the
# DynamoDB interface endpoint's Regional DNS name in this region
# (DynamoDB's PrivateLink has no private DNS; the public dynamodb.<region>
# name leads outside the VPC, where the egress policy refuses it).
vpce() {
	[[ $1 =~ ^https://vpce-[0-9a-f]+-[a-z0-9]+\.dynamodb\.${region}\.vpce\.amazonaws\.com(\.cn)?$ ]]
}
vpce_form="the DynamoDB interface endpoint's URL https://vpce-<id>-<suffix>.dynamodb.${region}.vpce.amazonaws.com (infra/vpc-endpoints.yaml output DynamoDbEndpointUrl)"
for key in "${keys[@]}"; do
	v=${values[$key]}
	case $key in
	AWS_REGION) ;;
	API_KEYS_SECRET_ID) arn "$key" secretsmanager "$region" 'secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}' ;;
	WORKLOAD_ROLE_ARN) arn "$key" iam "" 'role/[A-Za-z0-9/_+=,.@-]+' ;;
	CERTIFICATE_ARN) arn "$key" acm "$region" 'certificate/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' ;;
	WAF_WEB_ACL_ARN) arn "$key" wafv2 "$region" "regional/webacl/healthcare-api-$env/[0-9a-f-]{36}" ;;
	HOST)
		# A DNS name of two labels or more, lower case (the markers below
		# refuse the reserved and example names).
		if [[ ! $v =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; then
			bad "$key" "a lower-case DNS name (api.clinic.org)"
		fi
		;;
	ACCESS_LOG_BUCKET)
		if [[ ! $v =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]]; then
			bad "$key" "an S3 bucket name"
		fi
		;;
	ALB_SUBNET_CIDR_[ABC])
		cidr "$v" || bad "$key" "an IPv4 CIDR (10.20.0.0/22)"
		;;
	VPC_CIDR)
		vpc_cidr "$v" || bad "$key" "the VPC's IPv4 CIDR, /16 to /28 (10.20.0.0/16)"
		;;
	CDS_EHR_CIDR)
		ehr_cidr "$v" || bad "$key" "the EHR's IPv4 range, /16 or narrower (203.0.113.0/24)"
		;;
	DYNAMODB_ENDPOINT_URL)
		vpce "$v" || bad "$key" "$vpce_form"
		;;
	*) report "values.env: $key is not a key the guard knows (add its check to scripts/k8s-check.sh)" "$key=$v" ;;
	esac
done

out=$(kubectl kustomize "$dir")
marker 'REPLACE_ME' "a value in values.env is not filled in (REPLACE_ME)"
marker '(^|[^0-9])(111122223333|123456789012)([^0-9]|$)' "an AWS documentation example account id"
# RFC 2606 and RFC 6761: the reserved TLDs and the example domains.
marker '[.](example|test|localhost|invalid)([^a-z0-9-]|$)|(^|[^a-z0-9-])example[.](com|net|org)([^a-z0-9-]|$)' "an example host name (RFC 2606, RFC 6761)"
marker '0{8}-0{4}-0{4}-0{4}-0{12}' "an all-zero certificate id"
marker 'set-by-deploy' "the image is not set (kustomize edit set image healthcare-api=<repository>@sha256:<digest>)"

# rendered <key>: the value of key in the rendered ConfigMap's data, its
# quotes removed (kustomize quotes a value that YAML would read as a number
# or a boolean: CDS_HOOKS_REPLAY_TABLE: "123456"); nothing when absent.
# Environment variable names appear elsewhere only as "- name: KEY".
rendered() {
	local line v
	line=$(grep -m1 -E "^[[:space:]]+$1:" <<<"$out") || return 0
	v=${line#*:}
	v=${v#"${v%%[![:space:]]*}"}
	v=${v%"${v##*[![:space:]]}"}
	if [[ $v =~ ^\"(.*)\"$ || $v =~ ^\'(.*)\'$ ]]; then
		v=${BASH_REMATCH[1]}
	fi
	printf '%s' "$v"
}
table=$(rendered CDS_HOOKS_REPLAY_TABLE)
endpoint=$(rendered AWS_ENDPOINT_URL_DYNAMODB)
endpoint_line() { grep -nE '^[[:space:]]+AWS_ENDPOINT_URL_DYNAMODB:' <<<"$out"; }

# The jti table in an overlay whose egress stops at the VPC (VPC_CIDR; every
# staging and prod overlay): the pods reach DynamoDB only through its
# interface endpoint, by name (docs/eks.md, "CDS Hooks: the shared jti
# table"). Without it, or with any other URL (the public
# dynamodb.<region>.amazonaws.com written as a literal), every client JWT
# is refused.
strict=
if [[ -n ${values[VPC_CIDR]-} || $env == staging || $env == prod ]]; then
	strict=1
fi
if [[ -n $strict && -n $table && -z $endpoint ]]; then
	report "CDS_HOOKS_REPLAY_TABLE is set but the pods have no AWS_ENDPOINT_URL_DYNAMODB: set DYNAMODB_ENDPOINT_URL in values.env and its replacement (docs/eks.md)" \
		"$(grep -nE '^[[:space:]]+CDS_HOOKS_REPLAY_TABLE:' <<<"$out")"
fi
if [[ -n $strict && -n $endpoint ]] && ! vpce "$endpoint"; then
	report "the ConfigMap's AWS_ENDPOINT_URL_DYNAMODB is not $vpce_form" "$(endpoint_line)"
fi
# The pods call what values.env names, never a literal left in the overlay.
if [[ -n ${values[DYNAMODB_ENDPOINT_URL]-} && $endpoint != "${values[DYNAMODB_ENDPOINT_URL]}" ]]; then
	report "the ConfigMap's AWS_ENDPOINT_URL_DYNAMODB is not DYNAMODB_ENDPOINT_URL of values.env (${values[DYNAMODB_ENDPOINT_URL]}): replace it from values.env (docs/eks.md)" \
		"$(endpoint_line || echo "AWS_ENDPOINT_URL_DYNAMODB: (absent)")"
fi

# Every container image by digest: a tag can be pushed again elsewhere.
if unpinned=$(grep -nE '^[[:space:]]*image: ' <<<"$out" | grep -vE '@sha256:[0-9a-f]{64}"?[[:space:]]*$'); then
	report "an image is not pinned by digest" "$unpinned"
fi

if [[ $failed -ne 0 ]]; then
	echo "$dir: not deployable: write $dir/values.env from K8S_VALUES (scripts/k8s-values.sh) and set the image (docs/eks.md)" >&2
	exit 1
fi
echo "$dir: no placeholder left"
