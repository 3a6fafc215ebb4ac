package controller_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/controller"
	"github.com/tierguard/tierguard/internal/render"
)

var _ = Describe("Deletion policy in every mode", func() {
	var f *fixture
	BeforeEach(func() { f = newFixture() })
	AfterEach(func() { f.cleanup() })

	// ownedBy reports whether any of the namespaces' policies still carries
	// an owner reference to the profile: the garbage collector deletes
	// such a policy once the profile is gone.
	ownedBy := func(uid string, namespaces ...string) func() []string {
		return func() []string {
			var out []string
			for _, ns := range namespaces {
				pol, err := policyIn(ns)
				if err != nil {
					continue
				}
				for _, ref := range pol.OwnerReferences {
					if string(ref.UID) == uid {
						out = append(out, ns)
					}
				}
			}
			return out
		}
	}

	It("Delete, then Audit with Retain, then deleted: every policy stays and none is owned by the profile", func() {
		dev := f.envNamespace("dev-a", "dev")
		prod := f.envNamespace("prod-a", "prod")
		f.create(f.profile())
		f.waitEnforced(f.id)
		uid := string(f.get(f.id).UID)
		Expect(ownedBy(uid, dev, prod)()).To(ConsistOf(dev, prod), "under Delete the policies are owned by the profile")

		f.update(f.id, func(p *segv1.SegmentationProfile) {
			p.Spec.Mode = segv1.ModeAudit
			p.Spec.DeletionPolicy = segv1.DeletionPolicyRetain
		})
		Eventually(ownedBy(uid, dev, prod), timeout, interval).Should(BeEmpty(),
			"Retain drops the owner references in Audit mode too")
		Eventually(func() []string { return f.get(f.id).Finalizers }, timeout, interval).ShouldNot(ContainElement(controller.Finalizer),
			"the finalizer goes only once no policy is owned by the profile")

		Expect(k8s.Delete(f.ctx, f.get(f.id))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(f.ctx, client.ObjectKey{Name: f.id}, &segv1.SegmentationProfile{}))
		}, timeout, interval).Should(BeTrue())
		for _, ns := range []string{dev, prod} {
			_, err := policyIn(ns)
			Expect(err).NotTo(HaveOccurred(), "Retain keeps the policy in %s", ns)
		}
		Expect(ownedBy(uid, dev, prod)()).To(BeEmpty())
		Expect(labelsOf(prod)).To(HaveKeyWithValue(f.key, "prod"))
	})

	It("Retain set while the profile is being deleted: owner references are dropped before it goes", func() {
		dev := f.envNamespace("dev-a", "dev")
		f.create(f.profile())
		f.waitEnforced(f.id)
		uid := string(f.get(f.id).UID)
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Mode = segv1.ModeAudit })
		Eventually(f.condition(f.id, segv1.ConditionReady), timeout, interval).Should(Equal("True/Audited"))

		// Deleting and switching to Retain in quick succession: the
		// finalizer (Delete) holds the profile, then Retain decides.
		p := f.get(f.id)
		p.Spec.DeletionPolicy = segv1.DeletionPolicyRetain
		Expect(k8s.Update(f.ctx, p)).To(Succeed())
		Expect(k8s.Delete(f.ctx, p)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(f.ctx, client.ObjectKey{Name: f.id}, &segv1.SegmentationProfile{}))
		}, timeout, interval).Should(BeTrue())
		_, err := policyIn(dev)
		Expect(err).NotTo(HaveOccurred())
		Expect(ownedBy(uid, dev)()).To(BeEmpty())
	})

	It("Delete, then Audit, then deleted: every policy and label is removed", func() {
		dev := f.envNamespace("dev-a", "dev")
		prod := f.envNamespace("prod-a", "prod")
		f.create(f.profile())
		f.waitEnforced(f.id)
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Mode = segv1.ModeAudit })
		Eventually(f.condition(f.id, segv1.ConditionReady), timeout, interval).Should(Equal("True/Audited"))
		Expect(f.get(f.id).Finalizers).To(ContainElement(controller.Finalizer), "Audit keeps what cleanup needs")

		Expect(k8s.Delete(f.ctx, f.get(f.id))).To(Succeed())
		for _, ns := range []string{dev, prod} {
			Eventually(policyGone(ns), timeout, interval).Should(BeTrue())
			Eventually(func() map[string]string { return labelsOf(ns) }, timeout, interval).ShouldNot(HaveKey(f.key))
		}
	})
})

var _ = Describe("Writes the API server would refuse", func() {
	var f *fixture
	BeforeEach(func() { f = newFixture() })
	AfterEach(func() { f.cleanup() })

	It("labels no namespace of a tier whose policy is refused, and says why on the profile", func() {
		// A cluster admission policy refusing NetworkPolicies that admit a
		// documentation range, as a cluster's own guard rails might.
		cidr := "192.0.2.0/24"
		vap := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: f.id + "-no-doc-range"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr.To(admissionregistrationv1.Fail),
				MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"},
							Resources: []string{"networkpolicies"}},
					},
				}}},
				Validations: []admissionregistrationv1.Validation{{
					Expression: fmt.Sprintf("!has(object.spec.ingress) || !object.spec.ingress.exists(r, has(r.from) && r.from.exists(p, has(p.ipBlock) && p.ipBlock.cidr == '%s'))", cidr),
					Message:    "policies may not admit " + cidr,
				}},
			},
		}
		Expect(k8s.Create(f.ctx, vap)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(f.ctx, vap) })
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: vap.Name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: vap.Name, ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			},
		}
		Expect(k8s.Create(f.ctx, binding)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(f.ctx, binding) })
		probe := f.envNamespace("probe", "none")
		Eventually(func() error {
			pol := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: probe, Name: "probe"},
				Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr}}}}}}}
			return k8s.Create(f.ctx, pol, client.DryRunAll)
		}, timeout, interval).Should(HaveOccurred(), "the admission policy is loaded")

		dev := f.envNamespace("dev-a", "dev")
		prod := f.envNamespace("prod-a", "prod")
		p := f.profile()
		p.Spec.Tiers[2].AllowedIngressCIDRs = []segv1.IPBlock{{CIDR: cidr}}
		f.create(p)
		Eventually(f.condition(f.id, segv1.ConditionReady), timeout, interval).Should(Equal("False/PolicyRefused"))
		Eventually(f.condition(f.id, segv1.ConditionStalled), timeout, interval).Should(Equal("True/PolicyRefused"))
		ready := meta.FindStatusCondition(f.get(f.id).Status.Conditions, segv1.ConditionReady)
		Expect(ready.Message).To(And(ContainSubstring("tier prod"), ContainSubstring("policies may not admit "+cidr)))
		Eventually(tierOf(dev), timeout, interval).Should(Equal("dev"), "other tiers are enforced")
		Consistently(func() map[string]string { return labelsOf(prod) }, "2s", interval).ShouldNot(HaveKey(f.key),
			"no namespace is labelled without its policy")
		Expect(policyGone(prod)()).To(BeTrue())
		Expect(f.get(f.id).Status.ManagedPolicies).To(BeEquivalentTo(1), "only dev's namespace holds a policy")
		Eventually(eventReasons(f.id), timeout, interval).Should(ContainElement(segv1.ReasonPolicyRefused))

		By("fixing the profile enforces the tier")
		f.update(f.id, func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers[2].AllowedIngressCIDRs = []segv1.IPBlock{{CIDR: "198.51.100.0/24"}}
		})
		f.waitEnforced(f.id)
		Eventually(tierOf(prod), timeout, interval).Should(Equal("prod"))
		Expect(meta.FindStatusCondition(f.get(f.id).Status.Conditions, segv1.ConditionStalled)).To(BeNil())
	})
})

var _ = Describe("Status bounds", func() {
	var f *fixture
	BeforeEach(func() { f = newFixture() })
	AfterEach(func() { f.cleanup() })

	It("reports a hole of 150 ports, which the status could not hold whole", func() {
		f.envNamespace("dev-a", "dev")
		prod := f.envNamespace("prod-a", "prod")
		f.create(f.profile())
		f.waitEnforced(f.id)
		Eventually(f.condition(f.id, segv1.ConditionIsolationVerified), timeout, interval).Should(Equal("True/NoLeaks"))

		var ports []networkingv1.NetworkPolicyPort
		for i := range 150 {
			ports = append(ports, networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(int32(10000 + 2*i)))})
		}
		hole := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: prod, Name: "many-ports"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: ports}}}}
		Expect(k8s.Create(f.ctx, hole)).To(Succeed())
		Eventually(f.condition(f.id, segv1.ConditionIsolationVerified), timeout, interval).Should(Equal("False/LeaksFound"))
		leaks := f.get(f.id).Status.Isolation.Leaks
		Expect(leaks).NotTo(BeEmpty())
		Expect(len(leaks[0].Ports)).To(BeNumerically("<=", 1024))
		Expect(leaks[0].Ports).To(And(HavePrefix("TCP/10000, TCP/10002"), MatchRegexp(`\.\.\. and \d+ more$`)))
	})

	It("reports a namespace matched by 32 tiers with long names", func() {
		ns := f.envNamespace("everywhere", "dev")
		p := f.profile()
		p.Spec.Tiers = nil
		p.Spec.Flows = nil
		for i := range 32 {
			name := fmt.Sprintf("%02d%s", i, strings.Repeat("t", 61))
			p.Spec.Tiers = append(p.Spec.Tiers, segv1.Tier{Name: segv1.TierName(name), Namespaces: segv1.NamespaceSet{Selector: f.selector("dev")}})
		}
		f.create(p)
		Eventually(f.condition(f.id, segv1.ConditionConflict), timeout, interval).Should(Equal("True/ConflictsFound"))
		st := f.get(f.id).Status
		Expect(st.Conflicts).To(HaveLen(1))
		Expect(st.Conflicts[0].Namespace).To(Equal(ns))
		Expect(len(st.Conflicts[0].Message)).To(BeNumerically("<=", 1024))
		Expect(st.Conflicts[0].Message).To(ContainSubstring(" more"))
	})
})

var _ = Describe("Two profiles", func() {
	It("hand namespaces from one to the other without undoing each other's writes", func() {
		older, younger := newFixture(), newFixture()
		DeferCleanup(older.cleanup)
		DeferCleanup(younger.cleanup)
		// Both select the same namespaces, with the same tier label key.
		var names []string
		for i := range 12 {
			names = append(names, older.envNamespace(fmt.Sprintf("app-%d", i), "dev"))
		}
		a := older.profile()
		a.Spec.TierLabelKey = segv1.LabelKey(render.DefaultTierLabelKey)
		older.create(a)
		older.waitEnforced(older.id)

		b := older.profile() // the same selectors: the older fixture's namespaces
		b.Name = younger.id
		b.Spec.TierLabelKey = "handover.tierguard.test/tier"
		b.Spec.Tiers[0].NamespaceLabels = map[string]segv1.LabelValue{"pod-security.kubernetes.io/enforce": "restricted"}
		// Profiles are ordered by creation time, in seconds, then name.
		time.Sleep(1100 * time.Millisecond)
		younger.create(b)
		Eventually(younger.condition(younger.id, segv1.ConditionConflict), timeout, interval).Should(Equal("True/ConflictsFound"))

		Expect(k8s.Delete(older.ctx, older.get(older.id))).To(Succeed())
		Eventually(younger.condition(younger.id, segv1.ConditionReady), timeout, interval).Should(Equal("True/Enforced"))
		for _, ns := range names {
			Eventually(func(g Gomega) {
				labels := labelsOf(ns)
				g.Expect(labels).To(HaveKeyWithValue(render.ProfileLabel, younger.id))
				g.Expect(labels).To(HaveKeyWithValue("handover.tierguard.test/tier", "dev"))
				g.Expect(labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
				g.Expect(labels).NotTo(HaveKey(render.DefaultTierLabelKey))
				pol, err := policyIn(ns)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pol.Labels).To(HaveKeyWithValue(render.ProfileLabel, younger.id))
			}, timeout, interval).Should(Succeed(), ns)
		}
		// And it stays so: the older profile's cleanup, from whatever its
		// cache showed, undid nothing the younger one wrote.
		Consistently(func() int {
			n := 0
			for _, ns := range names {
				if pol, err := policyIn(ns); err == nil && pol.Labels[render.ProfileLabel] == younger.id &&
					labelsOf(ns)[render.ProfileLabel] == younger.id {
					n++
				}
			}
			return n
		}, "2s", interval).Should(Equal(len(names)))
		Expect(younger.get(younger.id).Status.Membership.Changes).To(BeNumerically(">=", len(names)))
	})
})

var _ = Describe("A namespace retained after leaving", func() {
	var f *fixture
	BeforeEach(func() { f = newFixture() })
	AfterEach(func() { f.cleanup() })

	It("is released when someone allowed to assign removes its tier label", func() {
		dev := f.envNamespace("dev-a", "dev")
		f.create(f.profile())
		f.waitEnforced(f.id)

		patchLabels(dev, map[string]any{"env": "none"}, "kubectl-label")
		Eventually(func() []string { return f.get(f.id).Status.Membership.Retained }, timeout, interval).Should(Equal([]string{dev}))
		Consistently(tierOf(dev), "1s", interval).Should(Equal("dev"), "retained: the policy stays")
		Expect(labelsOf(dev)).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "baseline"))

		// The admission policies let only assigners do this; the controller
		// suite runs without them, as an administrator.
		patchLabels(dev, map[string]any{f.key: nil}, "kubectl-label")
		Eventually(policyGone(dev), timeout, interval).Should(BeTrue())
		Eventually(func() map[string]string { return labelsOf(dev) }, timeout, interval).ShouldNot(HaveKey(render.ProfileLabel))
		Expect(labelsOf(dev)).NotTo(HaveKey("pod-security.kubernetes.io/enforce"))
		Eventually(func() int32 { return f.get(f.id).Status.Membership.RetainedCount }, timeout, interval).Should(BeZero())
		Expect(f.get(f.id).Status.Membership.Recent[0]).To(MatchFields(IgnoreExtras, Fields{
			"Namespace": Equal(dev), "Action": Equal(segv1.MembershipLeft)}))
	})
})
