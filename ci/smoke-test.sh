#!/usr/bin/env bash
# Smoke test of a deployed API (SAM or EKS), run by .github/workflows/deploy.yml:
# GET /health must answer 200 with status "ok"; one authenticated
# POST /predict must return the published ascvd-pce result; GET /cds-services
# must list the CDS Hooks services, and a hook call without credentials must
# be refused with a 401 problem (whether the CDS routes take client JWTs or
# API keys, a call with neither is refused); GET /docs must carry its
# Content-Security-Policy, and the Swagger UI bundle must arrive whole (the
# same bytes as internal/docs/swagger-ui/swagger-ui-bundle.js, or
# SMOKE_DOCS_BUNDLE).
#
#   SMOKE_API_KEY=... ci/smoke-test.sh https://api.example.org/dev
#   SMOKE_API_KEY=... SMOKE_CONNECT_TO=api.example.org:443:<alb dns name>:443 \
#     ci/smoke-test.sh https://api.example.org
#
# The key is passed to curl on a file descriptor, never on its command line,
# and nothing of a response but the fields checked is printed.
set -euo pipefail

base=${1:?usage: ci/smoke-test.sh BASE_URL}
base=${base%/}
if [[ -z "${SMOKE_API_KEY:-}" ]]; then
	echo "SMOKE_API_KEY is not set" >&2
	exit 2
fi

# New pods and a freshly published Lambda alias can take a moment.
curl_opts=(--silent --show-error --max-time 10 --retry "${SMOKE_RETRIES:-6}" --retry-delay 5 --retry-all-errors)
# SMOKE_CONNECT_TO=HOST:443:ALB:443 (curl --connect-to): connect to the
# ALB while the URL, SNI, Host header and certificate check keep the API's
# own name, which DNS may not point at the ALB yet (a first deploy).
if [[ -n "${SMOKE_CONNECT_TO:-}" ]]; then
	curl_opts+=(--connect-to "$SMOKE_CONNECT_TO")
fi

echo "GET ${base}/health"
health=$(curl "${curl_opts[@]}" --fail "${base}/health")
if ! jq -e '.status == "ok"' >/dev/null <<<"$health"; then
	echo "::error::GET /health: status is $(jq -r '.status' <<<"$health"), want ok" >&2
	exit 1
fi

# ACC/AHA 2013 Pooled Cohort Equations, worked example of the guideline
# (Goff et al. 2013, Table A): a 55-year-old white woman, total cholesterol
# 213 mg/dL, HDL 50 mg/dL, untreated systolic 120 mmHg, no diabetes,
# non-smoker: 10-year risk 2.1 %. Synthetic values, not a patient.
body='{"model":"ascvd-pce","inputs":{"age":55,"sex":"female","race":"white","total_cholesterol":213,"hdl_cholesterol":50,"systolic_bp":120,"on_bp_treatment":false,"diabetes":false,"current_smoker":false}}'

echo "POST ${base}/predict (ascvd-pce)"
prediction=$(curl "${curl_opts[@]}" --fail-with-body \
	-H 'Content-Type: application/json' \
	-H @<(printf 'X-API-Key: %s\n' "$SMOKE_API_KEY") \
	--data "$body" "${base}/predict") || {
	echo "::error::POST /predict failed: $(jq -c '{status, title}' <<<"${prediction:-}" 2>/dev/null || true)" >&2
	exit 1
}
if ! jq -e '.model.id == "ascvd-pce" and .result.unit == "%" and .result.value > 2.0 and .result.value < 2.2' >/dev/null <<<"$prediction"; then
	echo "::error::POST /predict: got $(jq -c '{model: .model.id, result: .result}' <<<"$prediction"), want ascvd-pce about 2.1 %" >&2
	exit 1
fi
echo "ok: $(jq -c '{model: .model.id, value: .result.value, category: .result.category}' <<<"$prediction")"

echo "GET ${base}/cds-services"
discovery=$(curl "${curl_opts[@]}" --fail "${base}/cds-services")
if ! jq -e '(.services | type == "array" and length > 0) and any(.services[]; .id == "ascvd-pce" and .hook == "patient-view")' >/dev/null <<<"$discovery"; then
	echo "::error::GET /cds-services: no services list with ascvd-pce (patient-view)" >&2
	exit 1
fi

# A synthetic hook call (no patient): without a token it must never reach
# the model. No --fail: the 401 is the expected answer.
hook='{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/smoke","patientId":"smoke-test"}}'
echo "POST ${base}/cds-services/ascvd-pce without credentials"
refused=$(curl "${curl_opts[@]}" -H 'Content-Type: application/json' --data "$hook" \
	--write-out '\n%{http_code} %{content_type}' "${base}/cds-services/ascvd-pce")
status_line=${refused##*$'\n'}
refused=${refused%$'\n'*}
if [[ "$status_line" != "401 application/problem+json"* ]] || ! jq -e '.status == 401' >/dev/null <<<"$refused"; then
	echo "::error::POST /cds-services/ascvd-pce without credentials: got ${status_line}, want 401 application/problem+json" >&2
	exit 1
fi

echo "GET ${base}/docs"
headers=$(curl "${curl_opts[@]}" --fail --output /dev/null --dump-header - "${base}/docs")
if ! grep -qi '^content-security-policy: .*default-src' <<<"$headers"; then
	echo "::error::GET /docs: no Content-Security-Policy header" >&2
	exit 1
fi

bundle=${SMOKE_DOCS_BUNDLE:-$(dirname "$0")/../internal/docs/swagger-ui/swagger-ui-bundle.js}
echo "GET ${base}/docs/swagger-ui-bundle.js"
got=$(mktemp)
trap 'rm -f "$got"' EXIT
curl "${curl_opts[@]}" --max-time 30 --fail --output "$got" "${base}/docs/swagger-ui-bundle.js"
if [[ "$(sha256sum <"$got")" != "$(sha256sum <"$bundle")" ]]; then
	echo "::error::GET /docs/swagger-ui-bundle.js: $(wc -c <"$got") bytes, not the $(wc -c <"$bundle") bytes of $bundle" >&2
	exit 1
fi
echo "ok: CDS Hooks discovery, CDS call refused without credentials, /docs with CSP, bundle $(wc -c <"$got") bytes"
