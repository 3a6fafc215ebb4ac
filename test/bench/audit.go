package main

import (
	"slices"
	"time"

	"github.com/tierguard/tierguard/test/harness"
)

// auditEvent is an audit log entry (see harness.ReadAudit).
type auditEvent = harness.AuditEvent

// Writes counts one user's mutating requests in a window, by
// "resource verb" (e.g. "namespaces patch"). Leases (leader election
// renewals) and events are kept apart from the state Tierguard manages.
type Writes struct {
	// Window is how long the window lasted, in seconds.
	Window float64 `json:"windowSeconds"`
	// State counts writes to everything but leases and events: namespaces,
	// networkpolicies, segmentationprofiles (and their status).
	State map[string]int `json:"state"`
	// StateTotal is the sum of State.
	StateTotal int `json:"stateTotal"`
	// Leases counts leader election lease writes.
	Leases int `json:"leases"`
	// Events counts events written.
	Events int `json:"events"`
	// Denied counts requests RBAC refused (403), writes or not.
	Denied int `json:"denied"`
}

// auditLog reads an API server audit log.
type auditLog struct{ path string }

// events returns the events of user received in [since, until).
func (l auditLog) events(user string, since, until time.Time) ([]auditEvent, error) {
	all, err := harness.ReadAudit(l.path, since)
	if err != nil {
		return nil, err
	}
	var out []auditEvent
	for _, e := range all {
		if e.User.Username == user && e.RequestReceived.Before(until) {
			out = append(out, e)
		}
	}
	return out, nil
}

// writes counts user's writes in [since, until).
func (l auditLog) writes(user string, since, until time.Time) (Writes, error) {
	events, err := l.events(user, since, until)
	if err != nil {
		return Writes{}, err
	}
	w := countWrites(events)
	w.Window = seconds(until.Sub(since))
	return w, nil
}

// countWrites classifies events.
func countWrites(events []auditEvent) Writes {
	w := Writes{State: map[string]int{}}
	for _, e := range events {
		if e.Denied() {
			w.Denied++
		}
		if !e.IsWrite() {
			continue
		}
		switch r := e.Resource(); r {
		case "leases":
			w.Leases++
		case "events":
			w.Events++
		default:
			w.State[r+" "+e.Verb]++
			w.StateTotal++
		}
	}
	return w
}

// firstWrite returns the time of the first write of user to resource at or
// after since, and whether there is one.
func (l auditLog) firstWrite(user, resource string, since, until time.Time) (time.Time, bool, error) {
	events, err := l.events(user, since, until)
	if err != nil {
		return time.Time{}, false, err
	}
	var first time.Time
	for _, e := range events {
		if e.Resource() == resource && e.IsWrite() && (first.IsZero() || e.RequestReceived.Before(first)) {
			first = e.RequestReceived
		}
	}
	return first, !first.IsZero(), nil
}

// writeSpan returns the times of the first and last writes of user to any
// of resources in [since, until), and whether there is one.
func (l auditLog) writeSpan(user string, resources []string, since, until time.Time) (first, last time.Time, ok bool, err error) {
	events, err := l.events(user, since, until)
	if err != nil {
		return first, last, false, err
	}
	for _, e := range events {
		if !slices.Contains(resources, e.Resource()) || !e.IsWrite() {
			continue
		}
		if first.IsZero() || e.RequestReceived.Before(first) {
			first = e.RequestReceived
		}
		if e.RequestReceived.After(last) {
			last = e.RequestReceived
		}
	}
	return first, last, !first.IsZero(), nil
}
