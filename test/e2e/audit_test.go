package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tierguard/tierguard/test/e2e/framework"
)

// auditPolicy makes the API server log, at Metadata level, every request by
// a ServiceAccount of Tierguard's namespace, and nothing else: who did
// what, and whether it was allowed. The suite counts the manager's writes
// with it and fails on any request RBAC denied.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:` + framework.SystemNamespace + `"]
- level: None
`

// auditEvent is the part of an audit.k8s.io/v1 Event the suite reads.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		APIGroup    string `json:"apiGroup"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	RequestReceived time.Time `json:"requestReceivedTimestamp"`
	RequestURI      string    `json:"requestURI"`
}

// resource returns resource[/subresource] of the request, or its URI.
func (e auditEvent) resource() string {
	if e.ObjectRef == nil {
		return e.RequestURI
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

// String describes the request for a failure message.
func (e auditEvent) String() string {
	code := 0
	if e.ResponseStatus != nil {
		code = e.ResponseStatus.Code
	}
	where := ""
	if e.ObjectRef != nil {
		where = e.ObjectRef.Namespace + "/" + e.ObjectRef.Name
	}
	return fmt.Sprintf("%s %s %s %s %s -> %d", e.RequestReceived.Format(time.RFC3339Nano), e.User.Username, e.Verb, e.resource(), where, code)
}

// isWrite reports whether the request changes state.
func (e auditEvent) isWrite() bool {
	return slices.Contains([]string{"create", "update", "patch", "delete", "deletecollection"}, e.Verb)
}

// auditEvents reads the audit log: requests by Tierguard's ServiceAccounts
// received at or after since.
func auditEvents(since time.Time) []auditEvent {
	GinkgoHelper()
	f, err := os.Open(auditLog)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // the API server may be writing the last line
		}
		if !e.RequestReceived.Before(since) {
			out = append(out, e)
		}
	}
	Expect(sc.Err()).NotTo(HaveOccurred())
	return out
}

// deniedSince returns the requests of Tierguard's ServiceAccounts that were
// answered 403 Forbidden since the given time.
func deniedSince(since time.Time) []auditEvent {
	var denied []auditEvent
	for _, e := range auditEvents(since) {
		if e.ResponseStatus != nil && e.ResponseStatus.Code == 403 {
			denied = append(denied, e)
		}
	}
	return denied
}

// stateWrites returns the writes user made in [since, until) to the
// cluster's state: everything but leader election leases and events.
func stateWrites(user string, since, until time.Time) []auditEvent {
	GinkgoHelper()
	var out []auditEvent
	for _, e := range auditEvents(since) {
		if e.User.Username != user || !e.isWrite() || !e.RequestReceived.Before(until) {
			continue
		}
		if r := e.resource(); r == "leases" || r == "events" {
			continue
		}
		out = append(out, e)
	}
	return out
}

// describeEvents renders audit events one per line.
func describeEvents(events []auditEvent) string {
	lines := make([]string, len(events))
	for i, e := range events {
		lines[i] = e.String()
	}
	return strings.Join(lines, "\n")
}
