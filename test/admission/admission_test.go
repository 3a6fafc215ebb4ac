package admission_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

const (
	tierKey      = "segmentation.tierguard.io/tier"
	profileKey   = "segmentation.tierguard.io/profile"
	otherTierKey = "example.com/env-tier"
)

var nsSeq atomic.Int32

func nsName() string { return fmt.Sprintf("adm-%d", nsSeq.Add(1)) }

func profile(name, key string) *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: segv1.SegmentationProfileSpec{
			TierLabelKey: segv1.LabelKey(key),
			Tiers:        []segv1.Tier{{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"nowhere-" + segv1.NamespaceName(name)}}}},
		},
	}
}

func createNS(c client.Client, name string, labels map[string]string) error {
	return c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
}

// label merge-patches namespace labels (a nil value removes the label).
func label(c client.Client, name string, labels map[string]any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	Expect(err).NotTo(HaveOccurred())
	return c.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, client.RawPatch(types.MergePatchType, patch))
}

// denied asserts a request was refused by the policy with a message naming
// the label, the profile and the user.
func denied(err error, labelKey, profileName, user string) {
	ExpectWithOffset(1, err).To(HaveOccurred())
	ExpectWithOffset(1, apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "unexpected error: %v", err)
	ExpectWithOffset(1, err.Error()).To(And(ContainSubstring(labelKey), ContainSubstring(profileName), ContainSubstring(user)))
}

var _ = Describe("Tier label protection", Ordered, func() {
	BeforeAll(func() {
		Expect(admin.Create(ctx, profile("company", tierKey))).To(Succeed())
		Expect(admin.Create(ctx, profile("other", otherTierKey))).To(Succeed())
		// The API server loads policies and params asynchronously: wait until
		// the policy denies a forged label.
		probe := nsName()
		Eventually(func() error {
			err := createNS(alice, probe, map[string]string{tierKey: "prod"})
			if err == nil {
				_ = admin.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probe}})
				probe = nsName()
			}
			return err
		}, "30s", "200ms").Should(HaveOccurred())
	})

	It("refuses a namespace administrator who forges a tier label at creation", func() {
		denied(createNS(alice, nsName(), map[string]string{tierKey: "prod"}), tierKey, "company", "alice")
		denied(createNS(alice, nsName(), map[string]string{profileKey: "company"}), profileKey, "company", "alice")
		denied(createNS(alice, nsName(), map[string]string{otherTierKey: "prod"}), otherTierKey, "other", "alice")
	})

	It("lets a namespace administrator create namespaces and set other labels", func() {
		ns := nsName()
		Expect(createNS(alice, ns, map[string]string{"team": "a"})).To(Succeed())
		Expect(label(alice, ns, map[string]any{"team": "b", "cost-center": "42"})).To(Succeed())
	})

	It("refuses adding, changing or removing a tier label, but not Tierguard's own writes", func() {
		ns := nsName()
		Expect(createNS(alice, ns, nil)).To(Succeed())
		denied(label(alice, ns, map[string]any{tierKey: "prod"}), tierKey, "company", "alice")

		Expect(label(manager, ns, map[string]any{tierKey: "dev", profileKey: "company"})).To(Succeed())
		denied(label(alice, ns, map[string]any{tierKey: "prod"}), tierKey, "company", "alice")
		denied(label(alice, ns, map[string]any{tierKey: nil}), tierKey, "company", "alice")
		denied(label(alice, ns, map[string]any{profileKey: nil}), profileKey, "company", "alice")
		// Unrelated labels on a governed namespace still change freely.
		Expect(label(alice, ns, map[string]any{"team": "a"})).To(Succeed())
		Expect(label(manager, ns, map[string]any{tierKey: nil, profileKey: nil})).To(Succeed())
	})

	It("lets the break-glass group change tier labels", func() {
		ns := nsName()
		Expect(createNS(bob, ns, map[string]string{tierKey: "prod"})).To(Succeed())
		Expect(label(bob, ns, map[string]any{tierKey: "dev"})).To(Succeed())
		Expect(label(bob, ns, map[string]any{tierKey: nil})).To(Succeed())
	})

	It("denies even a cluster administrator", func() {
		err := createNS(admin, nsName(), map[string]string{tierKey: "prod"})
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(tierKey))
	})

	It("needs no Tierguard process: namespaces and ordinary labels work with no manager running", func() {
		// No manager runs in this suite: the policy is evaluated inside the
		// API server, so the cluster never depends on Tierguard being up.
		ns := nsName()
		Expect(createNS(admin, ns, map[string]string{"env": "dev"})).To(Succeed())
		Expect(label(admin, ns, map[string]any{"env": "test"})).To(Succeed())
	})
})
