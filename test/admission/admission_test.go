package admission_test

import (
	"fmt"
	"maps"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// installProfiles creates the profiles of these tests and waits until the
// API server enforces each.
func installProfiles() {
	GinkgoHelper()
	for _, p := range []client.Object{companyProfile(), selfServeProfile(), otherProfile(), bigProfile()} {
		Expect(admin.Create(ctx, p)).To(Succeed(), "create profile %s", p.GetName())
	}
	// The API server loads policies, params and RBAC asynchronously.
	waitForEnforcement("company", map[string]string{"env": "prod"})
	waitForEnforcement("selfserve", map[string]string{"team": "a"})
	waitForEnforcement("other", map[string]string{otherTierKey: "dev"})
	waitForEnforcement("big", bigTierLabels(31, "v0"))
}

// governed are the labels Tierguard puts on a namespace of the company
// profile's dev and prod tiers.
var (
	governedDev  = map[string]string{"env": "dev", tierKey: "dev", profileKey: "company", psaKey: "baseline"}
	governedProd = map[string]string{"env": "prod", tierKey: "prod", profileKey: "company", psaKey: "restricted"}
)

// labelAttempt is a label change a tenant might try on a namespace that
// starts with labels; key is the label the refusal must name.
type labelAttempt struct {
	name   string
	labels map[string]string
	change map[string]any
	key    string
}

var labelAttempts = []labelAttempt{
	{"relabel a selector key (env: dev -> env: test)", map[string]string{"env": "dev"}, map[string]any{"env": "test"}, "env"},
	{"make a governed namespace shared with the shared selector label", governedDev, map[string]any{sharedKey: "true"}, sharedKey},
	{"remove a selector key from a prod namespace", governedProd, map[string]any{"env": nil}, "env"},
	{"lower the Pod Security that prod's namespaceLabels set", governedProd, map[string]any{psaKey: "privileged"}, psaKey},
	{"remove the Pod Security label that prod's namespaceLabels set", governedProd, map[string]any{psaKey: nil}, psaKey},
	{"forge the tier label (dev -> prod)", governedDev, map[string]any{tierKey: "prod"}, tierKey},
	// Two labels: either policy may refuse, naming either label.
	{"add the tier and profile labels to an ungoverned namespace", nil, map[string]any{tierKey: "prod", profileKey: "company"}, reservedPrefix},
	{"remove the profile label", governedDev, map[string]any{profileKey: nil}, profileKey},
}

// createAttempt is a namespace a tenant might try to create; what is the
// label or name the refusal must name.
type createAttempt struct {
	name   string
	nsName func(user string) string
	labels map[string]string
	what   string
}

var createAttempts = []createAttempt{
	{"create a namespace a tier lists by name", func(u string) string { return "sandbox-" + u }, nil, "name sandbox-"},
	{"create a namespace sharedNamespaces lists by name", func(u string) string { return "ingress-" + u }, nil, "name ingress-"},
	{"create a namespace egress.dnsTargets names, which every tier may reach", func(u string) string { return "dns-" + u }, nil, "name dns-"},
	{"create a namespace that joins prod by carrying env: prod", func(string) string { return nsName() }, map[string]string{"env": "prod"}, "label env "},
	{"create a namespace with forged tier and profile labels", func(string) string { return nsName() },
		map[string]string{tierKey: "prod", profileKey: "company"}, "label " + reservedPrefix},
	{"create a namespace with a forged profile label", func(string) string { return nsName() },
		map[string]string{profileKey: "company"}, "label " + profileKey},
}

var _ = Describe("A namespace administrator without assign", func() {
	for _, a := range labelAttempts {
		for _, m := range writeMethods {
			It(fmt.Sprintf("may not %s (%s)", a.name, m.name), func() {
				ns := newNS(a.labels)
				Expect(m.write(alice, ns, a.change)).To(beDenied("label "+a.key, "company", "alice"))
			})
		}
	}
	for _, a := range createAttempts {
		It("may not "+a.name, func() {
			Expect(createNS(alice, a.nsName("alice"), a.labels)).To(beDenied(a.what, "company", "alice"))
		})
	}

	It("may not forge another profile's tier label", func() {
		Expect(createNS(alice, nsName(), map[string]string{otherTierKey: "dev"})).
			To(beDenied("label "+otherTierKey, "other", "alice"))
	})

	It("creates namespaces and changes ordinary labels, also on governed namespaces", func() {
		ns := nsName()
		Expect(createNS(alice, ns, map[string]string{"owner": "a"})).To(Succeed())
		Expect(label(alice, ns, map[string]any{"owner": "b", "cost-center": "42"})).To(Succeed())
		governed := newNS(governedProd)
		for i, m := range writeMethods {
			Expect(m.write(alice, governed, map[string]any{"owner": fmt.Sprint(i)})).To(Succeed(), m.name)
		}
		Expect(label(alice, governed, map[string]any{"owner": nil})).To(Succeed())
	})

	It("writes status and finalize unchanged, as the namespace controller does", func() {
		ns := newNS(governedProd)
		for _, m := range writeMethods {
			Expect(m.write(alice, ns, map[string]any{})).To(Succeed(), m.name)
		}
	})

	It("creates and labels a namespace carrying 300 ordinary labels", func() {
		labels := map[string]string{}
		for i := range 300 {
			labels[fmt.Sprintf("example.com/label-%d", i)] = fmt.Sprintf("value-%d", i)
		}
		ns := nsName()
		Expect(createNS(alice, ns, labels)).To(Succeed())
		Expect(label(alice, ns, map[string]any{"example.com/label-0": "changed", "owner": "a"})).To(Succeed())
	})

	It("is still refused with thousands of labels: the cost of protect-tier-labels does not grow with them", func() {
		labels := map[string]string{}
		for i := range 5000 {
			labels[fmt.Sprintf("example.com/label-%d", i)] = fmt.Sprintf("value-%d", i)
		}
		ns := nsName()
		Expect(createNS(alice, ns, labels)).To(Succeed())
		Expect(label(alice, ns, map[string]any{"env": "prod"})).To(beDenied("label env ", "company", "alice"))
	})
})

var _ = Describe("Assignment by RBAC", func() {
	assigners := []struct {
		name, who string
		user      func() client.Client
	}{
		{"carol", "bound to the namespace-assigner ClusterRole", func() client.Client { return carol }},
		{"dave", "bound to a ClusterRole that may assign only the profile company", func() client.Client { return dave }},
	}
	for _, as := range assigners {
		Context(as.name+", "+as.who, func() {
			for _, a := range labelAttempts {
				for _, m := range writeMethods {
					It(fmt.Sprintf("may %s (%s)", a.name, m.name), func() {
						ns := newNS(a.labels)
						Expect(m.write(as.user(), ns, a.change)).To(Succeed())
					})
				}
			}
			for _, a := range createAttempts {
				It("may "+a.name, func() {
					Expect(createNS(as.user(), a.nsName(as.name), a.labels)).To(Succeed())
				})
			}
		})
	}

	It("gives a per-profile assigner no segmentation.tierguard.io/ label on a namespace no profile label ties to its profile", func() {
		Expect(createNS(dave, nsName(), map[string]string{tierKey: "prod"})).
			To(beDenied("label "+tierKey+" is reserved", "", "dave"))
		Expect(createNS(dave, nsName(), map[string]string{sharedKey: "true"})).
			To(beDenied("label "+sharedKey+" is reserved", "", "dave"))
		Expect(createNS(dave, nsName(), map[string]string{tierKey: "prod", profileKey: "company"})).To(Succeed())
	})

	It("gives a per-profile assigner nothing in another profile", func() {
		Expect(createNS(dave, nsName(), map[string]string{"team": "a"})).
			To(beDenied("label team ", "selfserve", "dave"))
		Expect(createNS(dave, nsName(), map[string]string{otherTierKey: "dev"})).
			To(beDenied("label "+otherTierKey, "other", "dave"))
	})

	It("lets Tierguard's service account label, relabel and release namespaces", func() {
		ns := nsName()
		Expect(createNS(admin, ns, map[string]string{"env": "dev"})).To(Succeed())
		Expect(label(manager, ns, map[string]any{tierKey: "dev", profileKey: "company", psaKey: "baseline"})).To(Succeed())
		Expect(label(admin, ns, map[string]any{"env": "prod"})).To(Succeed())
		Expect(label(manager, ns, map[string]any{tierKey: "prod", psaKey: "restricted"})).To(Succeed())
		Expect(label(manager, ns, map[string]any{stageTierKey: "dev", quotaKey: "small"})).To(Succeed())
		Expect(label(manager, ns, map[string]any{tierKey: nil, profileKey: nil, psaKey: nil, stageTierKey: nil, quotaKey: nil})).To(Succeed())
	})

	It("authorizes a cluster administrator (system:masters) like any subject with assign", func() {
		ns := nsName()
		Expect(createNS(admin, ns, map[string]string{tierKey: "prod", "env": "prod", otherTierKey: "dev"})).To(Succeed())
		Expect(label(admin, ns, map[string]any{tierKey: nil, "env": "dev", sharedKey: "true"})).To(Succeed())
	})
})

var _ = Describe("Self-service tiers", func() {
	// selfserve: dev is SelfService (stage In [dev, sandbox], no label
	// locked); prod is Restricted (a team label and stage not dev or
	// sandbox, or no stage at all).
	DescribeTable("alice moves a namespace by its selector labels",
		func(start map[string]string, change map[string]any, allowed bool, key string) {
			ns := newNS(start)
			err := label(alice, ns, change)
			if allowed {
				Expect(err).To(Succeed())
			} else {
				Expect(err).To(beDenied("label "+key+" ", "selfserve", "alice"))
			}
		},
		Entry("none -> dev", nil, map[string]any{"stage": "dev"}, true, ""),
		Entry("none -> dev by In", map[string]string{"stage": "qa"}, map[string]any{"stage": "sandbox"}, true, ""),
		Entry("dev -> none", map[string]string{"stage": "dev"}, map[string]any{"stage": nil}, true, ""),
		Entry("dev -> none by DoesNotExist", map[string]string{"stage": "dev"}, map[string]any{"locked": "yes"}, true, ""),
		Entry("dev -> dev with a team: NotIn keeps stage dev out of prod", map[string]string{"stage": "dev"}, map[string]any{"team": "a"}, true, ""),
		Entry("dev -> prod", map[string]string{"stage": "dev", "team": "a"}, map[string]any{"stage": "prod"}, false, "stage"),
		Entry("dev -> prod by removing stage: NotIn selects a missing key", map[string]string{"stage": "dev", "team": "a"}, map[string]any{"stage": nil}, false, "stage"),
		Entry("none -> prod by Exists", map[string]string{"stage": "qa"}, map[string]any{"team": "a"}, false, "team"),
		Entry("prod -> none", map[string]string{"stage": "qa", "team": "a"}, map[string]any{"team": nil}, false, "team"),
	)

	It("lets alice create a namespace in a SelfService tier, not in a Restricted one", func() {
		Expect(createNS(alice, nsName(), map[string]string{"stage": "dev"})).To(Succeed())
		Expect(createNS(alice, nsName(), map[string]string{"stage": "qa", "team": "a"})).
			To(beDenied("SegmentationProfile selfserve", "selfserve", "alice"))
	})

	It("lets alice take a governed namespace out of dev, but not change dev's namespaceLabels or its tier label", func() {
		governed := map[string]string{"stage": "dev", stageTierKey: "dev", profileKey: "selfserve", quotaKey: "small"}
		ns := newNS(governed)
		Expect(label(alice, ns, map[string]any{quotaKey: "large"})).
			To(beDenied("label "+quotaKey, "selfserve", "alice", "tier dev"))
		Expect(label(alice, ns, map[string]any{quotaKey: nil})).
			To(beDenied("label "+quotaKey, "selfserve", "alice"))
		Expect(label(alice, ns, map[string]any{stageTierKey: "prod"})).
			To(beDenied("label "+stageTierKey, "selfserve", "alice"))
		Expect(label(alice, ns, map[string]any{"stage": "qa"})).To(Succeed())
	})

	It("does not let a governed prod namespace leave by a SelfService tier's selector", func() {
		ns := newNS(map[string]string{"stage": "qa", "team": "a", stageTierKey: "prod", profileKey: "selfserve"})
		Expect(label(alice, ns, map[string]any{"team": nil, "stage": "dev"})).
			To(beDenied("SegmentationProfile selfserve", "selfserve", "alice"))
	})
})

var _ = Describe("A profile as large as the CRD allows", func() {
	It("is evaluated in full within the cost limits", func() {
		// A namespace alice may not put into tier t31 (every tier is
		// Restricted), nor move within it; carol may.
		Expect(createNS(alice, nsName(), bigTierLabels(31, "v63"))).
			To(beDenied("label big.example.com/t31-", "big", "alice"))
		ns := newNS(bigTierLabels(31, "v0"))
		Expect(label(alice, ns, map[string]any{"big.example.com/t31-e15": "v63"})).
			To(beDenied("label big.example.com/t31-e15", "big", "alice"))
		Expect(label(carol, ns, map[string]any{"big.example.com/t31-e15": "v63"})).To(Succeed())
		Expect(createNS(alice, "big-shared-n31", nil)).To(beDenied("name big-shared-n31", "big", "alice"))
		// Selector keys that select no tier before or after are free.
		Expect(createNS(alice, nsName(), map[string]string{"big.example.com/t0-l0": "on", "big.example.com/shared-e3": "v1"})).To(Succeed())
	})
})

var _ = Describe("Namespace subresources", func() {
	It("keep label changes: namespaces/status and namespaces/finalize must be matched", func() {
		// The evidence for matching both subresources: kube-apiserver keeps
		// labels added, changed or removed through either of them.
		start := map[string]string{"probe": "start", "removed": "yes"}
		for _, m := range writeMethods[2:] {
			ns := newNS(start)
			Expect(m.write(admin, ns, map[string]any{"probe": "changed", "added": "yes", "removed": nil})).To(Succeed(), m.name)
			got := &corev1.Namespace{}
			Expect(admin.Get(ctx, client.ObjectKey{Name: ns}, got)).To(Succeed())
			want := map[string]string{"probe": "changed", "added": "yes", "kubernetes.io/metadata.name": ns}
			Expect(maps.Equal(got.Labels, want)).To(BeTrue(), "%s: labels %v", m.name, got.Labels)
		}
	})
})
