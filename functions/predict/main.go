// Command predict is the Lambda function that serves the API's predict routes.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
)

func main() {
	if err := app.RunLambda(context.Background(), os.Getenv, os.Stdout, api.Predict, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
