package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

// planState is every object Tierguard keeps for one profile spec, as the
// renderer plans it: what a profile edit is measured against.
type planState struct {
	// labels are the labels Tierguard owns, by namespace.
	labels map[string]map[string]string
	// policies are the managed NetworkPolicies, by namespace.
	policies map[string]*networkingv1.NetworkPolicy
	// cnps are the managed ClusterNetworkPolicies, by name.
	cnps map[string]*npav1beta1.ClusterNetworkPolicy
}

// stateOf renders profile for namespaces; Audit mode keeps nothing.
func stateOf(profile *segv1.SegmentationProfile, namespaces []corev1.Namespace) (planState, error) {
	s := planState{labels: map[string]map[string]string{}, policies: map[string]*networkingv1.NetworkPolicy{},
		cnps: map[string]*npav1beta1.ClusterNetworkPolicy{}}
	if render.Mode(profile) == segv1.ModeAudit {
		return s, nil
	}
	plan, err := planFor(profile, namespaces)
	if err != nil {
		return s, err
	}
	for i := range plan.Governed {
		g := &plan.Governed[i]
		s.labels[g.Name] = g.Labels
		if render.UsesNetworkPolicies(profile) {
			s.policies[g.Name] = g.Policy
		}
	}
	if render.UsesClusterNetworkPolicies(profile) {
		cnps, err := render.ClusterNetworkPolicies(profile, plan, render.CNPPriority(profile))
		if err != nil {
			return s, err
		}
		for i := range cnps {
			s.cnps[cnps[i].Name] = &cnps[i]
		}
	}
	return s, nil
}

// Kinds of object change.
const (
	changeLabels       = "labels"
	changePolicy       = "policy"
	changePolicyDelete = "policy delete"
	changeCNP          = "cnp"
	changeCNPDelete    = "cnp delete"
)

// objectChange is one object that differs between two states, and what it
// must become.
type objectChange struct {
	kind string
	// name is the namespace (labels, policies) or the ClusterNetworkPolicy.
	name string
	// labels are the owned labels wanted; removed the owned keys to drop.
	labels  map[string]string
	removed []string
	policy  *networkingv1.NetworkPolicy
	cnp     *npav1beta1.ClusterNetworkPolicy
}

// diffStates lists the objects that change from a to b, sorted by kind and
// name so that the writes come in a stable order.
func diffStates(a, b planState) []objectChange {
	var out []objectChange
	for _, ns := range slices.Sorted(maps.Keys(unionKeys(a.labels, b.labels))) {
		want := b.labels[ns]
		var removed []string
		for k := range a.labels[ns] {
			if _, ok := want[k]; !ok {
				removed = append(removed, k)
			}
		}
		if maps.Equal(a.labels[ns], want) {
			continue
		}
		slices.Sort(removed)
		out = append(out, objectChange{kind: changeLabels, name: ns, labels: want, removed: removed})
	}
	for _, ns := range slices.Sorted(maps.Keys(unionKeys(a.policies, b.policies))) {
		pa, pb := a.policies[ns], b.policies[ns]
		switch {
		case pb == nil:
			out = append(out, objectChange{kind: changePolicyDelete, name: ns})
		case pa == nil || !policyEqual(pa, pb):
			out = append(out, objectChange{kind: changePolicy, name: ns, policy: pb})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(unionKeys(a.cnps, b.cnps))) {
		ca, cb := a.cnps[name], b.cnps[name]
		switch {
		case cb == nil:
			out = append(out, objectChange{kind: changeCNPDelete, name: name})
		case ca == nil || ca.Annotations[render.PlanHashAnnotation] != cb.Annotations[render.PlanHashAnnotation] ||
			!maps.Equal(ca.Labels, cb.Labels):
			out = append(out, objectChange{kind: changeCNP, name: name, cnp: cb})
		}
	}
	return out
}

// unionKeys returns the keys of a and b.
func unionKeys[V any](a, b map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// policyEqual compares what the observer checks of a managed policy.
func policyEqual(a, b *networkingv1.NetworkPolicy) bool {
	return maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations) && equality.Semantic.DeepEqual(a.Spec, b.Spec)
}

// countChanges counts changes by kind.
func countChanges(changes []objectChange) map[string]int {
	out := map[string]int{}
	for _, c := range changes {
		out[c.kind]++
	}
	return out
}

// cnpWatch watches ClusterNetworkPolicies for the observer: events notify
// the observer's waiters under cnpKey.
type cnpWatch struct{ inf cache.SharedIndexInformer }

// watchCNPs starts the watch and waits for its first list.
func watchCNPs(ctx context.Context, cfg *rest.Config, o *observer) (*cnpWatch, error) {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	f := dynamicinformer.NewDynamicSharedInformerFactory(dc, 0)
	inf := f.ForResource(cnpGVR).Informer()
	if _, err := inf.AddEventHandler(o.handler(func(_, name string) string { return cnpKey(name) })); err != nil {
		return nil, fmt.Errorf("ClusterNetworkPolicy handler: %w", err)
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("watch ClusterNetworkPolicies: cache did not sync")
	}
	return &cnpWatch{inf: inf}, nil
}

// get returns the cached ClusterNetworkPolicy, or nil.
func (w *cnpWatch) get(name string) *unstructured.Unstructured {
	if w == nil {
		return nil
	}
	obj, ok, err := w.inf.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	return obj.(*unstructured.Unstructured)
}

// cnpKey is the waiter key of a ClusterNetworkPolicy.
func cnpKey(name string) string { return "cnp/" + name }

// expectChanges registers, before anything is written, a wait for every
// change to be seen; the returned function waits and returns the time the
// last one was.
func expectChanges(o *observer, cnps *cnpWatch, changes []objectChange) func(ctx context.Context, timeout time.Duration) (time.Time, error) {
	chans := make([]<-chan time.Time, len(changes))
	for i := range changes {
		c := &changes[i]
		key, check := c.name, func() bool { return false }
		switch c.kind {
		case changeLabels:
			check = func() bool {
				ns := o.namespace(c.name)
				if ns == nil || !hasLabels(ns.Labels, c.labels) {
					return false
				}
				for _, k := range c.removed {
					if _, ok := ns.Labels[k]; ok {
						return false
					}
				}
				return true
			}
		case changePolicy:
			check = func() bool {
				pol := o.policy(c.name)
				return pol != nil && hasLabels(pol.Labels, c.policy.Labels) && hasLabels(pol.Annotations, c.policy.Annotations) &&
					equality.Semantic.DeepEqual(pol.Spec, c.policy.Spec)
			}
		case changePolicyDelete:
			check = func() bool { return o.policy(c.name) == nil }
		case changeCNP:
			key = cnpKey(c.name)
			check = func() bool {
				got := cnps.get(c.name)
				return got != nil && hasLabels(got.GetLabels(), c.cnp.Labels) &&
					got.GetAnnotations()[render.PlanHashAnnotation] == c.cnp.Annotations[render.PlanHashAnnotation]
			}
		case changeCNPDelete:
			key = cnpKey(c.name)
			check = func() bool { return cnps.get(c.name) == nil }
		}
		chans[i] = o.await(key, check)
	}
	return func(ctx context.Context, timeout time.Duration) (time.Time, error) {
		return o.awaitAll(ctx, chans, timeout, func(missing int) string {
			return fmt.Sprintf("%d of %d changed objects not as planned", missing, len(changes))
		})
	}
}

// objectWriter makes the writes of changes: the raw client's (server-side
// apply as fieldManager, deletes) or, to reset a plane, an admin's.
type objectWriter struct {
	c            kubernetes.Interface
	dc           dynamic.Interface
	fieldManager string
}

// newObjectWriter builds a writer for cfg.
func newObjectWriter(cfg *rest.Config, fieldManager string) (*objectWriter, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	return &objectWriter{c: c, dc: dc, fieldManager: fieldManager}, nil
}

// write makes one change, as Tierguard would: labels as a labels-only
// apply, objects applied, deletes.
func (w *objectWriter) write(ctx context.Context, c *objectChange) error {
	force := true
	switch c.kind {
	case changeLabels:
		ac := corev1ac.Namespace(c.name).WithLabels(c.labels)
		if _, err := w.c.CoreV1().Namespaces().Apply(ctx, ac, metav1.ApplyOptions{FieldManager: w.fieldManager, Force: true}); err != nil {
			return fmt.Errorf("apply labels to namespace %s: %w", c.name, err)
		}
	case changePolicy:
		data, err := json.Marshal(c.policy)
		if err != nil {
			return err
		}
		if _, err := w.c.NetworkingV1().NetworkPolicies(c.name).Patch(ctx, c.policy.Name, types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: w.fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply policy %s/%s: %w", c.name, c.policy.Name, err)
		}
	case changePolicyDelete:
		if err := w.c.NetworkingV1().NetworkPolicies(c.name).Delete(ctx, render.PolicyName, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete policy %s/%s: %w", c.name, render.PolicyName, err)
		}
	case changeCNP:
		data, err := json.Marshal(c.cnp)
		if err != nil {
			return err
		}
		if _, err := w.dc.Resource(cnpGVR).Patch(ctx, c.name, types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: w.fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply ClusterNetworkPolicy %s: %w", c.name, err)
		}
	case changeCNPDelete:
		if err := w.dc.Resource(cnpGVR).Delete(ctx, c.name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete ClusterNetworkPolicy %s: %w", c.name, err)
		}
	default:
		return fmt.Errorf("unknown change %q", c.kind)
	}
	return nil
}

// reset makes a change whoever owns the fields: labels are removed with a
// merge patch (an apply removes only its own manager's), the rest as write.
func (w *objectWriter) reset(ctx context.Context, c *objectChange) error {
	if c.kind != changeLabels {
		return w.write(ctx, c)
	}
	labels := map[string]any{}
	for k, v := range c.labels {
		labels[k] = v
	}
	for _, k := range c.removed {
		labels[k] = nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		return err
	}
	if _, err := w.c.CoreV1().Namespaces().Patch(ctx, c.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("reset labels of namespace %s: %w", c.name, err)
	}
	return nil
}
