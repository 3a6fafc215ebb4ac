package cli

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// ProfileNames lists the names of the cluster's SegmentationProfiles,
// sorted, reading metadata only: shell completion needs nothing more.
func ProfileNames(ctx context.Context, config *rest.Config) ([]string, error) {
	client, err := metadata.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating a metadata client: %w", err)
	}
	var names []string
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		list, err := client.Resource(profilesResource).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing SegmentationProfiles: %w", err)
		}
		for _, item := range list.Items {
			names = append(names, item.Name)
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	slices.Sort(names)
	return names, nil
}
