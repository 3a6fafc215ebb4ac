package controller_test

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/prometheus/client_golang/prometheus/testutil"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/controller"
	"github.com/tierguard/tierguard/internal/metrics"
	"github.com/tierguard/tierguard/internal/render"
)

var _ = Describe("SegmentationProfile controller", func() {
	var f *fixture
	BeforeEach(func() { f = newFixture() })
	AfterEach(func() { f.cleanup() })

	It("enforces labels and policies on existing namespaces at cold start and reports status", func() {
		devA, devB := f.envNamespace("dev-a", "dev"), f.envNamespace("dev-b", "dev")
		testA := f.envNamespace("test-a", "test")
		prodA := f.envNamespace("prod-a", "prod")
		ingress := f.namespace("ingress", nil)
		other := f.namespace("unrelated", map[string]string{"env": "staging"})

		f.create(f.profile())
		f.waitEnforced(f.id)

		Expect(labelsOf(devA)).To(HaveKeyWithValue(f.key, "dev"))
		Expect(labelsOf(devA)).To(HaveKeyWithValue(render.ProfileLabel, f.id))
		Expect(labelsOf(devA)).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "baseline"))
		Expect(labelsOf(devB)).To(HaveKeyWithValue(f.key, "dev"))
		Expect(labelsOf(testA)).To(HaveKeyWithValue(f.key, "test"))
		Expect(labelsOf(prodA)).To(HaveKeyWithValue(f.key, "prod"))
		Expect(labelsOf(ingress)).NotTo(HaveKey(f.key))
		Expect(labelsOf(other)).NotTo(HaveKey(f.key))
		Expect(policyGone(ingress)()).To(BeTrue())
		Expect(policyGone(other)()).To(BeTrue())

		pol, err := policyIn(testA)
		Expect(err).NotTo(HaveOccurred())
		Expect(pol.Labels).To(HaveKeyWithValue(render.ManagedByLabel, "tierguard"))
		Expect(pol.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		Expect(pol.Spec.Ingress).To(HaveLen(3)) // same tier, shared, flow from dev
		Expect(pol.Spec.Ingress[2].From[0].NamespaceSelector.MatchLabels).To(Equal(map[string]string{f.key: "dev"}))
		Expect(pol.OwnerReferences).To(HaveLen(1))
		Expect(pol.OwnerReferences[0].Name).To(Equal(f.id))

		p := f.get(f.id)
		Expect(p.Finalizers).To(ContainElement(controller.Finalizer))
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		Expect(p.Status.GovernedNamespaces).To(BeEquivalentTo(4))
		Expect(p.Status.ManagedPolicies).To(BeEquivalentTo(4))
		Expect(p.Status.Tiers).To(Equal([]segv1.TierStatus{{Name: "dev", Namespaces: 2}, {Name: "test", Namespaces: 1}, {Name: "prod", Namespaces: 1}}))
		Expect(f.condition(f.id, segv1.ConditionDrifted)()).To(Equal("False/NoDrift"))
		Expect(f.condition(f.id, segv1.ConditionConflict)()).To(Equal("False/NoConflicts"))
		Expect(meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionReconciling)).To(BeNil())
		Expect(meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionStalled)).To(BeNil())
		Expect(p.Status.Drift.Repairs).To(BeZero(), "a first apply is not drift")

		Eventually(eventReasons(f.id), timeout, interval).Should(ContainElement("Enforced"))
	})

	It("covers namespaces created and relabelled later, without calling it drift", func() {
		f.envNamespace("dev-a", "dev")
		f.create(f.profile())
		f.waitEnforced(f.id)

		late := f.envNamespace("late", "test")
		Eventually(tierOf(late), timeout, interval).Should(Equal("test"))
		Eventually(func() map[string]string { return labelsOf(late) }, timeout, interval).Should(HaveKeyWithValue(f.key, "test"))

		patchLabels(late, map[string]any{"env": "prod"}, "kubectl-label")
		Eventually(tierOf(late), timeout, interval).Should(Equal("prod"))
		Eventually(func() map[string]string { return labelsOf(late) }, timeout, interval).Should(HaveKeyWithValue(f.key, "prod"))
		pol, _ := policyIn(late)
		Expect(pol.Spec.Ingress[0].From[0].PodSelector).NotTo(BeNil(), "prod isolates by namespace")

		By("leaving every tier under leavePolicy Retain (the default): the namespace keeps its labels and policy")
		patchLabels(late, map[string]any{"env": "none"}, "kubectl-label")
		Eventually(func() int32 { return f.get(f.id).Status.Membership.RetainedCount }, timeout, interval).Should(BeEquivalentTo(1))
		Expect(f.get(f.id).Status.Membership.Retained).To(Equal([]string{late}))
		Expect(labelsOf(late)).To(HaveKeyWithValue(f.key, "prod"))
		_, err := policyIn(late)
		Expect(err).NotTo(HaveOccurred(), "leaving never opens traffic by default")
		recent := f.get(f.id).Status.Membership.Recent
		Expect(recent).NotTo(BeEmpty())
		Expect(recent[0]).To(MatchFields(IgnoreExtras, Fields{
			"Namespace": Equal(late), "From": Equal("prod"), "To": BeEmpty(), "Action": Equal(segv1.MembershipRetained)}))
		Expect(recent).To(ContainElement(MatchFields(IgnoreExtras, Fields{
			"Namespace": Equal(late), "From": Equal("test"), "To": Equal("prod"), "Action": Equal(segv1.MembershipMoved),
			"Manager": Equal("kubectl-label")})), "the move names the field manager that changed the selector label")
		Expect(recent).To(ContainElement(MatchFields(IgnoreExtras, Fields{
			"Namespace": Equal(late), "To": Equal("test"), "Action": Equal(segv1.MembershipJoined)})))
		Eventually(eventMessages(f.id), timeout, interval).Should(ContainElement(
			ContainSubstring("Namespace %s moved from tier test to tier prod (selector labels last set by kubectl-label)", late)))

		By("leavePolicy Release: the namespace is released")
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.LeavePolicy = segv1.LeavePolicyRelease })
		Eventually(policyGone(late), timeout, interval).Should(BeTrue())
		Eventually(func() map[string]string { return labelsOf(late) }, timeout, interval).ShouldNot(HaveKey(f.key))
		Expect(labelsOf(late)).NotTo(HaveKey(render.ProfileLabel))
		Expect(labelsOf(late)).To(HaveKeyWithValue("env", "none"), "labels others own stay")
		f.waitEnforced(f.id)
		Expect(f.get(f.id).Status.Drift.Repairs).To(BeZero())
		Expect(f.get(f.id).Status.Membership.RetainedCount).To(BeZero())
		Expect(f.get(f.id).Status.Membership.Recent[0]).To(MatchFields(IgnoreExtras, Fields{
			"Namespace": Equal(late), "From": Equal("prod"), "Action": Equal(segv1.MembershipLeft)}))
	})

	It("follows profile edits: tiers added and removed, flows, isolation, Audit and back", func() {
		dev := f.envNamespace("dev-a", "dev")
		test := f.envNamespace("test-a", "test")
		qa := f.envNamespace("qa-a", "qa")
		p := f.profile()
		p.Spec.LeavePolicy = segv1.LeavePolicyRelease // qa's namespace is released when qa goes
		f.create(p)
		f.waitEnforced(f.id)
		Expect(policyGone(qa)()).To(BeTrue())

		By("adding a tier")
		f.update(f.id, func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers = append(p.Spec.Tiers, segv1.Tier{Name: "qa", Namespaces: segv1.NamespaceSet{Selector: f.selector("qa")}})
		})
		Eventually(tierOf(qa), timeout, interval).Should(Equal("qa"))
		f.waitEnforced(f.id)

		By("adding a flow test to qa")
		f.update(f.id, func(p *segv1.SegmentationProfile) {
			p.Spec.Flows = append(p.Spec.Flows, segv1.Flow{From: "test", To: "qa"})
		})
		Eventually(func() int {
			pol, err := policyIn(qa)
			if err != nil {
				return 0
			}
			return len(pol.Spec.Ingress)
		}, timeout, interval).Should(Equal(3))

		By("isolating dev by namespace")
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Tiers[0].Isolation = segv1.IsolationNamespace })
		Eventually(func() bool {
			pol, err := policyIn(dev)
			return err == nil && pol.Spec.Ingress[0].From[0].PodSelector != nil
		}, timeout, interval).Should(BeTrue())

		By("switching to Audit: nothing is written, pending changes are counted")
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Mode = segv1.ModeAudit })
		Eventually(f.condition(f.id, segv1.ConditionReady), timeout, interval).Should(Equal("True/Audited"))
		f.update(f.id, func(p *segv1.SegmentationProfile) {
			p.Spec.Tiers = p.Spec.Tiers[:3] // remove qa and its flow
			p.Spec.Flows = p.Spec.Flows[:1]
		})
		Eventually(func() int32 { return f.get(f.id).Status.PendingChanges }, timeout, interval).Should(BeEquivalentTo(2))
		Consistently(tierOf(qa), 2*time.Second, interval).Should(Equal("qa"), "Audit mode writes nothing")

		By("switching back to Enforce applies the pending changes")
		f.update(f.id, func(p *segv1.SegmentationProfile) { p.Spec.Mode = segv1.ModeEnforce })
		Eventually(policyGone(qa), timeout, interval).Should(BeTrue())
		Eventually(func() map[string]string { return labelsOf(qa) }, timeout, interval).ShouldNot(HaveKey(f.key))
		f.waitEnforced(f.id)
		Expect(f.get(f.id).Status.PendingChanges).To(BeZero())
		Expect(tierOf(test)()).To(Equal("test"))
	})

	It("repairs every kind of drift and records the change and who made it", func() {
		dev := f.envNamespace("dev-a", "dev")
		test := f.envNamespace("test-a", "test")
		prod := f.envNamespace("prod-a", "prod")
		f.create(f.profile())
		f.waitEnforced(f.id)
		want, err := policyIn(test)
		Expect(err).NotTo(HaveOccurred())

		By("editing the policy spec")
		pol, _ := policyIn(test)
		pol.Spec.Ingress = append(pol.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
		Expect(k8s.Update(f.ctx, pol, client.FieldOwner("kubectl-edit"))).To(Succeed())
		Eventually(func() int {
			p, _ := policyIn(test)
			return len(p.Spec.Ingress)
		}, timeout, interval).Should(Equal(len(want.Spec.Ingress)))
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: test, Kind: "NetworkPolicy", Name: render.PolicyName, Change: segv1.DriftModified, Manager: "kubectl-edit"}))

		By("deleting the policy")
		Expect(k8s.Delete(f.ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: dev, Name: render.PolicyName}})).To(Succeed())
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: dev, Kind: "NetworkPolicy", Name: render.PolicyName, Change: segv1.DriftDeleted}))
		Eventually(tierOf(dev), timeout, interval).Should(Equal("dev"))

		By("stripping the policy's labels (and annotating it, so the editor owns a field)")
		pol, _ = policyIn(prod)
		pol.Labels = nil
		pol.Annotations["example.com/reason"] = "cleanup"
		Expect(k8s.Update(f.ctx, pol, client.FieldOwner("label-stripper"))).To(Succeed())
		Eventually(tierOf(prod), timeout, interval).Should(Equal("prod"))
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: prod, Kind: "NetworkPolicy", Name: render.PolicyName, Change: segv1.DriftModified, Manager: "label-stripper"}))

		By("changing the tier label")
		patchLabels(dev, map[string]any{f.key: "prod"}, "kubectl-label")
		Eventually(func() map[string]string { return labelsOf(dev) }, timeout, interval).Should(HaveKeyWithValue(f.key, "dev"))
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: dev, Kind: "Namespace", Name: dev, Change: segv1.DriftLabelChanged, Manager: "kubectl-label"}))

		By("removing the tier label")
		patchLabels(test, map[string]any{f.key: nil, "owner": "team-a"}, "kubectl-label")
		Eventually(func() map[string]string { return labelsOf(test) }, timeout, interval).Should(HaveKeyWithValue(f.key, "test"))
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: test, Kind: "Namespace", Name: test, Change: segv1.DriftLabelRemoved}),
			"a removal leaves no managedFields entry of its author: unknown, not a bystander")

		p := f.get(f.id)
		Expect(p.Status.Drift.Repairs).To(BeEquivalentTo(5))
		Expect(p.Status.Drift.LastDetectedTime).NotTo(BeNil())
		Expect(p.Status.Drift.Recent).To(HaveLen(5))
		Expect(f.condition(f.id, segv1.ConditionDrifted)()).To(Equal("False/Repaired"))
		Expect(meta.FindStatusCondition(p.Status.Conditions, segv1.ConditionDrifted).Message).To(ContainSubstring("Namespace " + test + " LabelRemoved, repaired at"))
		Eventually(eventReasons(f.id), timeout, interval).Should(ContainElement("DriftRepaired"))
	})

	It("repairs drift of one namespace without a full pass, and passes in full whatever else changed", func() {
		dev := f.envNamespace("dev-a", "dev")
		f.envNamespace("test-a", "test")
		f.create(f.profile())
		f.waitEnforced(f.id)
		time.Sleep(time.Second) // the passes of the cold start's own events
		passes := func(kind string) func() float64 {
			return func() float64 { return testutil.ToFloat64(metrics.Passes.WithLabelValues(kind)) }
		}
		delta := passes("delta")()

		By("deleting the policy: a delta pass repairs it")
		Expect(k8s.Delete(f.ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: dev, Name: render.PolicyName}})).To(Succeed())
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: dev, Kind: "NetworkPolicy", Name: render.PolicyName, Change: segv1.DriftDeleted}))
		Expect(passes("delta")()).To(BeNumerically(">", delta))

		By("changing the tier label, which Tierguard owns: a delta pass repairs it")
		delta = passes("delta")()
		patchLabels(dev, map[string]any{f.key: "prod"}, "kubectl-label")
		Eventually(func() map[string]string { return labelsOf(dev) }, timeout, interval).Should(HaveKeyWithValue(f.key, "dev"))
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: dev, Kind: "Namespace", Name: dev, Change: segv1.DriftLabelChanged, Manager: "kubectl-label"}))
		Expect(passes("delta")()).To(BeNumerically(">", delta))
		Expect(f.get(f.id).Status.Drift.Repairs).To(BeEquivalentTo(2))

		By("creating a namespace that joins a tier while no other policy exists: a delta pass admits it")
		delta = passes("delta")()
		joiner := f.envNamespace("dev-new", "dev")
		Eventually(tierOf(joiner), timeout, interval).Should(Equal("dev"))
		Eventually(func() int32 { return f.get(f.id).Status.GovernedNamespaces }, timeout, interval).Should(BeEquivalentTo(3))
		Expect(passes("delta")()).To(BeNumerically(">", delta))
		Expect(f.get(f.id).Status.Membership.Recent).To(ContainElement(MatchFields(IgnoreExtras, Fields{
			"Namespace": Equal(joiner), "To": Equal("dev"), "Action": Equal(segv1.MembershipJoined)})))
		Expect(f.get(f.id).Status.Drift.Repairs).To(BeEquivalentTo(2), "joining is not drift")

		By("with an application's own policy in a governed namespace, a new namespace makes a full pass (its labels may open a hole)")
		app := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: dev, Name: "app"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}}}}}}}}
		Expect(k8s.Create(f.ctx, app)).To(Succeed())
		Eventually(f.condition(f.id, segv1.ConditionIsolationVerified), timeout, interval).Should(Equal("True/NoLeaks"))
		time.Sleep(time.Second)
		full := passes("full")()
		f.envNamespace("dev-later", "dev")
		Eventually(func() int32 { return f.get(f.id).Status.GovernedNamespaces }, timeout, interval).Should(BeEquivalentTo(4))
		Expect(passes("full")()).To(BeNumerically(">", full))

		By("adding a label Tierguard does not own: a full pass, since another policy's selector may read it")
		full = passes("full")()
		patchLabels(dev, map[string]any{"team": "payments"}, "kubectl-label")
		Eventually(passes("full"), timeout, interval).Should(BeNumerically(">", full))

		By("moving the namespace by its selector label: a full pass moves it")
		full = passes("full")()
		patchLabels(dev, map[string]any{"env": "test"}, "kubectl-label")
		Eventually(tierOf(dev), timeout, interval).Should(Equal("test"))
		Expect(passes("full")()).To(BeNumerically(">", full))
		Expect(f.get(f.id).Status.Drift.Repairs).To(BeEquivalentTo(2), "a move is not drift")
	})

	It("repairs drift with a delta pass beside other profiles", func() {
		others := []*fixture{newFixture(), newFixture()}
		for _, o := range others {
			o.envNamespace("dev-a", "dev")
			o.create(o.profile())
		}
		DeferCleanup(func() {
			for _, o := range others {
				o.cleanup()
			}
		})
		dev := f.envNamespace("dev-a", "dev")
		f.create(f.profile())
		for _, o := range append(others, f) {
			o.waitEnforced(o.id)
		}
		time.Sleep(time.Second)
		delta := testutil.ToFloat64(metrics.Passes.WithLabelValues("delta"))
		Expect(k8s.Delete(f.ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: dev, Name: render.PolicyName}})).To(Succeed())
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: dev, Kind: "NetworkPolicy", Name: render.PolicyName, Change: segv1.DriftDeleted}))
		Expect(testutil.ToFloat64(metrics.Passes.WithLabelValues("delta"))).To(BeNumerically(">", delta))
	})

	It("removes what an apply cannot: egress rules and an owner reference someone added", func() {
		prod := f.envNamespace("prod-a", "prod")
		p := f.profile()
		p.Spec.DeletionPolicy = segv1.DeletionPolicyRetain
		f.create(p)
		f.waitEnforced(f.id)
		want, err := policyIn(prod)
		Expect(err).NotTo(HaveOccurred())
		Expect(want.Spec.Egress).To(BeEmpty())
		Expect(want.OwnerReferences).To(BeEmpty())

		pol := want.DeepCopy()
		pol.Spec.PolicyTypes = append(pol.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		pol.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
		pol.OwnerReferences = []metav1.OwnerReference{render.OwnerReference(f.get(f.id))}
		Expect(k8s.Update(f.ctx, pol, client.FieldOwner("kubectl-edit"))).To(Succeed())

		Eventually(func(g Gomega) {
			got, err := policyIn(prod)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Spec).To(Equal(want.Spec))
			g.Expect(got.OwnerReferences).To(BeEmpty())
		}, timeout, interval).Should(Succeed())
		Eventually(lastDrift(f), timeout, interval).Should(Equal(segv1.DriftRecord{
			Namespace: prod, Kind: "NetworkPolicy", Name: render.PolicyName, Change: segv1.DriftModified, Manager: "kubectl-edit"}))
		Consistently(func() int64 { return f.get(f.id).Status.Drift.Repairs }, "2s", interval).Should(BeEquivalentTo(1),
			"one tampering, one repair: the policy matches its plan again")
	})

	It("never touches labels owned by another field manager", func() {
		dev := f.envNamespace("dev-a", "dev")
		patchLabels(dev, map[string]any{"team": "payments", "argocd.argoproj.io/instance": "payments"}, "argocd-controller")
		p := f.profile()
		p.Spec.LeavePolicy = segv1.LeavePolicyRelease
		f.create(p)
		f.waitEnforced(f.id)
		Expect(labelsOf(dev)).To(HaveKeyWithValue("team", "payments"))
		Expect(labelsOf(dev)).To(HaveKeyWithValue("argocd.argoproj.io/instance", "payments"))

		// Releasing the namespace removes only Tierguard's labels.
		patchLabels(dev, map[string]any{"env": "gone"}, "argocd-controller")
		Eventually(func() map[string]string { return labelsOf(dev) }, timeout, interval).ShouldNot(HaveKey(render.ProfileLabel))
		Expect(labelsOf(dev)).To(HaveKeyWithValue("team", "payments"))
		Expect(labelsOf(dev)).To(HaveKeyWithValue("argocd.argoproj.io/instance", "payments"))
		Expect(labelsOf(dev)).NotTo(HaveKey("pod-security.kubernetes.io/enforce"))
	})

	It("makes no writes in steady state", func() {
		f.envNamespace("dev-a", "dev")
		f.envNamespace("test-a", "test")
		f.create(f.profile())
		f.waitEnforced(f.id)
		// Let the last status write and any event-triggered passes settle.
		time.Sleep(2 * time.Second)
		before := writes.total("/namespaces", "/networkpolicies", "/segmentationprofiles")

		// Events that trigger passes but change nothing Tierguard owns.
		f.namespace("unrelated", map[string]string{"env": "staging"})
		f.update(f.id, func(p *segv1.SegmentationProfile) {
			if p.Annotations == nil {
				p.Annotations = map[string]string{}
			}
			p.Annotations["example.com/touched"] = "yes" // a pass without a spec change
		})
		Consistently(func() int {
			return writes.total("/namespaces", "/networkpolicies", "/segmentationprofiles") - before
		}, 3*time.Second, 200*time.Millisecond).Should(BeZero(), "writes: %v", writes.snapshot())
	})

	It("with deletionPolicy Delete removes what it wrote; with Retain leaves it", func() {
		dev := f.envNamespace("dev-a", "dev")
		f.create(f.profile())
		f.waitEnforced(f.id)
		Expect(k8s.Delete(f.ctx, f.get(f.id))).To(Succeed())
		Eventually(policyGone(dev), timeout, interval).Should(BeTrue())
		Eventually(func() map[string]string { return labelsOf(dev) }, timeout, interval).ShouldNot(HaveKey(f.key))
		Expect(labelsOf(dev)).NotTo(HaveKey(render.ProfileLabel))
		Expect(labelsOf(dev)).NotTo(HaveKey("pod-security.kubernetes.io/enforce"))

		g := newFixture()
		kept := g.envNamespace("dev-a", "dev")
		p := g.profile()
		p.Spec.DeletionPolicy = segv1.DeletionPolicyRetain
		g.create(p)
		g.waitEnforced(g.id)
		pol, err := policyIn(kept)
		Expect(err).NotTo(HaveOccurred())
		Expect(pol.OwnerReferences).To(BeEmpty(), "a retained policy must survive the garbage collector")
		Expect(g.get(g.id).Finalizers).NotTo(ContainElement(controller.Finalizer))
		g.cleanup()
		Consistently(tierOf(kept), 2*time.Second, interval).Should(Equal("dev"))
		Expect(labelsOf(kept)).To(HaveKeyWithValue(g.key, "dev"))
	})

	It("reports namespaces claimed by two tiers or shared and in a tier, and leaves them as they are", func() {
		both := f.namespace("both", map[string]string{"env": "dev"})
		shared := f.namespace("ingress", map[string]string{"env": "dev"})
		p := f.profile()
		p.Spec.Tiers[1].Namespaces.Names = []segv1.NamespaceName{segv1.NamespaceName(both)} // test also claims it
		f.create(p)
		Eventually(f.condition(f.id, segv1.ConditionConflict), timeout, interval).Should(Equal("True/ConflictsFound"))
		Eventually(f.condition(f.id, segv1.ConditionReady), timeout, interval).Should(Equal("False/Conflict"))
		Eventually(f.condition(f.id, segv1.ConditionStalled), timeout, interval).Should(Equal("True/Conflict"))
		st := f.get(f.id).Status
		Expect(st.ConflictCount).To(BeEquivalentTo(2))
		Expect(st.Conflicts).To(ConsistOf(
			HaveField("Reason", segv1.ConflictMultipleTiers),
			HaveField("Reason", segv1.ConflictSharedAndTier),
		))
		Expect(policyGone(both)()).To(BeTrue(), "a conflict is not resolved by guessing")
		Expect(policyGone(shared)()).To(BeTrue())
		Eventually(eventReasons(f.id), timeout, interval).Should(ContainElement("Conflict"))

		By("a namespace already in one of the tiers stays there")
		patchLabels(both, map[string]any{f.key: "test"}, "platform-team")
		Eventually(tierOf(both), timeout, interval).Should(Equal("test"))
	})

	It("lets the older profile govern a namespace both claim, and blocks a profile whose tierLabelKey is in use", func() {
		dev := f.envNamespace("dev-a", "dev")
		f.create(f.profile())
		f.waitEnforced(f.id)

		g := newFixture()
		claim := g.profile()
		claim.Spec.Tiers[0].Namespaces = segv1.NamespaceSet{Names: []segv1.NamespaceName{segv1.NamespaceName(dev)}}
		g.create(claim)
		defer g.cleanup()
		Eventually(f2(g, segv1.ConditionConflict), timeout, interval).Should(Equal("True/ConflictsFound"))
		Expect(g.get(g.id).Status.Conflicts[0].Reason).To(Equal(segv1.ConflictClaimedByProfile))
		Consistently(func() string { return labelsOf(dev)[render.ProfileLabel] }, 2*time.Second, interval).Should(Equal(f.id))

		h := newFixture()
		sameKey := h.profile()
		sameKey.Spec.TierLabelKey = segv1.LabelKey(f.key)
		h.create(sameKey)
		defer h.cleanup()
		Eventually(f2(h, segv1.ConditionStalled), timeout, interval).Should(Equal("True/Conflict"))
		st := h.get(h.id).Status
		Expect(st.Conflicts).To(HaveLen(1))
		Expect(st.Conflicts[0].Reason).To(Equal(segv1.ConflictTierLabelKeyInUse))
		Expect(st.GovernedNamespaces).To(BeZero())
	})

	It("shows the printer columns", func() {
		f.envNamespace("dev-a", "dev")
		f.create(f.profile())
		f.waitEnforced(f.id)
		table := &metav1.Table{}
		raw, err := restClientFor().Get().AbsPath("/apis/segmentation.tierguard.io/v1alpha1/segmentationprofiles", f.id).
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(f.ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(raw, table)).To(Succeed())
		var names, wide []string
		for _, c := range table.ColumnDefinitions {
			names = append(names, c.Name)
			if c.Priority > 0 {
				wide = append(wide, c.Name) // shown by kubectl get -o wide
			}
		}
		Expect(names).To(Equal([]string{"Name", "Mode", "Enforcement", "Ready", "Namespaces", "Repairs", "Conflicts", "Age"}))
		Expect(wide).To(Equal([]string{"Enforcement"}))
		// enforcement has no schema default: unset is NetworkPolicy.
		Expect(table.Rows[0].Cells[1:7]).To(Equal([]any{"Enforce", nil, "True", float64(1), float64(0), float64(0)}))
	})
})

// f2 reads a condition of another fixture's profile.
func f2(g *fixture, condType string) func() string { return g.condition(g.id, condType) }

// lastDrift returns the newest drift record without its time.
func lastDrift(f *fixture) func() segv1.DriftRecord {
	return func() segv1.DriftRecord {
		recent := f.get(f.id).Status.Drift.Recent
		if len(recent) == 0 {
			return segv1.DriftRecord{}
		}
		r := recent[0]
		r.Time = metav1.Time{}
		return r
	}
}

// patchLabels merge-patches a namespace's labels as another field manager.
func patchLabels(ns string, labels map[string]any, manager string) {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	Expect(err).NotTo(HaveOccurred())
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	Expect(k8s.Patch(bgCtx, obj, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(manager))).To(Succeed())
}

// eventReasons returns the reasons of the events about a profile.
func eventReasons(profile string) func() []string {
	return eventField(profile, func(e eventsv1.Event) string { return e.Reason })
}

// eventMessages returns the notes of the events about a profile.
func eventMessages(profile string) func() []string {
	return eventField(profile, func(e eventsv1.Event) string { return e.Note })
}

// eventField returns one field of every event regarding the profile.
func eventField(profile string, field func(eventsv1.Event) string) func() []string {
	return func() []string {
		list := &eventsv1.EventList{}
		if err := k8s.List(bgCtx, list); err != nil {
			return nil
		}
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "SegmentationProfile" && e.Regarding.Name == profile {
				out = append(out, field(e))
			}
		}
		return out
	}
}
