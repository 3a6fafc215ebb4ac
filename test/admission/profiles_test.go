package admission_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

const (
	tierKey = "segmentation.tierguard.io/tier"
	// reservedPrefix starts every label protect-reserved-labels guards.
	reservedPrefix = "segmentation.tierguard.io/"
	profileKey     = "segmentation.tierguard.io/profile"
	sharedKey      = "segmentation.tierguard.io/shared"
	psaKey         = "pod-security.kubernetes.io/enforce"
	otherTierKey   = "example.com/env-tier"
	stageTierKey   = "example.com/stage-tier"
	quotaKey       = "example.com/quota"
	bigTierKey     = "big.example.com/tier"
)

// listedUsers are the users who each create the namespaces a profile lists
// by name (once created, a name cannot be created again).
var listedUsers = []string{"alice", "carol", "dave"}

func listed(prefix string) []segv1.NamespaceName {
	var out []segv1.NamespaceName
	for _, u := range listedUsers {
		out = append(out, segv1.NamespaceName(prefix+"-"+u))
	}
	return out
}

func selectLabels(kv ...string) *segv1.LabelSelector {
	m := map[string]segv1.LabelValue{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = segv1.LabelValue(kv[i+1])
	}
	return &segv1.LabelSelector{MatchLabels: m}
}

func requirement(key, op string, values ...string) segv1.LabelSelectorRequirement {
	r := segv1.LabelSelectorRequirement{Key: segv1.LabelKey(key), Operator: segv1.SelectorOperator(op)}
	for _, v := range values {
		r.Values = append(r.Values, segv1.LabelValue(v))
	}
	return r
}

// companyProfile is the sample's shape, all tiers Restricted: dev (listed
// names and env: dev), test (env In [test, qa]), prod (env: prod, Pod
// Security restricted), and shared namespaces by name or the label
// segmentation.tierguard.io/shared: "true".
func companyProfile() *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "company"},
		Spec: segv1.SegmentationProfileSpec{
			Tiers: []segv1.Tier{
				{Name: "dev", Namespaces: segv1.NamespaceSet{Names: listed("sandbox"), Selector: selectLabels("env", "dev")},
					NamespaceLabels: map[string]segv1.LabelValue{psaKey: "baseline"}},
				{Name: "test", Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{
					MatchExpressions: []segv1.LabelSelectorRequirement{requirement("env", "In", "test", "qa")}}},
					NamespaceLabels: map[string]segv1.LabelValue{psaKey: "baseline"}},
				{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: selectLabels("env", "prod")},
					NamespaceLabels: map[string]segv1.LabelValue{psaKey: "restricted"}},
			},
			SharedNamespaces: &segv1.NamespaceSet{Names: listed("ingress"), Selector: selectLabels(sharedKey, "true")},
			Egress:           segv1.Egress{Isolation: segv1.EgressIsolationTier, DNSTargets: dnsTargets(listed("dns"))},
		},
	}
}

// dnsTargets are DNS targets in the named namespaces, on UDP 53.
func dnsTargets(names []segv1.NamespaceName) []segv1.DNSTarget {
	out := make([]segv1.DNSTarget, 0, len(names))
	for _, n := range names {
		out = append(out, segv1.DNSTarget{Namespace: ptr.To(n),
			Ports: []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: ptr.To(intstr.FromInt32(53))}}})
	}
	return out
}

// selfServeProfile has a SelfService tier dev (stage In [dev, sandbox] and
// no label locked) and a Restricted tier prod (any namespace with a team
// label whose stage is not dev or sandbox, including none): its selectors
// use every operator.
func selfServeProfile() *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "selfserve"},
		Spec: segv1.SegmentationProfileSpec{
			TierLabelKey: stageTierKey,
			Tiers: []segv1.Tier{
				{Name: "dev", Assignment: segv1.AssignmentSelfService,
					Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchExpressions: []segv1.LabelSelectorRequirement{
						requirement("stage", "In", "dev", "sandbox"), requirement("locked", "DoesNotExist")}}},
					NamespaceLabels: map[string]segv1.LabelValue{quotaKey: "small"}},
				{Name: "prod",
					Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchExpressions: []segv1.LabelSelectorRequirement{
						requirement("team", "Exists"), requirement("stage", "NotIn", "dev", "sandbox")}}}},
			},
		},
	}
}

// otherProfile protects its own tier label key only.
func otherProfile() *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "other"},
		Spec: segv1.SegmentationProfileSpec{
			TierLabelKey: otherTierKey,
			Tiers:        []segv1.Tier{{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"nowhere-other"}}}},
		},
	}
}

// bigProfile is as large as the CRD allows: 32 tiers and the shared set,
// each selecting by 32 matchLabels and 16 matchExpressions of 64 values and
// listing 32 names; 16 namespaceLabels per tier.
func bigProfile() *segv1.SegmentationProfile {
	set := func(prefix string) segv1.NamespaceSet {
		s := segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{}}}
		for j := range 32 {
			s.Names = append(s.Names, segv1.NamespaceName(fmt.Sprintf("big-%s-n%d", prefix, j)))
			s.Selector.MatchLabels[fmt.Sprintf("big.example.com/%s-l%d", prefix, j)] = "on"
		}
		for j := range 16 {
			var values []string
			for v := range 64 {
				values = append(values, fmt.Sprintf("v%d", v))
			}
			s.Selector.MatchExpressions = append(s.Selector.MatchExpressions,
				requirement(fmt.Sprintf("big.example.com/%s-e%d", prefix, j), "In", values...))
		}
		return s
	}
	p := &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "big"},
		Spec:       segv1.SegmentationProfileSpec{TierLabelKey: bigTierKey},
	}
	for i := range 32 {
		t := segv1.Tier{Name: segv1.TierName(fmt.Sprintf("t%d", i)), Namespaces: set(fmt.Sprintf("t%d", i)),
			NamespaceLabels: map[string]segv1.LabelValue{}}
		for j := range 16 {
			t.NamespaceLabels[fmt.Sprintf("big.example.com/t%d-ns%d", i, j)] = "x"
		}
		p.Spec.Tiers = append(p.Spec.Tiers, t)
	}
	shared := set("shared")
	p.Spec.SharedNamespaces = &shared
	return p
}

// bigTierLabels are the labels that put a namespace into tier t of
// bigProfile, with value for every matchExpression.
func bigTierLabels(t int, value string) map[string]string {
	l := map[string]string{}
	for j := range 32 {
		l[fmt.Sprintf("big.example.com/t%d-l%d", t, j)] = "on"
	}
	for j := range 16 {
		l[fmt.Sprintf("big.example.com/t%d-e%d", t, j)] = value
	}
	return l
}

var nsSeq atomic.Int32

func nsName() string { return fmt.Sprintf("adm-%d", nsSeq.Add(1)) }

func createNS(c client.Client, name string, labels map[string]string) error {
	return c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
}

// newNS creates a namespace with labels as the cluster administrator and
// returns its name.
func newNS(labels map[string]string) string {
	GinkgoHelper()
	name := nsName()
	Expect(createNS(admin, name, labels)).To(Succeed())
	return name
}

// label merge-patches namespace labels (a nil value removes the label).
func label(c client.Client, name string, labels map[string]any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	Expect(err).NotTo(HaveOccurred())
	return c.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, client.RawPatch(k8stypes.MergePatchType, patch))
}

// writeMethod changes namespace labels in one of the ways a tenant can.
type writeMethod struct {
	name  string
	write func(c client.Client, name string, labels map[string]any) error
}

// readModifyWrite reads the namespace as c and writes it back with labels
// applied, through update (the namespace, or a subresource).
func readModifyWrite(update func(c client.Client, ns *corev1.Namespace) error) func(client.Client, string, map[string]any) error {
	return func(c client.Client, name string, labels map[string]any) error {
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
			return err
		}
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		for k, v := range labels {
			if v == nil {
				delete(ns.Labels, k)
			} else {
				ns.Labels[k] = v.(string)
			}
		}
		return update(c, ns)
	}
}

var writeMethods = []writeMethod{
	{"patch", label},
	{"update", readModifyWrite(func(c client.Client, ns *corev1.Namespace) error { return c.Update(ctx, ns) })},
	{"update of namespaces/status", readModifyWrite(func(c client.Client, ns *corev1.Namespace) error {
		return c.Status().Update(ctx, ns)
	})},
	{"update of namespaces/finalize", readModifyWrite(func(c client.Client, ns *corev1.Namespace) error {
		return c.SubResource("finalize").Update(ctx, ns)
	})},
}

// messages are the messages of an API error: the first refusal's and those
// of every policy that refused (the order of policies is not defined).
func messages(err error) []string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return []string{err.Error()}
	}
	s := status.Status()
	out := []string{s.Message}
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			out = append(out, c.Message)
		}
	}
	return out
}

// beDenied matches a Forbidden error whose message (of one of the policies
// that refused) names what was refused (a label or a name), the profile
// (as SegmentationProfile <p> or segmentationprofiles/<p>; skipped when
// empty) and the user, and says what grants the right. Either policy may be
// the one reported when both refuse: the API server reports one refusal.
func beDenied(what, profile, user string, more ...string) types.GomegaMatcher {
	all := []types.GomegaMatcher{ContainSubstring(what), ContainSubstring(user), ContainSubstring("verb assign on segmentationprofiles")}
	if profile != "" {
		all = append(all, Or(ContainSubstring("SegmentationProfile "+profile), ContainSubstring("segmentationprofiles/"+profile)))
	}
	for _, m := range more {
		all = append(all, ContainSubstring(m))
	}
	return And(
		HaveOccurred(),
		WithTransform(apierrors.IsForbidden, BeTrue()),
		WithTransform(messages, ContainElement(And(all...))),
	)
}

// waitForEnforcement waits until the policies, the profile params and RBAC
// have loaded: until create, as alice, is refused with a message naming
// profile (each attempt that succeeds leaves a namespace behind).
func waitForEnforcement(profile string, labels map[string]string) {
	GinkgoHelper()
	Eventually(func() error {
		return createNS(alice, nsName(), labels)
	}, "60s", "250ms").Should(beDenied("SegmentationProfile "+profile, profile, "alice"))
}
