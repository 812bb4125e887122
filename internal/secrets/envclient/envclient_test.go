package envclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/healthcare-prediction/api/internal/moto/mototest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The built-in endpoints are the SDK's own: its Secrets Manager resolver
// (endpoint rules of every partition) is the reference, for every
// partition's regions, with and without FIPS and dual-stack.
func TestEndpointsMatchTheSDK(t *testing.T) {
	resolver := secretsmanager.NewDefaultEndpointResolverV2()
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-5", "il-central-1", "us-gov-west-1",
		"cn-north-1", "cn-northwest-1", "eusc-de-east-1", "us-iso-east-1", "us-isob-east-1", "us-isof-south-1", "eu-isoe-west-1"}
	for _, region := range regions {
		for _, fips := range []bool{false, true} {
			for _, dual := range []bool{false, true} {
				want, sdkErr := resolver.ResolveEndpoint(context.Background(), secretsmanager.EndpointParameters{
					Region: aws.String(region), UseFIPS: aws.Bool(fips), UseDualStack: aws.Bool(dual)})
				got, err := resolveEndpoint(env(map[string]string{
					"AWS_USE_FIPS_ENDPOINT": map[bool]string{true: "true"}[fips], "AWS_USE_DUALSTACK_ENDPOINT": map[bool]string{true: "true"}[dual],
				}), region)
				switch {
				case sdkErr != nil && err == nil:
					t.Errorf("%s fips=%v dualstack=%v: %s, but the SDK refuses: %v", region, fips, dual, got, sdkErr)
				case sdkErr == nil && err != nil:
					t.Errorf("%s fips=%v dualstack=%v: %v, but the SDK resolves %s", region, fips, dual, err, want.URI.String())
				case sdkErr == nil && got != want.URI.String():
					t.Errorf("%s fips=%v dualstack=%v: %s, the SDK %s", region, fips, dual, got, want.URI.String())
				}
			}
		}
	}
}

func TestFromEnv(t *testing.T) {
	base := map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name         string
		env          map[string]string
		endpoint     string
		region       string
		attempts     int
		wantErrParts []string
	}{
		{"region's endpoint", base, "https://secretsmanager.eu-central-1.amazonaws.com", "eu-central-1", 2, nil},
		{"AWS_DEFAULT_REGION", with("AWS_REGION", "", "AWS_DEFAULT_REGION", "us-west-2"), "https://secretsmanager.us-west-2.amazonaws.com", "us-west-2", 2, nil},
		{"general endpoint variable", with("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"), "http://127.0.0.1:1", "eu-central-1", 2, nil},
		{"service endpoint variable wins", with("AWS_ENDPOINT_URL", "http://127.0.0.1:1", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:2"), "http://127.0.0.1:2", "eu-central-1", 2, nil},
		{"endpoint variables ignored", with("AWS_ENDPOINT_URL", "http://127.0.0.1:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"), "https://secretsmanager.eu-central-1.amazonaws.com", "eu-central-1", 2, nil},
		{"AWS_MAX_ATTEMPTS", with("AWS_MAX_ATTEMPTS", "5"), "https://secretsmanager.eu-central-1.amazonaws.com", "eu-central-1", 5, nil},
		{"nothing set", map[string]string{}, "", "", 0, []string{"AWS_REGION", "AWS_ACCESS_KEY_ID"}},
		{"no secret key", with("AWS_SECRET_ACCESS_KEY", ""), "", "", 0, []string{"AWS_SECRET_ACCESS_KEY"}},
		{"AWS_MAX_ATTEMPTS=0 is the default", with("AWS_MAX_ATTEMPTS", "0"), "https://secretsmanager.eu-central-1.amazonaws.com", "eu-central-1", 2, nil},
		{"bad attempts", with("AWS_MAX_ATTEMPTS", "-1"), "", "", 0, []string{"AWS_MAX_ATTEMPTS"}},
		{"booleans in any case", with("AWS_USE_FIPS_ENDPOINT", "TRUE", "AWS_USE_DUALSTACK_ENDPOINT", "False"), "https://secretsmanager-fips.eu-central-1.amazonaws.com", "eu-central-1", 2, nil},
		{"a boolean that is neither", with("AWS_USE_FIPS_ENDPOINT", "yes"), "", "", 0, []string{"AWS_USE_FIPS_ENDPOINT must be true or false"}},
		{"FIPS with an endpoint URL", with("AWS_USE_FIPS_ENDPOINT", "true", "AWS_ENDPOINT_URL", "http://127.0.0.1:1"), "", "", 0, []string{"cannot be combined"}},
		{"endpoint without scheme", with("AWS_ENDPOINT_URL", "localhost:4566"), "", "", 0, []string{"https://"}},
		{"region that is no name", with("AWS_REGION", "eu-west-1.evil.example/"), "", "", 0, []string{"AWS_REGION"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(env(tc.env))
			if tc.wantErrParts != nil {
				if err == nil {
					t.Fatalf("FromEnv accepted it: endpoint %s", c.endpoint)
				}
				for _, part := range tc.wantErrParts {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not mention %s", err, part)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.endpoint != tc.endpoint || c.region != tc.region || c.maxAttempts != tc.attempts {
				t.Errorf("endpoint %s, region %s, attempts %d; want %s, %s, %d", c.endpoint, c.region, c.maxAttempts, tc.endpoint, tc.region, tc.attempts)
			}
		})
	}
}

// fakeSecretsManager answers with the next of answers per call, after
// checking the request is a signed awsJson1_1 GetSecretValue.
type fakeSecretsManager struct {
	t       *testing.T
	answers []func(http.ResponseWriter)
	calls   atomic.Int32
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.calls.Add(1)) - 1
	body, _ := io.ReadAll(r.Body)
	var in struct{ SecretId, VersionStage string }
	auth := r.Header.Get("Authorization")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		f.t.Errorf("request %s %s, want POST /", r.Method, r.URL.Path)
	case r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		f.t.Errorf("headers %v: not an awsJson1_1 GetSecretValue", r.Header)
	case !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(auth, "/eu-central-1/secretsmanager/aws4_request") ||
		!strings.Contains(auth, "x-amz-target") || !strings.Contains(auth, "x-amz-security-token"):
		f.t.Errorf("Authorization %q: not signed for secretsmanager in eu-central-1 with the target and session token", auth)
	case r.Header.Get("X-Amz-Security-Token") != "session":
		f.t.Errorf("X-Amz-Security-Token %q, want the session token", r.Header.Get("X-Amz-Security-Token"))
	case json.Unmarshal(body, &in) != nil || in.SecretId != "prod/keys" || in.VersionStage != "AWSPREVIOUS":
		f.t.Errorf("body %s", body)
	}
	if n >= len(f.answers) {
		f.t.Errorf("call %d: no answer left", n+1)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	f.answers[n](w)
}

func answer(status int, header, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if header != "" {
			w.Header().Set("X-Amzn-ErrorType", header)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// Answers as Secrets Manager gives them (awsJson1_1 error shapes), and
// which of them are tried again.
func TestAnswers(t *testing.T) {
	ok := answer(200, "", `{"ARN":"arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/keys-AbCdEf","Name":"prod/keys","SecretString":"{\"keys\":[]}","VersionStages":["AWSPREVIOUS"]}`)
	for _, tc := range []struct {
		name     string
		answers  []func(http.ResponseWriter)
		attempts string
		want     string
		wantErr  *APIError
		other    bool // an error that is no APIError
	}{
		{"success", []func(http.ResponseWriter){ok}, "", `{"keys":[]}`, nil, false},
		{"not found: not tried again", []func(http.ResponseWriter){answer(400, "", `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)}, "",
			"", &APIError{400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."}, false},
		{"code field, message cut at its first line", []func(http.ResponseWriter){answer(400, "", `{"code":"InvalidSignatureException","message":"The request signature we calculated does not match.\n\nThe Canonical String for this request should have been\n'x-amz-security-token:SESSION'"}`)}, "",
			"", &APIError{400, "InvalidSignatureException", "The request signature we calculated does not match."}, false},
		{"a redirect is not followed", []func(http.ResponseWriter){func(w http.ResponseWriter) {
			w.Header().Set("Location", "http://elsewhere.invalid/")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}}, "", "", &APIError{307, "HTTP307", ""}, false},
		{"501 is not tried again", []func(http.ResponseWriter){answer(501, "", ``)}, "", "", &APIError{501, "HTTP501", ""}, false},
		{"capital Message, namespaced type", []func(http.ResponseWriter){answer(400, "", `{"__type":"com.amazonaws.secretsmanager#AccessDeniedException","Message":"not authorized"}`)}, "",
			"", &APIError{400, "AccessDeniedException", "not authorized"}, false},
		{"error type header wins, URI dropped", []func(http.ResponseWriter){answer(400, "DecryptionFailure:http://internal.amazon.com/coral/com.amazonaws.secretsmanager/", `{"__type":"Other","message":"KMS key is disabled"}`)}, "",
			"", &APIError{400, "DecryptionFailure", "KMS key is disabled"}, false},
		{"5xx then success", []func(http.ResponseWriter){answer(500, "", `{"__type":"InternalServiceError","message":"oops"}`), ok}, "", `{"keys":[]}`, nil, false},
		{"throttled then success", []func(http.ResponseWriter){answer(400, "", `{"__type":"ThrottlingException","message":"Rate exceeded"}`), ok}, "", `{"keys":[]}`, nil, false},
		{"5xx twice: two attempts", []func(http.ResponseWriter){answer(503, "", `<html>busy</html>`), answer(502, "", `<html>bad gateway</html>`)}, "",
			"", &APIError{502, "HTTP502", ""}, false},
		{"one attempt when told", []func(http.ResponseWriter){answer(500, "", `{"__type":"InternalServiceError","message":"oops"}`)}, "1",
			"", &APIError{500, "InternalServiceError", "oops"}, false},
		{"control bytes and length bounded", []func(http.ResponseWriter){answer(400, "", `{"__type":"Bad\nCode","message":"`+strings.Repeat("x", 300)+`\u001b[31m"}`)}, "",
			"", &APIError{400, "BadCode", strings.Repeat("x", 256)}, false},
		{"binary secret", []func(http.ResponseWriter){answer(200, "", `{"Name":"prod/keys","SecretBinary":"AAEC"}`)}, "", "", nil, true},
		{"not JSON", []func(http.ResponseWriter){answer(200, "", `{"SecretString":"{\"keys\":[{\"id\":\"a\",\"sha256\":\"0123`)}, "", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeSecretsManager{t: t, answers: tc.answers}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			c, err := FromEnv(env(map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
				"AWS_SESSION_TOKEN": "session", "AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL, "AWS_MAX_ATTEMPTS": tc.attempts}))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.SecretString(t.Context(), "prod/keys", "AWSPREVIOUS")
			if calls := int(fake.calls.Load()); calls != len(tc.answers) {
				t.Errorf("%d calls, want %d", calls, len(tc.answers))
			}
			var api *APIError
			switch {
			case tc.wantErr != nil:
				if !errors.As(err, &api) || *api != *tc.wantErr {
					t.Errorf("error %#v, want %#v", err, tc.wantErr)
				}
			case tc.other:
				if err == nil || errors.As(err, &api) {
					t.Errorf("error %v, want one that is no APIError", err)
				} else if strings.Contains(err.Error(), "0123") || strings.Contains(err.Error(), "AAEC") {
					t.Errorf("error %q quotes the response", err)
				}
			case err != nil || got != tc.want:
				t.Errorf("SecretString = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// Retries wait between attempts and never outlive the caller's deadline.
func TestRetryStopsAtTheDeadline(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, err := FromEnv(env(map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_ENDPOINT_URL": srv.URL, "AWS_MAX_ATTEMPTS": "1000"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.SecretString(ctx, "prod/keys", "AWSCURRENT")
	took := time.Since(start)
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("error %v, want the last 503", err)
	}
	// Full jitter over 50 ms doubling: at most 50+100+200 ms in 3 waits.
	if n := calls.Load(); n < 2 || n > 100 {
		t.Errorf("%d attempts in 300 ms, want a few (it must retry, and wait between attempts)", n)
	}
	if took > 450*time.Millisecond {
		t.Errorf("returned after %v, want at the 300 ms deadline", took)
	}
}

// Against moto_server with authentication on, which recomputes each
// request's SigV4 signature from the IAM user's secret key and checks the
// user's policy: the signed request is accepted, and refused with a wrong
// secret key or an unknown key id.
func TestMotoChecksTheSignature(t *testing.T) {
	srv := mototest.Start(t)
	id, secret := srv.IAMUser("predict-function")
	srv.PutSecret("prod/api-keys", `{"keys":[]}`)
	srv.EnforceAuth()
	client := func(keyID, secretKey string) *Client {
		t.Helper()
		c, err := FromEnv(env(map[string]string{"AWS_REGION": mototest.Region, "AWS_ENDPOINT_URL": srv.URL,
			"AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secretKey, "AWS_MAX_ATTEMPTS": "1"}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	got, err := client(id, secret).SecretString(t.Context(), "prod/api-keys", "AWSCURRENT")
	if err != nil || got != `{"keys":[]}` {
		t.Fatalf("signed with the user's key: %q, %v", got, err)
	}
	for name, c := range map[string]*Client{
		"wrong secret key": client(id, wrongKey(secret)),
		"unknown key id":   client("AKIAIOSFODNN7EXAMPLE", secret),
	} {
		_, err := c.SecretString(t.Context(), "prod/api-keys", "AWSCURRENT")
		var api *APIError
		if !errors.As(err, &api) || api.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %v, want a 403 refusal", name, err)
		}
	}
}

// wrongKey changes key's last character, whatever it is.
func wrongKey(key string) string {
	last := byte('x')
	if key[len(key)-1] == last {
		last = 'y'
	}
	return key[:len(key)-1] + string(last)
}
