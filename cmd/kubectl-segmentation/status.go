package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tierguard/tierguard/internal/cli"
)

// statusOptions are the status command's flags and streams.
type statusOptions struct {
	streams     genericiooptions.IOStreams
	configFlags *genericclioptions.ConfigFlags
	now         func() time.Time
}

func newStatusCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &statusOptions{streams: streams, configFlags: genericclioptions.NewConfigFlags(true), now: time.Now}
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Print a SegmentationProfile's state for a person",
		Long: `Status reads a SegmentationProfile from the cluster and prints what
Tierguard reports about it: the mode, the tiers and how many namespaces each
governs, the conditions, the latest drift repairs and who made the change,
the namespaces in conflict, and the isolation leaks, with the policies that
open them.

Exit codes: 0 success, 1 the profile cannot be read, 2 usage error.`,
		Example:           `  kubectl segmentation status company`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeProfileNames(o.configFlags),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
	o.configFlags.AddFlags(cmd.Flags())
	return cmd
}

func (o *statusOptions) run(ctx context.Context, name string) error {
	config, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return invalidInput(fmt.Errorf("loading kubeconfig: %w", err))
	}
	profile, err := cli.GetProfile(ctx, config, name)
	if err != nil {
		return invalidInput(err)
	}
	return cli.WriteStatus(o.streams.Out, profile, o.now())
}
