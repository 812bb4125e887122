package cdshooks

import (
	"context"
	"sync"
	"time"
)

// memoryReplay is the default ReplayStore: a bounded map in this process.
// It serves one instance only; several instances (Lambda, replicas) need a
// shared store in Config.Replay.
type memoryReplay struct {
	now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // issuer + "\x00" + jti → expiry
}

func newMemoryReplay(now func() time.Time) *memoryReplay {
	return &memoryReplay{now: now, seen: map[string]time.Time{}}
}

// Claim records key until expires; full of live tokens, it refuses rather
// than forget one.
func (m *memoryReplay) Claim(_ context.Context, key string, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, seen := m.seen[key]; seen {
		return false, nil
	}
	if len(m.seen) >= maxReplayCache {
		now := m.now()
		for k, exp := range m.seen {
			if exp.Before(now) {
				delete(m.seen, k)
			}
		}
		if len(m.seen) >= maxReplayCache {
			return false, nil
		}
	}
	m.seen[key] = expires
	return true, nil
}
