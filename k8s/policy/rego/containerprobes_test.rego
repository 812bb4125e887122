# Rego unit tests of templates/containerprobes.yaml.
package containerprobes_test

import data.containerprobes

review(c) := {"review": {"object": {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [c], "initContainers": [{"name": "init"}]}}}}}}

# An init container needs none.
test_both if {
	c := {"name": "api", "livenessProbe": {"httpGet": {"path": "/health/live"}}, "readinessProbe": {"httpGet": {"path": "/health/ready"}}}
	count(containerprobes.violation) == 0 with input as review(c)
}

test_none if {
	containerprobes.violation == {{"msg": "container api: no livenessProbe"}, {"msg": "container api: no readinessProbe"}} with input as review({"name": "api"})
}
