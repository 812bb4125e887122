// Command info is the Lambda function that serves the API's info routes,
// the /docs page among them.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
	"github.com/healthcare-prediction/api/internal/docs"
)

func main() {
	if err := app.RunLambda(context.Background(), os.Getenv, os.Stdout, api.Info, docs.New()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
