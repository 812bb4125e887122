// Command apikey manages the API keys of the healthcare prediction API in
// their Secrets Manager secret, which holds only SHA-256 digests:
//
//	apikey -secret-id ID -key-id clinic-a   # new key for clinic-a, printed once
//	apikey -secret-id ID -revoke clinic-a   # remove clinic-a's key
//	apikey -print-digest < key.txt          # digest of a key, for other tools
//
// It uses the standard AWS SDK configuration (region, credentials chain,
// AWS_ENDPOINT_URL). A new version of the secret becomes AWSCURRENT; the
// services accept AWSCURRENT and AWSPREVIOUS, so adding a key never locks
// anyone out. Revoking also takes AWSPREVIOUS off the old version, so the
// revoked key stops working at the services' next refresh (and any other
// rotation still in its grace period ends too). Two people editing the
// secret at the same moment can overwrite each other; revoke notices it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/secrets/sdkclient"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apikey:", err)
		os.Exit(1)
	}
}

// errUsage means the flags were wrong; the usage text is already printed.
var errUsage = errors.New("see usage above")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apikey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secretID := fs.String("secret-id", "", "Secrets Manager secret (name or ARN) holding the key digests")
	keyID := fs.String("key-id", "", "add a new random key for this client `id` and print it once")
	revoke := fs.String("revoke", "", "remove the key of this client `id`")
	printDigest := fs.Bool("print-digest", false, "read a key from stdin and print its SHA-256 digest (no AWS call)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: apikey -secret-id ID (-key-id ID | -revoke ID) | apikey -print-digest < key")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	modes := 0
	for _, set := range []bool{*keyID != "", *revoke != "", *printDigest} {
		if set {
			modes++
		}
	}
	if modes != 1 || fs.NArg() > 0 || (!*printDigest && *secretID == "") {
		fs.Usage()
		return errUsage
	}

	if *printDigest {
		return digest(stdin, stdout)
	}
	if *keyID != "" && !secrets.ValidID(*keyID) {
		return fmt.Errorf("key id %q: use 1 to 64 characters of A-Z a-z 0-9 . _ -", *keyID)
	}
	sm, err := sdkclient.New(ctx)
	if err != nil {
		return err
	}
	if *keyID != "" {
		return add(ctx, sm, *secretID, *keyID, stdout, stderr)
	}
	return remove(ctx, sm, *secretID, *revoke, stderr)
}

// client is what apikey needs of Secrets Manager.
type client interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(context.Context, *secretsmanager.UpdateSecretVersionStageInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

func digest(stdin io.Reader, stdout io.Writer) error {
	b, err := io.ReadAll(io.LimitReader(stdin, 4096))
	if err != nil {
		return err
	}
	key := strings.TrimRight(string(b), "\r\n")
	if key == "" {
		return errors.New("no key on stdin")
	}
	_, err = fmt.Fprintln(stdout, secrets.Digest(key))
	return err
}

// current reads the AWSCURRENT entries; exists is false if there is no
// secret yet. A malformed secret is an error: apikey never rewrites what
// it cannot read.
func current(ctx context.Context, c client, secretID string) (entries []secrets.Entry, versionID string, exists bool, err error) {
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return nil, "", false, nil
	case err != nil:
		return nil, "", false, fmt.Errorf("read %s: %w", secretID, err)
	case out.SecretString == nil:
		return nil, "", false, fmt.Errorf("%s holds binary data, not the key list", secretID)
	}
	entries, err = secrets.ParseSecret([]byte(*out.SecretString))
	if err != nil {
		return nil, "", false, fmt.Errorf("%s: refusing to change a secret that does not parse: %w", secretID, err)
	}
	return entries, aws.ToString(out.VersionId), true, nil
}

func add(ctx context.Context, c client, secretID, keyID string, stdout, stderr io.Writer) error {
	entries, _, exists, err := current(ctx, c, secretID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(entries, func(e secrets.Entry) bool { return e.ID == keyID }) {
		return fmt.Errorf("key id %q already exists in %s; revoke it first", keyID, secretID)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	key := base64.RawURLEncoding.EncodeToString(b)
	text, err := secrets.MarshalSecret(append(entries, secrets.Entry{ID: keyID, SHA256: secrets.Digest(key)}))
	if err != nil {
		return err // e.g. an id with characters the secret does not allow
	}
	if exists {
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretID), SecretString: aws.String(string(text))})
	} else {
		_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:         aws.String(secretID),
			Description:  aws.String("API keys of the healthcare prediction API: ids and SHA-256 digests (managed with cmd/apikey)"),
			SecretString: aws.String(string(text)),
		})
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", secretID, err)
	}
	fmt.Fprintf(stderr, "New API key for %q below. It is shown only this once: only its SHA-256 digest is stored in %s.\n"+
		"Give it to the client over a secure channel. Services accept it after their next refresh (within 5 minutes by default).\n", keyID, secretID)
	_, err = fmt.Fprintln(stdout, key)
	return err
}

func remove(ctx context.Context, c client, secretID, keyID string, stderr io.Writer) error {
	entries, oldVersion, exists, err := current(ctx, c, secretID)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("secret %s does not exist", secretID)
	}
	kept := slices.DeleteFunc(slices.Clone(entries), func(e secrets.Entry) bool { return e.ID == keyID })
	if len(kept) == len(entries) {
		return fmt.Errorf("key id %q is not in %s", keyID, secretID)
	}
	text, err := secrets.MarshalSecret(kept)
	if err != nil {
		return err
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretID), SecretString: aws.String(string(text))}); err != nil {
		return fmt.Errorf("write %s: %w", secretID, err)
	}
	// The version read above is now AWSPREVIOUS, which the services still
	// accept: take the label off so the revoked key stops working.
	if _, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(secretID),
		VersionStage:        aws.String("AWSPREVIOUS"),
		RemoveFromVersionId: aws.String(oldVersion),
	}); err != nil {
		return fmt.Errorf("key %q removed from AWSCURRENT, but the previous version (which still has it) could not be retired; "+
			"someone may have changed %s at the same time, check its versions: %w", keyID, secretID, err)
	}
	fmt.Fprintf(stderr, "Revoked %q in %s. Services refuse its key after their next refresh (within 5 minutes by default).\n", keyID, secretID)
	return nil
}
