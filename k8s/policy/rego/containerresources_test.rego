# Rego unit tests of templates/containerresources.yaml.
package containerresources_test

import data.containerresources

review(c) := {"review": {"object": {"kind": "Pod", "spec": {"containers": [c]}}}}

test_none if {
	count(containerresources.violation) == 4 with input as review({"name": "api"})
}

test_all if {
	c := {"name": "api", "resources": {"requests": {"cpu": "250m", "memory": "96Mi"}, "limits": {"cpu": "1", "memory": "96Mi"}}}
	count(containerresources.violation) == 0 with input as review(c)
}

test_cpu_request_missing if {
	c := {"name": "api", "resources": {"requests": {"memory": "96Mi"}, "limits": {"cpu": "1", "memory": "96Mi"}}}
	containerresources.violation == {{"msg": "container api: no requests.cpu"}} with input as review(c)
}
