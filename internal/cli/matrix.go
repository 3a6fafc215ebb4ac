package cli

import (
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/intent"
	"github.com/tierguard/tierguard/internal/render"
)

// DefaultPodCIDRs are the ranges pod IPs are assumed to come from unless
// the user says otherwise: the private ranges, where every common CNI
// allocates pod addresses. Without any, the evaluator must assume that
// every ipBlock (an egress allowedCIDRs of 0.0.0.0/0 except the private
// ranges, say) may contain a pod, and the matrix would show traffic between
// namespaces that only external addresses can send.
var DefaultPodCIDRs = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

// MatrixInput is what a connectivity matrix is computed from.
type MatrixInput struct {
	// Profile is the profile whose intent is checked, with defaults applied.
	Profile *segv1.SegmentationProfile
	// Plan is render.Compute's plan for Profile: it says which namespaces are
	// governed, in which tier, and what Tierguard's policies should be.
	Plan *render.Plan
	// Namespaces are all namespaces with the labels the policies see.
	// Terminating ones are left out of the matrix, as from leak detection.
	Namespaces []render.Namespace
	// Policies are every NetworkPolicy in force.
	Policies []networkingv1.NetworkPolicy
	// ClusterPolicies are every ClusterNetworkPolicy in force, of either
	// tier, the profile's own included; none when the cluster does not
	// serve them.
	ClusterPolicies []npav1beta1.ClusterNetworkPolicy
	// PodCIDRs are the ranges pod IPs come from; see DefaultPodCIDRs.
	PodCIDRs []string
}

// Matrix is the connectivity between every ordered pair of namespaces, as
// the policies (NetworkPolicies and ClusterNetworkPolicies, in their
// order of precedence) allow it and as the profile intends it.
type Matrix struct {
	// Profile is the profile's name.
	Profile string
	// Mode is the profile's mode.
	Mode segv1.Mode
	// Groups are the tiers in the profile's order, then the shared
	// namespaces, then the ungoverned ones; the last two only when not empty.
	Groups []Group
	// Pairs are every ordered pair of namespaces, by source then destination
	// in name order, a namespace with itself included.
	Pairs []Pair
	// IPBlocks is set when some policy has an ipBlock peer, or a
	// ClusterNetworkPolicy a networks peer, so that the answer depends on
	// PodCIDRs.
	IPBlocks bool
	// NamedPorts is set when some policy names a port, which the answer
	// shows by its name.
	NamedPorts bool
	// PodCIDRs are the ranges pod IPs were assumed to come from.
	PodCIDRs []string
	// Unusable reports policies the evaluator could not compile (the API
	// server would refuse them); they are left out of every answer.
	Unusable error
}

// GroupKind says what kind of namespaces a Group holds.
type GroupKind string

// Kinds of groups.
const (
	// GroupTier holds the namespaces of one tier.
	GroupTier GroupKind = "tier"
	// GroupShared holds the shared namespaces.
	GroupShared GroupKind = "shared"
	// GroupUngoverned holds the namespaces the profile does not govern.
	GroupUngoverned GroupKind = "ungoverned"
)

// Group is a row (and column) of the tier-level matrix.
type Group struct {
	// Name is the tier's name, or "(shared)" or "(ungoverned)": a tier name
	// cannot hold parentheses, so the labels never collide.
	Name string
	// Kind is what the group holds.
	Kind GroupKind
	// Namespaces are its namespaces, sorted.
	Namespaces []string
}

// Pair is the connectivity from the pods of one namespace to those of
// another. The JSON keys from, to, allowed, ports and policies are the
// plugin's interface to scripts.
type Pair struct {
	// From is the source namespace.
	From string `json:"from"`
	// To is the destination namespace.
	To string `json:"to"`
	// Allowed reports that some pods of From may reach some pods of To.
	Allowed bool `json:"allowed"`
	// Ports are the ports on which they may, as TCP/443, TCP/8000-8080,
	// TCP/all or a named port TCP/"https"; empty when denied.
	Ports []string `json:"ports"`
	// Policies are the "namespace/name" of the NetworkPolicies and the
	// "ClusterNetworkPolicy/name" of the ClusterNetworkPolicies that allow
	// the traffic (accept it, or pass it on to the NetworkPolicies) on
	// some of the ports beyond the intent if there are any, else on some
	// of the allowed ports. Empty when denied, or when nothing but the
	// default allows it.
	Policies []string `json:"policies"`
	// Intended reports that the profile means some traffic to flow.
	Intended bool `json:"intended"`
	// IntendedPorts are the ports the profile means to allow.
	IntendedPorts []string `json:"intendedPorts"`
	// Differs reports that Ports and IntendedPorts differ.
	Differs bool `json:"differs"`
	// UnintendedPorts are allowed beyond the intent.
	UnintendedPorts []string `json:"unintendedPorts,omitempty"`
	// MissingPorts are intended but not allowed.
	MissingPorts []string `json:"missingPorts,omitempty"`
	// Responsible are the policies that make the difference: those that
	// open the unintended ports, and those that block the missing ones
	// (the ClusterNetworkPolicies whose Deny rule refuses them, else the
	// NetworkPolicies that isolate the blocking side). Tierguard's own
	// policies are named only when they differ from the plan or nothing
	// else explains the difference.
	Responsible []string `json:"responsible,omitempty"`
	// Exact is false when the answer depends on the pods: a pod selector
	// or a named port allows the traffic for some pods only.
	Exact bool `json:"exact"`
	// FromTier and ToTier are the namespaces' tiers, when governed.
	FromTier string `json:"fromTier,omitempty"`
	ToTier   string `json:"toTier,omitempty"`

	actual, intended, extra, missing evaluate.PortSet
	// someOnly is set when the unintended ports are open for some pods
	// only (a pod selector or a named port decides).
	someOnly bool
	// unisolated explains, for a person, an opening no policy is
	// responsible for: a governed side that no policy isolates.
	unisolated []string
}

// BuildMatrix evaluates the policies for every ordered pair of namespaces
// and compares each with the profile's intent.
func BuildMatrix(in MatrixInput) (*Matrix, error) {
	intent, err := intent.New(in.Profile, in.Plan, in.Namespaces)
	if err != nil {
		return nil, err
	}
	planned, err := plannedPolicies(in.Profile, in.Plan, in.Policies, in.ClusterPolicies)
	if err != nil {
		return nil, err
	}
	b := &matrixBuilder{in: in, intent: intent, planned: planned}
	b.eval = b.evaluator(in.Policies, in.ClusterPolicies)
	m := &Matrix{
		Profile: in.Profile.Name, Mode: render.Mode(in.Profile),
		IPBlocks:   hasIPBlock(in.Policies) || hasNetworks(in.ClusterPolicies),
		NamedPorts: hasNamedPort(in.Policies) || hasNamedClusterPort(in.ClusterPolicies),
		PodCIDRs:   in.PodCIDRs, Unusable: b.eval.Err(),
	}
	var live []string
	for _, ns := range in.Namespaces {
		if !ns.Terminating {
			live = append(live, ns.Name)
		}
	}
	slices.Sort(live)
	m.Groups = groups(in.Profile, intent, live)
	for _, from := range live {
		for _, to := range live {
			m.Pairs = append(m.Pairs, b.pair(from, to))
		}
	}
	return m, nil
}

// Differences returns the pairs that differ from the intent.
func (m *Matrix) Differences() []Pair {
	var out []Pair
	for _, p := range m.Pairs {
		if p.Differs {
			out = append(out, p)
		}
	}
	return out
}

// groups lists the tiers, then the shared and the ungoverned namespaces.
func groups(p *segv1.SegmentationProfile, in *intent.Intent, live []string) []Group {
	byTier := map[string][]string{}
	shared := Group{Name: "(shared)", Kind: GroupShared}
	ungoverned := Group{Name: "(ungoverned)", Kind: GroupUngoverned}
	for _, ns := range live {
		switch t := in.Tier(ns); {
		case t != "":
			byTier[t] = append(byTier[t], ns)
		case in.Shared(ns):
			shared.Namespaces = append(shared.Namespaces, ns)
		default:
			ungoverned.Namespaces = append(ungoverned.Namespaces, ns)
		}
	}
	var out []Group
	for _, t := range p.Spec.Tiers {
		out = append(out, Group{Name: string(t.Name), Kind: GroupTier, Namespaces: byTier[string(t.Name)]})
	}
	for _, g := range []Group{shared, ungoverned} {
		if len(g.Namespaces) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// groupOf names a namespace's group, in parentheses, for a person.
func (m *Matrix) groupOf(ns string) string {
	for _, g := range m.Groups {
		if _, ok := slices.BinarySearch(g.Namespaces, ns); !ok {
			continue
		}
		if g.Kind == GroupTier {
			return "(" + g.Name + ")"
		}
		return g.Name
	}
	return fmt.Sprintf("(%s)", GroupUngoverned)
}

// evaluator sees the given policies over the input's namespaces; the
// matrix and its one-direction views differ only in the policies.
func (b *matrixBuilder) evaluator(policies []networkingv1.NetworkPolicy, clusterPolicies []npav1beta1.ClusterNetworkPolicy) *evaluate.Evaluator {
	c := evaluate.Cluster{Policies: policies, ClusterNetworkPolicies: clusterPolicies, PodCIDRs: b.in.PodCIDRs}
	for _, ns := range b.in.Namespaces {
		c.Namespaces = append(c.Namespaces, evaluate.Namespace{Name: ns.Name, Labels: ns.Labels})
	}
	return evaluate.New(c)
}
