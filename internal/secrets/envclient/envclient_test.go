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

	"github.com/healthcare-prediction/api/internal/moto/mototest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

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
			"", &APIError{StatusCode: 400, Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."}, false},
		{"code field, message cut at its first line", []func(http.ResponseWriter){answer(400, "", `{"code":"InvalidSignatureException","message":"The request signature we calculated does not match.\n\nThe Canonical String for this request should have been\n'x-amz-security-token:SESSION'"}`)}, "",
			"", &APIError{StatusCode: 400, Code: "InvalidSignatureException", Message: "The request signature we calculated does not match."}, false},
		{"a redirect is not followed", []func(http.ResponseWriter){func(w http.ResponseWriter) {
			w.Header().Set("Location", "http://elsewhere.invalid/")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}}, "", "", &APIError{StatusCode: 307, Code: "HTTP307", Message: ""}, false},
		{"501 is not tried again", []func(http.ResponseWriter){answer(501, "", ``)}, "", "", &APIError{StatusCode: 501, Code: "HTTP501", Message: ""}, false},
		{"capital Message, namespaced type", []func(http.ResponseWriter){answer(400, "", `{"__type":"com.amazonaws.secretsmanager#AccessDeniedException","Message":"not authorized"}`)}, "",
			"", &APIError{StatusCode: 400, Code: "AccessDeniedException", Message: "not authorized"}, false},
		{"error type header wins, URI dropped", []func(http.ResponseWriter){answer(400, "DecryptionFailure:http://internal.amazon.com/coral/com.amazonaws.secretsmanager/", `{"__type":"Other","message":"KMS key is disabled"}`)}, "",
			"", &APIError{StatusCode: 400, Code: "DecryptionFailure", Message: "KMS key is disabled"}, false},
		{"5xx then success", []func(http.ResponseWriter){answer(500, "", `{"__type":"InternalServiceError","message":"oops"}`), ok}, "", `{"keys":[]}`, nil, false},
		{"throttled then success", []func(http.ResponseWriter){answer(400, "", `{"__type":"ThrottlingException","message":"Rate exceeded"}`), ok}, "", `{"keys":[]}`, nil, false},
		{"5xx twice: two attempts", []func(http.ResponseWriter){answer(503, "", `<html>busy</html>`), answer(502, "", `<html>bad gateway</html>`)}, "",
			"", &APIError{StatusCode: 502, Code: "HTTP502", Message: ""}, false},
		{"one attempt when told", []func(http.ResponseWriter){answer(500, "", `{"__type":"InternalServiceError","message":"oops"}`)}, "1",
			"", &APIError{StatusCode: 500, Code: "InternalServiceError", Message: "oops"}, false},
		{"control bytes and length bounded", []func(http.ResponseWriter){answer(400, "", `{"__type":"Bad\nCode","message":"`+strings.Repeat("x", 300)+`\u001b[31m"}`)}, "",
			"", &APIError{StatusCode: 400, Code: "BadCode", Message: strings.Repeat("x", 256)}, false},
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
