// Package sdkclient reads secrets through the AWS SDK's Secrets Manager
// client, with the SDK's whole configuration: the default credentials
// chain (IRSA and EKS Pod Identity in the container), shared config files,
// endpoint variables and retries. Lambda functions use package envclient
// instead, which links none of this.
package sdkclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/logging"
)

// DefaultMaxAttempts is the SDK attempts per call when AWS_MAX_ATTEMPTS
// (or the shared config's max_attempts) does not say otherwise: the cache
// refreshes in the background and retries at its next tick, so one quick
// retry is enough and its FetchTimeout stays the bound. envclient has the
// same default.
const DefaultMaxAttempts = 2

// Client is a secrets.Client over the SDK's Secrets Manager client.
type Client struct {
	*secretsmanager.Client
}

// New builds a client from the standard SDK configuration; optFns are
// passed to config.LoadDefaultConfig after the environment is read.
func New(ctx context.Context, optFns ...func(*config.LoadOptions) error) (*Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("secrets: load AWS configuration: %w", err)
	}
	return NewFromConfig(cfg), nil
}

// NewFromConfig builds a client from cfg, with DefaultMaxAttempts unless
// the configuration sets its own.
func NewFromConfig(cfg aws.Config) *Client {
	return &Client{secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if cfg.RetryMaxAttempts == 0 && cfg.Retryer == nil {
			o.RetryMaxAttempts = DefaultMaxAttempts
		}
	})}
}

// SecretString returns the SecretString of secretID's versionStage. The
// SDK's errors are returned as they are: its API errors carry ErrorCode
// and ErrorMessage.
func (c *Client) SecretString(ctx context.Context, secretID, versionStage string) (string, error) {
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(secretID),
		VersionStage: aws.String(versionStage),
	})
	if err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", errors.New("secrets: secret has no SecretString (binary secrets are not supported)")
	}
	return *out.SecretString, nil
}

// Logger sends the SDK's own few log lines (e.g. a response body it could
// not drain after a timeout) to L instead of stderr, for
// config.WithLogger. A nil L discards them.
type Logger struct{ L *slog.Logger }

func (s Logger) Logf(class logging.Classification, format string, v ...any) {
	if s.L == nil {
		return
	}
	level := slog.LevelDebug
	if class == logging.Warn {
		level = slog.LevelWarn
	}
	s.L.Log(context.Background(), level, "aws sdk: "+fmt.Sprintf(format, v...))
}
