package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// SegmentationProfile declares environment tiers (dev, test, prod, ...), which
// namespaces belong to each, and the network isolation between them. Tierguard
// labels every governed namespace with its tier and keeps one NetworkPolicy in
// it that makes the isolation real.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=segprof,categories=tierguard
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Enforcement",type=string,JSONPath=`.spec.enforcement`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Namespaces",type=integer,JSONPath=`.status.governedNamespaces`
// +kubebuilder:printcolumn:name="Repairs",type=integer,JSONPath=`.status.drift.repairs`
// +kubebuilder:printcolumn:name="Conflicts",type=integer,JSONPath=`.status.conflictCount`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it becomes the value of the segmentation.tierguard.io/profile label"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.canary) || (!self.metadata.name.contains('.') && size(self.metadata.name) <= 46 && self.spec.tiers.all(t, t.name != 'shared' && size(self.metadata.name) + size(t.name) <= 52))",message="with a canary, metadata.name may hold no dot, no tier may be named shared, and the canary's namespace names (tg-canary-<profile>-<tier>, tg-canary-<profile>-shared) must fit 63 characters: at most 46 characters of profile name, and 52 of profile and tier name together"
type SegmentationProfile struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the tiers and the isolation between them.
	// +required
	Spec SegmentationProfileSpec `json:"spec"`

	// status reports what Tierguard observed and did.
	// +optional
	Status SegmentationProfileStatus `json:"status,omitempty"`
}

// CEL cost notes (kube-apiserver v1.37; not part of the API documentation).
// The API server refuses a CRD whose rules' estimated cost exceeds 1e7 for one
// rule (times the number of places it applies) or 1e8 for the whole schema,
// and, when a profile is created, stops any one rule that costs more than 1e6.
// Hence: the namespace-overlap rule compares each pair of tiers once
// (a.name <= b.name skips the mirrored pair and the tier itself; tier names
// are unique by the rule before it), and namespaces.names holds at most 32
// names, so that 32 full tiers cost about 5e5 (496 pairs x 32 x 32); the port
// is at most 15 characters long, without which the named-port regexes are
// estimated over a 3 MiB string at each of the 4096 possible ports; map keys
// are checked for length before their syntax. test/validation creates a
// profile at these bounds.

// SegmentationProfileSpec declares the tiers, the flows allowed between them,
// the shared namespaces and the egress isolation.
//
// +kubebuilder:validation:XValidation:rule="self.tiers.all(t, self.tiers.exists_one(u, u.name == t.name))",message="tier names must be unique"
// +kubebuilder:validation:XValidation:rule="!has(self.flows) || self.flows.all(f, self.tiers.exists(t, t.name == f.from) && self.tiers.exists(t, t.name == f.to))",message="every flow's from and to must name a tier of this profile"
// +kubebuilder:validation:XValidation:rule="!has(self.flows) || self.flows.all(f, self.flows.exists_one(g, g.from == f.from && g.to == f.to))",message="flows must not repeat the same (from, to) pair"
// +kubebuilder:validation:XValidation:rule="self.tiers.all(a, !has(a.namespaces.names) || self.tiers.all(b, a.name <= b.name || !has(b.namespaces.names) || !sets.intersects(a.namespaces.names, b.namespaces.names)))",message="a namespace name may be listed in only one tier's namespaces.names"
// +kubebuilder:validation:XValidation:rule="!has(self.sharedNamespaces) || !has(self.sharedNamespaces.names) || self.tiers.all(t, !has(t.namespaces.names) || !sets.intersects(t.namespaces.names, self.sharedNamespaces.names))",message="a namespace name may not be listed both in a tier's namespaces.names and in sharedNamespaces.names"
// +kubebuilder:validation:XValidation:rule="!has(self.excludedNamespaces) || self.tiers.all(t, !has(t.namespaces.names) || !sets.intersects(t.namespaces.names, self.excludedNamespaces))",message="a namespace name may not be listed both in a tier's namespaces.names and in excludedNamespaces"
// +kubebuilder:validation:XValidation:rule="self.tiers.all(t, !has(t.namespaceLabels) || !(self.tierLabelKey in t.namespaceLabels))",message="tiers[].namespaceLabels may not set the tierLabelKey: Tierguard sets it to the tier name"
// +kubebuilder:validation:XValidation:rule="!has(self.enforcement) || self.enforcement == 'NetworkPolicy' || !has(self.flows) || self.flows.all(f, !has(f.ports) || f.ports.all(p, !has(p.port) || type(p.port) == int))",message="with enforcement ClusterNetworkPolicy or Both, flows[].ports[].port must be a number: ClusterNetworkPolicies (standard channel) have no named ports"
// +kubebuilder:validation:XValidation:rule="!has(self.enforcement) || self.enforcement == 'NetworkPolicy' || !has(self.flows) || (self.flows.all(f, !has(f.ports) || size(f.ports) <= 25) && self.tiers.all(t, self.flows.filter(f, f.to == t.name).size() <= 22))",message="with enforcement ClusterNetworkPolicy or Both, a tier may be the target of at most 22 flows and a flow may list at most 25 ports: a ClusterNetworkPolicy holds at most 25 rules of at most 25 protocols"
// +kubebuilder:validation:XValidation:rule="!has(self.enforcement) || self.enforcement == 'NetworkPolicy' || !has(self.flows) || !has(self.egress) || !has(self.egress.isolation) || self.egress.isolation != 'Tier' || self.tiers.all(t, self.flows.filter(f, f.from == t.name).size() + (has(self.egress.dnsTargets) ? size(self.egress.dnsTargets) : 1) <= 21)",message="with enforcement ClusterNetworkPolicy or Both and egress isolation Tier, the flows from a tier plus the DNS targets may number at most 21: a ClusterNetworkPolicy holds at most 25 rules"
type SegmentationProfileSpec struct {
	// mode is Enforce (default: apply labels and NetworkPolicies and repair
	// drift) or Audit (compute and report only; nothing but status is written).
	// +kubebuilder:default=Enforce
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// enforcement chooses what makes the tier boundaries hold:
	// NetworkPolicy (default) writes one NetworkPolicy per governed namespace,
	// which works with every CNI that enforces NetworkPolicies but which any
	// namespace owner can widen with a policy of their own (reported as a
	// hole in IsolationVerified). ClusterNetworkPolicy writes Admin-tier
	// ClusterNetworkPolicies (policy.networking.k8s.io) that accept the
	// profile's flows and shared namespaces, deny the rest across tiers and
	// pass traffic inside a tier to the namespace owners' NetworkPolicies:
	// namespace owners cannot open a boundary. It needs a CNI that
	// implements ClusterNetworkPolicy and the CRD installed; while the API
	// server serves none, Tierguard keeps writing the NetworkPolicies and
	// reports Ready=False (ClusterNetworkPolicyNotServed). Traffic from
	// outside the cluster is not a ClusterNetworkPolicy ingress peer: under
	// ClusterNetworkPolicy alone it is left to the namespace owners, and
	// allowedIngressCIDRs is not enforced. Both writes both: the boundary
	// holds against namespace owners, external ingress stays restricted to
	// allowedIngressCIDRs, and a CNI without ClusterNetworkPolicy support
	// still enforces the NetworkPolicies. Switching keeps a boundary at
	// every moment: the new objects are written before the old ones go.
	// +kubebuilder:validation:Enum=NetworkPolicy;ClusterNetworkPolicy;Both
	// +optional
	Enforcement Enforcement `json:"enforcement,omitempty"`

	// clusterNetworkPolicy tunes enforcement by ClusterNetworkPolicies.
	// +optional
	ClusterNetworkPolicy *ClusterNetworkPolicyOptions `json:"clusterNetworkPolicy,omitempty"`

	// tierLabelKey is the namespace label that carries the tier name. Peers of a
	// tier are selected by it. It may not be kubernetes.io/metadata.name.
	// +kubebuilder:default="segmentation.tierguard.io/tier"
	// +kubebuilder:validation:XValidation:rule="self != 'kubernetes.io/metadata.name'",message="tierLabelKey may not be kubernetes.io/metadata.name: the API server sets that label to the namespace name"
	// +kubebuilder:validation:XValidation:rule="self != 'segmentation.tierguard.io/profile'",message="tierLabelKey may not be segmentation.tierguard.io/profile: Tierguard sets that label to the profile name"
	// +optional
	TierLabelKey LabelKey `json:"tierLabelKey,omitempty"`

	// tiers are the environment tiers, 1 to 32, with unique names.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +required
	Tiers []Tier `json:"tiers"`

	// flows are the only traffic allowed across tiers, each from one tier to
	// another, optionally limited to ports.
	// +kubebuilder:validation:MaxItems=128
	// +listType=atomic
	// +optional
	Flows []Flow `json:"flows,omitempty"`

	// sharedNamespaces are outside every tier: their pods may reach all tiers
	// and be reached from all tiers (ingress controllers, monitoring).
	// +optional
	SharedNamespaces *NamespaceSet `json:"sharedNamespaces,omitempty"`

	// egress controls outbound traffic from governed namespaces.
	// +kubebuilder:default={}
	// +optional
	Egress Egress `json:"egress,omitempty"`

	// excludedNamespaces are never governed, even when a tier matches them.
	// kube-system, kube-public, kube-node-lease and the operator's own
	// namespace are always excluded.
	// +kubebuilder:validation:MaxItems=128
	// +listType=set
	// +optional
	ExcludedNamespaces []NamespaceName `json:"excludedNamespaces,omitempty"`

	// deletionPolicy says what happens to Tierguard's labels and policies when
	// the profile is deleted: Delete (default) removes them, Retain leaves them.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// leavePolicy says what happens to a namespace that leaves every tier of
	// the profile (its labels or name no longer match any tier, or its tier
	// was removed): Retain (default) keeps the labels and the NetworkPolicy
	// Tierguard last enforced on it, so leaving never opens traffic, and
	// lists it in status.membership.retained until it joins a tier again, is
	// deleted, or a person with the verb assign removes its tier label;
	// Release removes Tierguard's labels and policy from it at once.
	// Namespaces that become shared or excluded are always released: the
	// profile says so explicitly.
	// +kubebuilder:default=Retain
	// +optional
	LeavePolicy LeavePolicy `json:"leavePolicy,omitempty"`

	// canary, when set, turns on the enforcement canary (see Canary): probe
	// pods in namespaces Tierguard owns try paths the profile forbids and
	// allows, and the condition EnforcementVerified says whether the
	// network plugin enforces the policies at all. Absent: off. It runs in
	// mode Enforce only.
	// +optional
	Canary *Canary `json:"canary,omitempty"`
}

// Mode is how a profile is applied.
// +kubebuilder:validation:Enum=Enforce;Audit
type Mode string

// Enforcement is what makes a profile's tier boundaries hold.
type Enforcement string

const (
	// EnforcementNetworkPolicy writes a NetworkPolicy per governed namespace.
	EnforcementNetworkPolicy Enforcement = "NetworkPolicy"
	// EnforcementClusterNetworkPolicy writes Admin-tier ClusterNetworkPolicies.
	EnforcementClusterNetworkPolicy Enforcement = "ClusterNetworkPolicy"
	// EnforcementBoth writes both.
	EnforcementBoth Enforcement = "Both"
)

// ClusterNetworkPolicyOptions tune enforcement by ClusterNetworkPolicies.
type ClusterNetworkPolicyOptions struct {
	// priority is the first of the two Admin-tier priorities Tierguard uses
	// (default 200): the policies that pass a Namespace-isolated namespace's
	// own traffic get it, the tier boundaries get priority+1. Keep other
	// Admin policies outside that band: lower numbers take precedence over
	// Tierguard's boundaries (and can open them, which Tierguard reports),
	// higher ones come after them.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=999
	// +optional
	Priority *int32 `json:"priority,omitempty"`
}

const (
	// ModeEnforce applies the planned state and repairs drift.
	ModeEnforce Mode = "Enforce"
	// ModeAudit computes and reports only.
	ModeAudit Mode = "Audit"
)

// IsolationLevel is how far a tier's namespaces are isolated from each other.
// +kubebuilder:validation:Enum=Tier;Namespace
type IsolationLevel string

const (
	// IsolationTier lets namespaces of the same tier connect to each other.
	IsolationTier IsolationLevel = "Tier"
	// IsolationNamespace allows traffic only within a namespace.
	IsolationNamespace IsolationLevel = "Namespace"
)

// EgressIsolation is how outbound traffic is restricted.
// +kubebuilder:validation:Enum=None;Tier
type EgressIsolation string

const (
	// EgressIsolationNone leaves outbound traffic unrestricted.
	EgressIsolationNone EgressIsolation = "None"
	// EgressIsolationTier allows outbound traffic only where inbound would be
	// allowed, plus DNS and the allowed CIDRs.
	EgressIsolationTier EgressIsolation = "Tier"
)

// DeletionPolicy is what happens to what Tierguard wrote when a profile goes.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes managed policies and Tierguard's labels.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain leaves them in place.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// LeavePolicy is what happens to a namespace that leaves every tier.
// +kubebuilder:validation:Enum=Retain;Release
type LeavePolicy string

const (
	// LeavePolicyRetain keeps what Tierguard last enforced on a namespace
	// that leaves every tier.
	LeavePolicyRetain LeavePolicy = "Retain"
	// LeavePolicyRelease removes Tierguard's labels and policy from it.
	LeavePolicyRelease LeavePolicy = "Release"
)

// Assignment says who may move namespaces into or out of a tier.
// +kubebuilder:validation:Enum=Restricted;SelfService
type Assignment string

const (
	// AssignmentRestricted means only subjects allowed the verb assign on the
	// profile may put a namespace into the tier or take it out.
	AssignmentRestricted Assignment = "Restricted"
	// AssignmentSelfService means anyone who may label a namespace may move it
	// into or out of the tier, as long as every tier it leaves or joins is
	// SelfService.
	AssignmentSelfService Assignment = "SelfService"
)

// Tier is one environment tier.
//
// +kubebuilder:validation:XValidation:rule="(has(self.namespaces.names) && size(self.namespaces.names) > 0) || has(self.namespaces.selector)",message="a tier must select its namespaces by namespaces.names or namespaces.selector"
// +kubebuilder:validation:XValidation:rule="!has(self.namespaceLabels) || !('segmentation.tierguard.io/profile' in self.namespaceLabels)",message="namespaceLabels may not set segmentation.tierguard.io/profile: Tierguard sets it to the profile name"
// +kubebuilder:validation:XValidation:rule="!has(self.namespaceLabels) || !('kubernetes.io/metadata.name' in self.namespaceLabels)",message="namespaceLabels may not set kubernetes.io/metadata.name: the API server sets it"
type Tier struct {
	// name is the tier's name, a DNS-1123 label; it is the value of the tier
	// label on the tier's namespaces.
	// +required
	Name TierName `json:"name"`

	// namespaces selects the tier's namespaces by name, by label, or both.
	// +required
	Namespaces NamespaceSet `json:"namespaces"`

	// isolation is Tier (default: namespaces of the same tier may connect to
	// each other) or Namespace (only pods of the same namespace may connect).
	// +kubebuilder:default=Tier
	// +optional
	Isolation IsolationLevel `json:"isolation,omitempty"`

	// namespaceLabels are extra labels enforced on the tier's namespaces, for
	// example Pod Security levels. At most 16.
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && !format.qualifiedName().validate(k).hasValue())",message="namespaceLabels keys must be valid label keys: an optional DNS subdomain prefix and '/', then a name of at most 63 characters of alphanumerics, '-', '_' or '.'"
	// +optional
	NamespaceLabels map[string]LabelValue `json:"namespaceLabels,omitempty"`

	// allowedIngressCIDRs are external sources allowed into the tier, as
	// networking/v1 IPBlocks (for example load balancers that keep client IPs).
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	AllowedIngressCIDRs []IPBlock `json:"allowedIngressCIDRs,omitempty"`

	// assignment says who may move a namespace into or out of this tier,
	// which the admission policy tierguard-protect-tier-labels enforces:
	// Restricted (default) needs the verb assign on this profile
	// (ClusterRole tierguard-namespace-assigner); SelfService lets anyone
	// who may label a namespace set the selector labels that move it into
	// or out of this tier, as long as every tier the namespace leaves or
	// joins is SelfService. The tier label, the profile label and the tier's
	// namespaceLabels stay protected in every tier, and names listed in
	// namespaces.names may only be created by assigners.
	// +kubebuilder:default=Restricted
	// +optional
	Assignment Assignment `json:"assignment,omitempty"`
}

// NamespaceSet selects namespaces by name, by label, or both (a namespace
// matching either belongs to the set).
type NamespaceSet struct {
	// names lists namespaces by name, at most 32.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	Names []NamespaceName `json:"names,omitempty"`

	// selector selects namespaces by label. It may not be empty: an empty
	// selector would match every namespace.
	// +optional
	Selector *LabelSelector `json:"selector,omitempty"`
}

// LabelSelector selects objects by label, with the shape and meaning of
// metav1.LabelSelector; the requirements are ANDed.
//
// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector must set matchLabels or matchExpressions: an empty selector would match every namespace"
type LabelSelector struct {
	// matchLabels requires each key to have the given value.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && !format.qualifiedName().validate(k).hasValue())",message="matchLabels keys must be valid label keys: an optional DNS subdomain prefix and '/', then a name of at most 63 characters of alphanumerics, '-', '_' or '.'"
	// +optional
	MatchLabels map[string]LabelValue `json:"matchLabels,omitempty"`

	// matchExpressions are label selector requirements.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is a key, an operator and values, as in
// metav1.LabelSelectorRequirement.
//
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",message="values are required for the operators In and NotIn and must be empty for Exists and DoesNotExist"
type LabelSelectorRequirement struct {
	// key is the label key the requirement applies to.
	// +required
	Key LabelKey `json:"key"`

	// operator is In, NotIn, Exists or DoesNotExist.
	// +required
	Operator SelectorOperator `json:"operator"`

	// values are the label values for In and NotIn.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Values []LabelValue `json:"values,omitempty"`
}

// SelectorOperator is a label selector operator.
// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
type SelectorOperator string

// Flow allows traffic from the namespaces of one tier to those of another.
//
// +kubebuilder:validation:XValidation:rule="self.from != self.to",message="a flow's from and to must differ: traffic within a tier is set by the tier's isolation"
type Flow struct {
	// from is the source tier.
	// +required
	From TierName `json:"from"`

	// to is the destination tier.
	// +required
	To TierName `json:"to"`

	// ports limits the flow, as a networking/v1 NetworkPolicyPort list; empty
	// means all ports.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Ports []NetworkPolicyPort `json:"ports,omitempty"`
}

// NetworkPolicyPort is a port, or range of ports, with the shape and meaning
// of networking/v1 NetworkPolicyPort.
//
// +kubebuilder:validation:XValidation:rule="!has(self.port) || type(self.port) != int || (self.port >= 1 && self.port <= 65535)",message="port must be between 1 and 65535"
// +kubebuilder:validation:XValidation:rule="!has(self.port) || type(self.port) == int || (size(self.port) <= 15 && self.port.matches('^[a-z0-9]([a-z0-9-]*[a-z0-9])?$') && self.port.matches('[a-z]') && !self.port.contains('--'))",message="a named port must be an IANA service name: at most 15 lowercase alphanumerics or '-', with at least one letter, no '--', not starting or ending with '-'"
// +kubebuilder:validation:XValidation:rule="!has(self.endPort) || (has(self.port) && type(self.port) == int && self.endPort >= self.port)",message="endPort requires a numeric port and may not be below it"
type NetworkPolicyPort struct {
	// protocol is TCP (default), UDP or SCTP.
	// +kubebuilder:default=TCP
	// +optional
	Protocol Protocol `json:"protocol,omitempty"`

	// port is a numeric port (1-65535) or a named port; absent means all ports.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=15
	// +optional
	Port *intstr.IntOrString `json:"port,omitempty"`

	// endPort, with a numeric port, makes the range port..endPort.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	EndPort *int32 `json:"endPort,omitempty"`
}

// Protocol is a transport protocol.
// +kubebuilder:validation:Enum=TCP;UDP;SCTP
type Protocol string

// IPBlock is a CIDR with optional exceptions inside it, with the shape and
// meaning of networking/v1 IPBlock.
//
// The rules follow networking/v1 validation (strict since Kubernetes 1.36),
// so the API server never refuses a policy rendered from an admitted
// profile.
//
// +kubebuilder:validation:XValidation:rule="isCIDR(self.cidr)",message="cidr must be a valid CIDR such as 10.0.0.0/8 or 2001:db8::/32"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || string(cidr(self.cidr).masked()) == self.cidr",message="cidr must be in canonical form with no host bits set, for example 10.0.0.0/8 rather than 10.0.0.1/8 or 010.0.0.0/8"
// +kubebuilder:validation:XValidation:rule="!has(self.except) || self.except.all(e, isCIDR(e))",message="every except entry must be a valid CIDR"
// +kubebuilder:validation:XValidation:rule="!has(self.except) || self.except.all(e, !isCIDR(e) || string(cidr(e).masked()) == e)",message="every except entry must be in canonical form with no host bits set"
// +kubebuilder:validation:XValidation:rule="!has(self.except) || !isCIDR(self.cidr) || self.except.all(e, !isCIDR(e) || (cidr(self.cidr).containsCIDR(e) && cidr(e).prefixLength() > cidr(self.cidr).prefixLength()))",message="every except entry must be a strict subset of cidr (inside it and smaller)"
type IPBlock struct {
	// cidr is the block, for example 192.168.0.0/16.
	// +kubebuilder:validation:MaxLength=64
	// +required
	CIDR string `json:"cidr"`

	// except are CIDRs inside cidr that are not included.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=atomic
	// +optional
	Except []string `json:"except,omitempty"`
}

// Egress controls outbound traffic from governed namespaces.
type Egress struct {
	// isolation is None (default: outbound traffic is unrestricted) or Tier
	// (outbound only where inbound would be allowed, plus DNS and allowedCIDRs).
	// +kubebuilder:default=None
	// +optional
	Isolation EgressIsolation `json:"isolation,omitempty"`

	// allowDNS, with isolation Tier, allows DNS to dnsTargets (by default UDP
	// and TCP 53 to kube-system pods labelled k8s-app=kube-dns). Default true.
	// +kubebuilder:default=true
	// +optional
	AllowDNS *bool `json:"allowDNS,omitempty"`

	// dnsTargets, with isolation Tier and allowDNS, are where the cluster's
	// DNS answers. Empty means the default: kube-system pods labelled
	// k8s-app=kube-dns on UDP and TCP 53. Set it for NodeLocal DNSCache (a
	// link-local address such as 169.254.20.10/32), for a DNS listening on
	// 5353, or for one in another namespace. At most 8.
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	DNSTargets []DNSTarget `json:"dnsTargets,omitempty"`

	// allowedCIDRs, with isolation Tier, are external destinations allowed.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	AllowedCIDRs []IPBlock `json:"allowedCIDRs,omitempty"`
}

// DNSTarget is a DNS server that egress-isolated namespaces may reach: pods
// in a namespace, or an address block, on the given ports.
//
// +kubebuilder:validation:XValidation:rule="has(self.namespace) != has(self.cidr)",message="a DNS target sets exactly one of namespace (with an optional podSelector) or cidr"
// +kubebuilder:validation:XValidation:rule="!has(self.podSelector) || has(self.namespace)",message="podSelector needs namespace"
type DNSTarget struct {
	// namespace is the name of the namespace the DNS pods run in.
	// +optional
	Namespace *NamespaceName `json:"namespace,omitempty"`

	// podSelector selects the DNS pods in namespace; absent means every pod
	// of the namespace.
	// +optional
	PodSelector *LabelSelector `json:"podSelector,omitempty"`

	// cidr is an address block the DNS answers on, for example
	// 169.254.20.10/32 for NodeLocal DNSCache, in canonical form.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be a valid CIDR such as 169.254.20.10/32"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",message="cidr must be in canonical form with no host bits set"
	// +optional
	CIDR *string `json:"cidr,omitempty"`

	// ports are the DNS ports, 1 to 4, each with a numeric port; for example
	// UDP 53 and TCP 53, or 5353.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:XValidation:rule="self.all(p, has(p.port) && type(p.port) == int)",message="DNS ports must be numeric"
	// +listType=atomic
	// +required
	Ports []NetworkPolicyPort `json:"ports"`
}

// TierName is a tier's name, a DNS-1123 label.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type TierName string

// NamespaceName is a namespace's name, a DNS-1123 label.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type NamespaceName string

// LabelKey is a label key: an optional DNS subdomain prefix and '/', then a
// name of at most 63 characters.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=317
// +kubebuilder:validation:XValidation:rule="!format.qualifiedName().validate(self).hasValue()",message="must be a valid label key: an optional DNS subdomain prefix and '/', then a name of at most 63 characters of alphanumerics, '-', '_' or '.'"
type LabelKey string

// LabelValue is a label value: empty, or at most 63 alphanumerics, '-', '_'
// or '.', starting and ending with an alphanumeric.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
type LabelValue string

// SegmentationProfileList is a list of SegmentationProfiles.
//
// +kubebuilder:object:root=true
type SegmentationProfileList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the profiles.
	Items []SegmentationProfile `json:"items"`
}
