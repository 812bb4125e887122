// Command apikey manages the API keys of the healthcare prediction API in
// their Secrets Manager secret, which holds only SHA-256 digests:
//
//	apikey -key-id clinic-a                   # new client, its key printed once
//	apikey -rotate clinic-a                   # a second key for clinic-a, printed once
//	apikey -revoke clinic-a -digest 1a2b3c4d  # remove one of clinic-a's keys (finishes a rotation)
//	apikey -revoke clinic-a                   # remove all of clinic-a's keys
//	apikey -list                              # ids and digest prefixes in both served versions
//	apikey -generate                          # a new key, no AWS call (e.g. for API_KEYS)
//	apikey -print-digest < key.txt            # digest of a key, for other tools
//
// The secret is -secret-id or $API_KEYS_SECRET_ID. It uses the standard AWS
// SDK configuration (region, credentials chain, AWS_ENDPOINT_URL). The
// services accept the keys of AWSCURRENT and AWSPREVIOUS. Edits are safe
// while others edit too (a compare-and-swap on AWSCURRENT, see store.go),
// and a revoke ends only once the key is in neither version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/healthcare-prediction/api/internal/secrets"
	"github.com/healthcare-prediction/api/internal/secrets/sdkclient"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apikey:", err)
		os.Exit(1)
	}
}

// errUsage means the flags were wrong; the usage text is already printed.
var errUsage = errors.New("see usage above")

const usage = `usage:
  apikey [-secret-id ID] -key-id CLIENT              add CLIENT with a new key, printed once
  apikey [-secret-id ID] -rotate CLIENT              give CLIENT a new key beside its current ones, printed once
  apikey [-secret-id ID] -revoke CLIENT [-digest HEX]
                                                     remove all of CLIENT's keys, or only the one whose
                                                     SHA-256 digest starts with HEX (ends a rotation)
  apikey [-secret-id ID] -list                       ids and digest prefixes in AWSCURRENT and AWSPREVIOUS
  apikey -generate                                   print a new random key (no AWS call; e.g. for API_KEYS)
  apikey -print-digest < KEYFILE                     print the SHA-256 digest of a key read from stdin (no AWS call)

Keys look like hpa_ and 43 letters and digits (256 random bits); secret
scanners can find them with the regular expression ` + secrets.KeyPattern + `.
The secret is -secret-id, or $API_KEYS_SECRET_ID. AWS access uses the SDK's
standard configuration (AWS_REGION, AWS_PROFILE, credentials chain,
AWS_ENDPOINT_URL). Edits are safe while others edit the secret with apikey
too; a revoke ends only once the key is in neither AWSCURRENT nor
AWSPREVIOUS, and fails otherwise.

flags:
`

// run is the whole command; getenv, stdin, stdout and stderr stand for the
// process's. Only a new key or a digest goes to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apikey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secretID := fs.String("secret-id", getenv("API_KEYS_SECRET_ID"), "Secrets Manager secret (name or ARN) holding the key digests (default $API_KEYS_SECRET_ID)")
	add := fs.String("key-id", "", "add the client `id` with a new random key and print the key once")
	rotate := fs.String("rotate", "", "add a new random key for the existing client `id`, beside its current ones, and print it once")
	revoke := fs.String("revoke", "", "remove the keys of the client `id` from both served versions")
	digest := fs.String("digest", "", "with -revoke: remove only the key whose SHA-256 digest starts with `hex` (8 to 64 hex digits)")
	list := fs.Bool("list", false, "list the ids and digest prefixes of AWSCURRENT and AWSPREVIOUS")
	generate := fs.Bool("generate", false, "print a new random key and store nothing (no AWS call)")
	printDigest := fs.Bool("print-digest", false, "read a key from stdin and print its SHA-256 digest (no AWS call); refuses weak keys")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	modes := 0
	for _, set := range []bool{*add != "", *rotate != "", *revoke != "", *list, *generate, *printDigest} {
		if set {
			modes++
		}
	}
	local := *generate || *printDigest
	if modes != 1 || fs.NArg() > 0 || (!local && *secretID == "") || (*digest != "" && *revoke == "") {
		fs.Usage()
		return errUsage
	}

	switch {
	case *generate:
		_, err := fmt.Fprintln(stdout, secrets.NewKey())
		return err
	case *printDigest:
		return printKeyDigest(stdin, stdout)
	}
	for _, id := range []string{*add, *rotate, *revoke} {
		if id != "" && !secrets.ValidID(id) {
			return fmt.Errorf("key id %q: use 1 to 64 characters of A-Z a-z 0-9 . _ -", id)
		}
	}
	prefix := strings.ToLower(*digest)
	if prefix != "" && (len(prefix) < 8 || len(prefix) > 64 || strings.Trim(prefix, "0123456789abcdef") != "") {
		return errors.New("-digest: give 8 to 64 hex digits of the key's SHA-256 digest (-list shows them)")
	}
	sm, err := sdkclient.New(ctx)
	if err != nil {
		return err
	}
	t := tool{c: sm, secretID: *secretID, stdout: stdout, stderr: stderr}
	switch {
	case *add != "":
		return t.add(ctx, *add)
	case *rotate != "":
		return t.rotate(ctx, *rotate)
	case *revoke != "":
		return t.revoke(ctx, *revoke, prefix)
	}
	return t.list(ctx)
}

func printKeyDigest(stdin io.Reader, stdout io.Writer) error {
	b, err := io.ReadAll(io.LimitReader(stdin, 4*secrets.MaxKeyLength))
	if err != nil {
		return err
	}
	key := strings.TrimRight(string(b), "\r\n")
	if key == "" {
		return errors.New("no key on stdin")
	}
	if err := secrets.CheckKey(key); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, secrets.Digest(key))
	return err
}

// tool runs the commands that edit or read the secret.
type tool struct {
	c        client
	secretID string
	stdout   io.Writer // the new key, and nothing else
	stderr   io.Writer // what happened
}

// shortDigest is how digests are shown: enough to tell a client's keys
// apart, nothing that helps guess a key (the key has 256 random bits).
func shortDigest(d string) string { return d[:12] }

func (t tool) add(ctx context.Context, id string) error {
	before, err := read(ctx, t.c, t.secretID)
	if err != nil {
		return err
	}
	key := secrets.NewKey()
	if _, err := commit(ctx, t.c, t.secretID, before, addKey(secrets.Entry{ID: id, SHA256: secrets.Digest(key)})); err != nil {
		return err
	}
	fmt.Fprintf(t.stderr, "New API key for %q below. It is shown only this once: only its SHA-256 digest is stored in %s.\n"+
		"Give it to the client over a secure channel. %s\n", id, t.secretID, acceptBound())
	_, err = fmt.Fprintln(t.stdout, key)
	return err
}

func (t tool) rotate(ctx context.Context, id string) error {
	before, err := read(ctx, t.c, t.secretID)
	if err != nil {
		return err
	}
	if !before.exists {
		return fmt.Errorf("secret %s does not exist", t.secretID)
	}
	key := secrets.NewKey()
	d := secrets.Digest(key)
	if _, err := commit(ctx, t.c, t.secretID, before, rotateKey(secrets.Entry{ID: id, SHA256: d})); err != nil {
		return err
	}
	var old []string
	for _, e := range before.current {
		if e.ID == id {
			old = append(old, shortDigest(e.SHA256))
		}
	}
	fmt.Fprintf(t.stderr, "New API key for %q below (digest %s). It is shown only this once: only its digest is stored in %s.\n"+
		"Its other keys (digests %s) keep working. Give the new key to the client over a secure channel; %s\n"+
		"Once the client uses the new key, finish the rotation by removing the old one:\n", id, shortDigest(d), t.secretID, strings.Join(old, ", "), lowerFirst(acceptBound()))
	for _, o := range old {
		fmt.Fprintf(t.stderr, "  apikey -secret-id %s -revoke %s -digest %s\n", t.secretID, id, o)
	}
	_, err = fmt.Fprintln(t.stdout, key)
	return err
}

func (t tool) revoke(ctx context.Context, id, prefix string) error {
	before, err := read(ctx, t.c, t.secretID)
	if err != nil {
		return err
	}
	if !before.exists {
		return fmt.Errorf("secret %s does not exist", t.secretID)
	}
	target := target{id: id}
	if prefix != "" {
		var found []string
		for _, e := range slices.Concat(before.current, before.previous) {
			if e.ID == id && strings.HasPrefix(e.SHA256, prefix) && !slices.Contains(found, e.SHA256) {
				found = append(found, e.SHA256)
			}
		}
		switch len(found) {
		case 0:
			return fmt.Errorf("key id %q has no key whose digest starts with %s in %s (-list shows the digests)", id, prefix, t.secretID)
		case 1:
			target.digest = found[0]
		default:
			return fmt.Errorf("key id %q has %d keys whose digest starts with %s; give more digits", id, len(found), prefix)
		}
	} else if !target.in(before.current) && !target.in(before.previous) {
		return fmt.Errorf("key id %q is not in %s (neither AWSCURRENT nor AWSPREVIOUS)", id, t.secretID)
	}
	after, err := commit(ctx, t.c, t.secretID, before, revokeKeys(target))
	if err != nil {
		return fmt.Errorf("revoking %q: %w; its key may still work: run the command again", id, err)
	}
	what := fmt.Sprintf("all keys of %q", id)
	if target.digest != "" {
		what = fmt.Sprintf("the key of %q with digest %s", id, shortDigest(target.digest))
	}
	previous := "there is no AWSPREVIOUS"
	if after.previousVersion != "" {
		previous = "AWSPREVIOUS (version " + after.previousVersion + ")"
	}
	fmt.Fprintf(t.stderr, "Revoked %s: confirmed absent from AWSCURRENT (version %s) and %s of %s.\n%s\n",
		what, after.currentVersion, previous, t.secretID, revokeBound())
	if remaining := countID(after.current, id); remaining > 0 {
		fmt.Fprintf(t.stderr, "%q keeps %d other key(s).\n", id, remaining)
	}
	return nil
}

func countID(entries []secrets.Entry, id string) int {
	n := 0
	for _, e := range entries {
		if e.ID == id {
			n++
		}
	}
	return n
}

func (t tool) list(ctx context.Context) error {
	s, err := read(ctx, t.c, t.secretID)
	if err != nil {
		return err
	}
	if !s.exists {
		return fmt.Errorf("secret %s does not exist", t.secretID)
	}
	type row struct{ id, digest, stages string }
	var rows []row
	seen := map[secrets.Entry]int{}
	for _, stage := range []struct {
		name    string
		entries []secrets.Entry
	}{{stageCurrent, s.current}, {stagePrevious, s.previous}} {
		for _, e := range stage.entries {
			if i, ok := seen[e]; ok {
				rows[i].stages += " " + stage.name
				continue
			}
			seen[e] = len(rows)
			rows = append(rows, row{e.ID, shortDigest(e.SHA256), stage.name})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.id, b.id) })
	fmt.Fprintf(t.stdout, "%-24s %-12s %s\n", "ID", "DIGEST", "STAGES")
	for _, r := range rows {
		fmt.Fprintf(t.stdout, "%-24s %-12s %s\n", r.id, r.digest, r.stages)
	}
	if s.previousBad {
		fmt.Fprintf(t.stderr, "AWSPREVIOUS (version %s) does not parse; the services ignore it.\n", s.previousVersion)
	}
	return nil
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

// How soon the services see a change, from their defaults
// (secrets.DefaultTTL, refreshes bounded by secrets.DefaultFetchTimeout,
// and the last good keys served for secrets.DefaultMaxStaleness while
// Secrets Manager cannot be reached). A change made just after a refresh
// read the secret is fetched by the next refresh, which starts at most TTL
// after that one ended and takes at most FetchTimeout: TTL + 2×FetchTimeout.

func acceptBound() string {
	return fmt.Sprintf("Services accept it within API_KEYS_TTL + %v (%v with the default TTL).",
		2*secrets.DefaultFetchTimeout, secrets.DefaultTTL+2*secrets.DefaultFetchTimeout)
}

func revokeBound() string {
	return fmt.Sprintf("Services refuse it within API_KEYS_TTL + %v (%v with the default TTL) while they can reach Secrets Manager; "+
		"one that cannot keeps serving its last good keys, this one included, for up to %v after its last successful refresh.",
		2*secrets.DefaultFetchTimeout, secrets.DefaultTTL+2*secrets.DefaultFetchTimeout, secrets.DefaultMaxStaleness)
}
