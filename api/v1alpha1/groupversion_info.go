// Package v1alpha1 contains the API of Tierguard: the cluster-scoped
// SegmentationProfile, which declares environment tiers and the network
// isolation between them.
//
// +kubebuilder:object:generate=true
// +groupName=segmentation.tierguard.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of Tierguard's API.
	GroupVersion = schema.GroupVersion{Group: "segmentation.tierguard.io", Version: "v1alpha1"}

	// SchemeBuilder adds the API types to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
