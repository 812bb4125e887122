// Command health is the Lambda function that serves the API's health routes.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
)

func main() {
	if err := app.RunLambda(context.Background(), os.Getenv, os.Stdout, api.Health, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
