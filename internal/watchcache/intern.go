package watchcache

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unique"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tierguard/tierguard/internal/render"
)

// interner lets cached objects share what they have in common, so the cache
// grows by little more than names per namespace. A tier's managed policies
// carry the same spec, labels, annotations and owner reference; namespaces
// carry the same label keys and mostly the same values. Shared parts are
// read-only, as everything in the cache is.
type interner struct {
	mu    sync.Mutex
	specs map[string]networkingv1.NetworkPolicySpec // by plan hash
	sets  map[string]map[string]string              // label or annotation sets, by content
	refs  map[string][]metav1.OwnerReference        // by content
}

// internLimit bounds each table; a table past it starts again (only a
// profile's tiers are interned, so this is never reached in practice).
const internLimit = 4096

func newInterner() *interner {
	return &interner{specs: map[string]networkingv1.NetworkPolicySpec{}, sets: map[string]map[string]string{},
		refs: map[string][]metav1.OwnerReference{}}
}

// policy makes a managed policy share its spec and metadata with the tier's
// other policies, when they are identical. Foreign policies are left alone.
func (in *interner) policy(p *networkingv1.NetworkPolicy) {
	if !render.IsManagedPolicy(p) {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if hash := p.Annotations[render.PlanHashAnnotation]; hash != "" {
		switch spec, ok := in.specs[hash]; {
		case !ok:
			in.specs = limited(in.specs)
			in.specs[hash] = p.Spec
		case reflect.DeepEqual(spec, p.Spec):
			p.Spec = spec
		}
	}
	p.Labels = in.set(p.Labels)
	p.Annotations = in.set(p.Annotations)
	if len(p.OwnerReferences) > 0 {
		key := ownerRefsKey(p.OwnerReferences)
		if refs, ok := in.refs[key]; ok && reflect.DeepEqual(refs, p.OwnerReferences) {
			p.OwnerReferences = refs
		} else if !ok {
			in.refs = limited(in.refs)
			in.refs[key] = p.OwnerReferences
		}
	}
}

// set returns the shared map with m's content.
func (in *interner) set(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	key := b.String()
	if shared, ok := in.sets[key]; ok {
		return shared
	}
	in.sets = limited(in.sets)
	in.sets[key] = m
	return m
}

// labels rebuilds a namespace's labels with canonical strings: keys and
// most values (tiers, profiles, environments) repeat across namespaces.
func internLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[unique.Make(k).Value()] = unique.Make(v).Value()
	}
	return out
}

func ownerRefsKey(refs []metav1.OwnerReference) string {
	var b strings.Builder
	for _, r := range refs {
		b.WriteString(string(r.UID))
		b.WriteByte(0)
	}
	return b.String()
}

func limited[V any](m map[string]V) map[string]V {
	if len(m) >= internLimit {
		return map[string]V{}
	}
	return m
}
