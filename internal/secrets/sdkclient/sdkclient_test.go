package sdkclient

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestNew: the client comes from the standard SDK environment only
// (the service-specific endpoint variable wins over the general one), with
// two attempts per call unless AWS_MAX_ATTEMPTS says otherwise. The
// secrets package's moto tests and cmd/apikey's run it against
// moto_server.
func TestNew(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-central-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:2")
	t.Setenv("AWS_MAX_ATTEMPTS", "")

	c, err := New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if got, want := aws.ToString(o.BaseEndpoint), "http://127.0.0.1:2"; got != want {
		t.Errorf("endpoint %q, want %q", got, want)
	}
	if got, want := o.Region, "eu-central-1"; got != want {
		t.Errorf("region %q, want %q", got, want)
	}
	if got, want := o.RetryMaxAttempts, DefaultMaxAttempts; got != want {
		t.Errorf("RetryMaxAttempts %d, want %d", got, want)
	}

	t.Setenv("AWS_MAX_ATTEMPTS", "5")
	c, err = New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Options().RetryMaxAttempts; got != 5 {
		t.Errorf("with AWS_MAX_ATTEMPTS=5: RetryMaxAttempts %d", got)
	}
}
