package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// editorScript is a KUBE_EDITOR for a real `kubectl edit`: it narrows the
// policy's podSelector, as a person in an editor would.
const editorScript = `#!/bin/sh
sed -i 's/^  podSelector: {}$/  podSelector:\n    matchLabels:\n      tampered: "yes"/' "$1"
`

// driftCase is one change a user or tool makes to an object Tierguard
// enforces, and the drift record Tierguard must write when it repairs it.
type driftCase struct {
	tamper func(ctx context.Context, f *fixture)
	// namespace (short name) and kind of the changed object.
	namespace string
	kind      segv1.ObjectKind
	change    segv1.DriftChange
	// managers are the field managers the record may name; "" is unknown
	// (a change that only removed fields leaves no managedFields entry).
	managers []string
}

var _ = Describe("Drift made with kubectl", Ordered, ContinueOnFailure, func() {
	var f *fixture
	BeforeAll(func(ctx SpecContext) {
		f = newFixture("drift")
		f.createNamespaces(ctx, standardNamespaces...)
		// managedFields times have a resolution of one second: Tierguard's
		// first write must come in a later second than the namespaces'
		// creation, or the creator would be blamed for changes that only
		// remove fields (see the attribution spec below).
		sleepToNextSecond()
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)
	})

	DescribeTable("is repaired and recorded with the change and who made it",
		func(ctx SpecContext, c driftCase) {
			before := f.repairs(ctx)
			c.tamper(ctx, f)
			Eventually(func(ctx context.Context) int64 { return f.repairs(ctx) }).WithContext(ctx).
				WithTimeout(timeout).Should(BeNumerically(">", before), "status.drift.repairs")
			f.expectConverged(ctx, timeout)

			p := f.profile(ctx)
			Expect(p.Status.Drift.Repairs).To(Equal(before+1), "one change, one repair; recent repairs:\n%s", describeRecords(p.Status.Drift.Recent))
			Expect(p.Status.Drift.LastDetectedTime).NotTo(BeNil())
			rec := p.Status.Drift.Recent[0]
			ns := f.ns(c.namespace)
			name := render.PolicyName
			if c.kind == segv1.KindNamespace {
				name = ns
			}
			Expect(rec).To(matchDriftRecord(ns, c.kind, name, c.change))
			Expect(c.managers).To(ContainElement(rec.Manager), "the field manager named by the drift record")

			summary := fmt.Sprintf("%s %s/%s %s", c.kind, ns, name, c.change)
			if c.kind == segv1.KindNamespace {
				summary = fmt.Sprintf("Namespace %s %s", ns, c.change)
			}
			if rec.Manager != "" {
				summary += " by " + rec.Manager
			}
			Expect(condition(p, segv1.ConditionDrifted)).To(Equal("False/Repaired"))
			Expect(driftedMessage(p)).To(ContainSubstring(summary))
			Expect(condition(p, segv1.ConditionReady)).To(Equal("True/Enforced"))
			Eventually(func(ctx context.Context) []string { return profileEventsOf(ctx, f.id).messages("DriftRepaired") }).
				WithContext(ctx).WithTimeout(timeout).Should(ContainElement(ContainSubstring(summary)))
		},
		Entry("kubectl edit of a policy", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				editor := filepath.Join(workDir, "kube-editor.sh")
				Expect(os.WriteFile(editor, []byte(editorScript), 0o755)).To(Succeed())
				_, err := kubectl.WithEnv("KUBE_EDITOR="+editor).Run(ctx, "edit", "networkpolicy", render.PolicyName, "-n", f.ns("dev-a"))
				Expect(err).NotTo(HaveOccurred())
			},
			namespace: "dev-a", kind: "NetworkPolicy", change: segv1.DriftModified, managers: []string{"kubectl-edit"},
		}),
		Entry("kubectl patch of a policy", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				// Egress as a policy type without egress rules cuts all egress.
				run(ctx, "patch", "networkpolicy", render.PolicyName, "-n", f.ns("test-a"), "--type=merge",
					`-p={"spec":{"policyTypes":["Ingress","Egress"]}}`)
			},
			namespace: "test-a", kind: "NetworkPolicy", change: segv1.DriftModified, managers: []string{"kubectl-patch"},
		}),
		Entry("server-side apply of a policy by another field manager", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				runWithInput(ctx, allowAllPolicy(f.ns("prod-a")), "apply", "--server-side", "--force-conflicts",
					"--field-manager=platform-team", "-f", "-")
			},
			namespace: "prod-a", kind: "NetworkPolicy", change: segv1.DriftModified, managers: []string{"platform-team"},
		}),
		Entry("client-side kubectl apply of a policy with a field manager", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				runWithInput(ctx, allowAllPolicy(f.ns("prod-b")), "apply", "--field-manager=ops-script", "-f", "-")
			},
			namespace: "prod-b", kind: "NetworkPolicy", change: segv1.DriftModified, managers: []string{"ops-script"},
		}),
		Entry("kubectl delete of a policy", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				run(ctx, "delete", "networkpolicy", render.PolicyName, "-n", f.ns("dev-b"))
			},
			// Who deleted an object is not recorded on it.
			namespace: "dev-b", kind: "NetworkPolicy", change: segv1.DriftDeleted, managers: []string{""},
		}),
		Entry("stripping a policy's labels", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				run(ctx, "label", "networkpolicy", render.PolicyName, "-n", f.ns("test-b"), render.ManagedByLabel+"-", render.ProfileLabel+"-")
			},
			// The policy leaves Tierguard's label-filtered cache, but it still
			// exists: a modification. Removing fields leaves no entry of the
			// remover in managedFields.
			namespace: "test-b", kind: "NetworkPolicy", change: segv1.DriftModified, managers: []string{"", "kubectl-label"},
		}),
		Entry("kubectl label changing a tier label", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				run(ctx, "label", "namespace", f.ns("test-b"), f.key+"=prod", "--overwrite")
			},
			namespace: "test-b", kind: "Namespace", change: segv1.DriftLabelChanged, managers: []string{"kubectl-label"},
		}),
		Entry("kubectl label removing a tier label", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				run(ctx, "label", "namespace", f.ns("dev-a"), f.key+"-")
			},
			namespace: "dev-a", kind: "Namespace", change: segv1.DriftLabelRemoved, managers: []string{""},
		}),
		Entry("kubectl label removing a tier's Pod Security label", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				run(ctx, "label", "namespace", f.ns("prod-a"), psaLabel+"-")
			},
			namespace: "prod-a", kind: "Namespace", change: segv1.DriftLabelRemoved, managers: []string{""},
		}),
		Entry("server-side apply of a namespace with another tier", driftCase{
			tamper: func(ctx context.Context, f *fixture) {
				runWithInput(ctx, f.namespacesYAML([]nsSpec{{"test-a", "test"}}, map[string]string{f.key: "dev"}),
					"apply", "--server-side", "--force-conflicts", "--field-manager=platform-team", "-f", "-")
			},
			namespace: "test-a", kind: "Namespace", change: segv1.DriftLabelChanged, managers: []string{"platform-team"},
		}),
	)
})

// Drift attribution end to end: a change that only removes fields (here all
// of Tierguard's labels, and with them its managedFields entry) leaves no
// entry of its author, so the record names no manager ("unknown", as the
// README promises) rather than the namespace's creator. The same-second and
// bystander cases are table tests of internal/drift (TestManager).
var _ = Describe("Drift attribution", func() {
	It("names no field manager when all of Tierguard's labels are removed at once", func(ctx SpecContext) {
		f := newFixture("attribution-all")
		f.createNamespaces(ctx, nsSpec{"prod-a", "prod"}, nsSpec{"ingress", ""}, nsSpec{"legacy", ""})
		sleepToNextSecond()
		f.applyProfile(ctx)
		f.waitReady(ctx)
		f.expectConverged(ctx, timeout)
		ns := f.ns("prod-a")

		By("removing the tier, profile and Pod Security labels in one command: Tierguard's managedFields entry goes with them")
		run(ctx, "label", "namespace", ns, f.key+"-", render.ProfileLabel+"-", psaLabel+"-")
		Eventually(f.repairs).WithContext(ctx).WithTimeout(timeout).Should(BeEquivalentTo(1))
		f.expectConverged(ctx, timeout)
		rec := f.profile(ctx).Status.Drift.Recent[0]
		Expect(rec).To(matchDriftRecord(ns, "Namespace", ns, segv1.DriftLabelRemoved))
		Expect(rec.Manager).To(BeEmpty(), "the namespace's creator (kubectl) did not remove the labels")
	})
})

// matchDriftRecord matches a drift record's object and change.
func matchDriftRecord(namespace string, kind segv1.ObjectKind, name string, change segv1.DriftChange) OmegaMatcher {
	return And(
		HaveField("Namespace", namespace), HaveField("Kind", kind),
		HaveField("Name", name), HaveField("Change", change),
	)
}

// driftedMessage returns the message of the Drifted condition.
func driftedMessage(p *segv1.SegmentationProfile) string {
	for _, c := range p.Status.Conditions {
		if c.Type == segv1.ConditionDrifted {
			return c.Message
		}
	}
	return ""
}

// allowAllPolicy is a manifest of the managed policy that admits everything.
func allowAllPolicy(namespace string) string {
	return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: %s
  namespace: %s
spec:
  podSelector: {}
  ingress:
  - {}
`, render.PolicyName, namespace)
}

// run runs kubectl as the admin and fails the spec on error.
func run(ctx context.Context, args ...string) string {
	GinkgoHelper()
	out, err := kubectl.Run(ctx, args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// runWithInput is run with stdin.
func runWithInput(ctx context.Context, stdin string, args ...string) string {
	GinkgoHelper()
	out, err := kubectl.RunWithInput(ctx, stdin, args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// describeRecords renders drift records one per line.
func describeRecords(records []segv1.DriftRecord) string {
	var b strings.Builder
	for _, r := range records {
		fmt.Fprintf(&b, "%s %s %s/%s %s by %q\n", r.Time.UTC().Format(time.RFC3339), r.Kind, r.Namespace, r.Name, r.Change, r.Manager)
	}
	return b.String()
}

// sleepToNextSecond sleeps until just after the next full second.
func sleepToNextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 10*time.Millisecond).Sub(now))
}
