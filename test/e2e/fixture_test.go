package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// fixtureLabel marks a spec's namespaces; its profile selects only them.
const fixtureLabel = "e2e.tierguard.io/fixture"

// psaLabel is the tier label the fixture profiles add through namespaceLabels.
const psaLabel = "pod-security.kubernetes.io/enforce"

// fixture is one spec's profile and namespaces. The profile is named id, uses
// its own tierLabelKey, and its tiers select namespaces by fixtureLabel=id
// and env=dev|test|prod, so specs never claim each other's namespaces.
type fixture struct {
	id  string
	key string
	// deletionPolicy is the profile's, empty for the default (Delete).
	deletionPolicy string
	// enforcement is the profile's, empty for the default (NetworkPolicy).
	enforcement string
}

// nsSpec is a namespace to create: its short name and env label ("" for none).
type nsSpec struct{ name, env string }

func newFixture(id string) *fixture {
	return &fixture{id: id, key: id + ".e2e.tierguard.io/tier"}
}

// ns returns the full name of the fixture's namespace short.
func (f *fixture) ns(short string) string { return f.id + "-" + short }

// shared is the fixture's shared namespace; legacy its excluded one.
func (f *fixture) shared() string { return f.ns("ingress") }
func (f *fixture) legacy() string { return f.ns("legacy") }

// namespacesYAML returns the manifests of namespaces, labelled with
// fixtureLabel and their env, plus extra labels.
func (f *fixture) namespacesYAML(specs []nsSpec, extra map[string]string) string {
	var b strings.Builder
	for _, s := range specs {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    %s: %s\n", f.ns(s.name), fixtureLabel, f.id)
		if s.env != "" {
			fmt.Fprintf(&b, "    env: %s\n", s.env)
		}
		for k, v := range extra {
			fmt.Fprintf(&b, "    %s: %q\n", k, v)
		}
		b.WriteString("---\n")
	}
	return b.String()
}

// createNamespaces creates namespaces with server-side apply. (A later
// `kubectl apply --server-side` to an object created client-side migrates
// its managedFields and then applies again: two writes, where the drift
// specs count one.)
func (f *fixture) createNamespaces(ctx context.Context, specs ...nsSpec) {
	GinkgoHelper()
	_, err := kubectl.RunWithInput(ctx, f.namespacesYAML(specs, nil), "apply", "--server-side", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
}

// standardNamespaces are two namespaces per tier, the shared one, an
// excluded one that matches dev, and an unrelated one.
var standardNamespaces = []nsSpec{
	{"dev-a", "dev"}, {"dev-b", "dev"},
	{"test-a", "test"}, {"test-b", "test"},
	{"prod-a", "prod"}, {"prod-b", "prod"},
	{"ingress", ""}, {"legacy", "dev"}, {"other", "staging"},
}

// profileYAML is the fixture's profile: tiers dev, test (dev may reach it on
// TCP 443) and prod (isolated per namespace), per-tier Pod Security labels,
// the shared and the excluded namespace.
func (f *fixture) profileYAML() string {
	sel := func(env string) string {
		return fmt.Sprintf("{matchLabels: {%s: %s, env: %s}}", fixtureLabel, f.id, env)
	}
	y := fmt.Sprintf(`apiVersion: segmentation.tierguard.io/v1alpha1
kind: SegmentationProfile
metadata:
  name: %[1]s
spec:
  tierLabelKey: %[2]s
  tiers:
  - name: dev
    namespaces: {selector: %[3]s}
    namespaceLabels: {%[6]s: baseline}
  - name: test
    namespaces: {selector: %[4]s}
  - name: prod
    namespaces: {selector: %[5]s}
    isolation: Namespace
    namespaceLabels: {%[6]s: restricted}
  flows:
  - {from: dev, to: test, ports: [{protocol: TCP, port: 443}]}
  sharedNamespaces: {names: [%[7]s]}
  excludedNamespaces: [%[8]s]
`, f.id, f.key, sel("dev"), sel("test"), sel("prod"), psaLabel, f.shared(), f.legacy())
	if f.deletionPolicy != "" {
		y += "  deletionPolicy: " + f.deletionPolicy + "\n"
	}
	if f.enforcement != "" {
		y += "  enforcement: " + f.enforcement + "\n"
	}
	return y
}

// applyProfile applies the profile with kubectl and registers its deletion
// (waiting for Tierguard's cleanup) at the end of the spec.
func (f *fixture) applyProfile(ctx context.Context) {
	GinkgoHelper()
	_, err := kubectl.RunWithInput(ctx, f.profileYAML(), "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		_, err := kubectl.Run(ctx, "delete", "segmentationprofile", f.id, "--ignore-not-found", "--timeout=60s")
		Expect(err).NotTo(HaveOccurred(), "delete profile %s", f.id)
	}, NodeTimeout(90*time.Second))
}

// waitReady waits with kubectl for the profile's Ready condition.
func (f *fixture) waitReady(ctx context.Context) {
	GinkgoHelper()
	_, err := kubectl.Wait(ctx, timeout, "--for=condition=Ready", "segmentationprofile/"+f.id)
	Expect(err).NotTo(HaveOccurred())
}

// profile returns the live profile.
func (f *fixture) profile(ctx context.Context) *segv1.SegmentationProfile {
	GinkgoHelper()
	p := &segv1.SegmentationProfile{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: f.id}, p)).To(Succeed())
	return p
}

// repairs returns status.drift.repairs.
func (f *fixture) repairs(ctx context.Context) int64 {
	GinkgoHelper()
	return f.profile(ctx).Status.Drift.Repairs
}

// condition returns "Status/Reason" of a condition of the profile, "stale"
// when it describes an older generation, "" when absent.
func condition(p *segv1.SegmentationProfile, condType string) string {
	c := meta.FindStatusCondition(p.Status.Conditions, condType)
	switch {
	case c == nil:
		return ""
	case c.ObservedGeneration != p.Generation:
		return "stale"
	}
	return string(c.Status) + "/" + c.Reason
}

// nsLabels returns a namespace's labels.
func nsLabels(ctx context.Context, name string) map[string]string {
	GinkgoHelper()
	ns := &corev1.Namespace{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, ns)).To(Succeed())
	return ns.Labels
}

// policyOf returns the managed policy of a namespace, or an error.
func policyOf(ctx context.Context, namespace string) (*networkingv1.NetworkPolicy, error) {
	pol := &networkingv1.NetworkPolicy{}
	err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: render.PolicyName}, pol)
	return pol, err
}

// expectConverged waits until the cluster matches the profile's plan.
func (f *fixture) expectConverged(ctx context.Context, within time.Duration) {
	GinkgoHelper()
	Eventually(func(ctx context.Context) []string { return divergence(ctx, f.id) }).WithContext(ctx).
		WithTimeout(within).WithPolling(interval).Should(BeEmpty(), "the cluster does not match the plan of profile %s", f.id)
}
