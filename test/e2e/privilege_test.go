package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// The least-privilege check: every spec fails when a manager logged
// "forbidden" or the audit log shows a request of Tierguard's ServiceAccounts
// answered 403 (see suite_test.go).
//
// One exception, made as narrow as possible: a kube-apiserver that has just
// been restarted serves requests before its RBAC authorizer has loaded the
// roles, and denies them with `clusterrole "tierguard-manager-role" not
// found`. A denial is excused only while a spec restarts the API server
// (faults.during) and only when config/rbac grants what was denied, so a
// missing permission still fails the suite.

// faults are the time windows in which the control plane is being
// restarted.
var faults = &faultWindows{}

type faultWindows struct {
	mu      sync.Mutex
	windows [][2]time.Time
}

// faultGrace is how long after a restart returns a denial is still excused:
// the manager's requests may have been sent before /readyz turned ready.
const faultGrace = 2 * time.Second

// during runs fn, a restart of the control plane, as a fault window.
func (w *faultWindows) during(fn func()) {
	began := time.Now()
	defer func() {
		w.mu.Lock()
		w.windows = append(w.windows, [2]time.Time{began, time.Now().Add(faultGrace)})
		w.mu.Unlock()
	}()
	fn()
}

// contains reports whether t falls in a fault window.
func (w *faultWindows) contains(t time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.windows, func(win [2]time.Time) bool { return !t.Before(win[0]) && !t.After(win[1]) })
}

var (
	grantsOnce sync.Once
	rules      []rbacv1.PolicyRule
)

// granted reports whether config/rbac's ClusterRole or leader election Role
// grants verb on group/resource.
func granted(verb, group, resource string) bool {
	grantsOnce.Do(func() {
		for _, file := range []string{"role.yaml", "leader_election_role.yaml"} {
			data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", file))
			Expect(err).NotTo(HaveOccurred())
			var role rbacv1.ClusterRole // a Role has the same rules
			Expect(yaml.Unmarshal(data, &role)).To(Succeed())
			rules = append(rules, role.Rules...)
		}
	})
	return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
	})
}

// forbiddenLine matches the manager's log of a denied request.
var forbiddenLine = regexp.MustCompile(`^(\S+)\s.*cannot (\w+) resource \\?"([^"\\]+)\\?" in API group \\?"([^"\\]*)\\?"`)

// unexcusedLogLines drops the log lines of denials that a restart of the
// API server explains.
func unexcusedLogLines(lines []string) []string {
	var out []string
	for _, line := range lines {
		m := forbiddenLine.FindStringSubmatch(stripLogName(line))
		if m != nil {
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err == nil && faults.contains(at) && granted(m[2], m[4], m[3]) {
				GinkgoWriter.Printf("Excused during an API server restart: %s\n", line)
				continue
			}
		}
		out = append(out, line)
	}
	return out
}

// stripLogName removes the "<file>: " prefix forbiddenSince adds.
func stripLogName(line string) string {
	for i := range len(line) - 1 {
		if line[i] == ':' && line[i+1] == ' ' {
			return line[i+2:]
		}
	}
	return line
}

// unexcusedDenials drops the audit events of denials that a restart of the
// API server explains.
func unexcusedDenials(events []auditEvent) []string {
	var out []string
	for _, e := range events {
		if e.ObjectRef != nil && faults.contains(e.RequestReceived) && granted(e.Verb, e.ObjectRef.APIGroup, e.Resource()) {
			GinkgoWriter.Printf("Excused during an API server restart: %s\n", e)
			continue
		}
		out = append(out, e.String())
	}
	return out
}
