package cli

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// LoadPolicies reads every NetworkPolicy of every namespace, sorted by
// namespace and name.
func LoadPolicies(ctx context.Context, config *rest.Config) ([]networkingv1.NetworkPolicy, error) {
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	var out []networkingv1.NetworkPolicy
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		list, err := clientset.NetworkingV1().NetworkPolicies(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing NetworkPolicies: %w", err)
		}
		out = append(out, list.Items...)
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	sortPolicies(out)
	return out, nil
}

// GetProfile reads one SegmentationProfile, status included. A profile that
// does not exist, or a cluster without the CRD, is an apierrors NotFound
// error.
func GetProfile(ctx context.Context, config *rest.Config, name string) (*segv1.SegmentationProfile, error) {
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating a dynamic client: %w", err)
	}
	item, err := dyn.Resource(profilesResource).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		// A cluster without the CRD answers 404 too, in words that say so
		// ("the server could not find the requested resource").
		return nil, fmt.Errorf("getting SegmentationProfile %s: %w", name, err)
	}
	var p segv1.SegmentationProfile
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &p); err != nil {
		return nil, fmt.Errorf("decoding SegmentationProfile %s: %w", name, err)
	}
	return &p, nil
}
