package cdshooks

import (
	"context"
	"strings"
	"sync"
	"time"
)

// maxReplayPerIssuer is how many live jti values the in-process cache holds
// for one issuer; beyond it that issuer's new tokens are refused (fail
// closed) while other issuers are unaffected.
const maxReplayPerIssuer = 50_000

// memoryReplay is the default ReplayStore: a bounded map in this process.
// It serves one instance only; several instances (Lambda, replicas) need a
// shared store in Config.Replay.
type memoryReplay struct {
	now       func() time.Time
	perIssuer int

	mu   sync.Mutex
	seen map[string]map[string]time.Time // issuer → jti → expiry
}

func newMemoryReplay(now func() time.Time, perIssuer int) *memoryReplay {
	return &memoryReplay{now: now, perIssuer: perIssuer, seen: map[string]map[string]time.Time{}}
}

// Claim records key until expires. An issuer whose share is full of live
// tokens gets a refusal rather than a forgotten jti.
func (m *memoryReplay) Claim(_ context.Context, key string, expires time.Time) (bool, error) {
	iss, jti, _ := strings.Cut(key, "\x00")
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.seen[iss]
	if ids == nil {
		ids = map[string]time.Time{}
		m.seen[iss] = ids
	}
	if _, seen := ids[jti]; seen {
		return false, nil
	}
	if len(ids) >= m.perIssuer {
		now := m.now()
		for k, exp := range ids {
			if exp.Before(now) {
				delete(ids, k)
			}
		}
		if len(ids) >= m.perIssuer {
			return false, nil
		}
	}
	ids[jti] = expires
	return true, nil
}
