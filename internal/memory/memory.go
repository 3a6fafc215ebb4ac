// Package memory is what the controller remembers of each profile between
// passes, so that a pass over an unchanged cluster compares nothing twice
// and reports each change once. It is shaped like Cluster API's SSA cache
// (internal/util/ssa/cache.go): entries are keyed on what makes them true
// (a policy's resourceVersion and UID with the plan's hash; a tier plan's
// hash and owner; the inputs of a leak analysis), so they never need
// invalidating when the cluster changes; they are dropped when their
// profile goes (Forget) or its plan no longer holds them; and lookups are
// counted (tierguard_memory_lookups_total) as hits and misses.
//
// The memory is lost on restart, by design: each kind of entry says what a
// fresh process does without it.
package memory

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tierguard/tierguard/internal/metrics"
)

// Memory holds every profile's memory. The zero value is ready to use, and
// it is safe for concurrent use by passes of different profiles.
type Memory struct {
	mu       sync.Mutex
	profiles map[string]*Profile
}

// Profile returns a profile's memory, empty the first time. Only the
// profile's own pass may use it: the controller's work queue hands a key to
// one worker at a time, so a Profile needs no lock.
func (m *Memory) Profile(name string) *Profile {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.profiles == nil {
		m.profiles = map[string]*Profile{}
	}
	p, ok := m.profiles[name]
	if !ok {
		p = &Profile{}
		m.profiles[name] = p
	}
	return p
}

// Forget drops everything remembered of a deleted profile.
func (m *Memory) Forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.profiles, name)
}

// Len is the number of profiles remembered.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.profiles)
}

// counter counts the lookups of one kind of entry.
type counter struct{ hit, miss prometheus.Counter }

func newCounter(memory string) counter {
	return counter{hit: metrics.MemoryLookups.WithLabelValues(memory, "hit"),
		miss: metrics.MemoryLookups.WithLabelValues(memory, "miss")}
}

func (c counter) count(hit bool) {
	if hit {
		c.hit.Inc()
	} else {
		c.miss.Inc()
	}
}

var (
	verifiedLookups = newCounter("verified")
	acceptedLookups = newCounter("accepted")
	leaksLookups    = newCounter("leaks")
)
