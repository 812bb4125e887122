// Package envclient reads secrets from AWS Secrets Manager with net/http
// and the SDK's SigV4 signer alone (package awsjson), configured from
// environment variables alone: the credentials and region the Lambda
// runtime sets for the function's role, and the standard endpoint
// variables.
//
// It exists for the Lambda cold start. The SDK's Secrets Manager client
// and its default credentials chain (which links the STS, SSO and sign-in
// clients) cost about 5 ms of package initialisation in every cold start,
// half of the function's init, for one call per key refresh. The container
// keeps the SDK (package sdkclient): IRSA needs its credentials chain.
package envclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/healthcare-prediction/api/internal/awsjson"
)

// DefaultMaxAttempts is the attempts per call when AWS_MAX_ATTEMPTS is not
// set, as in package sdkclient (a test holds the two equal).
const DefaultMaxAttempts = awsjson.DefaultMaxAttempts

// APIError is Secrets Manager's own refusal: its error code (the type name
// of the exception, e.g. ResourceNotFoundException) and message.
type APIError = awsjson.APIError

// Client calls Secrets Manager's GetSecretValue.
type Client struct {
	c *awsjson.Client
}

// FromEnv builds a client from the environment as awsjson.FromEnv does
// (AWS_REGION, the AWS_ACCESS_KEY_ID family, AWS_ENDPOINT_URL_SECRETS_MANAGER
// or AWS_ENDPOINT_URL, FIPS and dual-stack, AWS_MAX_ATTEMPTS) and nothing
// else. Without credentials it fails, and with it the function's init: the
// Lambda runtime always sets them.
func FromEnv(getenv func(string) string) (*Client, error) {
	c, err := awsjson.FromEnv(getenv, awsjson.SecretsManager, awsjson.Options{})
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return &Client{c}, nil
}

// errBadResponse is a 200 answer that is not a usable GetSecretValue
// result: asking again would get the same.
var errBadResponse = errors.New("secrets manager GetSecretValue")

// SecretString returns the SecretString of secretID's versionStage,
// trying up to the configured attempts while the failure is transient (no
// answer, 5xx, throttling) and ctx allows.
func (c *Client) SecretString(ctx context.Context, secretID, versionStage string) (string, error) {
	body, err := json.Marshal(struct {
		SecretID     string `json:"SecretId"`
		VersionStage string `json:"VersionStage"`
	}{secretID, versionStage})
	if err != nil {
		return "", err
	}
	data, err := c.c.Call(ctx, "GetSecretValue", body)
	if err != nil {
		return "", err
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
