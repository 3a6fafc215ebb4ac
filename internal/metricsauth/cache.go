package metricsauth

import (
	"sync"
	"time"
)

// ttlCache is a bounded map whose entries leave only when they expire.
// When full, it drops the expired entries, and if none has expired it
// refuses the new entry rather than evict a live one: a flood of distinct
// keys (junk tokens, made-up paths) then costs the flooder a review per
// request, while what is cached, the legitimate scraper's answers among
// it, stays until its TTL.
type ttlCache[K comparable, V any] struct {
	limit int

	mu      sync.Mutex
	entries map[K]ttlEntry[V]
	// soonest is the earliest expiry among entries, so that a full cache
	// is swept only once something can have expired.
	soonest time.Time
}

type ttlEntry[V any] struct {
	value   V
	expires time.Time
}

func newTTLCache[K comparable, V any](limit int) *ttlCache[K, V] {
	return &ttlCache[K, V]{limit: limit, entries: map[K]ttlEntry[V]{}}
}

// get returns the entry for key unless it has expired at now.
func (c *ttlCache[K, V]) get(key K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// add stores value for key until expires, and reports whether it did: a
// full cache without an expired entry refuses new keys.
func (c *ttlCache[K, V]) add(key K, value V, expires, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.limit {
		if now.Before(c.soonest) {
			return false
		}
		c.dropExpired(now)
		if len(c.entries) >= c.limit {
			return false
		}
	}
	c.entries[key] = ttlEntry[V]{value: value, expires: expires}
	if len(c.entries) == 1 || expires.Before(c.soonest) {
		c.soonest = expires
	}
	return true
}

// dropExpired deletes the entries expired at now and recomputes soonest.
func (c *ttlCache[K, V]) dropExpired(now time.Time) {
	c.soonest = time.Time{}
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
			continue
		}
		if c.soonest.IsZero() || e.expires.Before(c.soonest) {
			c.soonest = e.expires
		}
	}
}

// len is the number of entries, expired ones included until swept.
func (c *ttlCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
