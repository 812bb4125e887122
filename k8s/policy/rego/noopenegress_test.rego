# Rego unit tests of templates/noopenegress.yaml.
package noopenegress_test

import data.noopenegress

review(egress) := {"review": {"object": {"kind": "NetworkPolicy", "metadata": {"name": "np"}, "spec": {"egress": egress}}}}

test_ipv6_anywhere if {
	noopenegress.violation == {{"msg": "NetworkPolicy np: egress rule 0 allows ::/0"}} with input as review([{"to": [{"ipBlock": {"cidr": "::/0"}}]}])
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
