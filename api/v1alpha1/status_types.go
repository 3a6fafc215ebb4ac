package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of a SegmentationProfile. Ready, Drifted, Conflict and
// IsolationVerified are always present; Reconciling and Stalled only while
// they are true (kstatus conventions).
const (
	// ConditionReady is True when every governed namespace matches the plan
	// (Enforce) or the plan was computed and reported (Audit).
	ConditionReady = "Ready"
	// ConditionDrifted is True while an enforced object differs from the plan
	// and is not yet repaired.
	ConditionDrifted = "Drifted"
	// ConditionConflict is True while namespaces are claimed twice.
	ConditionConflict = "Conflict"
	// ConditionReconciling is present, and True, only while a pass ended with
	// work left that Tierguard retries by itself: writes that failed, or a
	// read of the cluster that failed.
	ConditionReconciling = "Reconciling"
	// ConditionIsolationVerified is True when no NetworkPolicy in a governed
	// namespace and no ClusterNetworkPolicy allows traffic the profile
	// forbids (under ClusterNetworkPolicy precedence), False when one does,
	// and Unknown while Tierguard's own policies are not all in place.
	ConditionIsolationVerified = "IsolationVerified"
	// ConditionEnforcementVerified is present while the canary is on: True
	// when its last round found every forbidden path blocked and every
	// allowed path open, False when a forbidden path got through (the
	// network plugin does not enforce the policies), Unknown when an
	// allowed path failed too (the round proves nothing) or no round has
	// run yet.
	ConditionEnforcementVerified = "EnforcementVerified"
	// ConditionStalled is present, and True, while Tierguard cannot progress
	// without a change by a person.
	ConditionStalled = "Stalled"
)

// Condition reasons.
const (
	// ReasonEnforced: every governed namespace matches the plan.
	ReasonEnforced = "Enforced"
	// ReasonAudited: Audit mode; the plan was computed and reported.
	ReasonAudited = "Audited"
	// ReasonApplyFailed: the API server refused or failed a write.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonConflict: namespaces are claimed twice, or the profile cannot be
	// enforced at all.
	ReasonConflict = "Conflict"
	// ReasonDriftDetected: an object differs from the plan.
	ReasonDriftDetected = "DriftDetected"
	// ReasonRepaired: drift was found and repaired.
	ReasonRepaired = "Repaired"
	// ReasonNoDrift: no drift was ever found.
	ReasonNoDrift = "NoDrift"
	// ReasonConflictsFound: at least one conflict is listed.
	ReasonConflictsFound = "ConflictsFound"
	// ReasonNoConflicts: no namespace is claimed twice.
	ReasonNoConflicts = "NoConflicts"
	// ReasonNoLeaks: the policies allow nothing the profile forbids.
	ReasonNoLeaks = "NoLeaks"
	// ReasonLeaksFound: a policy allows traffic the profile forbids.
	ReasonLeaksFound = "LeaksFound"
	// ReasonEvaluating: isolation cannot be verified until Tierguard's
	// policies are in place.
	ReasonEvaluating = "Evaluating"
	// ReasonPolicyRefused: the API server refused a tier's rendered
	// NetworkPolicy (server-side dry run), so none of the tier's namespaces
	// were labelled or given a policy.
	ReasonPolicyRefused = "PolicyRefused"
	// ReasonMembershipChanged: the event of a namespace joining, leaving or
	// moving between tiers.
	ReasonMembershipChanged = "MembershipChanged"
	// ReasonReadFailed: the cluster could not be read (Ready), or the
	// foreign NetworkPolicies of the governed namespaces could not be listed
	// (IsolationVerified); Tierguard retries.
	ReasonReadFailed = "ReadFailed"
	// ReasonClusterNetworkPolicyNotServed: the profile's enforcement needs
	// ClusterNetworkPolicies and the API server serves no version Tierguard
	// can write (Ready=False). The profile's NetworkPolicies are kept, and
	// written, meanwhile: never weaker than before.
	ReasonClusterNetworkPolicyNotServed = "ClusterNetworkPolicyNotServed"
	// ReasonNotEnforced: a canary round got through a path the profile
	// forbids.
	ReasonNotEnforced = "NotEnforced"
	// ReasonInconclusive: a canary round found a path the profile allows
	// closed, so it proves nothing.
	ReasonInconclusive = "Inconclusive"
	// ReasonCanaryPending: the canary's namespaces and pods are being set
	// up, or its first round has not finished.
	ReasonCanaryPending = "CanaryPending"
	// ReasonPlanFailed: no plan can be computed from the profile (a selector
	// the API server accepted but Kubernetes cannot parse); a person must
	// change the profile.
	ReasonPlanFailed = "PlanFailed"
)

// ConflictReason says why a namespace is claimed twice.
// +kubebuilder:validation:Enum=MultipleTiers;SharedAndTier;ClaimedByProfile;TierLabelKeyInUse
type ConflictReason string

const (
	// ConflictMultipleTiers means two tiers of this profile match the namespace.
	ConflictMultipleTiers ConflictReason = "MultipleTiers"
	// ConflictSharedAndTier means the namespace is shared and matched by a tier; it
	// is treated as shared only.
	ConflictSharedAndTier ConflictReason = "SharedAndTier"
	// ConflictClaimedByProfile means an older profile governs the namespace.
	ConflictClaimedByProfile ConflictReason = "ClaimedByProfile"
	// ConflictTierLabelKeyInUse means an older profile uses the same tierLabelKey;
	// this profile governs nothing.
	ConflictTierLabelKeyInUse ConflictReason = "TierLabelKeyInUse"
)

// ObjectKind is the kind of an object Tierguard writes.
// +kubebuilder:validation:Enum=Namespace;NetworkPolicy;ClusterNetworkPolicy
type ObjectKind string

const (
	// KindNamespace is a namespace's labels.
	KindNamespace ObjectKind = "Namespace"
	// KindNetworkPolicy is a managed NetworkPolicy.
	KindNetworkPolicy ObjectKind = "NetworkPolicy"
	// KindClusterNetworkPolicy is a managed ClusterNetworkPolicy
	// (policy.networking.k8s.io).
	KindClusterNetworkPolicy ObjectKind = "ClusterNetworkPolicy"
)

// DriftChange is what happened to an enforced object.
// +kubebuilder:validation:Enum=Modified;Deleted;LabelChanged;LabelRemoved
type DriftChange string

const (
	// DriftModified means a managed NetworkPolicy was edited.
	DriftModified DriftChange = "Modified"
	// DriftDeleted means a managed NetworkPolicy was deleted.
	DriftDeleted DriftChange = "Deleted"
	// DriftLabelChanged means a label Tierguard owns has another value.
	DriftLabelChanged DriftChange = "LabelChanged"
	// DriftLabelRemoved means a label Tierguard owns was removed.
	DriftLabelRemoved DriftChange = "LabelRemoved"
)

// SegmentationProfileStatus reports what Tierguard observed and did.
type SegmentationProfileStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Drifted, Conflict and IsolationVerified always;
	// Reconciling and Stalled only while true.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// governedNamespaces is how many namespaces the profile governs.
	// +kubebuilder:default=0
	// +optional
	GovernedNamespaces int32 `json:"governedNamespaces"`

	// managedPolicies is how many NetworkPolicies Tierguard keeps for the
	// profile.
	// +kubebuilder:default=0
	// +optional
	ManagedPolicies int32 `json:"managedPolicies"`

	// managedClusterNetworkPolicies is how many ClusterNetworkPolicies
	// Tierguard keeps for the profile (enforcement ClusterNetworkPolicy or
	// Both).
	// +optional
	ManagedClusterNetworkPolicies int32 `json:"managedClusterNetworkPolicies,omitempty"`

	// canary reports the enforcement canary's last rounds (spec.canary).
	// +optional
	Canary *CanaryStatus `json:"canary,omitempty"`

	// tiers gives the number of namespaces in each tier.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Tiers []TierStatus `json:"tiers,omitempty"`

	// conflicts lists namespaces claimed twice, at most 20; conflictCount has
	// the total.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	Conflicts []Conflict `json:"conflicts,omitempty"`

	// conflictCount is the number of conflicts, listed or not.
	// +kubebuilder:default=0
	// +optional
	ConflictCount int32 `json:"conflictCount"`

	// drift records the repairs of enforced objects that were changed.
	// +kubebuilder:default={}
	// +optional
	Drift DriftStatus `json:"drift,omitempty"`

	// isolation reports holes: traffic the profile forbids that the
	// NetworkPolicies in governed namespaces, taken together, allow.
	// +kubebuilder:default={}
	// +optional
	Isolation IsolationStatus `json:"isolation,omitempty"`

	// membership records namespaces joining, leaving and moving between
	// tiers, and those retained after leaving (leavePolicy Retain).
	// +kubebuilder:default={}
	// +optional
	Membership MembershipStatus `json:"membership,omitempty"`

	// pendingChanges, in Audit mode, is how many objects Enforce would write.
	// +kubebuilder:default=0
	// +optional
	PendingChanges int32 `json:"pendingChanges"`
}

// TierStatus is the namespace count of one tier.
type TierStatus struct {
	// name is the tier's name.
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name"`
	// namespaces is how many namespaces the tier governs.
	// +required
	Namespaces int32 `json:"namespaces"`
}

// MembershipStatus records tier membership changes.
type MembershipStatus struct {
	// retainedCount is the number of namespaces that left every tier and
	// keep what Tierguard last enforced on them (leavePolicy Retain).
	// +kubebuilder:default=0
	// +optional
	RetainedCount int32 `json:"retainedCount"`
	// retained lists those namespaces, at most 20.
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=atomic
	// +optional
	Retained []string `json:"retained,omitempty"`
	// changes is the number of membership changes recorded since the
	// profile was created.
	// +kubebuilder:default=0
	// +optional
	Changes int64 `json:"changes"`
	// recent are the latest membership changes, newest first, at most 10.
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	// +optional
	Recent []MembershipChange `json:"recent,omitempty"`
}

// MembershipChange is a namespace joining, leaving or moving between tiers.
type MembershipChange struct {
	// time is when Tierguard saw the change.
	// +required
	Time metav1.Time `json:"time"`
	// namespace is the namespace that changed tiers.
	// +kubebuilder:validation:MaxLength=63
	// +required
	Namespace string `json:"namespace"`
	// from is the tier it was in; empty when it joined.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	From string `json:"from,omitempty"`
	// to is the tier it is in now; empty when it left.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	To string `json:"to,omitempty"`
	// action is Joined, Left, Moved or Retained (left, keeping what
	// Tierguard enforced: leavePolicy Retain).
	// +kubebuilder:validation:Enum=Joined;Left;Moved;Retained
	// +required
	Action MembershipAction `json:"action"`
	// manager is the field manager that last changed a label the profile's
	// selectors read, when known.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Manager string `json:"manager,omitempty"`
}

// MembershipAction is what a membership change did.
type MembershipAction string

const (
	// MembershipJoined means a namespace joined a tier.
	MembershipJoined MembershipAction = "Joined"
	// MembershipLeft means a namespace left every tier and was released.
	MembershipLeft MembershipAction = "Left"
	// MembershipMoved means a namespace moved from one tier to another.
	MembershipMoved MembershipAction = "Moved"
	// MembershipRetained means a namespace left every tier and keeps what
	// Tierguard last enforced on it.
	MembershipRetained MembershipAction = "Retained"
)

// Conflict is a namespace claimed twice, or a profile that cannot be enforced.
type Conflict struct {
	// namespace is the namespace concerned; empty for a profile-wide conflict.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// reason is MultipleTiers, SharedAndTier, ClaimedByProfile or
	// TierLabelKeyInUse.
	// +required
	Reason ConflictReason `json:"reason"`
	// message explains the conflict for a person.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// DriftStatus records repairs of drift.
type DriftStatus struct {
	// repairs is the number of repairs since the profile was created.
	// +kubebuilder:default=0
	// +optional
	Repairs int64 `json:"repairs"`
	// lastDetectedTime is when drift was last found.
	// +optional
	LastDetectedTime *metav1.Time `json:"lastDetectedTime,omitempty"`
	// recent are the latest repairs, newest first, at most 10.
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	// +optional
	Recent []DriftRecord `json:"recent,omitempty"`
}

// DriftRecord is one repaired (or, in Audit mode, detected) drift.
type DriftRecord struct {
	// time is when the drift was found.
	// +required
	Time metav1.Time `json:"time"`
	// namespace is the namespace of the object; empty for a
	// ClusterNetworkPolicy.
	// +kubebuilder:validation:MaxLength=63
	// +required
	Namespace string `json:"namespace"`
	// kind is Namespace, NetworkPolicy or ClusterNetworkPolicy.
	// +required
	Kind ObjectKind `json:"kind"`
	// name is the object's name.
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// change is Modified, Deleted, LabelChanged or LabelRemoved.
	// +required
	Change DriftChange `json:"change"`
	// manager is the field manager that made the change, when known.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Manager string `json:"manager,omitempty"`
}

// IsolationStatus reports holes in the isolation.
type IsolationStatus struct {
	// leakCount is the number of holes, listed or not.
	// +kubebuilder:default=0
	// +optional
	LeakCount int32 `json:"leakCount"`
	// leaks lists the holes, at most 20.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	Leaks []Leak `json:"leaks,omitempty"`
}

// Leak is traffic the profile forbids that a NetworkPolicy allows.
type Leak struct {
	// fromTier is the source tier, when the sources are governed.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	FromTier string `json:"fromTier,omitempty"`
	// fromNamespace is the source namespace, when it is not governed.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	FromNamespace string `json:"fromNamespace,omitempty"`
	// to is the destination namespace.
	// +kubebuilder:validation:MaxLength=63
	// +required
	To string `json:"to"`
	// ports are the ports open beyond the profile's intent, e.g. "TCP/all".
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Ports string `json:"ports,omitempty"`
	// policy names a policy that opens the hole: namespace/name of a
	// NetworkPolicy, or ClusterNetworkPolicy/name (an Admin-tier
	// ClusterNetworkPolicy that takes precedence over Tierguard's).
	// +kubebuilder:validation:MaxLength=317
	// +required
	Policy string `json:"policy"`
}
