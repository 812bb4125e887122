# Rego unit tests of templates/noopenegress.yaml.
package noopenegress_test

import data.noopenegress

review(egress) := {"review": {"object": {"kind": "NetworkPolicy", "metadata": {"name": "np"}, "spec": {"egress": egress}}}}

test_ipv6_anywhere if {
	noopenegress.violation == {{"msg": "NetworkPolicy np: egress rule 0 allows ::/0 (wider than an AWS VPC: the internet)"}} with input as review([{"to": [{"ipBlock": {"cidr": "::/0"}}]}])
}

test_empty_rule if {
	noopenegress.violation == {{"msg": "NetworkPolicy np: egress rule 0 has no destination (allows every one)"}} with input as review([{}])
}

# A deny-all policy (no egress rules) is fine.
test_deny_all if {
	count(noopenegress.violation) == 0 with input as {"review": {"object": {"kind": "NetworkPolicy", "metadata": {"name": "np"}, "spec": {"policyTypes": ["Egress"]}}}}
}

# 0.0.0.0/0 with an except list still reaches the internet.
test_anywhere_with_except if {
	count(noopenegress.violation) == 1 with input as review([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}])
}

# The internet in two halves: each half is wider than any VPC.
test_two_halves if {
	count(noopenegress.violation) == 2 with input as review([{"to": [{"ipBlock": {"cidr": "0.0.0.0/1"}}, {"ipBlock": {"cidr": "128.0.0.0/1"}}]}])
}

# ::/0 spelt otherwise is still ::/0.
test_ipv6_anywhere_spelt_otherwise if {
	noopenegress.violation == {{"msg": "NetworkPolicy np: egress rule 0 allows 0::/0 (wider than an AWS VPC: the internet)"}} with input as review([{"to": [{"ipBlock": {"cidr": "0::/0"}}]}])
}

# IPv4-mapped IPv6 is every IPv4 address again.
test_ipv4_mapped if {
	count(noopenegress.violation) == 1 with input as review([{"to": [{"ipBlock": {"cidr": "::ffff:0.0.0.0/96"}}]}])
}

# Not a CIDR: refused rather than guessed at.
test_not_a_cidr if {
	count(noopenegress.violation) == 1 with input as review([{"to": [{"ipBlock": {"cidr": "everywhere"}}]}])
}

# The VPC, the widest private range, and a narrow public range (an EHR's) pass.
test_narrow_blocks if {
	count(noopenegress.violation) == 0 with input as review([{"to": [
		{"ipBlock": {"cidr": "10.20.0.0/16"}},
		{"ipBlock": {"cidr": "10.0.0.0/8"}},
		{"ipBlock": {"cidr": "198.51.100.0/24"}},
		{"ipBlock": {"cidr": "2001:db8::/32"}},
	]}])
}
