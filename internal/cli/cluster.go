package cli

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// listPageSize bounds each list call, so a large cluster is read in pages
// instead of one response the API server may refuse.
const listPageSize = 500

// ClusterState is what a plan needs from a live cluster.
type ClusterState struct {
	// Namespaces are all namespaces, sorted by name.
	Namespaces []render.Namespace
	// Profiles are all SegmentationProfiles, for cross-profile conflicts.
	Profiles []segv1.SegmentationProfile
	// CRDMissing is set when the cluster does not serve SegmentationProfiles,
	// so that the caller can say the preview ignores other profiles.
	CRDMissing bool
}

// profilesResource is the API resource of SegmentationProfiles.
var profilesResource = segv1.GroupVersion.WithResource("segmentationprofiles")

// LoadCluster reads namespaces and SegmentationProfiles with config.
func LoadCluster(ctx context.Context, config *rest.Config) (*ClusterState, error) {
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating a dynamic client: %w", err)
	}
	state := &ClusterState{}
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		list, err := clientset.CoreV1().Namespaces().List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
		for i := range list.Items {
			state.Namespaces = append(state.Namespaces, namespaceOf(&list.Items[i]))
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	sortNamespaces(state.Namespaces)

	opts = metav1.ListOptions{Limit: listPageSize}
	for {
		list, err := dyn.Resource(profilesResource).List(ctx, opts)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			state.CRDMissing = true
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing SegmentationProfiles: %w", err)
		}
		for _, item := range list.Items {
			var p segv1.SegmentationProfile
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &p); err != nil {
				return nil, fmt.Errorf("decoding SegmentationProfile %s: %w", item.GetName(), err)
			}
			state.Profiles = append(state.Profiles, p)
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			break
		}
	}
	return state, nil
}

// Existing returns the cluster's profile with the given name, or nil.
func (s *ClusterState) Existing(name string) *segv1.SegmentationProfile {
	for i := range s.Profiles {
		if s.Profiles[i].Name == name {
			return &s.Profiles[i]
		}
	}
	return nil
}
