package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cli"
	"github.com/tierguard/tierguard/internal/render"
)

// matrixOutputs are the formats of -o.
var matrixOutputs = []string{"table", "json", "dot", "mermaid"}

// matrixOptions are the matrix command's flags and streams.
type matrixOptions struct {
	streams        genericiooptions.IOStreams
	configFlags    *genericclioptions.ConfigFlags
	profileName    string
	profilePath    string
	namespacesPath string
	policiesPath   string
	// clusterPoliciesPath holds ClusterNetworkPolicies, for an offline
	// matrix of a cluster that has some.
	clusterPoliciesPath string
	fromCluster         bool
	byNamespace         bool
	output              string
	operatorNamespace   string
	podCIDRs            []string
}

func newMatrixCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &matrixOptions{streams: streams, configFlags: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "matrix [NAME | --profile NAME] (--from-cluster | --profile-file FILE --namespaces FILE [--policies FILE] [--cluster-network-policies FILE]) [-o table|json|dot|mermaid]",
		Short: "Print the tier-by-tier connectivity the policies allow, against the profile's intent",
		Long: `Matrix evaluates the NetworkPolicies and ClusterNetworkPolicies for every
ordered pair of namespaces, in their order of precedence (Admin
ClusterNetworkPolicies, then NetworkPolicies, then Baseline ones), and
compares what they allow with what the profile intends. The table has a
row and a column per tier, plus the shared and the ungoverned namespaces
(one per namespace with --by-namespace); a cell reads allow, deny, or the
ports allowed, and is marked ! where the policies differ from the intent.
The differences follow, with the policies responsible.

Offline, the policies are Tierguard's rendered ones for the profile's
spec.enforcement (replacing any of Tierguard's in the files) plus those of
--policies and --cluster-network-policies, and the namespaces carry the
labels Tierguard would set. With --from-cluster the cluster's namespaces,
NetworkPolicies and ClusterNetworkPolicies (policy.networking.k8s.io
v1beta1, else v1alpha2; none when the cluster does not serve them) are
taken as they are. A profile NAME, as kubectl takes names, is the
cluster's profile and implies --from-cluster (--profile NAME still works).

-o dot and -o mermaid draw the same as a picture: a node per tier, the
shared and the ungoverned namespaces, the flows allowed as intended with
their ports, every hole (traffic allowed that the profile forbids) in red
with the policies that open it, and intended flows that are blocked dashed
in orange. Namespaces appear only where a difference involves some of a
tier's namespaces. Render DOT with Graphviz (dot -Tsvg); Mermaid renders
in GitHub and GitLab markdown.

Pods are assumed to have any labels and named ports, and IPs inside
--pod-cidr. Exit codes: 0 success (differences included), 1 invalid profile
or input, 2 usage error.`,
		Example: `  # Check a profile against saved namespaces and policies
  kubectl get namespaces -o yaml > namespaces.yaml
  kubectl get networkpolicies -A -o yaml > policies.yaml
  kubectl segmentation matrix --profile-file profile.yaml --namespaces namespaces.yaml --policies policies.yaml

  # Check the cluster's only profile, pair by pair, as JSON
  kubectl segmentation matrix --from-cluster -o json | jq '.[] | select(.differs)'

  # Draw the cluster's profile company, holes in red
  kubectl segmentation matrix company -o dot | dot -Tsvg > segmentation.svg`,
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
	flags.StringVar(&o.profileName, "profile", "", "with --from-cluster, the SegmentationProfile to check; required when the cluster has several")
	flags.StringVar(&o.profilePath, "profile-file", "", "SegmentationProfile file (YAML or JSON); - reads stdin")
	flags.StringVar(&o.namespacesPath, "namespaces", "", "namespaces as printed by kubectl get namespaces -o yaml, or a stream of Namespaces; - reads stdin")
	flags.StringVar(&o.policiesPath, "policies", "", "NetworkPolicies as printed by kubectl get networkpolicies -A -o yaml, or a stream; - reads stdin")
	flags.StringVar(&o.clusterPoliciesPath, "cluster-network-policies", "",
		"ClusterNetworkPolicies as printed by kubectl get clusternetworkpolicies -o yaml, or a stream; - reads stdin")
	flags.BoolVar(&o.fromCluster, "from-cluster", false, "read the profile, namespaces, NetworkPolicies and ClusterNetworkPolicies from the cluster")
	flags.BoolVar(&o.byNamespace, "by-namespace", false, "one row and column per namespace instead of per tier")
	flags.StringVarP(&o.output, "output", "o", "table", "output format: table, json, or a picture: dot (Graphviz) or mermaid")
	flags.StringVar(&o.operatorNamespace, "operator-namespace", defaultOperatorNamespace, "the namespace Tierguard runs in, which it never governs")
	flags.StringSliceVar(&o.podCIDRs, "pod-cidr", cli.DefaultPodCIDRs, "ranges pod IPs come from; ipBlock peers outside them never match a pod (0.0.0.0/0,::/0 assumes nothing)")
	o.configFlags.AddFlags(flags)
	cmd.MarkFlagsOneRequired("from-cluster", "profile-file")
	cmd.MarkFlagsMutuallyExclusive("from-cluster", "profile-file")
	cmd.MarkFlagsMutuallyExclusive("from-cluster", "namespaces")
	cmd.MarkFlagsMutuallyExclusive("from-cluster", "policies")
	cmd.MarkFlagsMutuallyExclusive("from-cluster", "cluster-network-policies")
	cmd.MarkFlagsMutuallyExclusive("profile", "profile-file")
	cmd.MarkFlagsRequiredTogether("profile-file", "namespaces")
	return cmd
}

// positionalName reads a profile NAME as --from-cluster --profile NAME,
// before cobra checks the flag groups.
func (o *matrixOptions) positionalName(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	name, flags := args[0], cmd.Flags()
	for _, file := range []string{"profile-file", "namespaces", "policies", "cluster-network-policies"} {
		if flags.Changed(file) {
			return fmt.Errorf("a profile NAME is read from the cluster, with its namespaces and policies: --%s is for files; drop one", file)
		}
	}
	if o.profileName != "" && o.profileName != name {
		return fmt.Errorf("the profile is named twice: %q and --profile %q", name, o.profileName)
	}
	if err := flags.Set("profile", name); err != nil {
		return err
	}
	return flags.Set("from-cluster", "true")
}

func (o *matrixOptions) run(ctx context.Context) error {
	if !slices.Contains(matrixOutputs, o.output) {
		return fmt.Errorf("--output must be one of %s, not %q", strings.Join(matrixOutputs, ", "), o.output)
	}
	stdin := 0
	for _, p := range []string{o.profilePath, o.namespacesPath, o.policiesPath, o.clusterPoliciesPath} {
		if p == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return fmt.Errorf("only one of --profile-file, --namespaces, --policies and --cluster-network-policies can read stdin")
	}
	for _, c := range o.podCIDRs {
		if _, err := netip.ParsePrefix(c); err != nil {
			return fmt.Errorf("--pod-cidr: %w", err)
		}
	}
	var (
		m     *cli.Matrix
		notes []string
		err   error
	)
	if o.fromCluster {
		m, notes, err = o.clusterMatrix(ctx)
	} else {
		m, notes, err = o.fileMatrix(ctx)
	}
	if err != nil {
		return err
	}
	switch o.output {
	case "json":
		return cli.WriteMatrixJSON(o.streams.Out, m)
	case "dot":
		return cli.WriteMatrixDOT(o.streams.Out, m)
	case "mermaid":
		return cli.WriteMatrixMermaid(o.streams.Out, m)
	}
	return cli.WriteMatrix(o.streams.Out, m, o.byNamespace, notes...)
}

// fileMatrix checks the profile file against the namespaces and policies
// files, as the cluster would be once Tierguard applied the plan.
func (o *matrixOptions) fileMatrix(ctx context.Context) (*cli.Matrix, []string, error) {
	profile, err := loadProfile(ctx, o.streams.In, o.profilePath)
	if err != nil {
		return nil, nil, invalidInput(err)
	}
	namespaces, err := readNamespaces(o.streams.In, o.namespacesPath)
	if err != nil {
		return nil, nil, invalidInput(err)
	}
	var policies []networkingv1.NetworkPolicy
	if o.policiesPath != "" {
		if policies, err = readPolicies(o.streams.In, o.policiesPath); err != nil {
			return nil, nil, invalidInput(err)
		}
	}
	plan, err := o.plan(render.Input{Profile: profile, Namespaces: namespaces})
	if err != nil {
		return nil, nil, err
	}
	var clusterPolicies []npav1beta1.ClusterNetworkPolicy
	if o.clusterPoliciesPath != "" {
		if clusterPolicies, err = readClusterPolicies(o.streams.In, o.clusterPoliciesPath); err != nil {
			return nil, nil, invalidInput(err)
		}
	}
	namespaces, policies, clusterPolicies, err = cli.Applied(profile, plan, namespaces, policies, clusterPolicies)
	if err != nil {
		return nil, nil, invalidInput(fmt.Errorf("rendering profile %s: %w", profile.Name, err))
	}
	m, err := cli.BuildMatrix(cli.MatrixInput{Profile: profile, Plan: plan, Namespaces: namespaces, Policies: policies,
		ClusterPolicies: clusterPolicies, PodCIDRs: o.podCIDRs})
	if err != nil {
		return nil, nil, invalidInput(fmt.Errorf("profile %s: %w", profile.Name, err))
	}
	if m.Unusable != nil {
		// No cluster could hold such a policy: the file is wrong.
		return nil, nil, invalidInput(fmt.Errorf("invalid NetworkPolicies: %w", m.Unusable))
	}
	if err := cli.WriteWarnings(o.streams.ErrOut, plan); err != nil {
		return nil, nil, err
	}
	var notes []string
	if m.Mode == segv1.ModeAudit {
		notes = append(notes, "The profile is in Audit mode: Tierguard writes no policies; this shows the profile as if enforced.")
	}
	return m, notes, nil
}

// plan computes the plan. Its conflicts and skipped namespaces are
// printed, as render prints them, once the matrix is known to follow.
func (o *matrixOptions) plan(in render.Input) (*render.Plan, error) {
	in.OperatorNamespace = o.operatorNamespace
	plan, err := render.Compute(in)
	if err != nil {
		return nil, invalidInput(fmt.Errorf("rendering profile %s: %w", in.Profile.Name, err))
	}
	return plan, nil
}
