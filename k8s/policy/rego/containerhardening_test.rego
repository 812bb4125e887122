# Rego unit tests of templates/containerhardening.yaml.
package containerhardening_test

import data.containerhardening

hardened := {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}

review(spec) := {"review": {"object": {"kind": "Pod", "spec": spec}}}

# runAsNonRoot on the pod covers a container that does not set it.
test_pod_level_non_root if {
	spec := {"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "api", "securityContext": hardened}]}
	count(containerhardening.violation) == 0 with input as review(spec)
}

# The container's false overrides the pod's true.
test_container_overrides_pod if {
	sc := object.union(hardened, {"runAsNonRoot": false})
	spec := {"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "api", "securityContext": sc}]}
	containerhardening.violation == {{"msg": "container api: runAsNonRoot is not true"}} with input as review(spec)
}

# No securityContext at all breaks every rule.
test_bare_container if {
	count(containerhardening.violation) == 4 with input as review({"containers": [{"name": "api"}]})
}

test_added_capability if {
	sc := object.union(hardened, {"runAsNonRoot": true, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})
	containerhardening.violation == {{"msg": "container api: adds capabilities [\"NET_BIND_SERVICE\"]"}} with input as review({"containers": [{"name": "api", "securityContext": sc}]})
}
