// Command pretraffic is the CodeDeploy PreTraffic hook function: it asks
// CodeDeploy which function version a deployment moves the alias to and
// smoke-tests that version before any traffic shifts to it (package smoke).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/healthcare-prediction/api/internal/smoke"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	// Region, credentials and endpoints from the Lambda environment.
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	hook := smoke.New(logger, awslambda.NewFromConfig(cfg), codedeploy.NewFromConfig(cfg), getenv)
	lambda.StartWithOptions(hook.Handle, lambda.WithContext(ctx))
	return nil
}
