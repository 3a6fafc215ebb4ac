// Package drift classifies differences between what Tierguard planned and
// what an object holds, and names who made them. Each object kind has one
// pure classify function: the pass calls it with the cached object to find
// drift, and again with the live object, read from the API server, to
// confirm it (the cache may lag behind Tierguard's own writes). Adding a
// kind of drift touches the API enum, one function here and one row of its
// table test.
package drift

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// Finding is a difference between a planned object and the one observed.
type Finding struct {
	// Kind of the object.
	Kind segv1.ObjectKind
	// Namespace of the object (for a Namespace, its name).
	Namespace string
	// Name of the object.
	Name string
	// Change is what happened.
	Change segv1.DriftChange
	// Detail names what differs (a namespace's label keys), for messages.
	Detail string
}

// String describes the finding for a person.
func (f Finding) String() string {
	switch f.Kind {
	case segv1.KindNamespace:
		return fmt.Sprintf("Namespace %s: %s (%s)", f.Name, f.Change, f.Detail)
	case segv1.KindClusterNetworkPolicy:
		return fmt.Sprintf("ClusterNetworkPolicy %s: %s", f.Name, f.Change)
	}
	return fmt.Sprintf("NetworkPolicy %s/%s: %s", f.Namespace, f.Name, f.Change)
}

// Labels classifies a namespace's labels against the labels Tierguard owns
// there: nil when current carries every planned label with its value;
// otherwise LabelRemoved when one is missing, else LabelChanged. Labels
// others added are not compared.
func Labels(namespace string, planned, current map[string]string) *Finding {
	if LabelsMatch(current, planned) {
		return nil // the steady case, without allocating
	}
	missing, changed := labelDifferences(current, planned)
	if len(missing) == 0 && len(changed) == 0 {
		return nil
	}
	f := &Finding{Kind: segv1.KindNamespace, Namespace: namespace, Name: namespace, Change: segv1.DriftLabelChanged,
		Detail: strings.Join(append(missing, changed...), ", ")}
	if len(missing) > 0 {
		f.Change = segv1.DriftLabelRemoved
	}
	return f
}

// Policy classifies a managed policy against its plan: nil when current
// matches (see PolicyMatches), Deleted when there is none, Modified
// otherwise. Called with the live object to confirm a finding made from
// the cache, it turns a Deleted into a Modified when the policy still
// exists but left the cache (its labels were changed).
func Policy(planned, current *networkingv1.NetworkPolicy) *Finding {
	if PolicyMatches(current, planned) {
		return nil
	}
	f := &Finding{Kind: segv1.KindNetworkPolicy, Namespace: planned.Namespace, Name: planned.Name, Change: segv1.DriftModified}
	if current == nil {
		f.Change = segv1.DriftDeleted
	}
	return f
}

// ClusterPolicy classifies a managed ClusterNetworkPolicy against its plan
// as Policy does a NetworkPolicy.
func ClusterPolicy(planned, current *npav1beta1.ClusterNetworkPolicy) *Finding {
	if ClusterPolicyMatches(current, planned) {
		return nil
	}
	f := &Finding{Kind: segv1.KindClusterNetworkPolicy, Name: planned.Name, Change: segv1.DriftModified}
	if current == nil {
		f.Change = segv1.DriftDeleted
	}
	return f
}

// labelDifferences returns the planned keys missing from current and those
// with another value, sorted.
func labelDifferences(current, planned map[string]string) (missing, changed []string) {
	for _, k := range slices.Sorted(maps.Keys(planned)) {
		v, ok := current[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case v != planned[k]:
			changed = append(changed, k)
		}
	}
	return missing, changed
}

// LabelsMatch reports whether current carries every planned label.
func LabelsMatch(current, planned map[string]string) bool {
	for k, v := range planned {
		if cv, ok := current[k]; !ok || cv != v {
			return false
		}
	}
	return true
}

// PolicyMatches reports whether an observed policy has everything the
// planned one sets: its spec, its labels and annotations, and its owner
// references; and no owner reference to a profile the plan does not set.
// Labels and annotations others added are not compared.
func PolicyMatches(observed, planned *networkingv1.NetworkPolicy) bool {
	if observed == nil || !metadataMatches(&observed.ObjectMeta, &planned.ObjectMeta) {
		return false
	}
	return equality.Semantic.DeepEqual(observed.Spec, planned.Spec)
}

// metadataMatches reports whether observed carries the planned labels,
// annotations and owner references, and no owner reference to a profile
// the plan does not set.
func metadataMatches(observed, planned *metav1.ObjectMeta) bool {
	for k, v := range planned.Labels {
		if observed.Labels[k] != v {
			return false
		}
	}
	for k, v := range planned.Annotations {
		if observed.Annotations[k] != v {
			return false
		}
	}
	for _, want := range planned.OwnerReferences {
		if !slices.ContainsFunc(observed.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == want.UID }) {
			return false
		}
	}
	return len(planned.OwnerReferences) > 0 || !slices.ContainsFunc(observed.OwnerReferences, IsProfileOwner)
}

// ClusterPolicyMatches reports whether an observed ClusterNetworkPolicy has
// everything the planned one sets, as PolicyMatches does for a
// NetworkPolicy.
func ClusterPolicyMatches(observed, planned *npav1beta1.ClusterNetworkPolicy) bool {
	if observed == nil || !metadataMatches(&observed.ObjectMeta, &planned.ObjectMeta) {
		return false
	}
	return equality.Semantic.DeepEqual(observed.Spec, planned.Spec)
}

// IsProfileOwner reports whether an owner reference points to a
// SegmentationProfile.
func IsProfileOwner(ref metav1.OwnerReference) bool {
	return ref.Kind == "SegmentationProfile" && ref.APIVersion == segv1.GroupVersion.String()
}
