package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CanaryNamespacePrefix starts the names of the namespaces the enforcement
// canary owns: tg-canary-<profile>-<tier> for each tier and
// tg-canary-<profile>-shared.
const CanaryNamespacePrefix = "tg-canary-"

// CanarySharedSuffix ends the name of the canary's shared namespace.
const CanarySharedSuffix = "shared"

// CanaryNamespace returns the name of the canary namespace of a profile's
// tier (or of its shared set, for CanarySharedSuffix).
func CanaryNamespace(profile, tier string) string {
	return CanaryNamespacePrefix + profile + "-" + tier
}

// Canary turns on the enforcement canary: every interval, Tierguard runs
// small probe pods, from its own image, in namespaces it owns
// (tg-canary-<profile>-<tier>, one per tier, and tg-canary-<profile>-shared,
// a member of the shared set), and tries paths the profile forbids and paths
// it allows, over TCP and UDP. The result is the condition
// EnforcementVerified: whether the cluster's network plugin enforces the
// policies at all. Each round costs one short-lived pod per canary
// namespace (10m CPU, 16Mi memory) and at most one status write; the
// server pods run all the time with the same requests.
type Canary struct {
	// interval is the time between two rounds, from 1m to 24h (default 10m).
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="canary.interval must be between 1m and 24h"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`
}

// Results of a canary round.
const (
	// CanaryEnforced: every forbidden path was blocked and every allowed
	// path open.
	CanaryEnforced = "Enforced"
	// CanaryNotEnforced: a forbidden path got through.
	CanaryNotEnforced = "NotEnforced"
	// CanaryInconclusive: no forbidden path got through, but an allowed
	// path failed too, so the round proves nothing.
	CanaryInconclusive = "Inconclusive"
)

// CanaryStatus reports the enforcement canary's last rounds.
type CanaryStatus struct {
	// lastVerifiedTime is when a round last found the policies enforced.
	// +optional
	LastVerifiedTime *metav1.Time `json:"lastVerifiedTime,omitempty"`

	// rounds are the last rounds, newest first, at most 5.
	// +kubebuilder:validation:MaxItems=5
	// +listType=atomic
	// +optional
	Rounds []CanaryRound `json:"rounds,omitempty"`
}

// CanaryRound is one round of the enforcement canary.
type CanaryRound struct {
	// time is when the round's probes ran.
	// +required
	Time metav1.Time `json:"time"`

	// result is Enforced, NotEnforced or Inconclusive.
	// +kubebuilder:validation:Enum=Enforced;NotEnforced;Inconclusive
	// +required
	Result string `json:"result"`

	// paths are the paths the round tried, at most 64.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Paths []CanaryPath `json:"paths,omitempty"`
}

// CanaryPath is one path a round tried.
type CanaryPath struct {
	// from and to are tiers, or "shared" for the canary's shared namespace.
	// +kubebuilder:validation:MaxLength=63
	// +required
	From string `json:"from"`
	// +kubebuilder:validation:MaxLength=63
	// +required
	To string `json:"to"`

	// protocol and port are what was tried.
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	// +required
	Protocol corev1.Protocol `json:"protocol"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port int32 `json:"port"`

	// allowed says whether the profile allows the path.
	// +required
	Allowed bool `json:"allowed"`

	// open says whether the probe got through.
	// +required
	Open bool `json:"open"`

	// node is the node the probing pod ran on.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Node string `json:"node,omitempty"`
}
