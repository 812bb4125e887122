package app

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/healthcare-prediction/api/internal/secrets"
)

// fakeSecrets serves one AWSCURRENT version and no AWSPREVIOUS. The cache
// asks for both stages at once, so the counter is atomic.
type fakeSecrets struct{ calls atomic.Int32 }

func (f *fakeSecrets) SecretString(_ context.Context, _, stage string) (string, error) {
	f.calls.Add(1)
	if stage == "AWSPREVIOUS" {
		return "", &types.ResourceNotFoundException{Message: aws.String("no previous version")}
	}
	body, _ := secrets.MarshalSecret([]secrets.Entry{{ID: "clinic-a", SHA256: secrets.Digest("k")}})
	return string(body), nil
}

// A thawed environment whose keys are unusable refreshes them before the
// invocation instead of answering 503; with usable keys nothing waits.
func TestRefreshUnusableKeys(t *testing.T) {
	fake := &fakeSecrets{}
	keys := secrets.New(fake, "keys", secrets.Options{})
	var readyInside bool
	h := refreshUnusableKeys(keys, func(context.Context, json.RawMessage) (any, error) {
		readyInside = keys.Ready()
		return nil, nil
	})
	if keys.Ready() {
		t.Fatal("a cache never started has no keys")
	}
	if _, err := h(context.Background(), json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if !readyInside {
		t.Error("the invocation ran before the keys were refreshed")
	}
	calls := fake.calls.Load()
	if _, err := h(context.Background(), json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := fake.calls.Load(); got != calls {
		t.Errorf("usable keys were refreshed again on the request path (%d calls, want %d)", got, calls)
	}
	if id, err := keys.Authenticate("k"); err != nil || id != "clinic-a" {
		t.Errorf("Authenticate = %q, %v", id, err)
	}
}
