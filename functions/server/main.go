// Command server is the container entrypoint: every route of the API on one
// http.Server, with graceful shutdown for rolling updates (package
// internal/app/container).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/healthcare-prediction/api/internal/app/container"
)

func main() {
	if err := container.Run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
