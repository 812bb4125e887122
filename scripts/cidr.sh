# shellcheck shell=bash
# cidr.sh: the IPv4 shapes the overlays' values.env takes, sourced by
# scripts/k8s-check.sh (the deploy guard) and scripts/falco-rules.sh (the
# Falco rules of the same cluster), so that both refuse the same values.

# cidr <value>: an IPv4 network a.b.c.d/n, n from 8 to 32 (never
# 0.0.0.0/0), written as a network is: decimal octets without leading zeros
# (010 is 8 to some parsers and 10 to others) and no host bits set
# (10.20.1.0/16 is a typo for one network or another).
cidr() {
	local o='(0|[1-9][0-9]{0,2})' i n ip
	[[ $1 =~ ^$o\.$o\.$o\.$o/([1-9][0-9]?)$ ]] || return 1
	for i in 1 2 3 4; do
		((BASH_REMATCH[i] <= 255)) || return 1
	done
	n=${BASH_REMATCH[5]}
	((n >= 8 && n <= 32)) || return 1
	ip=$(ipv4_int "${1%/*}")
	((ip & ~(0xffffffff << (32 - n)) & 0xffffffff)) && return 1
	return 0
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

# ipv4 <value>: one IPv4 address a.b.c.d of a host: never 0.0.0.0 (any)
# nor 255.255.255.255 (broadcast).
ipv4() {
	cidr "$1/32" && [[ $1 != 0.0.0.0 && $1 != 255.255.255.255 ]]
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
