package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/tierguard/tierguard/internal/cli"
)

// completionTimeout bounds the cluster read behind a completion: a shell
// waiting on an unreachable API server is worse than no suggestion.
const completionTimeout = 5 * time.Second

// completeProfileNames completes a command's one NAME argument with the
// cluster's SegmentationProfiles, read with the command's kubeconfig
// flags. kubectl completes plugin arguments through a
// kubectl_complete-segmentation executable that calls __complete.
func completeProfileNames(configFlags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		config, err := configFlags.ToRESTConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, completionTimeout)
		defer cancel()
		names, err := cli.ProfileNames(ctx, config)
		if err != nil {
			cobra.CompDebugln("listing SegmentationProfiles: "+err.Error(), true)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
