package e2e_test

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/drift"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// clusterPlan computes, with internal/render, what Tierguard must keep for
// profile name given the cluster's namespaces and profiles as they are now:
// the oracle the suite compares the cluster with.
func clusterPlan(ctx context.Context, name string) (*render.Plan, *segv1.SegmentationProfile, *corev1.NamespaceList, error) {
	profiles := &segv1.SegmentationProfileList{}
	if err := k8s.List(ctx, profiles); err != nil {
		return nil, nil, nil, fmt.Errorf("list profiles: %w", err)
	}
	i := slices.IndexFunc(profiles.Items, func(p segv1.SegmentationProfile) bool { return p.Name == name })
	if i < 0 {
		return nil, nil, nil, fmt.Errorf("profile %s not found", name)
	}
	profile := &profiles.Items[i]
	namespaces := &corev1.NamespaceList{}
	if err := k8s.List(ctx, namespaces); err != nil {
		return nil, nil, nil, fmt.Errorf("list namespaces: %w", err)
	}
	in := render.Input{Profile: profile, OtherProfiles: profiles.Items, OperatorNamespace: harness.SystemNamespace}
	for _, ns := range namespaces.Items {
		in.Namespaces = append(in.Namespaces, render.Namespace{Name: ns.Name, Labels: ns.Labels, Terminating: ns.DeletionTimestamp != nil})
	}
	plan, err := render.Compute(in)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("plan profile %s: %w", name, err)
	}
	return plan, profile, namespaces, nil
}

// divergence lists every way the cluster differs from the plan of profile
// name: labels, policies (spec, labels, plan hash, owner), stray or
// duplicate policies, labels left on namespaces the profile no longer
// governs, and a status that does not report the plan as enforced. Empty
// means converged.
func divergence(ctx context.Context, name string) []string {
	plan, profile, namespaces, err := clusterPlan(ctx, name)
	if err != nil {
		return []string{err.Error()}
	}
	policies := &networkingv1.NetworkPolicyList{}
	if err := k8s.List(ctx, policies); err != nil {
		return []string{fmt.Sprintf("list policies: %v", err)}
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	managed := map[string][]networkingv1.NetworkPolicy{} // by namespace
	for _, pol := range policies.Items {
		if pol.Labels[render.ManagedByLabel] == render.ManagedByValue || pol.Name == render.PolicyName {
			managed[pol.Namespace] = append(managed[pol.Namespace], pol)
		}
	}
	for _, ns := range namespaces.Items {
		g := plan.Lookup(ns.Name)
		if g == nil {
			if plan.IsHeld(ns.Name) {
				continue
			}
			if ns.Labels[render.ProfileLabel] == name {
				add("namespace %s is not governed but carries %s=%s", ns.Name, render.ProfileLabel, name)
			}
			for _, pol := range managed[ns.Name] {
				if pol.Labels[render.ProfileLabel] == name {
					add("stray policy %s/%s of profile %s in a namespace it does not govern", pol.Namespace, pol.Name, name)
				}
			}
			continue
		}
		if !drift.LabelsMatch(ns.Labels, g.Labels) {
			add("namespace %s has labels %v, want %v among them", ns.Name, ns.Labels, g.Labels)
		}
		pols := managed[ns.Name]
		switch {
		case len(pols) == 0:
			add("namespace %s has no policy %s", ns.Name, render.PolicyName)
		case len(pols) > 1:
			add("namespace %s has %d managed policies, want one", ns.Name, len(pols))
		case pols[0].Name != render.PolicyName:
			add("namespace %s has managed policy %s, want %s", ns.Name, pols[0].Name, render.PolicyName)
		case !drift.PolicyMatches(&pols[0], g.Policy):
			add("policy %s/%s differs from the plan: spec %v labels %v annotations %v owners %v", ns.Name, render.PolicyName,
				pols[0].Spec, pols[0].Labels, pols[0].Annotations, pols[0].OwnerReferences)
		}
	}

	st := profile.Status
	if c := condition(profile, segv1.ConditionReady); c != "True/Enforced" {
		add("profile %s Ready is %q, want True/Enforced", name, c)
	}
	if int(st.GovernedNamespaces) != len(plan.Governed) || int(st.ManagedPolicies) != len(plan.Governed) {
		add("profile %s reports %d governed namespaces and %d policies, want %d", name, st.GovernedNamespaces, st.ManagedPolicies, len(plan.Governed))
	}
	if want := plan.TierCounts(profile); !equality.Semantic.DeepEqual(st.Tiers, want) {
		add("profile %s reports tiers %v, want %v", name, st.Tiers, want)
	}
	return problems
}

// managedPolicies returns the policies carrying the profile label name.
func managedPolicies(ctx context.Context, name string) ([]networkingv1.NetworkPolicy, error) {
	policies := &networkingv1.NetworkPolicyList{}
	err := k8s.List(ctx, policies, client.MatchingLabels{render.ProfileLabel: name})
	return policies.Items, err
}
