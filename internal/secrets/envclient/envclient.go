// Package envclient reads secrets from AWS Secrets Manager with net/http
// and the SDK's SigV4 signer alone, configured from environment variables
// alone: the credentials and region the Lambda runtime sets for the
// function's role, and the standard endpoint variables.
//
// It exists for the Lambda cold start. The SDK's Secrets Manager client
// and its default credentials chain (which links the STS, SSO and sign-in
// clients) cost about 5 ms of package initialisation in every cold start,
// half of the function's init, for one call per key refresh. The container
// keeps the SDK (package sdkclient): IRSA needs its credentials chain.
package envclient

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// DefaultMaxAttempts is the attempts per call when AWS_MAX_ATTEMPTS is not
// set, as in package sdkclient (a test holds the two equal).
const DefaultMaxAttempts = 2

// maxResponse bounds a response body read: a secret is at most 64 KiB.
const maxResponse = 1 << 20

// Client calls Secrets Manager's GetSecretValue.
type Client struct {
	endpoint    string // scheme://host[:port], no trailing slash
	region      string
	credentials aws.Credentials
	maxAttempts int
	http        *http.Client
	signer      *v4.Signer
}

// FromEnv builds a client from the environment: AWS_REGION (or
// AWS_DEFAULT_REGION); AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN; AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL
// (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else the region's
// endpoint, its FIPS one with AWS_USE_FIPS_ENDPOINT=true, its dual-stack
// one with AWS_USE_DUALSTACK_ENDPOINT=true; AWS_MAX_ATTEMPTS. Nothing
// else: no shared config files, profiles, container or instance
// credentials; credentials are read once, as the SDK's environment
// provider does. Without them it fails, and with it the function's init:
// the Lambda runtime always sets them.
func FromEnv(getenv func(string) string) (*Client, error) {
	c := &Client{
		region:      cmp.Or(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")),
		maxAttempts: DefaultMaxAttempts,
		// No redirects: a redirect would carry the signed headers (the
		// session token among them) to whatever host it names. The SDK
		// follows none for this call either.
		http:   &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		signer: v4.NewSigner(),
		credentials: aws.Credentials{
			AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
			SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken:    getenv("AWS_SESSION_TOKEN"),
			Source:          "environment",
		},
	}
	var errs []error
	if c.region == "" {
		errs = append(errs, errors.New("AWS_REGION is not set"))
	}
	if c.credentials.AccessKeyID == "" || c.credentials.SecretAccessKey == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the Lambda runtime sets them for the function's role)"))
	}
	if s := getenv("AWS_MAX_ATTEMPTS"); s != "" {
		// 0 means the default, as for the SDK.
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			errs = append(errs, errors.New("AWS_MAX_ATTEMPTS must be a whole number, 0 (the default) or more"))
		}
		if n > 0 {
			c.maxAttempts = n
		}
	}
	endpoint, err := resolveEndpoint(getenv, c.region)
	if err != nil {
		errs = append(errs, err)
	}
	c.endpoint = endpoint
	if len(errs) > 0 {
		return nil, fmt.Errorf("secrets: %w", errors.Join(errs...))
	}
	return c, nil
}

// dnsSuffixes are the partitions' domain names by region prefix, as the
// SDK's Secrets Manager endpoint rules give them (a test holds the two
// equal): the host is secretsmanager[-fips].REGION.SUFFIX, the suffix
// depending on AWS_USE_DUALSTACK_ENDPOINT and AWS_USE_FIPS_ENDPOINT. The
// first match wins; the last row is the aws and aws-us-gov partitions.
var dnsSuffixes = []struct{ prefix, standard, dualStack, fipsDualStack string }{
	{"cn-", "amazonaws.com.cn", "amazonaws.com.cn", "api.amazonwebservices.com.cn"},
	{"eusc-", "amazonaws.eu", "api.amazonwebservices.eu", "api.amazonwebservices.eu"},
	{"us-isob-", "sc2s.sgov.gov", "api.aws.scloud", "api.aws.scloud"},
	{"us-isof-", "csp.hci.ic.gov", "api.aws.hci.ic.gov", "api.aws.hci.ic.gov"},
	{"us-iso-", "c2s.ic.gov", "api.aws.ic.gov", "api.aws.ic.gov"},
	{"eu-isoe-", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk", "api.cloud-aws.adc-e.uk"},
	{"", "amazonaws.com", "amazonaws.com", "amazonaws.com"},
}

// boolean reads a true/false variable as the SDK does: any case, empty
// for false.
func boolean(getenv func(string) string, name string) (bool, error) {
	switch s := getenv(name); {
	case s == "" || strings.EqualFold(s, "false"):
		return false, nil
	case strings.EqualFold(s, "true"):
		return true, nil
	}
	return false, errors.New(name + " must be true or false")
}

// resolveEndpoint applies the SDKs' endpoint rules for Secrets Manager.
func resolveEndpoint(getenv func(string) string, region string) (string, error) {
	ignore, err := boolean(getenv, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
	if err != nil {
		return "", err
	}
	fips, err := boolean(getenv, "AWS_USE_FIPS_ENDPOINT")
	if err != nil {
		return "", err
	}
	dualStack, err := boolean(getenv, "AWS_USE_DUALSTACK_ENDPOINT")
	if err != nil {
		return "", err
	}
	if !ignore {
		if u := cmp.Or(getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"), getenv("AWS_ENDPOINT_URL")); u != "" {
			if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				return "", errors.New("AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL must start with https:// or http://")
			}
			if fips || dualStack {
				// As the SDK's endpoint rules: the URL names the host.
				return "", errors.New("AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT cannot be combined with an endpoint URL")
			}
			return strings.TrimSuffix(u, "/"), nil
		}
	}
	if region == "" {
		return "", nil // reported by FromEnv
	}
	for _, c := range region {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "", errors.New("AWS_REGION must be a region name such as eu-west-1")
		}
	}
	host := "secretsmanager"
	if fips {
		host += "-fips"
	}
	for _, s := range dnsSuffixes {
		if !strings.HasPrefix(region, s.prefix) {
			continue
		}
		suffix := s.standard
		switch {
		case dualStack && fips:
			suffix = s.fipsDualStack
		case dualStack:
			suffix = s.dualStack
		}
		return "https://" + host + "." + region + "." + suffix, nil
	}
	panic("unreachable: the last dnsSuffixes row matches every region")
}

// APIError is Secrets Manager's own refusal: its error code (the type name
// of the exception, e.g. ResourceNotFoundException) and message.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("secrets manager GetSecretValue: HTTP %d, %s: %s", e.StatusCode, e.Code, e.Message)
}

// ErrorCode and ErrorMessage are the methods of the SDK's API errors.
func (e *APIError) ErrorCode() string    { return e.Code }
func (e *APIError) ErrorMessage() string { return e.Message }

// SecretString returns the SecretString of secretID's versionStage,
// trying up to maxAttempts times while the failure is transient (no
// answer, 5xx, throttling) and ctx allows.
func (c *Client) SecretString(ctx context.Context, secretID, versionStage string) (string, error) {
	body, err := json.Marshal(struct {
		SecretID     string `json:"SecretId"`
		VersionStage string `json:"VersionStage"`
	}{secretID, versionStage})
	if err != nil {
		return "", err
	}
	for attempt := 1; ; attempt++ {
		text, err := c.call(ctx, body)
		if err == nil || attempt >= c.maxAttempts || !retryable(err) {
			return text, err
		}
		// Full jitter over 50 ms doubling, as the SDK's standard retryer
		// does (with its own base).
		wait := time.Duration(rand.Int64N(int64(50 * time.Millisecond << min(attempt-1, 5)))) // #nosec G404 -- retry jitter, not a secret
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", err
		case <-t.C:
		}
	}
}

// errBadResponse is a 200 answer that is not a usable GetSecretValue
// result: asking again would get the same.
var errBadResponse = errors.New("secrets manager GetSecretValue")

// errNoAnswer wraps a failure to get any answer: no connection, reset,
// timeout. Those are worth another attempt.
var errNoAnswer = errors.New("secrets manager GetSecretValue: no answer")

// retryable is the SDK standard retryer's rule: no answer at all, a 500,
// 502, 503 or 504, or throttling.
func retryable(err error) bool {
	var api *APIError
	switch {
	case errors.Is(err, errNoAnswer):
		return true
	case !errors.As(err, &api):
		return false
	}
	switch api.Code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "RequestThrottled",
		"RequestThrottledException", "ProvisionedThroughputExceededException", "SlowDown", "PriorRequestNotComplete",
		"TransactionInProgressException", "EC2ThrottledException", "BandwidthLimitExceeded":
		return true
	}
	switch api.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// call makes one signed GetSecretValue request (protocol awsJson1_1).
func (c *Client) call(ctx context.Context, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("secrets manager GetSecretValue: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, c.credentials, req, hex.EncodeToString(sum[:]), "secretsmanager", c.region, time.Now()); err != nil {
		return "", fmt.Errorf("secrets manager GetSecretValue: sign: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoAnswer, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", fmt.Errorf("%w: read response: %w", errNoAnswer, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", apiError(resp, data)
	}
	var out struct {
		SecretString *string
	}
	if err := json.Unmarshal(data, &out); err != nil {
		// The decoder's message could quote the secret.
		return "", fmt.Errorf("%w: the response is not the expected JSON", errBadResponse)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("%w: the secret has no SecretString (binary secrets are not supported)", errBadResponse)
	}
	return *out.SecretString, nil
}

// apiError reads an error response: awsJson1_1 names the exception in
// the X-Amzn-ErrorType header, or "__type" or "code" in the body, possibly
// with a namespace before '#' and a URI after ':', and explains it in
// "message" or "Message".
func apiError(resp *http.Response, data []byte) *APIError {
	var body struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	_ = json.Unmarshal(data, &body) // a proxy's HTML page leaves the fields empty
	code := cmp.Or(resp.Header.Get("X-Amzn-ErrorType"), body.Type, body.Code)
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = "HTTP" + strconv.Itoa(resp.StatusCode)
	}
	// Only the first line of the message: an InvalidSignatureException
	// goes on with the canonical request, session token included.
	message, _, _ := strings.Cut(cmp.Or(body.Message, body.Message2), "\n")
	return &APIError{StatusCode: resp.StatusCode, Code: printable(code, 64), Message: printable(message, 256)}
}

// printable keeps error text fit for a log line: printable ASCII, at most
// n bytes.
func printable(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; 0x20 <= c && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}
