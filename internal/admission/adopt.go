// Package admission ties Tierguard's admission policies to the CRD their
// params come from, so uninstalling the CRD never blocks the cluster.
//
// protect-tier-labels takes SegmentationProfiles as params and fails
// closed (failurePolicy Fail): a tenant must never be admitted because the
// policy could not be evaluated. An API server that cannot resolve the
// paramKind, as one started after the CRD was deleted, would then refuse
// every namespace write. Adopt makes the CRD the owner of the policy and its
// binding, so the garbage collector removes them with the CRD.
package admission

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// CRDName is the SegmentationProfile CRD.
const CRDName = "segmentationprofiles.segmentation.tierguard.io"

var (
	crdKind     = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
	policyKind  = schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicy"}
	bindingKind = schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicyBinding"}
)

// The manager reads the CRD and ties the policy and binding config/default
// installs, by name and nothing else.
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,resourceNames=segmentationprofiles.segmentation.tierguard.io,verbs=get
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicies;validatingadmissionpolicybindings,resourceNames=tierguard-protect-tier-labels,verbs=get;patch

// Adopt sets the CRD as an owner of each named ValidatingAdmissionPolicy
// and of the ValidatingAdmissionPolicyBinding of the same name, keeping
// their other owners. Objects that are not installed (OLM installs no
// admission policy) are skipped; the CRD must exist. It reads and writes
// metadata only.
func Adopt(ctx context.Context, c client.Client, names []string) (adopted int, err error) {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(crdKind)
	if err := c.Get(ctx, client.ObjectKey{Name: CRDName}, crd); err != nil {
		return 0, fmt.Errorf("get CRD %s: %w", CRDName, err)
	}
	owner := metav1.OwnerReference{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: crd.Name, UID: crd.UID}
	for _, name := range names {
		for _, kind := range []schema.GroupVersionKind{policyKind, bindingKind} {
			obj := &metav1.PartialObjectMetadata{}
			obj.SetGroupVersionKind(kind)
			if err := c.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return adopted, fmt.Errorf("get %s %s: %w", kind.Kind, name, err)
			}
			if slices.ContainsFunc(obj.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == owner.UID }) {
				continue
			}
			before := obj.DeepCopy()
			obj.OwnerReferences = append(obj.OwnerReferences, owner)
			if err := c.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
				return adopted, fmt.Errorf("set the owner of %s %s: %w", kind.Kind, name, err)
			}
			adopted++
		}
	}
	return adopted, nil
}

// Adopter runs Adopt once, with retries, on the leader.
type Adopter struct {
	// Client reads and writes the API server directly.
	Client client.Client
	// Names are the policies (and bindings) to adopt.
	Names []string
}

// NeedLeaderElection is true: only the leader writes.
func (a *Adopter) NeedLeaderElection() bool { return true }

// Start adopts the policies, retrying with backoff until it succeeds or ctx
// ends; it never fails the manager, since the policies work without it.
func (a *Adopter) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("admission")
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Steps: 8, Cap: 2 * time.Minute}
	_ = wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		n, err := Adopt(ctx, a.Client, a.Names)
		if err != nil {
			logger.Info("Cannot tie the admission policies to the CRD yet", "error", err.Error())
			return false, nil
		}
		if n > 0 {
			logger.Info("Admission policies tied to the CRD: deleting the CRD removes them", "objects", n)
		}
		return true, nil
	})
	return nil
}
