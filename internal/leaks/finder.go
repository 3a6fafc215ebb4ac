package leaks

import (
	"strings"

	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/intent"
	"github.com/tierguard/tierguard/internal/render"
)

// finder evaluates pairs of namespaces and records their leaks.
type finder struct {
	plan   *render.Plan
	eval   *evaluate.Evaluator
	intent *intent.Intent
	// managed are the keys of Tierguard's ClusterNetworkPolicies.
	managed map[string]bool
	classes *sourceClasses
	found   map[Leak]bool
	opened  map[openedKey]*opening
}

// openedKey identifies what a check computes: sources of one class, one
// destination.
type openedKey struct {
	class int
	to    string
}

// opening is what the policies open beyond the intent from the sources of
// a class to a destination, and the policies that open it.
type opening struct {
	extra    evaluate.PortSet
	ports    string
	policies []string
	// recorded is set once the leaks of a tier's sources are recorded:
	// they are the same for every namespace of the class.
	recorded bool
}

// check records the leaks from the sources to one destination: one per
// policy that opens any of the ports beyond the intent, each with all of
// them.
func (f *finder) check(sources []sourceGroup, to string) {
	for _, g := range sources {
		var from string
		for _, ns := range g.members {
			if ns != to {
				from = ns
				break
			}
		}
		if from == "" {
			continue
		}
		o := f.open(g.class, from, to)
		if o.extra.Empty() || o.recorded {
			continue
		}
		leak := Leak{To: to, Ports: o.ports}
		if g.class.tier != "" {
			leak.FromTier = g.class.tier
			f.record(leak, o.policies)
			o.recorded = true
			continue
		}
		for _, ns := range g.members {
			if ns != to {
				leak.FromNamespace = ns
				f.record(leak, o.policies)
			}
		}
	}
}

func (f *finder) record(leak Leak, policies []string) {
	for _, p := range policies {
		l := leak
		l.Policy = p
		f.found[l] = true
	}
}

// open evaluates one pair, once per class of its source.
func (f *finder) open(class *sourceClass, from, to string) *opening {
	key := openedKey{class: class.id, to: to}
	if o, ok := f.opened[key]; ok {
		return o
	}
	o := &opening{}
	f.opened[key] = o
	intended := f.intent.Ports(from, to)
	if intended.All() {
		return o
	}
	pair := f.eval.NamespacePair(from, to)
	o.extra = pair.Ports().Possible.Minus(intended)
	if o.extra.Empty() {
		return o
	}
	o.ports = strings.Join(o.extra.Strings(), ", ")
	for _, p := range pair.Policies(o.extra) {
		if f.managed[p] {
			continue // Tierguard's own policies state the intent
		}
		if strings.HasSuffix(p, "/"+render.PolicyName) && f.plan.Lookup(strings.TrimSuffix(p, "/"+render.PolicyName)) != nil {
			continue
		}
		o.policies = append(o.policies, p)
	}
	return o
}
