// Command info is the Lambda function that serves the API's info routes.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
)

func main() {
	if err := app.RunLambda(context.Background(), os.Getenv, os.Stdout, api.Info); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
