package awsjson

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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
				}), SecretsManager, region)
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
			c, err := FromEnv(env(tc.env), SecretsManager, Options{})
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

// DynamoDB reads its own endpoint variable, never Secrets Manager's, and
// refuses dual-stack rather than guess a host the SDK rules were not
// checked for; Options replace the environment's region and credentials.
func TestDynamoDBFromEnv(t *testing.T) {
	base := map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"}
	c, err := FromEnv(env(base), DynamoDB, Options{})
	if err != nil || c.Endpoint() != "https://dynamodb.eu-central-1.amazonaws.com" {
		t.Errorf("region's endpoint: %v, %v", c, err)
	}
	m := map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:2", "AWS_USE_FIPS_ENDPOINT": ""}
	for k, v := range base {
		m[k] = v
	}
	if c, err := FromEnv(env(m), DynamoDB, Options{}); err != nil || c.Endpoint() != "http://127.0.0.1:2" {
		t.Errorf("AWS_ENDPOINT_URL_DYNAMODB: %v, %v", c, err)
	}
	m = map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"}
	for k, v := range base {
		m[k] = v
	}
	if c, err := FromEnv(env(m), DynamoDB, Options{}); err != nil || c.Endpoint() != "https://dynamodb-fips.eu-central-1.amazonaws.com" {
		t.Errorf("FIPS: %v, %v", c, err)
	}
	m["AWS_USE_DUALSTACK_ENDPOINT"] = "true"
	if _, err := FromEnv(env(m), DynamoDB, Options{}); err == nil || !strings.Contains(err.Error(), "AWS_ENDPOINT_URL_DYNAMODB") {
		t.Errorf("dual-stack: %v, want a refusal naming AWS_ENDPOINT_URL_DYNAMODB", err)
	}
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "x", SecretAccessKey: "y"}, nil
	})
	c, err = FromEnv(env(map[string]string{}), DynamoDB, Options{Region: "us-west-2", Credentials: creds})
	if err != nil || c.Region() != "us-west-2" || c.Endpoint() != "https://dynamodb.us-west-2.amazonaws.com" {
		t.Errorf("region and credentials from Options: %v, %v", c, err)
	}
}
