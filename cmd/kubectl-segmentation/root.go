package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Exit codes, part of the plugin's interface: scripts tell a bad profile
// from a mistyped command line.
const (
	exitOK      = 0
	exitInvalid = 1 // the profile or the input is invalid, or the cluster failed
	exitUsage   = 2 // the command line is wrong
)

// inputError marks an error about the profile or the input rather than the
// command line. Every other error, including cobra's own, is a usage error.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// invalidInput marks err as an input error; nil stays nil.
func invalidInput(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

// newRootCommand builds the command tree; tests run it in process.
func newRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-segmentation",
		Short: "Preview and check what Tierguard's SegmentationProfiles do to a cluster",
		Long: `kubectl segmentation works with Tierguard's SegmentationProfiles.

The render command prints, for a profile file and the cluster's namespaces,
the namespace labels, NetworkPolicies and ClusterNetworkPolicies Tierguard
would keep, after validating the profile as the API server would. The
matrix command prints the connectivity the NetworkPolicies and
ClusterNetworkPolicies allow between tiers and where it differs from the
profile's intent. The status command prints a profile's
state as Tierguard reports it.`,
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl segmentation"},
		Args:        cobra.NoArgs,
		// The errors are printed by run, which knows the exit codes.
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Usage()
			return errors.New("a command is required")
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(newRenderCommand(streams), newMatrixCommand(streams), newStatusCommand(streams))
	return root
}

// run executes the plugin and returns its exit code.
func run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	root := newRootCommand(streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var input inputError
	if errors.As(err, &input) {
		_, _ = fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
		return exitInvalid
	}
	if cmd == nil {
		cmd = root
	}
	_, _ = fmt.Fprintf(streams.ErrOut, "error: %v\nSee '%s --help' for usage.\n", err, cmd.CommandPath())
	return exitUsage
}
