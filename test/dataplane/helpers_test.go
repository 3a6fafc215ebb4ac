package dataplane_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/dataplane"
)

// Deadlines of the polls. The engine programs a change in about a second;
// Tierguard adds its reconcile; the rest is margin for a loaded machine.
const (
	// matrixTimeout bounds the wait for a matrix to match.
	matrixTimeout = 30 * time.Second
	// holdTime is how long a matrix must keep matching when the point is
	// that nothing changes: several times the engine's programming delay.
	holdTime = 3 * time.Second
	// pollInterval is the time between measurements.
	pollInterval = 200 * time.Millisecond
	// engineCheckPolicy names the deny-all policies of the engine check.
	engineCheckPolicy = "dataplane-engine-check"
	// managedPolicy is the policy Tierguard keeps in each governed namespace.
	managedPolicy = "tierguard-isolation"
)

// allOpen is the matrix of a cluster without policy.
func allOpen() dataplane.Matrix {
	return dataplane.NewMatrix(bedNames(), allPorts, func(dataplane.Cell) bool { return true })
}

// onlySelf is the matrix where each pod reaches only itself (over loopback,
// which no policy engine sees).
func onlySelf() dataplane.Matrix {
	return dataplane.NewMatrix(bedNames(), allPorts, func(c dataplane.Cell) bool { return c.From == c.To })
}

// expectMatrix polls until the measured matrix equals want, confirms it with
// one more measurement, and returns it.
func expectMatrix(ctx context.Context, want dataplane.Matrix) dataplane.Matrix {
	GinkgoHelper()
	Eventually(ctx, func(g Gomega) {
		got, err := bed.Measure(ctx, allPorts)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.Diff(want)).To(BeEmpty(), "cells that differ from the intended matrix")
	}).WithTimeout(matrixTimeout).WithPolling(pollInterval).Should(Succeed())
	got, err := bed.Measure(ctx, allPorts)
	Expect(err).NotTo(HaveOccurred())
	Expect(got.Diff(want)).To(BeEmpty(), "cells that differ from the intended matrix, one measurement after it matched")
	return got
}

// holdMatrix measures the matrix again and again for holdTime and expects it
// to equal want every time.
func holdMatrix(ctx context.Context, want dataplane.Matrix) {
	GinkgoHelper()
	Consistently(ctx, func(g Gomega) {
		got, err := bed.Measure(ctx, allPorts)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.Diff(want)).To(BeEmpty(), "cells that changed")
	}).WithTimeout(holdTime).WithPolling(pollInterval).Should(Succeed())
}

// show prints a matrix as it is measured and keeps it for the results file.
func show(title string, m dataplane.Matrix) {
	fmt.Printf("\n%s: %d of %d cells open\n%s", title, m.CountOpen(), len(m.Cells()), m)
	results.addMatrix(title, m)
}

// engineCheckTypes are the policy types of the engine check's deny-all
// policies, one policy name per type.
var engineCheckTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}

func engineCheckName(t networkingv1.PolicyType) string {
	return engineCheckPolicy + "-" + strings.ToLower(string(t))
}

// applyEngineCheckPolicies puts a deny-all policy of policyType in every
// namespace, then removes those of the other type: no namespace is ever
// without a deny-all while the engine reprograms, so a measurement taken
// during the swap cannot see a window the test itself opened.
func applyEngineCheckPolicies(ctx context.Context, policyType networkingv1.PolicyType) {
	GinkgoHelper()
	for _, ns := range bedNames() {
		np := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: engineCheckName(policyType), Namespace: ns},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{policyType}},
		}
		Expect(client.IgnoreAlreadyExists(bed.Client.Create(ctx, np))).To(Succeed())
	}
	for _, t := range engineCheckTypes {
		if t != policyType {
			deleteEngineCheckPolicies(ctx, t)
		}
	}
}

// deleteEngineCheckPolicies removes the engine check's policies of the
// given types (all when none is given).
func deleteEngineCheckPolicies(ctx context.Context, types ...networkingv1.PolicyType) {
	GinkgoHelper()
	if len(types) == 0 {
		types = engineCheckTypes
	}
	for _, t := range types {
		for _, ns := range bedNames() {
			np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: engineCheckName(t), Namespace: ns}}
			Expect(client.IgnoreNotFound(bed.Client.Delete(ctx, np))).To(Succeed())
		}
	}
}

// createProfile creates a profile and registers the return to the baseline.
func createProfile(ctx context.Context, p *segv1.SegmentationProfile) {
	GinkgoHelper()
	Expect(bed.Client.Create(ctx, p)).To(Succeed())
	DeferCleanup(resetToBaseline)
}

// updateProfile changes a profile's spec, retrying on conflicts with
// Tierguard's own writes (finalizer).
func updateProfile(ctx context.Context, name string, mutate func(*segv1.SegmentationProfileSpec)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &segv1.SegmentationProfile{}
		if err := bed.Client.Get(ctx, types.NamespacedName{Name: name}, p); err != nil {
			return err
		}
		mutate(&p.Spec)
		return bed.Client.Update(ctx, p)
	})).To(Succeed())
}

// deleteProfile deletes a profile and waits until it is gone, that is, until
// Tierguard's finalizer has done its cleanup.
func deleteProfile(ctx context.Context, name string) {
	GinkgoHelper()
	p := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
	Expect(client.IgnoreNotFound(bed.Client.Delete(ctx, p))).To(Succeed())
	Eventually(ctx, func() bool {
		return apierrors.IsNotFound(bed.Client.Get(ctx, types.NamespacedName{Name: name}, p))
	}).WithTimeout(matrixTimeout).Should(BeTrue(), "profile %s still exists", name)
}

// profileCondition returns a condition of a profile, or nil.
func profileCondition(ctx context.Context, name, conditionType string) *metav1.Condition {
	GinkgoHelper()
	p := &segv1.SegmentationProfile{}
	Expect(bed.Client.Get(ctx, types.NamespacedName{Name: name}, p)).To(Succeed())
	return meta.FindStatusCondition(p.Status.Conditions, conditionType)
}

// repairsOf returns a profile's total drift repairs.
func repairsOf(ctx context.Context, name string) int64 {
	GinkgoHelper()
	p := &segv1.SegmentationProfile{}
	Expect(bed.Client.Get(ctx, types.NamespacedName{Name: name}, p)).To(Succeed())
	return p.Status.Drift.Repairs
}

// policiesIn returns the names of the NetworkPolicies in the bed's namespaces.
func policiesIn(ctx context.Context) []string {
	GinkgoHelper()
	var names []string
	for _, ns := range bedNames() {
		list := &networkingv1.NetworkPolicyList{}
		Expect(bed.Client.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		for _, np := range list.Items {
			names = append(names, np.Namespace+"/"+np.Name)
		}
	}
	return names
}

// setNamespaceLabel sets (or with value "" removes) one label of a namespace.
func setNamespaceLabel(ctx context.Context, ns, key, value string) {
	GinkgoHelper()
	var patch string
	if value == "" {
		patch = fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, key)
	} else {
		patch = fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, value)
	}
	_, err := bed.Clientset.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "dataplane-test"})
	Expect(err).NotTo(HaveOccurred())
}

// resetToBaseline deletes every profile (waiting for Tierguard's cleanup),
// any policy left in the bed's namespaces (Retain), and every label the
// fixture did not set, then waits until every cell is open again.
func resetToBaseline(ctx context.Context) {
	GinkgoHelper()
	profiles := &segv1.SegmentationProfileList{}
	Expect(bed.Client.List(ctx, profiles)).To(Succeed())
	for _, p := range profiles.Items {
		deleteProfile(ctx, p.Name)
	}
	for _, ns := range bedNames() {
		Expect(bed.Client.DeleteAllOf(ctx, &networkingv1.NetworkPolicy{}, client.InNamespace(ns))).To(Succeed())
	}
	for _, want := range bedNamespaces {
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			ns, err := bed.Clientset.CoreV1().Namespaces().Get(ctx, want.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			labels := map[string]string{"kubernetes.io/metadata.name": want.Name}
			for k, v := range want.Labels {
				labels[k] = v
			}
			ns.Labels = labels
			_, err = bed.Clientset.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
			return err
		})).To(Succeed())
	}
	expectMatrix(ctx, allOpen())
}
