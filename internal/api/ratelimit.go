package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter holds one token bucket per key id, shared by every protected
// route. A bucket unused for longer than it takes to refill is full, so
// dropping it loses nothing: such buckets are swept, which keeps memory
// bounded by the keys seen in the last two idle periods, however many
// keys the store holds.
type limiter struct {
	rate  rate.Limit
	burst int
	idle  time.Duration // a bucket unused this long is full again
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens *rate.Limiter
	used   time.Time
}

// idleMargin pads the refill time before a bucket counts as idle, so a
// bucket is never dropped while it could still be short of tokens.
const idleMargin = time.Second

// newLimiter returns the limiter of limit, or nil (no limit) when its Rate
// is zero.
func newLimiter(limit RateLimit) *limiter {
	if limit.Rate <= 0 {
		return nil
	}
	burst := max(1, limit.Burst)
	return &limiter{
		rate:    rate.Limit(limit.Rate),
		burst:   burst,
		idle:    time.Duration(float64(burst)/limit.Rate*float64(time.Second)) + idleMargin,
		now:     time.Now,
		buckets: map[string]*bucket{},
	}
}

// take spends one token of id's bucket; when none is left it spends
// nothing and returns how long until one is. A nil limiter never waits.
func (l *limiter) take(id string) time.Duration {
	if l == nil {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= l.idle {
		l.sweep(now)
	}
	b, ok := l.buckets[id]
	if !ok {
		b = &bucket{tokens: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[id] = b
	}
	b.used = now
	r := b.tokens.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now) // a refused request does not spend a future token
		return wait
	}
	return 0
}

// sweep drops the buckets unused for longer than idle: they are full.
func (l *limiter) sweep(now time.Time) {
	for id, b := range l.buckets {
		if now.Sub(b.used) > l.idle {
			delete(l.buckets, id)
		}
	}
	l.swept = now
}

// size is the number of buckets held.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
