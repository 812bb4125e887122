// Package awsjson calls AWS services that speak the AWS JSON protocols
// (awsJson1_0, awsJson1_1: Secrets Manager, DynamoDB) with net/http and the
// SDK's SigV4 signer alone, the endpoint and retries configured from the
// standard environment variables.
//
// It exists for the Lambda cold start: an SDK service client and the
// SDK's default credentials chain (which links the STS, SSO and sign-in
// clients) cost milliseconds of package initialisation in every cold
// start, for a call or two per request. Under Lambda the credentials come
// from the environment the runtime sets (FromEnv); the container passes
// the SDK's credentials chain in Options, for IRSA.
package awsjson

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
// set, as in package secrets/sdkclient (a test holds the two equal).
const DefaultMaxAttempts = 2

// maxResponse bounds a response body read.
const maxResponse = 1 << 20

// Service names one AWS service and its protocol.
type Service struct {
	Name         string // in messages: "secrets manager"
	SigningName  string // SigV4 service name: "secretsmanager"
	Host         string // the region's endpoint is https://HOST[-fips].REGION.SUFFIX
	EndpointVar  string // its own endpoint variable: AWS_ENDPOINT_URL_SECRETS_MANAGER
	ContentType  string // application/x-amz-json-1.1 (awsJson1_1) or -1.0
	TargetPrefix string // X-Amz-Target is TargetPrefix.Operation
	// DualStack says the service's dual-stack hosts follow dnsSuffixes
	// (checked against the SDK's endpoint rules); without it
	// AWS_USE_DUALSTACK_ENDPOINT=true is refused rather than guessed.
	DualStack bool
}

// SecretsManager is AWS Secrets Manager (awsJson1_1).
var SecretsManager = Service{Name: "secrets manager", SigningName: "secretsmanager", Host: "secretsmanager",
	EndpointVar: "AWS_ENDPOINT_URL_SECRETS_MANAGER", ContentType: "application/x-amz-json-1.1", TargetPrefix: "secretsmanager", DualStack: true}

// DynamoDB is Amazon DynamoDB (awsJson1_0).
var DynamoDB = Service{Name: "dynamodb", SigningName: "dynamodb", Host: "dynamodb",
	EndpointVar: "AWS_ENDPOINT_URL_DYNAMODB", ContentType: "application/x-amz-json-1.0", TargetPrefix: "DynamoDB_20120810"}

// Client calls one service.
type Client struct {
	service     Service
	endpoint    string // scheme://host[:port], no trailing slash
	region      string
	credentials aws.CredentialsProvider
	maxAttempts int
	http        *http.Client
	signer      *v4.Signer
}

// Options override what FromEnv reads from the environment.
type Options struct {
	// Region, when set, replaces AWS_REGION (the container passes the
	// SDK configuration's).
	Region string
	// Credentials, when set, replaces the environment's static keys (the
	// container passes the SDK's default chain: IRSA, Pod Identity).
	Credentials aws.CredentialsProvider
}

// FromEnv builds a client of service from the environment: AWS_REGION (or
// AWS_DEFAULT_REGION); AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN; the service's endpoint variable or AWS_ENDPOINT_URL
// (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else the region's
// endpoint, its FIPS one with AWS_USE_FIPS_ENDPOINT=true, its dual-stack
// one with AWS_USE_DUALSTACK_ENDPOINT=true; AWS_MAX_ATTEMPTS. Nothing
// else: no shared config files, profiles, container or instance
// credentials (unless opts brings them); environment credentials are read
// once, as the SDK's environment provider does. Without them it fails: the
// Lambda runtime always sets them.
func FromEnv(getenv func(string) string, service Service, opts Options) (*Client, error) {
	c := &Client{
		service:     service,
		region:      cmp.Or(opts.Region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")),
		credentials: opts.Credentials,
		maxAttempts: DefaultMaxAttempts,
		// No redirects: a redirect would carry the signed headers (the
		// session token among them) to whatever host it names. The SDK
		// follows none for these calls either.
		http:   &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		signer: v4.NewSigner(),
	}
	var errs []error
	if c.region == "" {
		errs = append(errs, errors.New("AWS_REGION is not set"))
	}
	if c.credentials == nil {
		creds := aws.Credentials{
			AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
			SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken:    getenv("AWS_SESSION_TOKEN"),
			Source:          "environment",
		}
		if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
			errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the Lambda runtime sets them for the function's role)"))
		}
		c.credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
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
	endpoint, err := resolveEndpoint(getenv, service, c.region)
	if err != nil {
		errs = append(errs, err)
	}
	c.endpoint = endpoint
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Endpoint is the URL the client calls.
func (c *Client) Endpoint() string { return c.endpoint }

// Region is the region the client signs for.
func (c *Client) Region() string { return c.region }

// dnsSuffixes are the partitions' domain names by region prefix, as the
// SDK's Secrets Manager endpoint rules give them (a test holds the two
// equal): the host is HOST[-fips].REGION.SUFFIX, the suffix depending on
// AWS_USE_DUALSTACK_ENDPOINT and AWS_USE_FIPS_ENDPOINT. The first match
// wins; the last row is the aws and aws-us-gov partitions.
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

// resolveEndpoint applies the SDKs' endpoint rules for service.
func resolveEndpoint(getenv func(string) string, service Service, region string) (string, error) {
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
		if u := cmp.Or(getenv(service.EndpointVar), getenv("AWS_ENDPOINT_URL")); u != "" {
			if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				return "", errors.New(service.EndpointVar + " and AWS_ENDPOINT_URL must start with https:// or http://")
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
	if dualStack && !service.DualStack {
		return "", errors.New("AWS_USE_DUALSTACK_ENDPOINT=true is not supported for " + service.Name + " here: set " + service.EndpointVar + " to the endpoint")
	}
	host := service.Host
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

// APIError is the service's own refusal: its error code (the type name of
// the exception, e.g. ResourceNotFoundException) and message.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d, %s: %s", e.StatusCode, e.Code, e.Message)
}

// ErrorCode and ErrorMessage are the methods of the SDK's API errors.
func (e *APIError) ErrorCode() string    { return e.Code }
func (e *APIError) ErrorMessage() string { return e.Message }

// Call makes operation with the JSON body and returns the answer's body,
// trying up to MaxAttempts times while the failure is transient (no
// answer, 5xx, throttling) and ctx allows. Its errors name the service
// and operation; the service's refusals are an *APIError.
func (c *Client) Call(ctx context.Context, operation string, body []byte) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		out, err := c.call(ctx, operation, body)
		if err == nil || attempt >= c.maxAttempts || !retryable(err) {
			if err != nil {
				err = fmt.Errorf("%s %s: %w", c.service.Name, operation, err)
			}
			return out, err
		}
		// Full jitter over 50 ms doubling, as the SDK's standard retryer
		// does (with its own base).
		wait := time.Duration(rand.Int64N(int64(50 * time.Millisecond << min(attempt-1, 5)))) // #nosec G404 -- retry jitter, not a secret
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w", c.service.Name, operation, err)
		case <-t.C:
		}
	}
}

// ErrNoAnswer wraps a failure to get any answer: no connection, reset,
// timeout. Those are worth another attempt.
var ErrNoAnswer = errors.New("no answer")

// retryable is the SDK standard retryer's rule: no answer at all, a 500,
// 502, 503 or 504, or throttling.
func retryable(err error) bool {
	var api *APIError
	switch {
	case errors.Is(err, ErrNoAnswer):
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

// call makes one signed request.
func (c *Client) call(ctx context.Context, operation string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", c.service.ContentType)
	req.Header.Set("X-Amz-Target", c.service.TargetPrefix+"."+operation)
	creds, err := c.credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), c.service.SigningName, c.region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%w: read response: %w", ErrNoAnswer, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp, data)
	}
	return data, nil
}

// apiError reads an error response: the AWS JSON protocols name the
// exception in the X-Amzn-ErrorType header, or "__type" or "code" in the
// body, possibly with a namespace before '#' and a URI after ':', and
// explain it in "message" or "Message".
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
