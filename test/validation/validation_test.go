package validation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/harness"
)

// nameSeq numbers the objects the specs create, so that every spec uses its
// own profile name (profiles are cluster-scoped and specs run one by one).
var nameSeq int

func uniqueName(prefix string) string {
	nameSeq++
	return fmt.Sprintf("%s-%03d", prefix, nameSeq)
}

func intPort(p int32) *intstr.IntOrString {
	v := intstr.FromInt32(p)
	return &v
}

func namedPort(s string) *intstr.IntOrString {
	v := intstr.FromString(s)
	return &v
}

// envtestAdmin is the user kubectl runs as: a cluster administrator.
func envtestAdmin() envtest.User {
	return envtest.User{Name: "explain-admin", Groups: []string{"system:masters"}}
}

func int32Ptr(v int32) *int32 { return &v }

func boolPtr(v bool) *bool { return &v }

// baseProfile is a small valid profile that the invalid entries break in
// exactly one way: dev (by names), prod (by selector), a dev->prod flow on
// 443/TCP.
func baseProfile(name string) *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: segv1.SegmentationProfileSpec{
			Tiers: []segv1.Tier{
				{
					Name:       "dev",
					Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"dev-a", "dev-b"}},
				},
				{
					Name: "prod",
					Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{
						MatchLabels: map[string]segv1.LabelValue{"env": "prod"},
					}},
				},
			},
			Flows: []segv1.Flow{{
				From:  "dev",
				To:    "prod",
				Ports: []segv1.NetworkPolicyPort{{Protocol: "TCP", Port: intPort(443)}},
			}},
		},
	}
}

// nTiers returns n valid tiers t0..t(n-1), each naming namespace ns-<i>.
func nTiers(n int) []segv1.Tier {
	tiers := make([]segv1.Tier, n)
	for i := range tiers {
		tiers[i] = segv1.Tier{
			Name:       segv1.TierName(fmt.Sprintf("t%d", i)),
			Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{segv1.NamespaceName(fmt.Sprintf("ns-%d", i))}},
		}
	}
	return tiers
}

// nsNames returns n distinct namespace names with the given prefix.
func nsNames(prefix string, n int) []segv1.NamespaceName {
	names := make([]segv1.NamespaceName, n)
	for i := range names {
		names[i] = segv1.NamespaceName(fmt.Sprintf("%s-%d", prefix, i))
	}
	return names
}

// largestProfile is as expensive for the CEL rules as a profile that etcd
// accepts can be: every list whose rules are quadratic (tiers, namespace
// names, flows) at its maximum, the longest tier and namespace names, label
// keys of 317 characters, and 32 ports on each of 128 flows.
func largestProfile(name string) *segv1.SegmentationProfile {
	p := baseProfile(name)
	prefix := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	longKey := func(j int) string { return fmt.Sprintf("%s/%s%02d", prefix, strings.Repeat("k", 61), j) }
	longValue := segv1.LabelValue(strings.Repeat("v", 63))
	tierName := func(i int) segv1.TierName { return segv1.TierName(fmt.Sprintf("%02d%s", i, strings.Repeat("t", 61))) }

	p.Spec.Tiers = make([]segv1.Tier, 32)
	for i := range p.Spec.Tiers {
		t := segv1.Tier{Name: tierName(i)}
		for j := range 32 {
			t.Namespaces.Names = append(t.Namespaces.Names, segv1.NamespaceName(fmt.Sprintf("%02d-%02d-%s", i, j, strings.Repeat("n", 57))))
		}
		sel := &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{}}
		for j := range 32 {
			sel.MatchLabels[longKey(j)] = longValue
		}
		for j := range 16 {
			op, values := segv1.SelectorOperator("In"), []segv1.LabelValue{"a", longValue}
			if j%2 == 1 {
				op, values = "DoesNotExist", nil
			}
			sel.MatchExpressions = append(sel.MatchExpressions, segv1.LabelSelectorRequirement{Key: segv1.LabelKey(longKey(32 + j)), Operator: op, Values: values})
		}
		t.Namespaces.Selector = sel
		t.NamespaceLabels = map[string]segv1.LabelValue{}
		for j := range 16 {
			t.NamespaceLabels[longKey(64+j)] = longValue
		}
		for j := range 8 {
			block := segv1.IPBlock{CIDR: fmt.Sprintf("10.%d.0.0/16", j)}
			for k := range 16 {
				block.Except = append(block.Except, fmt.Sprintf("10.%d.%d.0/24", j, k))
			}
			t.AllowedIngressCIDRs = append(t.AllowedIngressCIDRs, block)
		}
		p.Spec.Tiers[i] = t
	}
	p.Spec.Flows = nil
	for i := range 32 {
		for d := 1; d <= 4; d++ {
			f := segv1.Flow{From: tierName(i), To: tierName((i + d) % 32)}
			for j := range 32 {
				if j%2 == 0 {
					f.Ports = append(f.Ports, segv1.NetworkPolicyPort{Port: intPort(int32(1000 + j)), EndPort: int32Ptr(int32(2000 + j))})
				} else {
					f.Ports = append(f.Ports, segv1.NetworkPolicyPort{Protocol: "UDP", Port: namedPort(fmt.Sprintf("svc-port-%05d", j))})
				}
			}
			p.Spec.Flows = append(p.Spec.Flows, f)
		}
	}
	p.Spec.SharedNamespaces = &segv1.NamespaceSet{Names: nsNames("shared-"+strings.Repeat("s", 50), 32)}
	p.Spec.ExcludedNamespaces = nsNames("excluded-"+strings.Repeat("e", 48), 128)
	p.Spec.Egress = segv1.Egress{Isolation: "Tier"}
	for j := range 8 {
		p.Spec.Egress.DNSTargets = append(p.Spec.Egress.DNSTargets, segv1.DNSTarget{
			Namespace:   ptr.To(segv1.NamespaceName(fmt.Sprintf("dns-%d-%s", j, strings.Repeat("d", 57)))),
			PodSelector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{longKey(j): longValue}},
			Ports:       []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: intPort(53)}, {Protocol: "TCP", Port: intPort(53)}, {Protocol: "UDP", Port: intPort(5353)}, {Protocol: "TCP", Port: intPort(5353)}},
		})
	}
	for j := range 32 {
		// Canonical forms (2001:db8::/48, not 2001:db8:0::/48), as
		// networking/v1 requires.
		block := segv1.IPBlock{CIDR: netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/48", j)).String()}
		for k := range 16 {
			block.Except = append(block.Except, netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x:%x::/64", j, k)).String())
		}
		p.Spec.Egress.AllowedCIDRs = append(p.Spec.Egress.AllowedCIDRs, block)
	}
	return p
}

func selectorOf(reqs ...segv1.LabelSelectorRequirement) *segv1.LabelSelector {
	return &segv1.LabelSelector{MatchExpressions: reqs}
}

func port(p *segv1.SegmentationProfile) *segv1.NetworkPolicyPort { return &p.Spec.Flows[0].Ports[0] }

func prodSelector(p *segv1.SegmentationProfile) *segv1.LabelSelector {
	return p.Spec.Tiers[1].Namespaces.Selector
}

// createAndDelete creates obj, expecting the API server to accept it, and
// deletes it again.
func createAndDelete(obj client.Object) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
}

var _ = Describe("SegmentationProfile admission", func() {
	It("accepts the base profile the invalid entries are derived from", func() {
		createAndDelete(baseProfile(uniqueName("base")))
	})

	DescribeTable("rejects an invalid profile with a message naming the problem",
		func(mutate func(p *segv1.SegmentationProfile), field, phrase string) {
			p := baseProfile(uniqueName("invalid"))
			mutate(p)
			err := k8sClient.Create(ctx, p)
			if err == nil {
				_ = k8sClient.Delete(ctx, p)
			}
			Expect(err).To(HaveOccurred(), "the API server accepted the invalid profile")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "expected an Invalid (422) error, got: %v", err)
			if field != "" {
				Expect(err.Error()).To(ContainSubstring(field+":"), "the error does not name the field")
			}
			Expect(err.Error()).To(ContainSubstring(phrase))
		},

		// Profile.
		Entry("profile name of 64 characters", func(p *segv1.SegmentationProfile) {
			p.Name = "n" + strings.Repeat("x", 60) + fmt.Sprintf("%03d", nameSeq)
		}, "", "metadata.name must be at most 63 characters"),
		Entry("canary interval below 1m", func(p *segv1.SegmentationProfile) {
			p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: 30 * time.Second}}
		}, "spec.canary.interval", "canary.interval must be between 1m and 24h"),
		Entry("canary interval above 24h", func(p *segv1.SegmentationProfile) {
			p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: 25 * time.Hour}}
		}, "spec.canary.interval", "canary.interval must be between 1m and 24h"),
		Entry("canary with a tier named shared", func(p *segv1.SegmentationProfile) {
			p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: time.Minute}}
			p.Spec.Tiers[0].Name = "shared"
			p.Spec.Flows[0].From = "shared"
		}, "", "no tier may be named shared"),
		Entry("canary with a profile name holding a dot", func(p *segv1.SegmentationProfile) {
			p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: time.Minute}}
			p.Name = "a.b-" + p.Name
		}, "", "metadata.name may hold no dot"),
		Entry("canary whose namespace names would pass 63 characters", func(p *segv1.SegmentationProfile) {
			p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: time.Minute}}
			p.Name = strings.Repeat("p", 40) + p.Name[len(p.Name)-3:]
			p.Spec.Tiers[1].Name = "a-long-tier-name"
			p.Spec.Flows[0].To = "a-long-tier-name"
		}, "", "must fit 63 characters"),
		Entry("unknown mode", func(p *segv1.SegmentationProfile) {
			p.Spec.Mode = "Enforcing"
		}, "spec.mode", `Unsupported value: "Enforcing"`),
		Entry("unknown deletionPolicy", func(p *segv1.SegmentationProfile) {
			p.Spec.DeletionPolicy = "Orphan"
		}, "spec.deletionPolicy", `Unsupported value: "Orphan"`),
		Entry("unknown egress isolation", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.Isolation = "Namespace"
		}, "spec.egress.isolation", `Unsupported value: "Namespace"`),

		// Tiers.
		Entry("no tiers", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers = []segv1.Tier{}
			p.Spec.Flows = nil
		}, "spec.tiers", "should have at least 1 items"),
		Entry("33 tiers", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers = nTiers(33)
			p.Spec.Flows = nil
		}, "spec.tiers", "must have at most 32 items"),
		Entry("duplicate tier names", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Name = "dev"
			p.Spec.Flows = nil
		}, "spec", "tier names must be unique"),
		Entry("tier name not a DNS-1123 label", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Name = "Dev_1"
			p.Spec.Flows = nil
		}, "spec.tiers[0].name", "should match"),
		Entry("tier name of 64 characters", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Name = segv1.TierName(strings.Repeat("d", 64))
			p.Spec.Flows = nil
		}, "spec.tiers[0].name", "may not be more than 63"),
		Entry("tier selecting no namespaces", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Namespaces = segv1.NamespaceSet{}
		}, "spec.tiers[0]", "a tier must select its namespaces by namespaces.names or namespaces.selector"),
		Entry("tier whose names list is empty", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Namespaces = segv1.NamespaceSet{Names: []segv1.NamespaceName{}}
		}, "spec.tiers[0]", "a tier must select its namespaces by namespaces.names or namespaces.selector"),
		Entry("empty selector", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = &segv1.LabelSelector{}
		}, "spec.tiers[1].namespaces.selector", "an empty selector would match every namespace"),
		Entry("unknown tier isolation", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Isolation = "Pod"
		}, "spec.tiers[0].isolation", `Unsupported value: "Pod"`),

		// Flows.
		Entry("flow from an unknown tier", func(p *segv1.SegmentationProfile) {
			p.Spec.Flows[0].From = "staging"
		}, "spec", "every flow's from and to must name a tier of this profile"),
		Entry("flow to an unknown tier", func(p *segv1.SegmentationProfile) {
			p.Spec.Flows[0].To = "staging"
		}, "spec", "every flow's from and to must name a tier of this profile"),
		Entry("flow from a tier to itself", func(p *segv1.SegmentationProfile) {
			p.Spec.Flows[0].To = "dev"
		}, "spec.flows[0]", "a flow's from and to must differ"),
		Entry("duplicate flow", func(p *segv1.SegmentationProfile) {
			p.Spec.Flows = append(p.Spec.Flows, segv1.Flow{From: "dev", To: "prod"})
		}, "spec", "flows must not repeat the same (from, to) pair"),
		Entry("129 flows", func(p *segv1.SegmentationProfile) {
			p.Spec.Flows = make([]segv1.Flow, 129)
			for i := range p.Spec.Flows {
				p.Spec.Flows[i] = segv1.Flow{From: "dev", To: "prod"}
			}
		}, "spec.flows", "must have at most 128 items"),

		// Namespace names.
		Entry("namespace in two tiers' names", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Names = []segv1.NamespaceName{"prod-a", "dev-b"}
		}, "spec", "a namespace name may be listed in only one tier's namespaces.names"),
		Entry("namespace in a tier and in sharedNamespaces.names", func(p *segv1.SegmentationProfile) {
			p.Spec.SharedNamespaces = &segv1.NamespaceSet{Names: []segv1.NamespaceName{"monitoring", "dev-a"}}
		}, "spec", "a namespace name may not be listed both in a tier's namespaces.names and in sharedNamespaces.names"),
		Entry("namespace in a tier and in excludedNamespaces", func(p *segv1.SegmentationProfile) {
			p.Spec.ExcludedNamespaces = []segv1.NamespaceName{"legacy", "dev-b"}
		}, "spec", "a namespace name may not be listed both in a tier's namespaces.names and in excludedNamespaces"),
		Entry("namespace listed twice in one tier", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Namespaces.Names = []segv1.NamespaceName{"dev-a", "dev-a"}
		}, "spec.tiers[0].namespaces.names[1]", `Duplicate value: "dev-a"`),
		Entry("invalid namespace name in a tier", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Namespaces.Names = []segv1.NamespaceName{"Dev.A"}
		}, "spec.tiers[0].namespaces.names[0]", "should match"),
		Entry("invalid namespace name in sharedNamespaces", func(p *segv1.SegmentationProfile) {
			p.Spec.SharedNamespaces = &segv1.NamespaceSet{Names: []segv1.NamespaceName{"-monitoring"}}
		}, "spec.sharedNamespaces.names[0]", "should match"),
		Entry("invalid namespace name in excludedNamespaces", func(p *segv1.SegmentationProfile) {
			p.Spec.ExcludedNamespaces = []segv1.NamespaceName{"legacy_apps"}
		}, "spec.excludedNamespaces[0]", "should match"),
		Entry("namespace name of 64 characters", func(p *segv1.SegmentationProfile) {
			p.Spec.ExcludedNamespaces = []segv1.NamespaceName{segv1.NamespaceName(strings.Repeat("a", 64))}
		}, "spec.excludedNamespaces[0]", "may not be more than 63"),
		Entry("too many names in a tier", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Namespaces.Names = nsNames("dev", 33)
		}, "spec.tiers[0].namespaces.names", "must have at most 32 items"),
		Entry("129 excluded namespaces", func(p *segv1.SegmentationProfile) {
			p.Spec.ExcludedNamespaces = nsNames("old", 129)
		}, "spec.excludedNamespaces", "must have at most 128 items"),

		// Label selectors.
		Entry("selector operator Equals", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "env", Operator: "Equals", Values: []segv1.LabelValue{"prod"}})
		}, "spec.tiers[1].namespaces.selector.matchExpressions[0].operator", `Unsupported value: "Equals"`),
		Entry("operator In without values", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "env", Operator: "In"})
		}, "spec.tiers[1].namespaces.selector.matchExpressions[0]", "values are required for the operators In and NotIn"),
		Entry("operator NotIn with an empty values list", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "env", Operator: "NotIn", Values: []segv1.LabelValue{}})
		}, "spec.tiers[1].namespaces.selector.matchExpressions[0]", "values are required for the operators In and NotIn"),
		Entry("operator Exists with values", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "env", Operator: "Exists", Values: []segv1.LabelValue{"prod"}})
		}, "spec.tiers[1].namespaces.selector.matchExpressions[0]", "must be empty for Exists and DoesNotExist"),
		Entry("operator DoesNotExist with values", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "env", Operator: "DoesNotExist", Values: []segv1.LabelValue{"dev"}})
		}, "spec.tiers[1].namespaces.selector.matchExpressions[0]", "must be empty for Exists and DoesNotExist"),
		Entry("invalid label key -bad in matchExpressions", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "-bad", Operator: "Exists"})
		}, "spec.tiers[1].namespaces.selector.matchExpressions[0].key", "must be a valid label key"),
		Entry("label key with an invalid prefix in matchExpressions", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "Example.COM/env", Operator: "Exists"})
		}, "spec.tiers[1].namespaces.selector.matchExpressions[0].key", "must be a valid label key"),
		Entry("invalid label key -bad in matchLabels", func(p *segv1.SegmentationProfile) {
			prodSelector(p).MatchLabels["-bad"] = "x"
		}, "spec.tiers[1].namespaces.selector.matchLabels", "matchLabels keys must be valid label keys"),
		Entry("label key name part of 64 characters in matchLabels", func(p *segv1.SegmentationProfile) {
			prodSelector(p).MatchLabels[segv1.GroupVersion.Group+"/"+strings.Repeat("k", 64)] = "x"
		}, "spec.tiers[1].namespaces.selector.matchLabels", "matchLabels keys must be valid label keys"),
		Entry("label value of 64 characters in matchLabels", func(p *segv1.SegmentationProfile) {
			prodSelector(p).MatchLabels["env"] = segv1.LabelValue(strings.Repeat("v", 64))
		}, "spec.tiers[1].namespaces.selector.matchLabels.env", "may not be more than 63"),
		Entry("invalid label value in matchExpressions", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "env", Operator: "In", Values: []segv1.LabelValue{"prod", "pre prod"}})
		}, "spec.tiers[1].namespaces.selector.matchExpressions[0].values[1]", "should match"),
		Entry("empty sharedNamespaces selector", func(p *segv1.SegmentationProfile) {
			p.Spec.SharedNamespaces = &segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{}}}
		}, "spec.sharedNamespaces.selector", "an empty selector would match every namespace"),

		// Labels Tierguard owns.
		Entry("namespaceLabels setting the default tierLabelKey", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].NamespaceLabels = map[string]segv1.LabelValue{"segmentation.tierguard.io/tier": "prod"}
		}, "spec", "tiers[].namespaceLabels may not set the tierLabelKey"),
		Entry("namespaceLabels setting a custom tierLabelKey", func(p *segv1.SegmentationProfile) {
			p.Spec.TierLabelKey = "example.com/tier"
			p.Spec.Tiers[1].NamespaceLabels = map[string]segv1.LabelValue{"example.com/tier": "dev"}
		}, "spec", "tiers[].namespaceLabels may not set the tierLabelKey"),
		Entry("namespaceLabels setting segmentation.tierguard.io/profile", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].NamespaceLabels = map[string]segv1.LabelValue{"segmentation.tierguard.io/profile": "other"}
		}, "spec.tiers[0]", "namespaceLabels may not set segmentation.tierguard.io/profile"),
		Entry("namespaceLabels with an invalid key", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].NamespaceLabels = map[string]segv1.LabelValue{"pod-security.kubernetes.io/": "baseline"}
		}, "spec.tiers[0].namespaceLabels", "namespaceLabels keys must be valid label keys"),
		Entry("namespaceLabels with an invalid value", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].NamespaceLabels = map[string]segv1.LabelValue{"team": "a/b"}
		}, "spec.tiers[0].namespaceLabels.team", "should match"),
		Entry("17 namespaceLabels", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].NamespaceLabels = map[string]segv1.LabelValue{}
			for i := range 17 {
				p.Spec.Tiers[0].NamespaceLabels[fmt.Sprintf("example.com/l%d", i)] = "x"
			}
		}, "spec.tiers[0].namespaceLabels", "must have at most 16 items"),
		Entry("tierLabelKey kubernetes.io/metadata.name", func(p *segv1.SegmentationProfile) {
			p.Spec.TierLabelKey = "kubernetes.io/metadata.name"
		}, "spec.tierLabelKey", "tierLabelKey may not be kubernetes.io/metadata.name"),
		Entry("tierLabelKey segmentation.tierguard.io/profile", func(p *segv1.SegmentationProfile) {
			p.Spec.TierLabelKey = "segmentation.tierguard.io/profile"
		}, "spec.tierLabelKey", "tierLabelKey may not be segmentation.tierguard.io/profile"),
		Entry("invalid tierLabelKey -bad", func(p *segv1.SegmentationProfile) {
			p.Spec.TierLabelKey = "-bad"
		}, "spec.tierLabelKey", "must be a valid label key"),

		// Ports.
		Entry("unknown protocol", func(p *segv1.SegmentationProfile) {
			port(p).Protocol = "ICMP"
		}, "spec.flows[0].ports[0].protocol", `Unsupported value: "ICMP"`),
		Entry("port 0", func(p *segv1.SegmentationProfile) {
			port(p).Port = intPort(0)
		}, "spec.flows[0].ports[0]", "port must be between 1 and 65535"),
		Entry("port 65536", func(p *segv1.SegmentationProfile) {
			port(p).Port = intPort(65536)
		}, "spec.flows[0].ports[0]", "port must be between 1 and 65535"),
		Entry("named port with upper case", func(p *segv1.SegmentationProfile) {
			port(p).Port = namedPort("HTTPS")
		}, "spec.flows[0].ports[0]", "a named port must be an IANA service name"),
		Entry("named port with --", func(p *segv1.SegmentationProfile) {
			port(p).Port = namedPort("my--port")
		}, "spec.flows[0].ports[0]", "a named port must be an IANA service name"),
		Entry("named port of digits only", func(p *segv1.SegmentationProfile) {
			port(p).Port = namedPort("8080")
		}, "spec.flows[0].ports[0]", "a named port must be an IANA service name"),
		Entry("named port of 16 characters", func(p *segv1.SegmentationProfile) {
			port(p).Port = namedPort("metrics-exporter")
		}, "spec.flows[0].ports[0].port", "may not be more than 15 bytes"),
		Entry("named port starting with -", func(p *segv1.SegmentationProfile) {
			port(p).Port = namedPort("-http")
		}, "spec.flows[0].ports[0]", "a named port must be an IANA service name"),
		Entry("endPort without port", func(p *segv1.SegmentationProfile) {
			port(p).Port = nil
			port(p).EndPort = int32Ptr(8080)
		}, "spec.flows[0].ports[0]", "endPort requires a numeric port and may not be below it"),
		Entry("named port with endPort", func(p *segv1.SegmentationProfile) {
			port(p).Port = namedPort("https")
			port(p).EndPort = int32Ptr(8443)
		}, "spec.flows[0].ports[0]", "endPort requires a numeric port and may not be below it"),
		Entry("endPort below port", func(p *segv1.SegmentationProfile) {
			port(p).Port = intPort(8080)
			port(p).EndPort = int32Ptr(8000)
		}, "spec.flows[0].ports[0]", "endPort requires a numeric port and may not be below it"),
		Entry("endPort above 65535", func(p *segv1.SegmentationProfile) {
			port(p).Port = intPort(8080)
			port(p).EndPort = int32Ptr(65536)
		}, "spec.flows[0].ports[0].endPort", "should be less than or equal to 65535"),

		// CIDRs.
		Entry("cidr that is not a CIDR", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].AllowedIngressCIDRs = []segv1.IPBlock{{CIDR: "203.0.113.7"}}
		}, "spec.tiers[1].allowedIngressCIDRs[0]", "cidr must be a valid CIDR"),
		Entry("cidr with prefix length 33", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.AllowedCIDRs = []segv1.IPBlock{{CIDR: "10.0.0.0/33"}}
		}, "spec.egress.allowedCIDRs[0]", "cidr must be a valid CIDR"),
		Entry("IPv6 cidr with prefix length 129", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.AllowedCIDRs = []segv1.IPBlock{{CIDR: "2001:db8::/129"}}
		}, "spec.egress.allowedCIDRs[0]", "cidr must be a valid CIDR"),
		Entry("except that is not a CIDR", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.AllowedCIDRs = []segv1.IPBlock{{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16", "10.2.0.0/"}}}
		}, "spec.egress.allowedCIDRs[0]", "every except entry must be a valid CIDR"),
		Entry("except outside cidr", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.AllowedCIDRs = []segv1.IPBlock{{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}}
		}, "spec.egress.allowedCIDRs[0]", "every except entry must be a strict subset of cidr"),
		Entry("except wider than cidr", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].AllowedIngressCIDRs = []segv1.IPBlock{{CIDR: "10.1.0.0/16", Except: []string{"10.0.0.0/8"}}}
		}, "spec.tiers[0].allowedIngressCIDRs[0]", "every except entry must be a strict subset of cidr"),
		Entry("IPv6 except outside IPv6 cidr", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].AllowedIngressCIDRs = []segv1.IPBlock{{CIDR: "2001:db8::/32", Except: []string{"2001:db9::/48"}}}
		}, "spec.tiers[0].allowedIngressCIDRs[0]", "every except entry must be a strict subset of cidr"),
		Entry("IPv4 except in an IPv6 cidr", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].AllowedIngressCIDRs = []segv1.IPBlock{{CIDR: "::/0", Except: []string{"10.0.0.0/8"}}}
		}, "spec.tiers[0].allowedIngressCIDRs[0]", "every except entry must be a strict subset of cidr"),
		// networking/v1 refuses these (strict since 1.36): admitted, they
		// would label namespaces whose policy the API server then refuses.
		Entry("except equal to cidr", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.AllowedCIDRs = []segv1.IPBlock{{CIDR: "10.0.0.0/8", Except: []string{"10.0.0.0/8"}}}
		}, "spec.egress.allowedCIDRs[0]", "every except entry must be a strict subset of cidr"),
		Entry("cidr with host bits set", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].AllowedIngressCIDRs = []segv1.IPBlock{{CIDR: "10.0.0.1/8"}}
		}, "spec.tiers[0].allowedIngressCIDRs[0]", "cidr must be in canonical form with no host bits set"),
		Entry("except with host bits set", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.AllowedCIDRs = []segv1.IPBlock{{CIDR: "10.0.0.0/8", Except: []string{"10.1.2.3/16"}}}
		}, "spec.egress.allowedCIDRs[0]", "every except entry must be in canonical form"),
		Entry("IPv6 cidr not in canonical form", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.AllowedCIDRs = []segv1.IPBlock{{CIDR: "2001:DB8:0:0::/32"}}
		}, "spec.egress.allowedCIDRs[0]", "cidr must be in canonical form"),
		Entry("DNS target with both namespace and cidr", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.DNSTargets = []segv1.DNSTarget{{Namespace: ptr.To(segv1.NamespaceName("kube-system")), CIDR: ptr.To("169.254.20.10/32"),
				Ports: []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: ptr.To(intstr.FromInt32(53))}}}}
		}, "spec.egress.dnsTargets[0]", "a DNS target sets exactly one of namespace"),
		Entry("DNS target with host bits", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.DNSTargets = []segv1.DNSTarget{{CIDR: ptr.To("169.254.20.10/24"),
				Ports: []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: ptr.To(intstr.FromInt32(53))}}}}
		}, "spec.egress.dnsTargets[0].cidr", "cidr must be in canonical form"),
		Entry("DNS target without ports", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.DNSTargets = []segv1.DNSTarget{{CIDR: ptr.To("169.254.20.10/32")}}
		}, "spec.egress.dnsTargets[0].ports", ""),
		Entry("DNS target with a named port", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress.DNSTargets = []segv1.DNSTarget{{CIDR: ptr.To("169.254.20.10/32"),
				Ports: []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: ptr.To(intstr.FromString("dns"))}}}}
		}, "spec.egress.dnsTargets[0].ports", "DNS ports must be numeric"),
		Entry("33 allowedIngressCIDRs", func(p *segv1.SegmentationProfile) {
			for i := range 33 {
				p.Spec.Tiers[0].AllowedIngressCIDRs = append(p.Spec.Tiers[0].AllowedIngressCIDRs, segv1.IPBlock{CIDR: fmt.Sprintf("10.%d.0.0/16", i)})
			}
		}, "spec.tiers[0].allowedIngressCIDRs", "must have at most 32 items"),
	)

	DescribeTable("accepts valid edge cases",
		func(mutate func(p *segv1.SegmentationProfile)) {
			p := baseProfile(uniqueName("valid"))
			mutate(p)
			createAndDelete(p)
		},
		Entry("canary every 1m", func(p *segv1.SegmentationProfile) {
			p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: time.Minute}}
		}),
		Entry("canary every 24h", func(p *segv1.SegmentationProfile) {
			p.Spec.Canary = &segv1.Canary{Interval: metav1.Duration{Duration: 24 * time.Hour}}
		}),
		Entry("profile name of 63 characters", func(p *segv1.SegmentationProfile) {
			p.Name = "n" + strings.Repeat("x", 58) + fmt.Sprintf("%04d", nameSeq)
		}),
		Entry("IPv6 cidr with an except inside it", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].AllowedIngressCIDRs = []segv1.IPBlock{{CIDR: "2001:db8::/32", Except: []string{"2001:db8:1::/48", "2001:db8:ffff::/64"}}}
			p.Spec.Egress = segv1.Egress{Isolation: "Tier", AllowedCIDRs: []segv1.IPBlock{{CIDR: "::/0", Except: []string{"fd00::/8"}}}}
		}),
		Entry("named port https", func(p *segv1.SegmentationProfile) {
			port(p).Port = namedPort("https")
		}),
		Entry("DNS targets: NodeLocal DNSCache and a DNS on 5353 in its own namespace", func(p *segv1.SegmentationProfile) {
			p.Spec.Egress = segv1.Egress{Isolation: "Tier", DNSTargets: []segv1.DNSTarget{
				{CIDR: ptr.To("169.254.20.10/32"), Ports: []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: intPort(53)}, {Protocol: "TCP", Port: intPort(53)}}},
				{Namespace: ptr.To(segv1.NamespaceName("dns-system")), PodSelector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"app": "coredns"}},
					Ports: []segv1.NetworkPolicyPort{{Protocol: "UDP", Port: intPort(5353)}}},
			}}
		}),
		Entry("tier assignment SelfService and leavePolicy Release", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[0].Assignment = segv1.AssignmentSelfService
			p.Spec.LeavePolicy = segv1.LeavePolicyRelease
		}),
		Entry("named port of 15 characters", func(p *segv1.SegmentationProfile) {
			port(p).Port = namedPort("metrics-export1")
		}),
		Entry("endPort equal to port", func(p *segv1.SegmentationProfile) {
			port(p).Port = intPort(8080)
			port(p).EndPort = int32Ptr(8080)
		}),
		Entry("ports 1 and 65535, UDP and SCTP", func(p *segv1.SegmentationProfile) {
			p.Spec.Flows[0].Ports = []segv1.NetworkPolicyPort{
				{Protocol: "UDP", Port: intPort(1), EndPort: int32Ptr(65535)},
				{Protocol: "SCTP", Port: intPort(65535)},
				{Protocol: "TCP"},
			}
		}),
		Entry("selector with only a matchExpressions Exists", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = selectorOf(segv1.LabelSelectorRequirement{Key: "example.com/prod", Operator: "Exists"})
		}),
		Entry("selector with an empty label value and a DoesNotExist", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Selector = &segv1.LabelSelector{
				MatchLabels:      map[string]segv1.LabelValue{"env": ""},
				MatchExpressions: []segv1.LabelSelectorRequirement{{Key: "legacy", Operator: "DoesNotExist"}},
			}
		}),
		Entry("32 tiers", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers = nTiers(32)
			p.Spec.Flows = []segv1.Flow{{From: "t0", To: "t31"}, {From: "t31", To: "t0"}}
		}),
		Entry("a custom tierLabelKey, with the default key set as a plain namespace label", func(p *segv1.SegmentationProfile) {
			p.Spec.TierLabelKey = "example.com/tier"
			p.Spec.Tiers[0].NamespaceLabels = map[string]segv1.LabelValue{"segmentation.tierguard.io/tier": "legacy"}
		}),
		Entry("a namespace named by one tier and matched by another tier's selector", func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[1].Namespaces.Names = []segv1.NamespaceName{"prod-a"}
			p.Spec.SharedNamespaces = &segv1.NamespaceSet{Names: []segv1.NamespaceName{"monitoring"}}
			p.Spec.ExcludedNamespaces = []segv1.NamespaceName{"legacy"}
		}),
	)

	It("accepts a near-worst-case profile within the CEL runtime cost budget", func() {
		p := largestProfile(uniqueName("largest"))
		data, err := json.Marshal(p)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("largest profile: %d bytes of JSON\n", len(data))
		// etcd refuses requests above 1.5 MiB; stay below it with some room.
		Expect(len(data)).To(BeNumerically("<", 1400*1024))
		createAndDelete(p)
	})

	It("fills in the defaults", func() {
		p := &segv1.SegmentationProfile{
			ObjectMeta: metav1.ObjectMeta{Name: uniqueName("defaults")},
			Spec: segv1.SegmentationProfileSpec{
				Tiers: []segv1.Tier{
					{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"dev"}}},
					{Name: "prod", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"prod"}}},
				},
				Flows: []segv1.Flow{{From: "dev", To: "prod", Ports: []segv1.NetworkPolicyPort{{Port: intPort(443)}}}},
			},
		}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, p)).To(Succeed()) })

		got := &segv1.SegmentationProfile{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
		Expect(got.Spec.Mode).To(Equal(segv1.ModeEnforce))
		Expect(got.Spec.TierLabelKey).To(Equal(segv1.LabelKey("segmentation.tierguard.io/tier")))
		Expect(got.Spec.DeletionPolicy).To(Equal(segv1.DeletionPolicyDelete))
		Expect(got.Spec.Egress.Isolation).To(Equal(segv1.EgressIsolationNone))
		Expect(got.Spec.Egress.AllowDNS).To(Equal(boolPtr(true)))
		Expect(got.Spec.Tiers).To(HaveLen(2))
		for _, t := range got.Spec.Tiers {
			Expect(t.Isolation).To(Equal(segv1.IsolationTier), "tier %s", t.Name)
		}
		Expect(got.Spec.Flows[0].Ports[0].Protocol).To(Equal(segv1.Protocol("TCP")))
	})

	It("accepts every sample in config/samples as is", func() {
		dir := filepath.Join("..", "..", "config", "samples")
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var samples int
		for _, file := range files {
			if filepath.Base(file) == "kustomization.yaml" {
				continue
			}
			samples++
			By("creating " + file)
			data, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal(data, &u.Object)).To(Succeed(), file)
			Expect(u.GroupVersionKind()).To(Equal(segv1.GroupVersion.WithKind("SegmentationProfile")), file)
			// Strict field validation: a field the schema does not know fails
			// the create instead of being pruned silently.
			strict := client.WithFieldValidation(k8sClient, metav1.FieldValidationStrict)
			Expect(strict.Create(ctx, u)).To(Succeed(), file)
			Expect(k8sClient.Delete(ctx, u)).To(Succeed(), file)
		}
		Expect(samples).To(BeNumerically(">=", 2), "no samples found in %s", dir)
	})

	It("documents the tier fields for kubectl explain", func() {
		kubectlPath, err := harness.BinaryPath(harness.ResolveAssetsDir(""), harness.KubectlBinary)
		Expect(err).NotTo(HaveOccurred())
		user, err := testEnv.ControlPlane.AddUser(envtestAdmin(), nil)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		kubeconfigPath := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(kubeconfigPath, kubeconfig, 0o600)).To(Succeed())

		cmdCtx, cancelCmd := context.WithTimeout(ctx, 30*time.Second)
		defer cancelCmd()
		out, err := harness.Kubectl{Path: kubectlPath, Kubeconfig: kubeconfigPath}.Run(cmdCtx, "explain", "segmentationprofile.spec.tiers")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(SatisfyAll(
			ContainSubstring("KIND:"),
			ContainSubstring("SegmentationProfile"),
			ContainSubstring("tiers are the environment tiers"),
			ContainSubstring("namespaceLabels"),
			ContainSubstring("allowedIngressCIDRs"),
			ContainSubstring("isolation"),
		))
	})
})
