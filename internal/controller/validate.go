package controller

import (
	"context"
	"encoding/json"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/render"
)

// refusal is a tier whose rendered policy the API server refused, so none
// of its namespaces were written.
type refusal struct {
	err error
	// namespaces is how many namespaces of the tier had writes pending.
	namespaces int
}

// admitPlan checks, before anything of a tier is written, that the API
// server accepts the tier's policy: a server-side dry run of it in one of
// the tier's namespaces, once per tier plan. A tier whose policy is refused
// (invalid) keeps its namespaces exactly as they are: no label is applied
// without the policy that makes it safe. It returns the actions that may be
// made and the refused tiers; an error when the dry run could not be made.
func (r *ProfileReconciler) admitPlan(ctx context.Context, mem *memory.Profile, plan *render.Plan,
	actions []diff.Action) ([]diff.Action, map[string]refusal, error) {
	refused := map[string]refusal{}
	checked := map[string]bool{}
	for _, a := range actions {
		if a.Type != diff.ApplyLabels && a.Type != diff.ApplyPolicy {
			continue
		}
		g := plan.Lookup(a.Namespace)
		if g == nil || g.Policy == nil || checked[g.Tier] {
			continue // no NetworkPolicy planned: ClusterNetworkPolicies enforce
		}
		checked[g.Tier] = true
		if mem.Accepted(g) {
			continue
		}
		if err := r.dryRunPolicy(ctx, g.Policy); err != nil {
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) && !apierrors.IsForbidden(err) {
				return nil, nil, fmt.Errorf("dry-run policy of tier %s in %s: %w", g.Tier, g.Name, err)
			}
			refused[g.Tier] = refusal{err: err}
			continue
		}
		mem.Accept(g)
	}
	if len(refused) == 0 {
		return actions, nil, nil
	}
	kept := actions[:0:0]
	counted := map[string]bool{}
	for _, a := range actions {
		g := plan.Lookup(a.Namespace)
		if g != nil {
			if rf, ok := refused[g.Tier]; ok {
				if !counted[a.Namespace] {
					counted[a.Namespace] = true
					rf.namespaces++
					refused[g.Tier] = rf
				}
				continue
			}
		}
		kept = append(kept, a)
	}
	return kept, refused, nil
}

// dryRunPolicy server-side applies a policy with dryRun=All.
func (r *ProfileReconciler) dryRunPolicy(ctx context.Context, pol *networkingv1.NetworkPolicy) error {
	data, err := json.Marshal(pol)
	if err != nil {
		return fmt.Errorf("encode policy %s/%s: %w", pol.Namespace, pol.Name, err)
	}
	probe := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: pol.Namespace, Name: pol.Name}}
	err = r.Client.Patch(ctx, probe, client.RawPatch(types.ApplyPatchType, data),
		client.FieldOwner(FieldManager), client.ForceOwnership, client.DryRunAll)
	if apierrors.IsNotFound(err) {
		return nil // the namespace is gone; its writes are skipped anyway
	}
	return err
}
