package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/tierguard/tierguard/test/e2e/framework"
)

// auditPolicy logs, at Metadata level, every request of a ServiceAccount of
// Tierguard's namespace (the manager's, and the raw client's, so both planes
// pay the same audit cost) and nothing else. Only the ResponseComplete stage
// is kept: one line per request.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:` + framework.SystemNamespace + `"]
- level: None
`

// writeVerbs are the verbs that change state.
var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

// auditEvent is the part of an audit.k8s.io/v1 Event the bench reads.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef       *objectRef      `json:"objectRef"`
	ResponseStatus  *responseStatus `json:"responseStatus"`
	RequestReceived time.Time       `json:"requestReceivedTimestamp"`
}

// objectRef is the object a request was about.
type objectRef struct {
	Resource    string `json:"resource"`
	Subresource string `json:"subresource"`
}

// responseStatus is how the API server answered.
type responseStatus struct {
	Code int `json:"code"`
}

// resource returns resource[/subresource].
func (e auditEvent) resource() string {
	if e.ObjectRef == nil {
		return "(non-resource)"
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

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
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // the API server may be writing the last line
		}
		if e.User.Username == user && !e.RequestReceived.Before(since) && e.RequestReceived.Before(until) {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
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
		if e.ResponseStatus != nil && e.ResponseStatus.Code == 403 {
			w.Denied++
		}
		if !slices.Contains(writeVerbs, e.Verb) {
			continue
		}
		switch r := e.resource(); r {
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
		if e.resource() == resource && slices.Contains(writeVerbs, e.Verb) && (first.IsZero() || e.RequestReceived.Before(first)) {
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
		if !slices.Contains(resources, e.resource()) || !slices.Contains(writeVerbs, e.Verb) {
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
