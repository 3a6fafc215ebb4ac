package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/diff"
	"github.com/tierguard/tierguard/internal/render"
)

// write performs the actions, namespaces in parallel (at most
// ApplyConcurrency at a time) and each namespace's actions in the order diff
// gives them. It returns the errors by action index and the drift records of
// the repairs that succeeded. One failing namespace does not stop the
// others; within a namespace, a failure skips the writes after it, so the
// order's guarantees hold.
func (r *ProfileReconciler) write(ctx context.Context, profile *segv1.SegmentationProfile, actions []diff.Action, now metav1.Time) writeResult {
	res := writeResult{failed: map[int]error{}, stale: map[int]bool{}}
	if len(actions) == 0 {
		return res
	}
	uids := r.namespaceUIDs(ctx, actions)
	var (
		mu      sync.Mutex
		failed  = res.failed
		repairs = make([]*segv1.DriftRecord, len(actions))
		wg      sync.WaitGroup
		slots   = make(chan struct{}, max(1, r.ApplyConcurrency))
	)
	for start := 0; start < len(actions); {
		end := start + 1
		for end < len(actions) && actions[end].Namespace == actions[start].Namespace {
			end++
		}
		wg.Add(1)
		slots <- struct{}{}
		go func(start, end int) {
			defer func() { <-slots; wg.Done() }()
			for i := start; i < end; i++ {
				a := actions[i]
				var rec *segv1.DriftRecord
				if a.Drift != nil {
					var drifted bool
					if rec, drifted = r.confirmDrift(ctx, a, now); !drifted {
						continue // the cache lagged; the object is as planned
					}
				}
				if err := r.writeOne(ctx, a, uids[a.Namespace]); err != nil {
					if errors.Is(err, errStale) {
						// The object changed since it was observed: skip this
						// namespace's remaining writes and look again.
						mu.Lock()
						for j := i; j < end; j++ {
							res.stale[j] = true
						}
						mu.Unlock()
						return
					}
					log.FromContext(ctx).Error(err, "Write failed", "action", a.Type, "namespace", a.Namespace)
					mu.Lock()
					for j := i; j < end; j++ {
						failed[j] = err
					}
					mu.Unlock()
					return
				}
				switch a.Type {
				case diff.ApplyPolicy:
					r.markSeen(profile.Name, a.Namespace, true)
				case diff.DeletePolicy:
					r.markSeen(profile.Name, a.Namespace, false)
				}
				repairs[i] = rec
			}
		}(start, end)
		start = end
	}
	wg.Wait()
	for _, rec := range repairs {
		if rec != nil {
			res.repairs = append(res.repairs, *rec)
		}
	}
	return res
}

// writeResult is what a pass's writes did.
type writeResult struct {
	// failed holds the error of each action that failed, by index.
	failed map[int]error
	// stale marks the actions not made because their object changed since
	// it was observed; the pass is repeated shortly.
	stale map[int]bool
	// repairs are the drift records of the repairs that succeeded.
	repairs []segv1.DriftRecord
}

// done reports whether action i was made (or found unnecessary).
func (w writeResult) done(i int) bool {
	_, failed := w.failed[i]
	return !failed && !w.stale[i]
}

// errStale is returned for a guarded write whose object changed since the
// pass observed it.
var errStale = errors.New("object changed since it was observed")

// namespaceUIDs returns the cached UIDs of the namespaces the actions touch.
func (r *ProfileReconciler) namespaceUIDs(ctx context.Context, actions []diff.Action) map[string]types.UID {
	uids := map[string]types.UID{}
	for _, a := range actions {
		if a.Type != diff.ApplyLabels && a.Type != diff.ReleaseLabels {
			continue
		}
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if err := r.Client.Get(ctx, client.ObjectKey{Name: a.Namespace}, ns, client.UnsafeDisableDeepCopy); err == nil {
			uids[a.Namespace] = ns.UID
		}
	}
	return uids
}

func (r *ProfileReconciler) writeOne(ctx context.Context, a diff.Action, nsUID types.UID) error {
	switch a.Type {
	case diff.ApplyLabels, diff.ReleaseLabels:
		if nsUID == "" {
			return nil // the namespace is gone
		}
		// A labels-only apply: Tierguard owns just these labels, so labels
		// others own are never touched, and releasing (an apply without
		// labels) removes only Tierguard's. The UID makes the apply fail
		// instead of re-creating a namespace deleted meanwhile.
		ac := corev1ac.Namespace(a.Namespace).WithUID(nsUID)
		if a.Type == diff.ApplyLabels {
			ac.WithLabels(a.Labels)
		} else if a.ResourceVersion != "" {
			// A release is made only at the observed version: from a cache
			// that lags, it could strip labels another profile (sharing
			// this field manager) has just applied.
			ac.WithResourceVersion(a.ResourceVersion)
		}
		err := r.Client.Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership)
		if apierrors.IsConflict(err) && a.Type == diff.ReleaseLabels && a.ResourceVersion != "" {
			return errStale
		}
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // deleted meanwhile; the namespace event triggers a new pass
		}
		if err != nil {
			return fmt.Errorf("apply labels to namespace %s: %w", a.Namespace, err)
		}
		if ac.ResourceVersion != nil {
			r.echoes.wrote(namespaceKind, "", a.Namespace, *ac.ResourceVersion)
		}
	case diff.ApplyPolicy:
		// The rendered policy's JSON is the apply configuration: its zero
		// values are omitted (creationTimestamp is omitzero).
		data, err := json.Marshal(a.Policy)
		if err != nil {
			return fmt.Errorf("encode policy %s/%s: %w", a.Namespace, render.PolicyName, err)
		}
		live := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: render.PolicyName}}
		if err := r.Client.Patch(ctx, live, client.RawPatch(types.ApplyPatchType, data),
			client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply policy %s/%s: %w", a.Namespace, render.PolicyName, err)
		}
		if !diff.PolicyMatches(live, a.Policy) {
			return r.removeStrayFields(ctx, live, a.Policy)
		}
		r.echoes.wrote(policyKind, a.Namespace, render.PolicyName, live.ResourceVersion)
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
		if apierrors.IsConflict(err) {
			return errStale
		}
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete policy %s/%s: %w", a.Namespace, render.PolicyName, err)
		}
	}
	return nil
}

// removeStrayFields removes what others added to a managed policy that the
// plan does not hold and an apply cannot remove: an apply removes only
// fields its own manager owned, so egress rules someone added while egress
// isolation is off, or an owner reference to the profile someone added,
// would stay, and the policy would never match its plan again. A JSON patch,
// guarded by the resourceVersion just written, removes them.
func (r *ProfileReconciler) removeStrayFields(ctx context.Context, live, planned *networkingv1.NetworkPolicy) error {
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
		if !wanted && ref.Kind == "SegmentationProfile" && ref.APIVersion == segv1.GroupVersion.String() {
			ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("/metadata/ownerReferences/%d", i)})
		}
	}
	if len(ops) == 0 {
		return nil // nothing an apply leaves behind; the next pass looks again
	}
	_, err := r.patchAtVersion(ctx, live, ops)
	return err
}

// patchAtVersion applies JSON patch operations to a policy only if it is
// still at the resourceVersion it carries (a test operation first). It
// returns false, and no error, when the policy changed or went meanwhile:
// its event starts a new pass.
func (r *ProfileReconciler) patchAtVersion(ctx context.Context, pol *networkingv1.NetworkPolicy, ops []map[string]any) (bool, error) {
	guarded := append([]map[string]any{{"op": "test", "path": "/metadata/resourceVersion", "value": pol.ResourceVersion}}, ops...)
	data, err := json.Marshal(guarded)
	if err != nil {
		return false, fmt.Errorf("encode patch of policy %s/%s: %w", pol.Namespace, pol.Name, err)
	}
	err = r.Client.Patch(ctx, pol, client.RawPatch(types.JSONPatchType, data), client.FieldOwner(FieldManager))
	switch {
	case err == nil:
		r.echoes.wrote(policyKind, pol.Namespace, pol.Name, pol.ResourceVersion)
		return true, nil
	case apierrors.IsInvalid(err) || apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("patch policy %s/%s: %w", pol.Namespace, pol.Name, err)
	}
}

// confirmDrift re-reads a drifted object from the API server, uncached,
// because the cache may lag behind Tierguard's own writes (the namespace and
// policy informers are independent). It returns the drift record, naming the
// field manager that changed the object last (managedFields are stripped
// from the cache), and false when the live object already matches the plan.
func (r *ProfileReconciler) confirmDrift(ctx context.Context, a diff.Action, now metav1.Time) (*segv1.DriftRecord, bool) {
	d := a.Drift
	rec := &segv1.DriftRecord{Time: now, Namespace: d.Namespace, Kind: d.Kind, Name: d.Name, Change: d.Change}
	key := client.ObjectKey{Namespace: d.Namespace, Name: d.Name}
	if d.Kind == "Namespace" {
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if err := r.APIReader.Get(ctx, client.ObjectKey{Name: d.Name}, ns); err != nil {
			return rec, true
		}
		if diff.LabelsMatch(ns.Labels, a.Labels) {
			return nil, false
		}
		// Whoever set a label to another value owns it now; a removed label
		// has no owner to name.
		rec.Manager = lastManager(ns.ManagedFields, labelPaths(changedLabels(ns.Labels, a.Labels))...)
		return rec, true
	}
	pol := &networkingv1.NetworkPolicy{}
	if err := r.APIReader.Get(ctx, key, pol); err != nil {
		return rec, true // deleted: who deleted it is not recorded on the object
	}
	if diff.PolicyMatches(pol, a.Policy) {
		return nil, false
	}
	if d.Change == segv1.DriftDeleted {
		// Still there but not in the filtered cache: its labels were stripped.
		rec.Change = segv1.DriftModified
	}
	rec.Manager = lastManager(pol.ManagedFields, policyPaths...)
	return rec, true
}

// changedLabels returns the owned labels that carry another value.
func changedLabels(current, owned map[string]string) []string {
	var out []string
	for k, v := range owned {
		if cur, ok := current[k]; ok && cur != v {
			out = append(out, k)
		}
	}
	return out
}

// lastManager returns the field manager, other than Tierguard, that owns
// one of the given fields and wrote the object last, since Tierguard's own
// last write. A change that only removed fields leaves no entry of its
// author, so it stays unknown rather than blamed on a bystander.
func lastManager(entries []metav1.ManagedFieldsEntry, fields ...[]string) string {
	var since metav1.Time
	for _, e := range entries {
		if e.Manager == FieldManager && e.Time != nil && e.Subresource == "" {
			since = *e.Time
		}
	}
	var (
		name string
		at   metav1.Time
	)
	for _, e := range entries {
		if e.Manager == FieldManager || e.Time == nil || e.Subresource != "" || e.Time.Before(&since) || !ownsAny(e, fields) {
			continue
		}
		if name == "" || !e.Time.Before(&at) {
			name, at = e.Manager, *e.Time
		}
	}
	return name
}

// ownsAny reports whether a managedFields entry owns a field under any of
// the paths (FieldsV1 keys such as "f:metadata", "f:labels", "f:env").
func ownsAny(e metav1.ManagedFieldsEntry, paths [][]string) bool {
	if e.FieldsV1 == nil {
		return false
	}
	var set map[string]any
	if err := json.Unmarshal(e.FieldsV1.Raw, &set); err != nil {
		return false
	}
	for _, path := range paths {
		node, ok := any(set), true
		for _, key := range path {
			m, isMap := node.(map[string]any)
			if !isMap {
				ok = false
				break
			}
			if node, ok = m[key]; !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// labelPaths are the FieldsV1 paths of the given labels.
func labelPaths(keys []string) [][]string {
	out := make([][]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, []string{"f:metadata", "f:labels", "f:" + k})
	}
	return out
}

// policyPaths are the fields of a policy whose change is drift.
var policyPaths = [][]string{{"f:spec"}, {"f:metadata", "f:labels"}, {"f:metadata", "f:annotations"}, {"f:metadata", "f:ownerReferences"}}
