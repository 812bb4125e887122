package main

// Editing the secret safely while others edit it too.
//
// Secrets Manager has no conditional PutSecretValue, but it has a
// conditional label move: UpdateSecretVersionStage with RemoveFromVersionId
// fails unless the label is on that version at that moment ("If the label
// is attached and you either do not specify this parameter, or the version
// ID does not match, then the operation fails"), and moving AWSCURRENT
// moves AWSPREVIOUS to the version it left. apikey builds a compare-and-swap
// on AWSCURRENT from that:
//
//  1. Read AWSCURRENT (its VersionId B and entries) and AWSPREVIOUS.
//  2. If the change already holds in what was read, stop (step 5).
//  3. Compute the new entries from AWSCURRENT's and write them with
//     PutSecretValue under the label APIKEY_PENDING only, so that nothing
//     serves them yet. The ClientRequestToken (the new VersionId) is the
//     SHA-256 of (B, new text): a retried write finds its own version and
//     changes nothing, and two writers who compute the same text from the
//     same B share one version.
//  4. Move AWSCURRENT from B to the new version. If another writer moved
//     it first, the move fails: the pending version is never served, and
//     the loop goes back to 1 and applies the change to what that writer
//     left. Otherwise B becomes AWSPREVIOUS, and the loop goes on from that
//     known state (back to 2), reading again only to confirm the end.
//  5. Done when the change holds in the state just read: an added key is in
//     AWSCURRENT; a revoked key (an id, or one digest of it) is in neither
//     AWSCURRENT nor AWSPREVIOUS. After the swap that removes it, the
//     version it left (B, which has the key) is AWSPREVIOUS, and the
//     services accept AWSPREVIOUS too; so a revoke swaps once more, the
//     same entries on top of themselves, which pushes B out of both stages.
//
// The guarantee, among writers that use this protocol: every AWSCURRENT is
// computed from the AWSCURRENT before it, so no version made from a stale
// read is ever served. An add racing a revoke cannot bring the revoked key
// back (its write was computed either after the revoke, from entries
// without the key, or before it, and then its swap fails and it starts
// over), two revokes cannot undo each other, and a rotation cannot add a
// key to an id revoked meanwhile (it needs the id in AWSCURRENT). AWSPREVIOUS
// only ever receives a former AWSCURRENT, so once a revoke has seen the key
// gone from both stages, it stays gone until someone adds it anew. A plain
// put-secret-value (the console, the CLI, another tool) bypasses all this
// and can restore a stale list; revoke re-checks both stages before it
// reports success, but cannot see such a write after it returns.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/healthcare-prediction/api/internal/secrets"
)

// Version stages: the two the services serve, and apikey's own label for a
// version written but not (yet) current.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
	stagePending  = "APIKEY_PENDING"
)

// maxRounds bounds the read-write rounds of one change. A revoke needs 3
// when nobody else writes; each concurrent writer costs at most one more.
const maxRounds = 20

// client is what apikey needs of Secrets Manager.
type client interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(context.Context, *secretsmanager.UpdateSecretVersionStageInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// state is one read of the secret.
type state struct {
	exists          bool
	current         []secrets.Entry
	currentVersion  string
	previous        []secrets.Entry // nil without AWSPREVIOUS
	previousVersion string          // "" without AWSPREVIOUS
	// previousBad: AWSPREVIOUS does not parse. The services ignore such a
	// version, but a revoke still pushes it out rather than trust that.
	previousBad bool
}

// change is one edit of the key list.
type change struct {
	// apply returns the entries AWSCURRENT should hold, given those it
	// holds; an error means the change can no longer be made.
	apply func(current []secrets.Entry) ([]secrets.Entry, error)
	// holds reports whether the change is complete in s.
	holds func(s state) bool
	// create allows creating a missing secret (adding the first key).
	create bool
}

// errConflict means another writer moved AWSCURRENT first.
var errConflict = errors.New("another writer changed the secret first")

// commit applies ch to secret secretID, starting from s (just read), until
// it holds (see the protocol at the top of this file), and returns the
// state in which it was seen to hold. After a successful swap it knows
// what the secret holds, barring other writers, and goes on from there
// without reading (a wrong guess only makes the next swap fail); it reads
// again after a conflict and to confirm the end.
func commit(ctx context.Context, c client, secretID string, s state, ch change) (state, error) {
	read := func() (state, error) { return read(ctx, c, secretID) }
	fresh := true // s was read, not inferred
	conflicts := 0
	var last error
	for range maxRounds {
		var err error
		switch {
		case s.exists && ch.holds(s) && fresh:
			return s, nil
		case s.exists && ch.holds(s):
			if s, err = read(); err != nil {
				return state{}, err
			}
			fresh = true
			continue
		case !s.exists && !ch.create:
			return state{}, fmt.Errorf("secret %s does not exist", secretID)
		}
		next, err := ch.apply(s.current)
		if err != nil {
			return state{}, err
		}
		var version string
		if s.exists {
			version, err = swap(ctx, c, secretID, s.currentVersion, next)
		} else {
			version, err = create(ctx, c, secretID, next)
		}
		switch {
		case errors.Is(err, errConflict):
			conflicts++
			last = err
			// Random backoff, so that writers who collided do not collide
			// again in step.
			wait := time.Duration(rand.Int64N(int64(25*time.Millisecond) << min(conflicts, 5))) // #nosec G404 -- jitter, not a secret
			select {
			case <-ctx.Done():
				return state{}, ctx.Err()
			case <-time.After(wait):
			}
			if s, err = read(); err != nil {
				return state{}, err
			}
			fresh = true
			continue
		case err != nil:
			return state{}, err
		}
		// Moving AWSCURRENT moved AWSPREVIOUS to the version it left.
		s = state{exists: true, current: next, currentVersion: version, previous: s.current, previousVersion: s.currentVersion}
		fresh = false
	}
	return state{}, fmt.Errorf("%s: gave up after %d rounds (%v); run the command again", secretID, maxRounds, last)
}

// read reads both stages. A current version that does not parse is an
// error: apikey never rewrites what it cannot read.
func read(ctx context.Context, c client, secretID string) (state, error) {
	text, version, err := get(ctx, c, secretID, stageCurrent)
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return state{}, nil
	case err != nil:
		return state{}, err
	}
	s := state{exists: true, currentVersion: version}
	if s.current, err = secrets.ParseSecret([]byte(text)); err != nil {
		return state{}, fmt.Errorf("%s: refusing to change a secret that does not parse: %w", secretID, err)
	}
	text, version, err = get(ctx, c, secretID, stagePrevious)
	switch {
	case errors.As(err, &notFound):
		return s, nil // no AWSPREVIOUS before the second version
	case err != nil:
		return state{}, err
	}
	s.previousVersion = version
	if s.previous, err = secrets.ParseSecret([]byte(text)); err != nil {
		s.previous, s.previousBad = nil, true
	}
	return s, nil
}

func get(ctx context.Context, c client, secretID, stage string) (text, version string, err error) {
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionStage: aws.String(stage)})
	if err != nil {
		var notFound *types.ResourceNotFoundException
		if errors.As(err, &notFound) {
			return "", "", err
		}
		return "", "", fmt.Errorf("read %s (%s): %w", secretID, stage, err)
	}
	if out.SecretString == nil {
		return "", "", fmt.Errorf("%s (%s) holds binary data, not the key list", secretID, stage)
	}
	return *out.SecretString, aws.ToString(out.VersionId), nil
}

// versionID is the VersionId (ClientRequestToken) of the version holding
// text written on top of version base: 64 hex characters, within the
// 32 to 64 Secrets Manager allows.
func versionID(base string, text []byte) string {
	h := sha256.New()
	h.Write([]byte("apikey\x00" + base + "\x00"))
	h.Write(text)
	return hex.EncodeToString(h.Sum(nil))
}

// swap writes entries as a pending version and moves AWSCURRENT to it from
// base, failing with errConflict if AWSCURRENT is no longer on base. It
// returns the new version's id.
func swap(ctx context.Context, c client, secretID, base string, entries []secrets.Entry) (string, error) {
	text, err := secrets.MarshalSecret(entries)
	if err != nil {
		return "", err
	}
	version := versionID(base, text)
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(secretID),
		ClientRequestToken: aws.String(version),
		SecretString:       aws.String(string(text)),
		VersionStages:      []string{stagePending},
	}); err != nil {
		return "", fmt.Errorf("write %s: %w", secretID, err)
	}
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(secretID),
		VersionStage:        aws.String(stageCurrent),
		MoveToVersionId:     aws.String(version),
		RemoveFromVersionId: aws.String(base),
	})
	var invalidParam *types.InvalidParameterException
	var invalidReq *types.InvalidRequestException
	switch {
	case errors.As(err, &invalidParam), errors.As(err, &invalidReq):
		// AWSCURRENT is no longer on base (or, after a retried call whose
		// first answer was lost, already on version): the next read tells.
		return "", fmt.Errorf("%w: %v", errConflict, err)
	case err != nil:
		return "", fmt.Errorf("make the new version of %s current: %w", secretID, err)
	}
	return version, nil
}

// create makes the secret with entries as its first version and returns
// the version's id.
func create(ctx context.Context, c client, secretID string, entries []secrets.Entry) (string, error) {
	text, err := secrets.MarshalSecret(entries)
	if err != nil {
		return "", err
	}
	version := versionID("", text)
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(secretID),
		ClientRequestToken: aws.String(version),
		Description:        aws.String("API keys of the healthcare prediction API: ids and SHA-256 digests (managed with cmd/apikey)"),
		SecretString:       aws.String(string(text)),
	})
	var exists *types.ResourceExistsException
	switch {
	case errors.As(err, &exists):
		return "", fmt.Errorf("%w: %v", errConflict, err) // created by someone else meanwhile
	case err != nil:
		return "", fmt.Errorf("create %s: %w", secretID, err)
	}
	return version, nil
}

// addKey adds entry e under a new id. It fails if the id holds another key
// (made by someone else meanwhile, or before).
func addKey(e secrets.Entry) change {
	return change{
		create: true,
		apply: func(current []secrets.Entry) ([]secrets.Entry, error) {
			switch {
			case slices.Contains(current, e):
				return current, nil
			case slices.ContainsFunc(current, func(c secrets.Entry) bool { return c.ID == e.ID }):
				return nil, fmt.Errorf("key id %q already exists; -rotate gives it another key, -revoke removes it", e.ID)
			}
			return append(slices.Clip(current), e), nil
		},
		holds: func(s state) bool { return slices.Contains(s.current, e) },
	}
}

// rotateKey adds entry e beside the keys its id holds in AWSCURRENT. It
// fails if the id is not there: a rotation never revives a revoked id.
func rotateKey(e secrets.Entry) change {
	return change{
		apply: func(current []secrets.Entry) ([]secrets.Entry, error) {
			switch {
			case slices.Contains(current, e):
				return current, nil
			case !slices.ContainsFunc(current, func(c secrets.Entry) bool { return c.ID == e.ID }):
				return nil, fmt.Errorf("key id %q is not in the secret (revoked meanwhile?); -key-id adds it anew", e.ID)
			}
			return append(slices.Clip(current), e), nil
		},
		holds: func(s state) bool { return slices.Contains(s.current, e) },
	}
}

// target is what a revoke removes: every key of an id, or one of them.
type target struct {
	id     string
	digest string // "" for all of id's keys
}

func (t target) matches(e secrets.Entry) bool {
	return e.ID == t.id && (t.digest == "" || e.SHA256 == t.digest)
}

func (t target) in(entries []secrets.Entry) bool { return slices.ContainsFunc(entries, t.matches) }

// revokeKeys removes t's keys until they are in neither stage. Keys the id
// gains meanwhile (a concurrent rotation) go too when t is the whole id.
func revokeKeys(t target) change {
	return change{
		apply: func(current []secrets.Entry) ([]secrets.Entry, error) {
			// With nothing to remove this is the same list again: swapped
			// in, it pushes the version with the key out of AWSPREVIOUS.
			return slices.DeleteFunc(slices.Clone(current), t.matches), nil
		},
		holds: func(s state) bool { return !t.in(s.current) && !t.in(s.previous) && !s.previousBad },
	}
}
