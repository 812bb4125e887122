# shellcheck shell=bash
# cidr.sh: the IPv4 shapes the overlays' values.env takes, sourced by
# scripts/k8s-check.sh (the deploy guard) and scripts/falco-rules.sh (the
# Falco rules of the same cluster), so that both refuse the same values.

# cidr <value>: an IPv4 network a.b.c.d/n, n from 8 to 32 (never 0.0.0.0/0).
cidr() {
	local re='^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$' i
	[[ $1 =~ $re ]] || return 1
	for i in 1 2 3 4; do
		((10#${BASH_REMATCH[i]} <= 255)) || return 1
	done
	((10#${BASH_REMATCH[5]} >= 8 && 10#${BASH_REMATCH[5]} <= 32))
}

# vpc_cidr <value>: a VPC's IPv4 block. EC2 takes /16 (the largest) to /28
# (CreateVpc, CidrBlock), so a wider value is not a VPC but a superset of
# it (10.0.0.0/8 holds every peered VPC and transit-gateway range too).
vpc_cidr() {
	cidr "$1" && ((10#${1#*/} >= 16 && 10#${1#*/} <= 28))
}

# ehr_cidr <value>: an EHR's published range (CDS_EHR_CIDR,
# k8s/components/cds-hooks-egress): /16 or narrower, never the internet.
ehr_cidr() {
	cidr "$1" && ((10#${1#*/} >= 16))
}

# ipv4 <value>: one IPv4 address a.b.c.d.
ipv4() {
	cidr "$1/32"
}

# ipv4_int <a.b.c.d>: the address as a 32-bit number.
ipv4_int() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo $((10#$a << 24 | 10#$b << 16 | 10#$c << 8 | 10#$d))
}

# int_ipv4 <number>: the dotted address of a 32-bit number.
int_ipv4() {
	echo "$(($1 >> 24 & 255)).$(($1 >> 16 & 255)).$(($1 >> 8 & 255)).$(($1 & 255))"
}

# in_cidr <address> <a.b.c.d/n>: the address is inside the network.
in_cidr() {
	local n=${2#*/} mask ip net
	mask=$(((0xffffffff << (32 - n)) & 0xffffffff))
	ip=$(ipv4_int "$1")
	net=$(ipv4_int "${2%/*}")
	(((ip & mask) == (net & mask)))
}
