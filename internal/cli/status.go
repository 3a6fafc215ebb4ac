package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// WriteStatus prints a profile's state for a person, in the manner of
// kubectl describe: mode, tiers with their namespace counts, conditions,
// recent drift and who caused it, conflicts and isolation leaks. now is
// what ages are measured from, so that the output can be tested.
func WriteStatus(w io.Writer, p *segv1.SegmentationProfile, now time.Time) error {
	var b strings.Builder
	st := &p.Status
	field := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "%-12s%s\n", name+":", fmt.Sprintf(format, args...))
	}
	field("Name", "%s", p.Name)
	field("Mode", "%s", render.Mode(p))
	switch {
	case st.ObservedGeneration == 0:
		field("Generation", "%d (Tierguard has not reported on this profile yet)", p.Generation)
	case st.ObservedGeneration < p.Generation:
		field("Generation", "%d (the status describes generation %d: Tierguard has not caught up)", p.Generation, st.ObservedGeneration)
	default:
		field("Generation", "%d", p.Generation)
	}
	field("Boundaries", "enforced by %s", render.Enforcement(p))
	managed := fmt.Sprintf("%d managed NetworkPolicies", st.ManagedPolicies)
	if render.UsesClusterNetworkPolicies(p) || st.ManagedClusterNetworkPolicies > 0 {
		managed += fmt.Sprintf(", %d managed ClusterNetworkPolicies", st.ManagedClusterNetworkPolicies)
	}
	field("Namespaces", "%d governed, %s", st.GovernedNamespaces, managed)
	if render.Mode(p) == segv1.ModeAudit {
		field("Pending", "%d changes Enforce would make", st.PendingChanges)
	}

	b.WriteString("Tiers:\n")
	table(&b, []string{"TIER", "NAMESPACES", "ISOLATION", "ASSIGNMENT"}, tierRows(p))

	if len(st.Conditions) == 0 {
		field("Conditions", "none")
	} else {
		b.WriteString("Conditions:\n")
		var rows [][]string
		for _, c := range st.Conditions {
			rows = append(rows, []string{c.Type, string(c.Status), c.Reason, age(now, c.LastTransitionTime), oneLine(c.Message)})
		}
		table(&b, []string{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}, rows)
	}

	writeDrift(&b, field, &st.Drift, now)
	writeMembership(&b, field, &st.Membership, now)
	writeConflicts(&b, field, st)
	writeLeaks(&b, field, st)
	writeCanary(&b, field, p, now)
	_, err := io.WriteString(w, b.String())
	return err
}

// fieldFunc prints one "Name: value" line.
type fieldFunc func(name, format string, args ...any)

func tierRows(p *segv1.SegmentationProfile) [][]string {
	counts := map[string]string{}
	for _, t := range p.Status.Tiers {
		counts[t.Name] = fmt.Sprint(t.Namespaces)
	}
	var rows [][]string
	for _, t := range p.Spec.Tiers {
		n, ok := counts[string(t.Name)]
		if !ok {
			n = "-" // not reported yet
		}
		isolation := t.Isolation
		if isolation == "" {
			isolation = segv1.IsolationTier
		}
		assignment := t.Assignment
		if assignment == "" {
			assignment = segv1.AssignmentRestricted
		}
		rows = append(rows, []string{string(t.Name), n, string(isolation), string(assignment)})
	}
	return rows
}

func writeDrift(b *strings.Builder, field fieldFunc, d *segv1.DriftStatus, now time.Time) {
	if d.Repairs == 0 && len(d.Recent) == 0 {
		field("Drift", "none")
		return
	}
	last := ""
	if d.LastDetectedTime != nil {
		last = fmt.Sprintf(", last detected %s ago", age(now, *d.LastDetectedTime))
	}
	field("Drift", "%d repairs%s", d.Repairs, last)
	var rows [][]string
	for _, r := range d.Recent {
		rows = append(rows, []string{age(now, r.Time), r.Namespace, string(r.Kind) + "/" + r.Name, string(r.Change), or(r.Manager, "(unknown)")})
	}
	table(b, []string{"AGE", "NAMESPACE", "OBJECT", "CHANGE", "BY"}, rows)
	more(b, len(d.Recent), d.Repairs)
}

func writeMembership(b *strings.Builder, field fieldFunc, m *segv1.MembershipStatus, now time.Time) {
	if m.Changes == 0 && len(m.Recent) == 0 && m.RetainedCount == 0 {
		field("Membership", "no changes")
		return
	}
	retained := ""
	if m.RetainedCount > 0 {
		retained = fmt.Sprintf("; %d retained after leaving: %s", m.RetainedCount, strings.Join(m.Retained, ", "))
		if int(m.RetainedCount) > len(m.Retained) {
			retained += fmt.Sprintf(", ... and %d more", int(m.RetainedCount)-len(m.Retained))
		}
	}
	field("Membership", "%d changes%s", m.Changes, retained)
	var rows [][]string
	for _, c := range m.Recent {
		rows = append(rows, []string{age(now, c.Time), c.Namespace, string(c.Action), or(c.From, "-"), or(c.To, "-"), or(c.Manager, "(unknown)")})
	}
	if len(rows) > 0 {
		table(b, []string{"AGE", "NAMESPACE", "ACTION", "FROM", "TO", "BY"}, rows)
		more(b, len(m.Recent), m.Changes)
	}
}

// or returns s, or instead when s is empty.
func or(s, instead string) string {
	if s == "" {
		return instead
	}
	return s
}

func writeConflicts(b *strings.Builder, field fieldFunc, st *segv1.SegmentationProfileStatus) {
	if st.ConflictCount == 0 && len(st.Conflicts) == 0 {
		field("Conflicts", "none")
		return
	}
	field("Conflicts", "%d", st.ConflictCount)
	var rows [][]string
	for _, c := range st.Conflicts {
		ns := c.Namespace
		if ns == "" {
			ns = "(profile)"
		}
		rows = append(rows, []string{ns, string(c.Reason), oneLine(c.Message)})
	}
	table(b, []string{"NAMESPACE", "REASON", "MESSAGE"}, rows)
	more(b, len(st.Conflicts), int64(st.ConflictCount))
}

func writeLeaks(b *strings.Builder, field fieldFunc, st *segv1.SegmentationProfileStatus) {
	iso := &st.Isolation
	if c := meta.FindStatusCondition(st.Conditions, segv1.ConditionIsolationVerified); c != nil && c.Status == metav1.ConditionUnknown {
		field("Leaks", "not verified yet (%s)", c.Reason)
		return
	}
	if iso.LeakCount == 0 && len(iso.Leaks) == 0 {
		field("Leaks", "none")
		return
	}
	field("Leaks", "%d", iso.LeakCount)
	var rows [][]string
	for _, l := range iso.Leaks {
		from := "namespace " + l.FromNamespace
		if l.FromTier != "" {
			from = "tier " + l.FromTier
		}
		rows = append(rows, []string{from, l.To, l.Ports, l.Policy})
	}
	table(b, []string{"FROM", "TO", "PORTS", "POLICY"}, rows)
	more(b, len(iso.Leaks), int64(iso.LeakCount))
}

// table prints an indented table, or nothing without rows.
func table(b *strings.Builder, header []string, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "  %s\n", strings.Join(header, "\t"))
	for _, r := range rows {
		_, _ = fmt.Fprintf(tw, "  %s\n", strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// more says how many entries the status counts beyond those it lists.
func more(b *strings.Builder, listed int, total int64) {
	if total > int64(listed) {
		fmt.Fprintf(b, "  ... and %d more\n", total-int64(listed))
	}
}

// age is how long ago t was, as kubectl prints ages.
func age(now time.Time, t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// oneLine keeps a message on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// writeCanary prints the enforcement canary's last rounds: when, the
// result, how many forbidden paths were blocked and allowed paths open, the
// nodes, and the first path that decided a failed round.
func writeCanary(b *strings.Builder, field fieldFunc, p *segv1.SegmentationProfile, now time.Time) {
	if p.Spec.Canary == nil {
		field("Canary", "off (spec.canary)")
		return
	}
	c := p.Status.Canary
	if c == nil || len(c.Rounds) == 0 {
		field("Canary", "every %s, no round yet", p.Spec.Canary.Interval.Duration)
		return
	}
	last := "never"
	if c.LastVerifiedTime != nil {
		last = age(now, *c.LastVerifiedTime) + " ago"
	}
	field("Canary", "every %s, last verified %s", p.Spec.Canary.Interval.Duration, last)
	var rows [][]string
	for _, r := range c.Rounds {
		var blocked, forbidden, open, allowed int
		nodes := map[string]bool{}
		decided := ""
		for _, path := range r.Paths {
			nodes[or(path.Node, "(unknown)")] = true
			if path.Allowed {
				allowed++
				if path.Open {
					open++
				} else if decided == "" && r.Result == segv1.CanaryInconclusive {
					decided = fmt.Sprintf("%s -> %s %s/%d closed", path.From, path.To, path.Protocol, path.Port)
				}
				continue
			}
			forbidden++
			if !path.Open {
				blocked++
			} else if r.Result == segv1.CanaryNotEnforced && !strings.Contains(decided, "open") {
				decided = fmt.Sprintf("%s -> %s %s/%d open", path.From, path.To, path.Protocol, path.Port)
			}
		}
		rows = append(rows, []string{age(now, r.Time), r.Result, fmt.Sprintf("%d/%d", blocked, forbidden),
			fmt.Sprintf("%d/%d", open, allowed), strings.Join(slices.Sorted(maps.Keys(nodes)), ","), decided})
	}
	table(b, []string{"AGE", "RESULT", "BLOCKED", "OPEN", "NODES", "DECIDED BY"}, rows)
}
