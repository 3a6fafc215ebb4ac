package metricsauth

import (
	"testing"
	"time"
)

func TestTTLCache(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := newTTLCache[string, int](2)
	if !c.add("a", 1, t0.Add(time.Minute), t0) || !c.add("b", 2, t0.Add(2*time.Minute), t0) {
		t.Fatal("a cache with room refused an entry")
	}
	if c.add("c", 3, t0.Add(time.Minute), t0.Add(time.Second)) {
		t.Error("a full cache without an expired entry took a new one")
	}
	if v, ok := c.get("a", t0.Add(time.Second)); !ok || v != 1 {
		t.Errorf("get(a) = %v, %v: a refused entry evicted a live one", v, ok)
	}
	if !c.add("a", 4, t0.Add(time.Minute), t0.Add(time.Second)) {
		t.Error("a full cache refused to refresh an entry it holds")
	}
	if _, ok := c.get("a", t0.Add(time.Minute)); ok {
		t.Error("an entry is served at its expiry")
	}
	if !c.add("c", 3, t0.Add(3*time.Minute), t0.Add(time.Minute)) {
		t.Error("a full cache with an expired entry refused a new one")
	}
	if _, ok := c.get("b", t0.Add(time.Minute)); !ok || c.len() != 2 {
		t.Errorf("making room dropped a live entry, or kept the expired one: len %d", c.len())
	}
	if v, ok := c.get("c", t0.Add(2*time.Minute)); !ok || v != 3 {
		t.Errorf("get(c) = %v, %v", v, ok)
	}
}
