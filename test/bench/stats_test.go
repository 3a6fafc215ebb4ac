package main

import (
	"testing"
	"time"

	"github.com/tierguard/tierguard/test/harness"
)

func TestLatenciesInterpolate(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := latenciesOf(d)
	if l.Count != 100 || l.P50 != 50.5 || l.P99 != 99 || l.Max != 100 {
		t.Fatalf("latenciesOf(1..100 ms) = %+v, want p50 50.5, p99 99, max 100", l)
	}
}

func TestSpreadOf(t *testing.T) {
	s := spreadOf([]float64{3, 1, 2})
	if s != (Spread{Min: 1, Median: 2, Max: 3, Runs: 3}) {
		t.Fatalf("spreadOf = %+v", s)
	}
	if (spreadOf(nil) != Spread{}) {
		t.Fatal("spreadOf(nil) is not zero")
	}
}

func TestCountWrites(t *testing.T) {
	ev := func(verb, resource, sub string, code int) auditEvent {
		return auditEvent{Verb: verb, ObjectRef: &harness.AuditObjectRef{Resource: resource, Subresource: sub}, ResponseStatus: &harness.AuditResponseStatus{Code: code}}
	}
	w := countWrites([]auditEvent{
		ev("patch", "namespaces", "", 200),
		ev("patch", "segmentationprofiles", "status", 200),
		ev("update", "leases", "", 200),
		ev("create", "events", "", 201),
		ev("get", "networkpolicies", "", 403),
		ev("list", "namespaces", "", 200),
	})
	if w.StateTotal != 2 || w.State["namespaces patch"] != 1 || w.State["segmentationprofiles/status patch"] != 1 ||
		w.Leases != 1 || w.Events != 1 || w.Denied != 1 {
		t.Fatalf("countWrites = %+v", w)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
