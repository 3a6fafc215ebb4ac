package render

import (
	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

// CanaryOn reports whether the profile's enforcement canary runs: it is
// configured, and the mode is Enforce (Audit writes nothing a canary could
// test).
func CanaryOn(p *segv1.SegmentationProfile) bool {
	return p.Spec.Canary != nil && Mode(p) == segv1.ModeEnforce
}

// CanaryNamespaces returns the canary's namespaces by tier, the shared one
// under segv1.CanarySharedSuffix, or nil when the canary is off.
func CanaryNamespaces(p *segv1.SegmentationProfile) map[string]string {
	if !CanaryOn(p) {
		return nil
	}
	out := map[string]string{segv1.CanarySharedSuffix: segv1.CanaryNamespace(p.Name, segv1.CanarySharedSuffix)}
	for _, t := range p.Spec.Tiers {
		out[string(t.Name)] = segv1.CanaryNamespace(p.Name, string(t.Name))
	}
	return out
}

// CanaryLabel marks a namespace Tierguard created for a profile's canary;
// its value is the profile's name. It is a reserved label
// (protect-reserved-labels: only those who may assign profiles set it), so
// a namespace someone else created under a canary's name is never adopted.
const CanaryLabel = "segmentation.tierguard.io/canary"

// Effective returns the profile as Tierguard plans it. With the canary on,
// each tier's namespaces.names gains the tier's canary namespace and
// sharedNamespaces.names the canary's shared namespace, on a copy, for
// those of them among namespaces that carry CanaryLabel with the profile's
// name. Otherwise it returns p itself.
func Effective(p *segv1.SegmentationProfile, namespaces []Namespace) *segv1.SegmentationProfile {
	if !CanaryOn(p) {
		return p
	}
	ours := map[string]bool{}
	for _, ns := range namespaces {
		if ns.Labels[CanaryLabel] == p.Name {
			ours[ns.Name] = true
		}
	}
	if len(ours) == 0 {
		return p
	}
	out := p.DeepCopy()
	for i := range out.Spec.Tiers {
		t := &out.Spec.Tiers[i]
		if name := segv1.CanaryNamespace(p.Name, string(t.Name)); ours[name] {
			t.Namespaces.Names = append(t.Namespaces.Names, segv1.NamespaceName(name))
		}
	}
	if name := segv1.CanaryNamespace(p.Name, segv1.CanarySharedSuffix); ours[name] {
		if out.Spec.SharedNamespaces == nil {
			out.Spec.SharedNamespaces = &segv1.NamespaceSet{}
		}
		out.Spec.SharedNamespaces.Names = append(out.Spec.SharedNamespaces.Names, segv1.NamespaceName(name))
	}
	return out
}
