package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/drift"
	"github.com/tierguard/tierguard/internal/memory"
	"github.com/tierguard/tierguard/internal/render"
)

// writeState is what became of one action.
type writeState uint8

const (
	// writeSkipped: not attempted, because an earlier write to the same
	// namespace failed (the order of a namespace's writes matters).
	writeSkipped writeState = iota
	// writeChanged: the write changed the cluster.
	writeChanged
	// writeUnneeded: nothing to change; the object was already as planned
	// (the cache lagged) or is gone.
	writeUnneeded
	// writeStale: the object changed since it was observed; this and the
	// namespace's later writes wait for the next pass.
	writeStale
	// writeFailed: the API server refused or failed the write.
	writeFailed
)

// writeResult is what a pass's writes did.
type writeResult struct {
	// states are the actions' states, by index.
	states []writeState
	// errs are the errors of the failed actions, by index.
	errs map[int]error
	// repairs are the drift records of the writes that repaired drift,
	// that is, changed the cluster.
	repairs []segv1.DriftRecord
}

// done reports whether action i was made or found unnecessary.
func (w writeResult) done(i int) bool {
	return i < len(w.states) && (w.states[i] == writeChanged || w.states[i] == writeUnneeded)
}

// pending reports whether action i is still to be made because a write
// failed (it or an earlier one to its namespace).
func (w writeResult) pending(i int) bool {
	return i < len(w.states) && (w.states[i] == writeFailed || w.states[i] == writeSkipped)
}

// count returns how many actions ended in a state.
func (w writeResult) count(s writeState) int {
	n := 0
	for _, st := range w.states {
		if st == s {
			n++
		}
	}
	return n
}

// write performs the actions, namespaces in parallel (at most
// ApplyConcurrency at a time) and each namespace's actions in the order diff
// gives them. One failing namespace does not stop the others; within a
// namespace, a failure or a concurrent change skips the writes after it, so
// the order's guarantees hold. A drift repair is recorded only when its
// write changed the cluster.
func (r *ProfileReconciler) write(ctx context.Context, mem *memory.Profile, state *observation, actions []diff.Action, now metav1.Time) writeResult {
	res := writeResult{states: make([]writeState, len(actions)), errs: map[int]error{}}
	var (
		mu      sync.Mutex
		repairs = make([]*segv1.DriftRecord, len(actions))
		wg      sync.WaitGroup
		slots   = make(chan struct{}, max(1, r.ApplyConcurrency))
	)
	for start := 0; start < len(actions); {
		end := start + 1
		for end < len(actions) && actions[end].Key() == actions[start].Key() {
			end++
		}
		wg.Add(1)
		slots <- struct{}{}
		go func(start, end int) {
			defer func() { <-slots; wg.Done() }()
			for i := start; i < end; i++ {
				rec, st, err := r.writeAction(ctx, actions[i], state, now)
				res.states[i] = st // each goroutine owns its own indexes
				switch st {
				case writeChanged:
					repairs[i] = rec
				case writeStale:
					for j := i + 1; j < end; j++ {
						res.states[j] = writeStale
					}
					return
				case writeFailed:
					log.FromContext(ctx).Error(err, "Write failed", "action", actions[i].Type, "namespace", actions[i].Namespace)
					mu.Lock()
					res.errs[i] = err
					mu.Unlock()
					return // the later writes stay writeSkipped
				}
			}
		}(start, end)
		start = end
	}
	wg.Wait()
	for i, a := range actions {
		if rec := repairs[i]; rec != nil {
			res.repairs = append(res.repairs, *rec)
		}
		switch {
		case a.Type == diff.ApplyPolicy && res.states[i] == writeChanged:
			mem.MarkSeen(a.Namespace, true)
		case a.Type == diff.DeletePolicy && res.done(i):
			mem.MarkSeen(a.Namespace, false)
		}
	}
	return res
}

// writeAction makes one action. A drift repair is confirmed first against
// the live object, which also names who made the drift.
func (r *ProfileReconciler) writeAction(ctx context.Context, a diff.Action, state *observation, now metav1.Time) (*segv1.DriftRecord, writeState, error) {
	var rec *segv1.DriftRecord
	if a.Drift != nil {
		var (
			st  writeState
			err error
		)
		if rec, st, err = r.confirmDrift(ctx, a, state, now); rec == nil {
			return nil, st, err
		}
	}
	st, err := r.writeOne(ctx, a, state)
	return rec, st, err
}

func (r *ProfileReconciler) writeOne(ctx context.Context, a diff.Action, state *observation) (writeState, error) {
	switch a.Type {
	case diff.ApplyLabels, diff.ReleaseLabels:
		uid := state.uids[a.Namespace]
		if uid == "" {
			return writeUnneeded, nil // the namespace is gone
		}
		// A labels-only apply: Tierguard owns just these labels, so labels
		// others own are never touched, and releasing (an apply without
		// labels) removes only Tierguard's. The UID makes the apply fail
		// instead of re-creating a namespace deleted meanwhile.
		ac := corev1ac.Namespace(a.Namespace).WithUID(uid)
		if a.Type == diff.ApplyLabels {
			ac.WithLabels(a.Labels)
		} else if a.ResourceVersion != "" {
			// A release is made only at the observed version: from a cache
			// that lags, it could strip labels another profile (sharing
			// this field manager) has just applied.
			ac.WithResourceVersion(a.ResourceVersion)
		}
		err := r.Client.Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership)
		switch {
		case apierrors.IsConflict(err) && a.Type == diff.ReleaseLabels && a.ResourceVersion != "":
			return writeStale, nil
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			return writeUnneeded, nil // deleted meanwhile; the namespace event triggers a new pass
		case err != nil:
			return writeFailed, fmt.Errorf("apply labels to namespace %s: %w", a.Namespace, err)
		}
		if ac.ResourceVersion == nil || *ac.ResourceVersion == state.versions[a.Namespace] {
			return writeUnneeded, nil
		}
		r.echoes.Wrote(segv1.KindNamespace, "", a.Namespace, *ac.ResourceVersion)
		return writeChanged, nil
	case diff.ApplyPolicy:
		// The rendered policy's JSON is the apply configuration: its zero
		// values are omitted (creationTimestamp is omitzero).
		data, err := json.Marshal(a.Policy)
		if err != nil {
			return writeFailed, fmt.Errorf("encode policy %s/%s: %w", a.Namespace, render.PolicyName, err)
		}
		live := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: render.PolicyName}}
		err = r.Client.Patch(ctx, live, client.RawPatch(types.ApplyPatchType, data), client.FieldOwner(FieldManager), client.ForceOwnership)
		switch {
		case apierrors.IsNotFound(err):
			return writeUnneeded, nil // the namespace is gone
		case err != nil:
			return writeFailed, fmt.Errorf("apply policy %s/%s: %w", a.Namespace, render.PolicyName, err)
		}
		if !drift.PolicyMatches(live, a.Policy) {
			return r.removeStrayFields(ctx, live, a.Policy)
		}
		if old := state.observed.Policies[a.Namespace]; old != nil && old.UID == live.UID && old.ResourceVersion == live.ResourceVersion {
			return writeUnneeded, nil
		}
		r.echoes.Wrote(segv1.KindNetworkPolicy, a.Namespace, render.PolicyName, live.ResourceVersion)
		return writeChanged, nil
	case diff.DeletePolicy:
		pol := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: render.PolicyName}}
		var opts []client.DeleteOption
		if a.ResourceVersion != "" {
			// Only the policy observed: another profile may have applied
			// the namespace's policy since.
			pre := client.Preconditions{ResourceVersion: ptr.To(a.ResourceVersion)}
			if a.UID != "" {
				pre.UID = ptr.To(types.UID(a.UID))
			}
			opts = append(opts, pre)
		}
		err := r.Client.Delete(ctx, pol, opts...)
		switch {
		case apierrors.IsConflict(err):
			return writeStale, nil
		case apierrors.IsNotFound(err):
			return writeUnneeded, nil
		case err != nil:
			return writeFailed, fmt.Errorf("delete policy %s/%s: %w", a.Namespace, render.PolicyName, err)
		}
		return writeChanged, nil
	case diff.ApplyClusterPolicy:
		return r.applyClusterPolicy(ctx, a, state)
	case diff.DeleteClusterPolicy:
		obj := cnpapi.NewObject(state.cnp.gv)
		obj.SetName(a.Name)
		err := r.Client.Delete(ctx, obj, client.Preconditions{ResourceVersion: ptr.To(a.ResourceVersion), UID: ptr.To(types.UID(a.UID))})
		switch {
		case apierrors.IsConflict(err):
			return writeStale, nil
		case apierrors.IsNotFound(err):
			return writeUnneeded, nil
		case err != nil:
			return writeFailed, fmt.Errorf("delete cluster network policy %s: %w", a.Name, err)
		}
		return writeChanged, nil
	}
	return writeFailed, fmt.Errorf("unknown action %s", a.Type)
}

// applyClusterPolicy server-side applies a ClusterNetworkPolicy in the
// served version. What an apply cannot remove (a rule someone added to a
// list Tierguard does not own, an owner reference to the profile) is
// replaced by a JSON patch guarded by the version just written.
func (r *ProfileReconciler) applyClusterPolicy(ctx context.Context, a diff.Action, state *observation) (writeState, error) {
	data, err := cnpapi.ApplyData(a.ClusterPolicy, state.cnp.gv)
	if err != nil {
		return writeFailed, err
	}
	live := cnpapi.NewObject(state.cnp.gv)
	live.SetName(a.Name)
	err = r.Client.Patch(ctx, live, client.RawPatch(types.ApplyPatchType, data), client.FieldOwner(FieldManager), client.ForceOwnership)
	if err != nil {
		if isNotServed(err) && r.ClusterNetworkPolicies != nil {
			// The CRD went: the next pass finds out, and writes the
			// NetworkPolicies again.
			r.ClusterNetworkPolicies.Forget()
		}
		return writeFailed, fmt.Errorf("apply cluster network policy %s: %w", a.Name, err)
	}
	got, err := cnpapi.ToV1beta1(live)
	if err != nil {
		return writeFailed, err
	}
	if !drift.ClusterPolicyMatches(got, a.ClusterPolicy) {
		ops := []map[string]any{{"op": "replace", "path": "/spec", "value": a.ClusterPolicy.Spec}}
		for i := len(got.OwnerReferences) - 1; i >= 0; i-- {
			ref := got.OwnerReferences[i]
			if drift.IsProfileOwner(ref) && !slices.ContainsFunc(a.ClusterPolicy.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == ref.UID }) {
				ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("/metadata/ownerReferences/%d", i)})
			}
		}
		switch patched, err := r.patchAtVersion(ctx, live, segv1.KindClusterNetworkPolicy, ops); {
		case err != nil:
			return writeFailed, err
		case !patched:
			return writeStale, nil
		}
		return writeChanged, nil
	}
	if old := state.cnp.own[a.Name]; old != nil && old.UID == got.UID && old.ResourceVersion == got.ResourceVersion {
		return writeUnneeded, nil
	}
	r.echoes.Wrote(segv1.KindClusterNetworkPolicy, "", a.Name, got.ResourceVersion)
	return writeChanged, nil
}

// removeStrayFields removes what others added to a managed policy that the
// plan does not hold and an apply cannot remove: an apply removes only
// fields its own manager owned, so egress rules someone added while egress
// isolation is off, or an owner reference to the profile someone added,
// would stay, and the policy would never match its plan again. A JSON patch,
// guarded by the resourceVersion just written, removes them.
//
// Lost to a concurrent change, the write is stale: the pass is repeated.
func (r *ProfileReconciler) removeStrayFields(ctx context.Context, live, planned *networkingv1.NetworkPolicy) (writeState, error) {
	var ops []map[string]any
	if len(planned.Spec.Ingress) == 0 && len(live.Spec.Ingress) > 0 {
		ops = append(ops, map[string]any{"op": "remove", "path": "/spec/ingress"})
	}
	if len(planned.Spec.Egress) == 0 && len(live.Spec.Egress) > 0 {
		ops = append(ops, map[string]any{"op": "remove", "path": "/spec/egress"})
	}
	for i := len(live.OwnerReferences) - 1; i >= 0; i-- {
		ref := live.OwnerReferences[i]
		wanted := slices.ContainsFunc(planned.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == ref.UID })
		if !wanted && drift.IsProfileOwner(ref) {
			ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("/metadata/ownerReferences/%d", i)})
		}
	}
	if len(ops) == 0 {
		// Nothing an apply leaves behind: the policy changed since the
		// apply; its event starts a new pass.
		return writeStale, nil
	}
	switch patched, err := r.patchAtVersion(ctx, live, segv1.KindNetworkPolicy, ops); {
	case err != nil:
		return writeFailed, err
	case !patched:
		return writeStale, nil
	}
	return writeChanged, nil
}

// patchAtVersion applies JSON patch operations to a policy (a
// NetworkPolicy or a ClusterNetworkPolicy, kind) only if it is still at the
// resourceVersion it carries (a test operation first). It returns false,
// and no error, when the policy changed or went meanwhile: its event
// starts a new pass.
func (r *ProfileReconciler) patchAtVersion(ctx context.Context, pol client.Object, kind segv1.ObjectKind, ops []map[string]any) (bool, error) {
	guarded := append([]map[string]any{{"op": "test", "path": "/metadata/resourceVersion", "value": pol.GetResourceVersion()}}, ops...)
	data, err := json.Marshal(guarded)
	if err != nil {
		return false, fmt.Errorf("encode patch of %s %s: %w", kind, client.ObjectKeyFromObject(pol), err)
	}
	err = r.Client.Patch(ctx, pol, client.RawPatch(types.JSONPatchType, data), client.FieldOwner(FieldManager))
	switch {
	case err == nil:
		r.echoes.Wrote(kind, pol.GetNamespace(), pol.GetName(), pol.GetResourceVersion())
		return true, nil
	case apierrors.IsInvalid(err) || apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("patch %s %s: %w", kind, client.ObjectKeyFromObject(pol), err)
	}
}

// confirmDrift re-reads a drifted object from the API server, uncached,
// because the cache may lag behind Tierguard's own writes (the namespace and
// policy informers are independent), and classifies it again (see
// internal/drift). It returns the drift record, naming the field manager
// that changed the object last (managedFields are stripped from the cache);
// or no record and writeUnneeded when the live object already matches the
// plan or the namespace is gone; or writeFailed when it cannot be read.
func (r *ProfileReconciler) confirmDrift(ctx context.Context, a diff.Action, state *observation, now metav1.Time) (*segv1.DriftRecord, writeState, error) {
	var (
		f          *drift.Finding
		entries    []metav1.ManagedFieldsEntry
		liveLabels map[string]string
	)
	switch a.Drift.Kind {
	case segv1.KindNamespace:
		ns := namespaceMetadata()
		err := r.APIReader.Get(ctx, client.ObjectKey{Name: a.Namespace}, ns)
		switch {
		case apierrors.IsNotFound(err):
			return nil, writeUnneeded, nil
		case err != nil:
			return nil, writeFailed, fmt.Errorf("read namespace %s to confirm drift: %w", a.Namespace, err)
		}
		f, entries, liveLabels = drift.Labels(a.Namespace, a.Labels, ns.Labels), ns.ManagedFields, ns.Labels
	case segv1.KindNetworkPolicy:
		pol := &networkingv1.NetworkPolicy{}
		err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(a.Policy), pol)
		switch {
		case apierrors.IsNotFound(err):
			pol = nil // deleted: who deleted it is not recorded on the object
		case err != nil:
			return nil, writeFailed, fmt.Errorf("read policy %s/%s to confirm drift: %w", a.Namespace, a.Policy.Name, err)
		default:
			entries = pol.ManagedFields
		}
		f = drift.Policy(a.Policy, pol)
	case segv1.KindClusterNetworkPolicy:
		obj := cnpapi.NewObject(state.cnp.gv)
		var live *npav1beta1.ClusterNetworkPolicy
		err := r.APIReader.Get(ctx, client.ObjectKey{Name: a.Name}, obj)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, writeFailed, fmt.Errorf("read cluster network policy %s to confirm drift: %w", a.Name, err)
		default:
			if live, err = cnpapi.ToV1beta1(obj); err != nil {
				return nil, writeFailed, err
			}
			entries = live.ManagedFields
		}
		f = drift.ClusterPolicy(a.ClusterPolicy, live)
	}
	if f == nil {
		return nil, writeUnneeded, nil // the cache lagged; the object is as planned
	}
	return &segv1.DriftRecord{Time: now, Namespace: f.Namespace, Kind: f.Kind, Name: f.Name, Change: f.Change,
		Manager: drift.Manager(*f, FieldManager, entries, a.Labels, liveLabels)}, 0, nil
}
