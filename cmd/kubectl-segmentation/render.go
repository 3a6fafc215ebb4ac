package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cli"
	"github.com/tierguard/tierguard/internal/render"
)

// defaultOperatorNamespace is where config/default installs Tierguard.
const defaultOperatorNamespace = "tierguard-system"

// renderOptions are the render command's flags and streams.
type renderOptions struct {
	streams     genericiooptions.IOStreams
	configFlags *genericclioptions.ConfigFlags
	profilePath string
	// profileName is a profile of the cluster, rendered against the
	// cluster as Tierguard would render it.
	profileName       string
	namespacesPath    string
	fromCluster       bool
	output            string
	operatorNamespace string
	// now is when a profile that is not in the cluster yet would be created;
	// it makes such a profile the youngest.
	now func() time.Time
}

func newRenderCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &renderOptions{
		streams:     streams,
		configFlags: genericclioptions.NewConfigFlags(true),
		now:         time.Now,
	}
	cmd := &cobra.Command{
		Use:   "render (NAME | --profile-file FILE (--namespaces FILE | --from-cluster)) [-o yaml|json]",
		Short: "Print the namespace labels and policies a profile results in",
		Long: `Render validates a SegmentationProfile file with the rules the API server
enforces, then prints, for every namespace the profile governs, the
Namespace with its resulting labels followed by its NetworkPolicy (unless
spec.enforcement is ClusterNetworkPolicy), then, when spec.enforcement is
ClusterNetworkPolicy or Both, the Admin-tier ClusterNetworkPolicies
(policy.networking.k8s.io/v1beta1). Namespaces the profile leaves alone are
not printed; conflicts and skipped namespaces are reported on stderr.

A profile NAME, as kubectl takes names, renders the cluster's profile
against the cluster's namespaces and other profiles: what Tierguard keeps
for it. --profile-file (or its older name --profile) renders a file.

Exit codes: 0 success, 1 invalid profile or input, 2 usage error.`,
		Example: `  # Preview a profile against a saved list of namespaces
  kubectl get namespaces -o yaml > namespaces.yaml
  kubectl segmentation render --profile-file profile.yaml --namespaces namespaces.yaml

  # Preview against the current cluster, as JSON
  kubectl segmentation render --profile-file profile.yaml --from-cluster -o json

  # What Tierguard keeps for the cluster's profile company
  kubectl segmentation render company`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeProfileNames(o.configFlags),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return o.positionalName(cmd, args)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&o.profilePath, "profile-file", "", "SegmentationProfile file (YAML or JSON); - reads stdin")
	flags.StringVar(&o.profilePath, "profile", "", "the same as --profile-file, its older name")
	flags.StringVar(&o.namespacesPath, "namespaces", "", "namespaces as printed by kubectl get namespaces -o yaml, or a stream of Namespaces; - reads stdin")
	flags.BoolVar(&o.fromCluster, "from-cluster", false, "read namespaces and the other SegmentationProfiles from the cluster")
	flags.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml or json")
	flags.StringVar(&o.operatorNamespace, "operator-namespace", defaultOperatorNamespace, "the namespace Tierguard runs in, which it never governs")
	o.configFlags.AddFlags(flags)
	cmd.MarkFlagsMutuallyExclusive("profile", "profile-file")
	cmd.MarkFlagsMutuallyExclusive("namespaces", "from-cluster")
	cmd.MarkFlagsOneRequired("namespaces", "from-cluster")
	return cmd
}

// positionalName takes a profile NAME to mean the cluster's profile, read
// with the cluster's namespaces, before cobra checks the flag groups;
// without one, a profile file is required.
func (o *renderOptions) positionalName(cmd *cobra.Command, args []string) error {
	flags := cmd.Flags()
	if len(args) == 0 {
		if !flags.Changed("profile") && !flags.Changed("profile-file") {
			return errors.New(`a profile is required: NAME (of the cluster) or --profile-file FILE`)
		}
		return nil
	}
	for _, file := range []string{"profile", "profile-file", "namespaces"} {
		if flags.Changed(file) {
			return fmt.Errorf("a profile NAME is read from the cluster, with its namespaces: --%s is for files; drop one", file)
		}
	}
	o.profileName = args[0]
	return flags.Set("from-cluster", "true")
}

func (o *renderOptions) run(ctx context.Context) error {
	if o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("--output must be yaml or json, not %q", o.output)
	}
	if o.profilePath == "-" && o.namespacesPath == "-" {
		return fmt.Errorf("--profile-file and --namespaces cannot both read stdin")
	}
	var (
		profile *segv1.SegmentationProfile
		state   *cli.ClusterState
		err     error
	)
	if o.profileName != "" {
		profile, state, err = o.clusterProfile(ctx)
	} else {
		profile, err = loadProfile(ctx, o.streams.In, o.profilePath)
	}
	if err != nil {
		return invalidInput(err)
	}
	in := render.Input{Profile: profile, OperatorNamespace: o.operatorNamespace}
	if o.fromCluster {
		err = o.fromClusterInput(ctx, &in, state)
	} else {
		in.Namespaces, err = readNamespaces(o.streams.In, o.namespacesPath)
	}
	if err != nil {
		return invalidInput(err)
	}
	plan, err := render.Compute(in)
	if err != nil {
		return invalidInput(fmt.Errorf("rendering profile %s: %w", profile.Name, err))
	}
	if err := cli.WriteWarnings(o.streams.ErrOut, plan); err != nil {
		return err
	}
	objects, err := cli.Objects(profile, plan, in.Namespaces)
	if err != nil {
		return invalidInput(fmt.Errorf("rendering profile %s: %w", profile.Name, err))
	}
	if o.output == "json" {
		return cli.WriteJSON(o.streams.Out, objects)
	}
	return cli.WriteYAML(o.streams.Out, objects)
}

// clusterProfile reads the cluster and the profile named profileName in it.
func (o *renderOptions) clusterProfile(ctx context.Context) (*segv1.SegmentationProfile, *cli.ClusterState, error) {
	state, err := o.loadCluster(ctx)
	if err != nil {
		return nil, nil, err
	}
	if state.CRDMissing {
		return nil, nil, errors.New("the cluster does not serve SegmentationProfiles: is Tierguard installed?")
	}
	p := state.Existing(o.profileName)
	if p == nil {
		return nil, nil, fmt.Errorf("SegmentationProfile %q not found", o.profileName)
	}
	return p.DeepCopy(), state, nil
}

func (o *renderOptions) loadCluster(ctx context.Context) (*cli.ClusterState, error) {
	config, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cli.LoadCluster(ctx, config)
}

// fromClusterInput fills in the cluster's namespaces and profiles, from
// state when the cluster was read already. The profile's age decides
// cross-profile conflicts: if it already exists, its creation time and UID
// are the cluster's; if not, it would be created now, after every other
// profile.
func (o *renderOptions) fromClusterInput(ctx context.Context, in *render.Input, state *cli.ClusterState) error {
	if state == nil {
		var err error
		if state, err = o.loadCluster(ctx); err != nil {
			return err
		}
	}
	if state.CRDMissing {
		_, _ = fmt.Fprintln(o.streams.ErrOut, "Warning: the cluster does not serve SegmentationProfiles; conflicts with other profiles are not checked")
	}
	in.Namespaces = state.Namespaces
	in.OtherProfiles = state.Profiles
	if existing := state.Existing(in.Profile.Name); existing != nil {
		in.Profile.UID = existing.UID
		in.Profile.CreationTimestamp = existing.CreationTimestamp
	} else {
		in.Profile.CreationTimestamp = metav1.NewTime(o.now())
	}
	return nil
}
