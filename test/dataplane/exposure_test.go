package dataplane_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tierguard/tierguard/test/dataplane"
)

// tamperings is how many times each kind of tampering is measured.
const tamperings = 10

// lateRepairs is how many times the control experiment runs.
const lateRepairs = 3

// tamperManager is the field manager of the tampering writes.
const tamperManager = "dataplane-tamper"

// exposureTiming: watch at least 3 s after tampering (the engine programs a
// change in under a second here), count the connection closed after 1.5 s
// refused, and fail when it is still open after 30 s.
var exposureTiming = dataplane.ExposureTiming{Observe: 3 * time.Second, Settle: 1500 * time.Millisecond, Deadline: 30 * time.Second}

// The exposure window: while a probe keeps trying a connection the profile
// forbids, someone tampers with what Tierguard wrote; the window is how long
// the forbidden connection stays possible until Tierguard's repair closes
// it. Figures are reported, not asserted: they depend on the machine.
var _ = Describe("The exposure window after tampering", Ordered, func() {
	const profile = "company"
	var managed *networkingv1.NetworkPolicy

	BeforeAll(func(ctx SpecContext) {
		createProfile(ctx, companyProfile(profile, profileOptions{}))
		expectMatrix(ctx, intendedModel(false).Matrix(bedNames(), allPorts))
		managed = &networkingv1.NetworkPolicy{}
		Expect(bed.Client.Get(ctx, types.NamespacedName{Namespace: "prod-a", Name: managedPolicy}, managed)).To(Succeed())
	})

	// restored reports whether prod-a's managed policy is back as Tierguard wrote it.
	restored := func(ctx context.Context) (bool, error) {
		np := &networkingv1.NetworkPolicy{}
		err := bed.Client.Get(ctx, types.NamespacedName{Namespace: "prod-a", Name: managedPolicy}, np)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && equality.Semantic.DeepEqual(np.Spec, managed.Spec), err
	}
	allowAll := dataplane.Tampering{
		Tamper: func(ctx context.Context) error {
			np := &networkingv1.NetworkPolicy{}
			if err := bed.Client.Get(ctx, types.NamespacedName{Namespace: "prod-a", Name: managedPolicy}, np); err != nil {
				return err
			}
			// Labels and annotations stay, as with kubectl edit.
			np.Spec = networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
			}
			return bed.Client.Update(ctx, np, client.FieldOwner(tamperManager))
		},
		Repaired: restored,
	}

	It("closes a managed policy replaced by an allow-all", func(ctx SpecContext) {
		measureTampering(ctx, profile, "policy replaced by an allow-all", "dev-a", "prod-a", allowAll)
	}, NodeTimeout(5*time.Minute))

	It("recreates a deleted managed policy", func(ctx SpecContext) {
		measureTampering(ctx, profile, "policy deleted", "dev-a", "prod-a", dataplane.Tampering{
			Tamper: func(ctx context.Context) error {
				np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "prod-a", Name: managedPolicy}}
				return bed.Client.Delete(ctx, np)
			},
			Repaired: restored,
		})
	}, NodeTimeout(5*time.Minute))

	It("restores the tier label of a namespace relabelled into another tier", func(ctx SpecContext) {
		// prod-a labelled dev is admitted by dev's policies (from tier dev).
		measureTampering(ctx, profile, "namespace relabelled into another tier", "prod-a", "dev-a", dataplane.Tampering{
			Tamper: func(ctx context.Context) error {
				patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"dev"}}}`, tierLabel)
				_, err := bed.Clientset.CoreV1().Namespaces().Patch(ctx, "prod-a", types.MergePatchType, []byte(patch),
					metav1.PatchOptions{FieldManager: tamperManager})
				return err
			},
			Repaired: func(ctx context.Context) (bool, error) {
				ns, err := bed.Clientset.CoreV1().Namespaces().Get(ctx, "prod-a", metav1.GetOptions{})
				return err == nil && ns.Labels[tierLabel] == "prod", err
			},
		})
	}, NodeTimeout(5*time.Minute))

	// The control experiment: with the manager paused (SIGSTOP) the same
	// tampering must open the forbidden connection, so a window of 0 above
	// means that no packet got through, not that the probe saw nothing.
	It("sees the window when the repair comes late (control: manager paused)", func(ctx SpecContext) {
		cell := dataplane.Cell{From: "dev-a", To: "prod-a", Port: closedPort}
		w, err := bed.StartWatch(cell.From, cell.To, cell.Port)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Stop)
		DeferCleanup(bed.ResumeManager)
		var late []dataplane.LateRepair
		for i := range lateRepairs {
			l, err := dataplane.MeasureLateRepair(ctx, w, allowAll, bed.PauseManager, bed.ResumeManager, exposureTiming)
			Expect(err).NotTo(HaveOccurred(), "late repair %d of %d", i+1, lateRepairs)
			late = append(late, l)
		}
		results.addLateRepairs(cell, late)
		fmt.Printf("\nControl, manager paused until the allow-all is enforced (%s):\n%s", cell, lateRepairTable(cell, late))
	}, NodeTimeout(5*time.Minute))
})

// measureTampering tampers `tamperings` times while a probe tries from's pod
// to to's pod on the closed port, records the exposures, and checks that
// Tierguard recorded a repair for each.
func measureTampering(ctx context.Context, profile, kind, from, to string, t dataplane.Tampering) {
	GinkgoHelper()
	cell := dataplane.Cell{From: from, To: to, Port: closedPort}
	Expect(intendedModel(false).Allows(cell)).To(BeFalse(), "the watched connection must be forbidden")
	w, err := bed.StartWatch(from, to, closedPort)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)

	before := repairsOf(ctx, profile)
	series := exposureSeries{kind: kind, cell: cell}
	for i := range tamperings {
		exp, err := dataplane.MeasureExposure(ctx, w, t, exposureTiming)
		Expect(err).NotTo(HaveOccurred(), "tampering %d of %d (%s)", i+1, tamperings, kind)
		series.exposures = append(series.exposures, exp)
	}
	Eventually(ctx, func() int64 { return repairsOf(ctx, profile) - before }).
		WithTimeout(matrixTimeout).Should(BeNumerically(">=", tamperings), "repairs recorded in the profile's status")
	series.repairs = repairsOf(ctx, profile) - before
	results.addExposures(series)
	fmt.Printf("\nExposure window, %s (%s), %d tamperings:\n%s", kind, cell, tamperings, exposureTable([]exposureSeries{series}))
}
