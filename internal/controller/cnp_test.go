package controller_test

import (
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// clusterPolicyNames lists the names of a profile's ClusterNetworkPolicies.
func clusterPolicyNames(profile string) func() []string {
	return func() []string {
		list := &npav1beta1.ClusterNetworkPolicyList{}
		if err := k8s.List(bgCtx, list, client.MatchingLabels{render.ProfileLabel: profile}); err != nil {
			return []string{err.Error()}
		}
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return names
	}
}

func clusterPolicy(name string) *npav1beta1.ClusterNetworkPolicy {
	p := &npav1beta1.ClusterNetworkPolicy{}
	Expect(k8s.Get(bgCtx, client.ObjectKey{Name: name}, p)).To(Succeed())
	return p
}

// policyCount counts the managed NetworkPolicies in namespaces.
func policyCount(namespaces ...string) func() int {
	return func() int {
		n := 0
		for _, ns := range namespaces {
			if _, err := policyIn(ns); err == nil {
				n++
			}
		}
		return n
	}
}

// firstIndex returns the index of the first request with the method whose
// path contains part, or -1; lastIndex the last.
func firstIndex(log []string, method, part string) int {
	return slices.IndexFunc(log, func(r string) bool { return strings.HasPrefix(r, method+" ") && strings.Contains(r, part) })
}

func lastIndex(log []string, method, part string) int {
	for i := len(log) - 1; i >= 0; i-- {
		if strings.HasPrefix(log[i], method+" ") && strings.Contains(log[i], part) {
			return i
		}
	}
	return -1
}

func driftRecords(name string) func() []string {
	return func() []string {
		p := &segv1.SegmentationProfile{}
		if err := k8s.Get(bgCtx, client.ObjectKey{Name: name}, p); err != nil {
			return []string{err.Error()}
		}
		var out []string
		for _, r := range p.Status.Drift.Recent {
			out = append(out, strings.Join([]string{string(r.Kind), r.Name, string(r.Change), r.Manager}, " "))
		}
		return out
	}
}

// The ClusterNetworkPolicy specs run in order: the CRD is absent at first,
// then installed from the pinned network-policy-api module.
var _ = Describe("ClusterNetworkPolicy enforcement", Ordered, func() {
	f := newFixture()
	var dev, prod, test string
	names := func(extra ...string) []string {
		out := []string{"tierguard." + f.id + ".dev", "tierguard." + f.id + ".prod", "tierguard." + f.id + ".test"}
		out = append(out, extra...)
		slices.Sort(out)
		return out
	}

	It("keeps enforcing with NetworkPolicies, and says why, while the CRD is absent", func() {
		dev, prod, test = f.envNamespace("dev-a", "dev"), f.envNamespace("prod-a", "prod"), f.envNamespace("test-a", "test")
		p := f.profile()
		p.Spec.Enforcement = segv1.EnforcementClusterNetworkPolicy
		f.create(p)
		Eventually(f.condition(f.id, segv1.ConditionReady), timeout, interval).Should(Equal("False/" + segv1.ReasonClusterNetworkPolicyNotServed))
		Expect(policyCount(dev, prod, test)()).To(Equal(3))
		Expect(labelsOf(dev)).To(HaveKeyWithValue(f.key, "dev"))
		Expect(f.get(f.id).Status.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("NetworkPolicies of 3 namespace(s) are kept"))))
	})

	It("switches to ClusterNetworkPolicies once the CRD is installed, every boundary written before any NetworkPolicy goes", func() {
		from := writes.logged()
		crd, err := harness.ClusterNetworkPolicyCRD()
		Expect(err).NotTo(HaveOccurred())
		_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crd}})
		Expect(err).NotTo(HaveOccurred())

		f.waitEnforced(f.id)
		Expect(clusterPolicyNames(f.id)()).To(Equal(names("tierguard." + f.id + ".prod." + prod)))
		Eventually(policyCount(dev, prod, test), timeout, interval).Should(BeZero())
		st := f.get(f.id).Status
		Expect(st.ManagedClusterNetworkPolicies).To(BeEquivalentTo(4))
		Expect(st.ManagedPolicies).To(BeZero())
		Expect(labelsOf(prod)).To(HaveKeyWithValue(f.key, "prod"))

		log := writes.since(from)
		lastApply, firstDelete := lastIndex(log, "PATCH", "/clusternetworkpolicies/"), firstIndex(log, "DELETE", "/networkpolicies/")
		Expect(lastApply).To(BeNumerically(">=", 0), "%v", log)
		Expect(firstDelete).To(BeNumerically(">", lastApply), "a NetworkPolicy went before every boundary was written: %v", log)
	})

	It("costs no write in steady state", func() {
		before := writes.total("/clusternetworkpolicies", "/networkpolicies", "/namespaces/"+dev, "/segmentationprofiles/"+f.id)
		Consistently(func() int {
			return writes.total("/clusternetworkpolicies", "/networkpolicies", "/namespaces/"+dev, "/segmentationprofiles/"+f.id)
		}, 3*time.Second, interval).Should(Equal(before))
	})

	It("repairs an edited and a deleted ClusterNetworkPolicy and records who changed it", func() {
		name := "tierguard." + f.id + ".prod"
		pol := clusterPolicy(name)
		Expect(pol.Spec.Priority).To(BeEquivalentTo(render.DefaultCNPPriority + 1))
		// Another administrator lowers the boundary's precedence.
		Expect(k8s.Patch(bgCtx, pol, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"priority":900}}`)),
			client.FieldOwner("tamperer"))).To(Succeed())
		Eventually(func() int32 { return clusterPolicy(name).Spec.Priority }, timeout, interval).
			Should(BeEquivalentTo(render.DefaultCNPPriority + 1))
		Eventually(driftRecords(f.id), timeout, interval).Should(ContainElement("ClusterNetworkPolicy " + name + " Modified tamperer"))

		// Someone drops the boundary's Deny rule: the rules are replaced.
		planned := clusterPolicy(name).Spec.Ingress
		Expect(k8s.Patch(bgCtx, clusterPolicy(name), client.RawPatch(types.JSONPatchType,
			[]byte(fmt.Sprintf(`[{"op":"remove","path":"/spec/ingress/%d"}]`, len(planned)-1))), client.FieldOwner("rule-editor"))).To(Succeed())
		Eventually(func() []npav1beta1.ClusterNetworkPolicyIngressRule { return clusterPolicy(name).Spec.Ingress }, timeout, interval).
			Should(Equal(planned))
		Eventually(driftRecords(f.id), timeout, interval).Should(ContainElement("ClusterNetworkPolicy " + name + " Modified rule-editor"))

		devName := "tierguard." + f.id + ".dev"
		Expect(k8s.Delete(bgCtx, clusterPolicy(devName))).To(Succeed())
		Eventually(clusterPolicyNames(f.id), timeout, interval).Should(ContainElement(devName))
		Eventually(driftRecords(f.id), timeout, interval).Should(ContainElement("ClusterNetworkPolicy " + devName + " Deleted "))
		Expect(f.get(f.id).Status.Drift.Repairs).To(BeNumerically(">=", 2))
	})

	It("keeps the pass policy of a namespace retained after leaving a Namespace-isolated tier, and removes it on release", func() {
		ns := f.envNamespace("prod-b", "prod")
		own := "tierguard." + f.id + ".prod." + ns
		Eventually(clusterPolicyNames(f.id), timeout, interval).Should(ContainElement(own))
		Expect(k8s.Patch(bgCtx, namespaceWithLabels(ns, map[string]string{"env": "none"}), client.Merge)).To(Succeed())
		// leavePolicy Retain (the default): the namespace keeps its tier,
		// so it keeps the policy that passes its own traffic.
		Consistently(clusterPolicyNames(f.id), 2*time.Second, interval).Should(ContainElement(own))
		Expect(labelsOf(ns)).To(HaveKeyWithValue(f.key, "prod"))
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.LeavePolicy = segv1.LeavePolicyRelease })
		Eventually(clusterPolicyNames(f.id), timeout, interval).Should(Equal(names("tierguard." + f.id + ".prod." + prod)))
		Eventually(func() map[string]string { return labelsOf(ns) }, timeout, interval).ShouldNot(HaveKey(f.key))
	})

	It("switches to Both: NetworkPolicies added, boundaries kept", func() {
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Enforcement = segv1.EnforcementBoth })
		f.waitEnforced(f.id)
		Eventually(policyCount(dev, prod, test), timeout, interval).Should(Equal(3))
		Expect(clusterPolicyNames(f.id)()).To(HaveLen(4))
	})

	It("switches back to NetworkPolicies, every one written before any ClusterNetworkPolicy goes", func() {
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Enforcement = segv1.EnforcementClusterNetworkPolicy })
		Eventually(policyCount(dev, prod, test), timeout, interval).Should(BeZero())
		f.waitEnforced(f.id)
		from := writes.logged()
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Enforcement = "" })
		f.waitEnforced(f.id)
		Eventually(clusterPolicyNames(f.id), timeout, interval).Should(BeEmpty())
		Expect(policyCount(dev, prod, test)()).To(Equal(3))
		log := writes.since(from)
		lastApply, firstDelete := lastIndex(log, "PATCH", "/networkpolicies/"), firstIndex(log, "DELETE", "/clusternetworkpolicies/")
		Expect(lastApply).To(BeNumerically(">=", 0), "%v", log)
		Expect(firstDelete).To(BeNumerically(">", lastApply), "a boundary went before every NetworkPolicy was written: %v", log)
		Expect(f.get(f.id).Status.ManagedClusterNetworkPolicies).To(BeZero())
	})

	It("reports the ClusterNetworkPolicies an Audit profile would write, and writes none", func() {
		a := newFixture()
		a.envNamespace("dev-a", "dev")
		p := a.profile()
		p.Spec.Mode = segv1.ModeAudit
		p.Spec.Enforcement = segv1.EnforcementClusterNetworkPolicy
		a.create(p)
		Eventually(a.condition(a.id, segv1.ConditionReady), timeout, interval).Should(Equal("True/" + segv1.ReasonAudited))
		// Three tier boundaries and the namespace's labels.
		Expect(a.get(a.id).Status.PendingChanges).To(BeEquivalentTo(4))
		Consistently(clusterPolicyNames(a.id), time.Second, interval).Should(BeEmpty())
		a.cleanup()
	})

	It("removes the ClusterNetworkPolicies with a profile under deletionPolicy Delete, keeps them without owner under Retain", func() {
		for _, policy := range []segv1.DeletionPolicy{segv1.DeletionPolicyDelete, segv1.DeletionPolicyRetain} {
			g := newFixture()
			g.envNamespace("dev-a", "dev")
			p := g.profile()
			p.Spec.Enforcement = segv1.EnforcementClusterNetworkPolicy
			p.Spec.DeletionPolicy = policy
			g.create(p)
			g.waitEnforced(g.id)
			owned := clusterPolicy("tierguard." + g.id + ".dev").OwnerReferences
			Expect(owned).To(HaveLen(map[segv1.DeletionPolicy]int{segv1.DeletionPolicyDelete: 1, segv1.DeletionPolicyRetain: 0}[policy]))
			g.cleanup()
			if policy == segv1.DeletionPolicyDelete {
				Eventually(clusterPolicyNames(g.id), timeout, interval).Should(BeEmpty())
				continue
			}
			Consistently(clusterPolicyNames(g.id), 2*time.Second, interval).Should(HaveLen(3))
			for _, n := range clusterPolicyNames(g.id)() {
				Expect(clusterPolicy(n).OwnerReferences).To(BeEmpty())
				Expect(k8s.Delete(bgCtx, clusterPolicy(n))).To(Succeed())
			}
		}
	})

	It("writes the NetworkPolicies again when the CRD is removed", func() {
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Enforcement = segv1.EnforcementClusterNetworkPolicy })
		Eventually(policyCount(dev, prod, test), timeout, interval).Should(BeZero())
		f.waitEnforced(f.id)
		crd, err := harness.ClusterNetworkPolicyCRD()
		Expect(err).NotTo(HaveOccurred())
		Expect(envtest.UninstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crd}})).To(Succeed())
		Eventually(f.condition(f.id, segv1.ConditionReady), timeout, interval).Should(Equal("False/" + segv1.ReasonClusterNetworkPolicyNotServed))
		Eventually(policyCount(dev, prod, test), timeout, interval).Should(Equal(3))
	})

	AfterAll(f.cleanup)
})

// namespaceWithLabels is a merge patch that sets labels.
func namespaceWithLabels(name string, labels map[string]string) client.Object {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}
