package drift

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
)

func TestLabels(t *testing.T) {
	planned := map[string]string{"tier": "dev", "profile": "p"}
	for _, tc := range []struct {
		name       string
		current    map[string]string
		wantChange segv1.DriftChange // "" means no finding
		wantDetail string
	}{
		{name: "all planned labels present", current: map[string]string{"tier": "dev", "profile": "p"}},
		{name: "labels others added are not drift", current: map[string]string{"tier": "dev", "profile": "p", "team": "a"}},
		{name: "a value changed", current: map[string]string{"tier": "prod", "profile": "p"},
			wantChange: segv1.DriftLabelChanged, wantDetail: "tier"},
		{name: "a label removed", current: map[string]string{"profile": "p"},
			wantChange: segv1.DriftLabelRemoved, wantDetail: "tier"},
		{name: "removed wins over changed, both named sorted, missing first", current: map[string]string{"tier": "prod"},
			wantChange: segv1.DriftLabelRemoved, wantDetail: "profile, tier"},
		{name: "an empty value is not an absent label", current: map[string]string{"tier": "", "profile": "p"},
			wantChange: segv1.DriftLabelChanged, wantDetail: "tier"},
		{name: "no labels at all", wantChange: segv1.DriftLabelRemoved, wantDetail: "profile, tier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Labels("ns-a", planned, tc.current)
			if tc.wantChange == "" {
				if f != nil {
					t.Fatalf("Labels() = %v, want no finding", *f)
				}
				return
			}
			if f == nil {
				t.Fatalf("Labels() = nil, want %s", tc.wantChange)
			}
			want := Finding{Kind: segv1.KindNamespace, Namespace: "ns-a", Name: "ns-a", Change: tc.wantChange, Detail: tc.wantDetail}
			if *f != want {
				t.Fatalf("Labels() = %+v, want %+v", *f, want)
			}
		})
	}
}

func policy(mutate func(*networkingv1.NetworkPolicy)) *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns-a", Name: "tierguard",
			Labels:      map[string]string{"managed-by": "tierguard"},
			Annotations: map[string]string{"hash": "h1"}},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

var profileRef = metav1.OwnerReference{APIVersion: segv1.GroupVersion.String(), Kind: "SegmentationProfile", Name: "p", UID: "u1"}

// TestPolicy covers both uses of Policy: with the cached object (finding
// drift) and with the live one (confirming it), including the rule that a
// policy missing from the cache but present live was modified, not deleted.
func TestPolicy(t *testing.T) {
	planned := policy(nil)
	owned := policy(func(p *networkingv1.NetworkPolicy) { p.OwnerReferences = []metav1.OwnerReference{profileRef} })
	for _, tc := range []struct {
		name          string
		planned       *networkingv1.NetworkPolicy
		cached, live  *networkingv1.NetworkPolicy
		found, wanted segv1.DriftChange // from the cache; after confirming ("": none)
	}{
		{name: "as planned", planned: planned, cached: policy(nil), live: policy(nil)},
		{name: "deleted", planned: planned, found: segv1.DriftDeleted, wanted: segv1.DriftDeleted},
		{name: "left the cache (labels stripped) but exists: modified", planned: planned,
			live: policy(func(p *networkingv1.NetworkPolicy) { p.Labels = nil }), found: segv1.DriftDeleted, wanted: segv1.DriftModified},
		{name: "deleted in the cache's view, recreated as planned since: no drift", planned: planned,
			live: policy(nil), found: segv1.DriftDeleted},
		{name: "spec edited", planned: planned, cached: policy(func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress = nil }),
			live: policy(func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress = nil }), found: segv1.DriftModified, wanted: segv1.DriftModified},
		{name: "edited, deleted since", planned: planned, cached: policy(func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress = nil }),
			found: segv1.DriftModified, wanted: segv1.DriftDeleted},
		{name: "the cache lagged behind Tierguard's repair", planned: planned,
			cached: policy(func(p *networkingv1.NetworkPolicy) { p.Annotations = nil }), live: policy(nil), found: segv1.DriftModified},
		{name: "labels and annotations others added are not drift", planned: planned,
			cached: policy(func(p *networkingv1.NetworkPolicy) { p.Labels["team"] = "a"; p.Annotations["note"] = "x" })},
		{name: "a planned label changed", planned: planned,
			cached: policy(func(p *networkingv1.NetworkPolicy) { p.Labels["managed-by"] = "me" }),
			live:   policy(func(p *networkingv1.NetworkPolicy) { p.Labels["managed-by"] = "me" }), found: segv1.DriftModified, wanted: segv1.DriftModified},
		{name: "planned owner reference removed", planned: owned, cached: policy(nil), live: policy(nil),
			found: segv1.DriftModified, wanted: segv1.DriftModified},
		{name: "an owner reference to a profile added where none is planned (Retain)", planned: planned, cached: owned, live: owned,
			found: segv1.DriftModified, wanted: segv1.DriftModified},
		{name: "other owner references are not drift", planned: planned,
			cached: policy(func(p *networkingv1.NetworkPolicy) {
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "c", UID: "u2"}}
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, got *Finding, want segv1.DriftChange) {
				t.Helper()
				switch {
				case want == "" && got != nil:
					t.Fatalf("%s: Policy() = %+v, want none", what, *got)
				case want != "" && got == nil:
					t.Fatalf("%s: Policy() = nil, want %s", what, want)
				case got != nil && (got.Change != want || got.Kind != segv1.KindNetworkPolicy || got.Namespace != "ns-a" || got.Name != "tierguard"):
					t.Fatalf("%s: Policy() = %+v, want %s of NetworkPolicy ns-a/tierguard", what, *got, want)
				}
			}
			found := Policy(tc.planned, tc.cached)
			check("cached", found, tc.found)
			if found != nil {
				check("live", Policy(tc.planned, tc.live), tc.wanted)
			}
		})
	}
}

func entry(manager string, at time.Time, fields string, subresource string) metav1.ManagedFieldsEntry {
	t := metav1.NewTime(at)
	return metav1.ManagedFieldsEntry{Manager: manager, Time: &t, Subresource: subresource, Operation: metav1.ManagedFieldsOperationApply,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
}

// TestManager replaces the end-to-end test that polled for a change made
// in the same second as Tierguard's last write: managedFields times have a
// resolution of one second, and a change that only removes fields leaves
// no entry of its author.
func TestManager(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	tierLabel := `{"f:metadata":{"f:labels":{"f:tier":{}}}}`
	teamLabel := `{"f:metadata":{"f:labels":{"f:team":{}}}}`
	spec := `{"f:spec":{"f:ingress":{}}}`
	planned := map[string]string{"tier": "dev"}
	ns := Finding{Kind: segv1.KindNamespace, Namespace: "a", Name: "a", Change: segv1.DriftLabelChanged}
	removed := Finding{Kind: segv1.KindNamespace, Namespace: "a", Name: "a", Change: segv1.DriftLabelRemoved}
	pol := Finding{Kind: segv1.KindNetworkPolicy, Namespace: "a", Name: "tierguard", Change: segv1.DriftModified}
	for _, tc := range []struct {
		name    string
		finding Finding
		entries []metav1.ManagedFieldsEntry
		live    map[string]string
		want    string
	}{
		{name: "the manager that set the label to another value", finding: ns, live: map[string]string{"tier": "prod"},
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""), entry("kubectl-label", t0.Add(time.Second), tierLabel, "")},
			want:    "kubectl-label"},
		{name: "a change in the same second as Tierguard's write is still named", finding: ns, live: map[string]string{"tier": "prod"},
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""), entry("first-writer", t0, tierLabel, "")},
			want:    "first-writer"},
		{name: "a removed label has no owner: a bystander writing in the same second is not blamed", finding: removed,
			live:    map[string]string{},
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""), entry("first-writer", t0, teamLabel, "")}},
		{name: "all of Tierguard's labels removed: its entry is gone, the creator is not blamed", finding: removed,
			live:    map[string]string{},
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-create", t0.Add(-time.Hour), `{"f:metadata":{"f:labels":{"f:team":{}}}}`, "")}},
		{name: "writers before Tierguard's last write are not named", finding: ns, live: map[string]string{"tier": "prod"},
			entries: []metav1.ManagedFieldsEntry{entry("old-writer", t0, tierLabel, ""), entry("tierguard", t0.Add(time.Second), `{}`, "")}},
		{name: "writers of other labels are not named", finding: ns, live: map[string]string{"tier": "prod"},
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""), entry("team-bot", t0.Add(time.Second), teamLabel, "")}},
		{name: "a subresource write of other fields (status) is not named", finding: ns, live: map[string]string{"tier": "prod"},
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""),
				entry("namespace-controller", t0.Add(time.Second), `{"f:status":{"f:phase":{}}}`, "status")}},
		{name: "a label changed through the status subresource is named", finding: ns, live: map[string]string{"tier": "prod"},
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""), entry("sneaky", t0.Add(time.Second), tierLabel, "status")},
			want:    "sneaky"},
		{name: "of two writers the later is named", finding: pol,
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""), entry("later", t0.Add(2*time.Second), spec, ""),
				entry("earlier", t0.Add(time.Second), spec, "")},
			want: "later"},
		{name: "a policy's owner references count", finding: pol,
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""),
				entry("owner-bot", t0.Add(time.Second), `{"f:metadata":{"f:ownerReferences":{}}}`, "")},
			want: "owner-bot"},
		{name: "malformed fields are not ownership", finding: pol,
			entries: []metav1.ManagedFieldsEntry{entry("tierguard", t0, `{}`, ""), entry("junk", t0.Add(time.Second), `not json`, "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Manager(tc.finding, "tierguard", tc.entries, planned, tc.live); got != tc.want {
				t.Fatalf("Manager() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPolicyMatchesIgnoresNilVersusEmpty(t *testing.T) {
	planned := policy(nil)
	observed := planned.DeepCopy()
	observed.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{}
	if !PolicyMatches(observed, planned) {
		t.Fatal("an empty list the API server omits must compare equal to nil")
	}
}
