# Rego unit tests of templates/imagefromrepository.yaml (the test extracts
# each template's Rego next to these and runs opa test).
package imagefromrepository_test

import data.imagefromrepository

repo := "210987654321.dkr.ecr.eu-west-1.amazonaws.com/healthcare-prediction-api"

digest := "@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

review(kind, spec) := {"parameters": {"repositories": [repo]}, "review": {"object": {"kind": kind, "spec": spec}}}

test_digest_passes if {
	count(imagefromrepository.violation) == 0 with input as review("Pod", {"containers": [{"name": "api", "image": concat("", [repo, digest])}]})
}

# The dots of the repository are literal: "210987654321xdkr" is not ours.
test_dots_are_literal if {
	image := concat("", [replace(repo, ".dkr.", "xdkr."), digest])
	count(imagefromrepository.violation) == 1 with input as review("Pod", {"containers": [{"name": "api", "image": image}]})
}

test_tag_and_digest_fails if {
	image := concat("", [repo, ":v1", digest])
	count(imagefromrepository.violation) == 1 with input as review("Pod", {"containers": [{"name": "api", "image": image}]})
}

test_short_digest_fails if {
	count(imagefromrepository.violation) == 1 with input as review("Pod", {"containers": [{"name": "api", "image": concat("", [repo, "@sha256:4f53"])}]})
}

# Init and ephemeral (kubectl debug) containers count too.
test_init_and_ephemeral_containers if {
	spec := {
		"containers": [{"name": "api", "image": concat("", [repo, digest])}],
		"initContainers": [{"name": "init", "image": "busybox"}],
		"ephemeralContainers": [{"name": "debug", "image": "alpine:3"}],
	}
	count(imagefromrepository.violation) == 2 with input as review("Pod", spec)
}

test_cronjob_pod_template if {
	spec := {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "busybox"}]}}}}}
	count(imagefromrepository.violation) == 1 with input as review("CronJob", spec)
}

test_deployment_pod_template if {
	spec := {"template": {"spec": {"containers": [{"name": "api", "image": "busybox"}]}}}
	count(imagefromrepository.violation) == 1 with input as review("Deployment", spec)
}

# With REPLACE_ME (values.env not filled in) nothing passes.
test_placeholder_refuses_everything if {
	inp := {"parameters": {"repositories": ["REPLACE_ME"]}, "review": {"object": {"kind": "Pod", "spec": {"containers": [{"name": "api", "image": concat("", [repo, digest])}]}}}}
	count(imagefromrepository.violation) == 1 with input as inp
}
