// Package v1alpha1 contains the API of Tierguard: the cluster-scoped
// SegmentationProfile, which declares environment tiers and the network
// isolation between them.
//
// +kubebuilder:object:generate=true
// +groupName=segmentation.tierguard.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of Tierguard's API.
	GroupVersion = schema.GroupVersion{Group: "segmentation.tierguard.io", Version: "v1alpha1"}

	// SchemeBuilder adds the API types to a scheme (apimachinery's builder:
	// the package depends on nothing beyond the standard library and
	// k8s.io/apimachinery).
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &SegmentationProfile{}, &SegmentationProfileList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
