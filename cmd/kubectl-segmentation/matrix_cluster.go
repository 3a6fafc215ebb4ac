package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cli"
	"github.com/tierguard/tierguard/internal/render"
)

// clusterMatrix checks a profile of the cluster against the cluster's
// namespaces, NetworkPolicies and ClusterNetworkPolicies as they are.
func (o *matrixOptions) clusterMatrix(ctx context.Context) (*cli.Matrix, []string, error) {
	config, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return nil, nil, invalidInput(fmt.Errorf("loading kubeconfig: %w", err))
	}
	state, err := cli.LoadCluster(ctx, config)
	if err != nil {
		return nil, nil, invalidInput(err)
	}
	profile, err := chooseProfile(state, o.profileName)
	if err != nil {
		return nil, nil, err
	}
	policies, err := cli.LoadPolicies(ctx, config)
	if err != nil {
		return nil, nil, invalidInput(err)
	}
	clusterPolicies, served, err := cli.LoadClusterPolicies(ctx, config)
	if err != nil {
		return nil, nil, invalidInput(err)
	}
	// The intent comes from the plan, which the cluster's other profiles
	// shape through conflicts, as they do for the controller.
	plan, err := o.plan(render.Input{Profile: profile, OtherProfiles: state.Profiles, Namespaces: state.Namespaces})
	if err != nil {
		return nil, nil, err
	}
	m, err := cli.BuildMatrix(cli.MatrixInput{Profile: profile, Plan: plan, Namespaces: state.Namespaces, Policies: policies,
		ClusterPolicies: clusterPolicies, PodCIDRs: o.podCIDRs})
	if err != nil {
		return nil, nil, invalidInput(fmt.Errorf("profile %s: %w", profile.Name, err))
	}
	if m.Unusable != nil {
		// The API server admitted them, so the evaluator is the stricter
		// one; say what the answer leaves out rather than refuse it.
		_, _ = fmt.Fprintf(o.streams.ErrOut, "Warning: left out of the matrix, which may miss traffic they allow: %v\n", m.Unusable)
	}
	if err := cli.WriteWarnings(o.streams.ErrOut, plan); err != nil {
		return nil, nil, err
	}
	var notes []string
	if m.Mode == segv1.ModeAudit {
		notes = append(notes, "The profile is in Audit mode: Tierguard writes no policies, so the differences are what Enforce would change.")
	}
	if !served && render.UsesClusterNetworkPolicies(profile) {
		notes = append(notes, fmt.Sprintf("The cluster does not serve ClusterNetworkPolicies, which the profile's enforcement (%s) needs: Tierguard writes NetworkPolicies instead until it does.",
			render.Enforcement(profile)))
	}
	return m, notes, nil
}

// chooseProfile returns the named profile, or the cluster's only one. A
// missing profile is an input error; an omitted name with several profiles
// to choose from is a usage error.
func chooseProfile(state *cli.ClusterState, name string) (*segv1.SegmentationProfile, error) {
	if state.CRDMissing {
		return nil, invalidInput(errors.New("the cluster does not serve SegmentationProfiles: is Tierguard installed?"))
	}
	if name != "" {
		p := state.Existing(name)
		if p == nil {
			return nil, invalidInput(fmt.Errorf("SegmentationProfile %q not found", name))
		}
		return p.DeepCopy(), nil
	}
	switch len(state.Profiles) {
	case 0:
		return nil, invalidInput(errors.New("the cluster has no SegmentationProfile"))
	case 1:
		return state.Profiles[0].DeepCopy(), nil
	}
	names := make([]string, 0, len(state.Profiles))
	for _, p := range state.Profiles {
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("the cluster has %d SegmentationProfiles (%s): choose one with --profile", len(names), strings.Join(names, ", "))
}
