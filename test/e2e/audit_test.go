package e2e_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tierguard/tierguard/test/harness"
)

// auditEvent is an audit log entry (see harness.ReadAudit).
type auditEvent = harness.AuditEvent

// auditEvents reads the audit log: requests by Tierguard's ServiceAccounts
// received at or after since.
func auditEvents(since time.Time) []auditEvent {
	GinkgoHelper()
	events, err := harness.ReadAudit(cp.AuditLogPath, since)
	Expect(err).NotTo(HaveOccurred())
	return events
}

// deniedSince returns the requests of Tierguard's ServiceAccounts that were
// answered 403 Forbidden since the given time.
func deniedSince(since time.Time) []auditEvent {
	var denied []auditEvent
	for _, e := range auditEvents(since) {
		if e.Denied() {
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
		if e.User.Username != user || !e.IsWrite() || !e.RequestReceived.Before(until) {
			continue
		}
		if r := e.Resource(); r == "leases" || r == "events" {
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
