package watchcache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tierguard/tierguard/internal/render"
)

// ForeignPolicies holds the NetworkPolicies Tierguard does not manage, but
// only those in namespaces a profile governs: any of them can open a hole
// there (see internal/leaks), while the thousands that may live elsewhere
// are no business of Tierguard's and cost it no memory.
//
// A reflector (see Start) feeds it every foreign policy of the
// cluster; it keeps those in governed namespaces and drops the rest. When a
// pass finds namespaces newly governed, govern lists their policies from
// the API server before the pass verifies isolation, and merges the result
// with whatever the reflector delivers meanwhile, the newer version of each
// policy winning.
type ForeignPolicies struct {
	reader client.Reader
	// notify is called, outside the lock, with the profiles whose governed
	// namespaces saw a foreign policy change.
	notify func(profiles []string)

	mu sync.Mutex
	// governed are, by profile, the namespaces it governs, sorted (a slice
	// sharing the cache's strings costs far less than a set).
	governed map[string][]string
	// held are, by namespace, its foreign policies by name, for every
	// namespace some profile governs (and that was loaded).
	held map[string]map[string]*networkingv1.NetworkPolicy
	// loading are the namespaces being listed, with the deletions seen
	// meanwhile (name to resourceVersion).
	loading map[string]map[string]uint64
}

// NewForeignPolicies returns an empty store that lists through reader and
// calls notify with the profiles whose governed namespaces saw a foreign
// policy change.
func NewForeignPolicies(reader client.Reader, notify func([]string)) *ForeignPolicies {
	return &ForeignPolicies{reader: reader, notify: notify, governed: map[string][]string{},
		held: map[string]map[string]*networkingv1.NetworkPolicy{}, loading: map[string]map[string]uint64{}}
}

// ErrListing is returned by Govern while another pass lists the foreign
// policies of one of the namespaces: the answer is not known yet, and the
// caller asks again shortly.
var ErrListing = errors.New("foreign policies still being listed")

// foreignSelector selects the policies Tierguard does not manage.
func foreignSelector() labels.Selector {
	req, _ := labels.NewRequirement(render.ManagedByLabel, selection.NotEquals, []string{render.ManagedByValue})
	return labels.NewSelector().Add(*req)
}

// bulkLoad is the number of newly governed namespaces from which one
// cluster-wide list is cheaper than a list per namespace.
const bulkLoad = 32

// Govern records the namespaces a profile governs now (sorted), loads the
// foreign policies of those no profile governed before, and returns the
// foreign policies of all of them. Policies are shared: do not mutate them.
func (f *ForeignPolicies) Govern(ctx context.Context, profile string, namespaces []string) ([]networkingv1.NetworkPolicy, error) {
	f.mu.Lock()
	var load []string
	if !f.sameSet(profile, namespaces) {
		old := f.governed[profile]
		f.governed[profile] = slices.Clone(namespaces)
		for _, ns := range old {
			if !f.governedByAny(ns) {
				delete(f.held, ns)
			}
		}
		for _, ns := range namespaces {
			if _, ok := f.held[ns]; !ok {
				if _, busy := f.loading[ns]; !busy {
					f.loading[ns] = map[string]uint64{}
					load = append(load, ns)
				}
			}
		}
	}
	f.mu.Unlock()

	if len(load) > 0 {
		if err := f.load(ctx, load); err != nil {
			return nil, err
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	var out []networkingv1.NetworkPolicy
	for _, ns := range namespaces {
		if _, busy := f.loading[ns]; busy {
			// Another pass is loading it: the result is not known yet.
			return nil, fmt.Errorf("%w: namespace %s", ErrListing, ns)
		}
		for _, p := range f.held[ns] {
			out = append(out, *p)
		}
	}
	return out, nil
}

// sameSet reports whether a profile already governs exactly these
// namespaces and all of them are held, so a steady pass allocates nothing.
func (f *ForeignPolicies) sameSet(profile string, namespaces []string) bool {
	old, ok := f.governed[profile]
	if !ok || !slices.Equal(old, namespaces) {
		return false
	}
	for _, ns := range namespaces {
		if _, held := f.held[ns]; !held {
			return false
		}
	}
	return true
}

func (f *ForeignPolicies) governedByAny(ns string) bool {
	for _, set := range f.governed {
		if _, ok := slices.BinarySearch(set, ns); ok {
			return true
		}
	}
	return false
}

// Forget drops a deleted profile's namespaces.
func (f *ForeignPolicies) Forget(profile string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.governed[profile]
	delete(f.governed, profile)
	for _, ns := range old {
		if !f.governedByAny(ns) {
			delete(f.held, ns)
		}
	}
}

// load lists the foreign policies of namespaces marked loading: one list per
// namespace, or one paginated cluster-wide list when there are many.
func (f *ForeignPolicies) load(ctx context.Context, namespaces []string) (err error) {
	found := map[string][]*networkingv1.NetworkPolicy{}
	defer func() { f.finishLoad(namespaces, found, err == nil) }()
	sel := client.MatchingLabelsSelector{Selector: foreignSelector()}
	list := func(opts ...client.ListOption) error {
		for cont := ""; ; {
			page := &networkingv1.NetworkPolicyList{}
			if err := f.reader.List(ctx, page, append(opts, sel, client.Limit(500), client.Continue(cont))...); err != nil {
				return fmt.Errorf("list foreign network policies: %w", err)
			}
			for i := range page.Items {
				p := &page.Items[i]
				stripPolicy(p)
				found[p.Namespace] = append(found[p.Namespace], p)
			}
			if cont = page.Continue; cont == "" {
				return nil
			}
		}
	}
	if len(namespaces) >= bulkLoad {
		return list()
	}
	for _, ns := range namespaces {
		if err := list(client.InNamespace(ns)); err != nil {
			return err
		}
	}
	return nil
}

// finishLoad merges listed policies into what the reflector delivered
// while they were listed: the newer version wins and a deletion seen since
// is kept.
func (f *ForeignPolicies) finishLoad(namespaces []string, found map[string][]*networkingv1.NetworkPolicy, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ns := range namespaces {
		deleted := f.loading[ns]
		delete(f.loading, ns)
		if !ok || !f.governedByAny(ns) {
			delete(f.held, ns)
			continue
		}
		held := f.held[ns]
		if held == nil {
			held = map[string]*networkingv1.NetworkPolicy{}
			f.held[ns] = held
		}
		for _, p := range found[ns] {
			rv := version(p.ResourceVersion)
			if cur, ok := held[p.Name]; ok && version(cur.ResourceVersion) >= rv {
				continue
			}
			if gone, ok := deleted[p.Name]; ok && gone >= rv {
				continue
			}
			held[p.Name] = p
		}
	}
}

// version orders resourceVersions; the API server's are integers (etcd
// revisions). One that is not sorts last, so a version from a watch wins.
func version(rv string) uint64 {
	v, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// The reflector's store: cache.ReflectorStore.

// Add keeps a foreign policy of a governed namespace.
func (f *ForeignPolicies) Add(obj any) error { return f.upsert(obj) }

// Update keeps a foreign policy of a governed namespace.
func (f *ForeignPolicies) Update(obj any) error { return f.upsert(obj) }

func (f *ForeignPolicies) upsert(obj any) error {
	p, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return nil
	}
	f.mu.Lock()
	held, governed := f.held[p.Namespace]
	_, busy := f.loading[p.Namespace]
	if !governed && !busy {
		f.mu.Unlock()
		return nil
	}
	if held == nil {
		held = map[string]*networkingv1.NetworkPolicy{}
		f.held[p.Namespace] = held
	}
	if cur, ok := held[p.Name]; ok && version(cur.ResourceVersion) > version(p.ResourceVersion) {
		f.mu.Unlock()
		return nil
	}
	stripPolicy(p)
	held[p.Name] = p
	profiles := f.profilesOf(p.Namespace)
	f.mu.Unlock()
	f.notify(profiles)
	return nil
}

// Delete drops a foreign policy.
func (f *ForeignPolicies) Delete(obj any) error {
	p, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return nil
	}
	f.mu.Lock()
	if deleted, busy := f.loading[p.Namespace]; busy {
		deleted[p.Name] = max(deleted[p.Name], version(p.ResourceVersion))
	}
	held := f.held[p.Namespace]
	if _, ok := held[p.Name]; !ok {
		f.mu.Unlock()
		return nil
	}
	delete(held, p.Name)
	profiles := f.profilesOf(p.Namespace)
	f.mu.Unlock()
	f.notify(profiles)
	return nil
}

// Replace takes a fresh list (after the reflector started or lost its
// watch) as the truth for the governed namespaces, keeping what is newer
// than the list.
func (f *ForeignPolicies) Replace(items []any, resourceVersion string) error {
	listed := version(resourceVersion)
	byNS := map[string]map[string]*networkingv1.NetworkPolicy{}
	for _, obj := range items {
		if p, ok := obj.(*networkingv1.NetworkPolicy); ok {
			if byNS[p.Namespace] == nil {
				byNS[p.Namespace] = map[string]*networkingv1.NetworkPolicy{}
			}
			byNS[p.Namespace][p.Name] = p
		}
	}
	f.mu.Lock()
	changed := map[string]bool{}
	for ns, held := range f.held {
		for name, cur := range held {
			if _, ok := byNS[ns][name]; !ok && version(cur.ResourceVersion) <= listed {
				delete(held, name) // deleted before the list
				changed[ns] = true
			}
		}
		for name, p := range byNS[ns] {
			if cur, ok := held[name]; ok && version(cur.ResourceVersion) >= version(p.ResourceVersion) {
				continue
			}
			stripPolicy(p)
			held[name] = p
			changed[ns] = true
		}
	}
	set := map[string]bool{}
	for ns := range changed {
		for _, p := range f.profilesOf(ns) {
			set[p] = true
		}
	}
	f.mu.Unlock()
	profiles := slices.Collect(maps.Keys(set))
	if len(profiles) > 0 {
		f.notify(profiles)
	}
	return nil
}

// Resync has nothing to do: nothing is delivered on a timer.
func (f *ForeignPolicies) Resync() error { return nil }

// profilesOf returns the profiles governing a namespace (lock held).
func (f *ForeignPolicies) profilesOf(ns string) []string {
	var out []string
	for profile, set := range f.governed {
		if _, ok := slices.BinarySearch(set, ns); ok {
			out = append(out, profile)
		}
	}
	return out
}
