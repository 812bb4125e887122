// Command cdshooks is the Lambda function that serves the CDS Hooks 2.0
// routes: discovery, patient-view calls and card feedback.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/healthcare-prediction/api/internal/api"
	"github.com/healthcare-prediction/api/internal/app"
)

func main() {
	if err := app.RunLambda(context.Background(), os.Getenv, os.Stdout, api.CDSHooks, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
