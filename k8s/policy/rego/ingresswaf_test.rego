# Rego unit tests of templates/ingresswaf.yaml.
package ingresswaf_test

import data.ingresswaf

review(annotations) := {"review": {"object": {"kind": "Ingress", "metadata": {"name": "api", "annotations": annotations}}}}

scheme := "alb.ingress.kubernetes.io/scheme"

acl := "alb.ingress.kubernetes.io/wafv2-acl-arn"

test_placeholder_is_no_acl if {
	count(ingresswaf.violation) == 1 with input as review({scheme: "internet-facing", acl: "REPLACE_ME"})
}

# A WAF Classic (waf-regional) ACL id is not a WAFv2 ARN.
test_classic_waf_is_not_v2 if {
	count(ingresswaf.violation) == 1 with input as review({scheme: "internet-facing", acl: "arn:aws:waf-regional:eu-west-1:345678901234:webacl/abc"})
}

test_no_annotations if {
	count(ingresswaf.violation) == 0 with input as {"review": {"object": {"kind": "Ingress", "metadata": {"name": "api"}}}}
}

test_v2_acl if {
	arn := "arn:aws:wafv2:eu-west-1:345678901234:regional/webacl/healthcare-api-prod/a1b2c3d4-5678-40ab-8def-1234567890ab"
	count(ingresswaf.violation) == 0 with input as review({scheme: "internet-facing", acl: arn})
}
