// Package replay records one-time keys (the issuer and jti of each
// accepted CDS Hooks client JWT) in a DynamoDB table that every instance
// of the service shares: every Lambda execution environment, every
// function version of a canary, every EKS replica. A token replayed
// against another instance is then refused too (CDS Hooks 2.0: a jti is
// not to be reused while the token lives; RFC 7519 §4.1.7).
//
// One conditional PutItem per claim: the item is written only when no
// live item has the key, so of any number of concurrent claims exactly
// one wins. The table holds only the SHA-256 of each key, and the
// DynamoDB TTL attribute deletes items after they expire. Every failure is
// an error, and the caller refuses the token: the store fails closed.
package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/healthcare-prediction/api/internal/awsjson"
)

// Attribute names of the table's items. KeyAttribute is the table's
// partition key (type S); ExpiresAttribute is the table's TTL attribute
// (type N, Unix seconds).
const (
	KeyAttribute     = "pk"
	ExpiresAttribute = "expires_at"
)

// CallTimeout bounds one claim, retries included: a hung endpoint refuses
// the token in a few seconds instead of holding the request until the
// function's own timeout.
const CallTimeout = 3 * time.Second

// Store is a DynamoDB table of claimed keys.
type Store struct {
	client *awsjson.Client
	table  string
	now    func() time.Time
}

// New returns a store over table, called through client (built for
// awsjson.DynamoDB).
func New(client *awsjson.Client, table string) *Store {
	return &Store{client: client, table: table, now: time.Now}
}

// Table is the table's name.
func (s *Store) Table() string { return s.table }

// Claim records key until expires and reports whether it is fresh: false
// when a live record of it exists already. An error means the store could
// not answer, and the caller must refuse the token. Errors never quote
// the key.
func (s *Store) Claim(ctx context.Context, key string, expires time.Time) (fresh bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	// Rounded up: the record never ends before the token does.
	until := expires.Unix()
	if expires.After(time.Unix(until, 0)) {
		until++
	}
	n := func(v int64) map[string]string { return map[string]string{"N": strconv.FormatInt(v, 10)} }
	body, err := json.Marshal(map[string]any{
		"TableName": s.table,
		"Item": map[string]any{
			KeyAttribute:     map[string]string{"S": hashKey(key)},
			ExpiresAttribute: n(until),
		},
		// TTL deletes expired items only eventually (typically within a
		// few days), so an expired record must not block the key.
		"ConditionExpression":       "attribute_not_exists(#k) OR #e < :now",
		"ExpressionAttributeNames":  map[string]string{"#k": KeyAttribute, "#e": ExpiresAttribute},
		"ExpressionAttributeValues": map[string]any{":now": n(s.now().Unix())},
	})
	if err != nil {
		return false, err
	}
	// A retry after a lost answer to a PutItem that did write finds its
	// own record and says not fresh: the token is refused, never let twice.
	_, err = s.client.Call(ctx, "PutItem", body)
	var api *awsjson.APIError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &api) && api.Code == "ConditionalCheckFailedException":
		return false, nil
	}
	return false, fmt.Errorf("replay store %s: %w", s.table, err)
}

// hashKey is the partition key stored for key: its SHA-256, hex. The table
// never holds an issuer or a jti.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
