package diff

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

const key = "segmentation.tierguard.io/tier"

func testProfile() *segv1.SegmentationProfile {
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "company", UID: "uid-1"},
		Spec: segv1.SegmentationProfileSpec{
			LeavePolicy: segv1.LeavePolicyRelease,
			Tiers: []segv1.Tier{
				{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": "dev"}}}},
				{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": "prod"}}}},
			},
		},
	}
}

func plan(t *testing.T, namespaces map[string]map[string]string, held ...string) *render.Plan {
	t.Helper()
	in := render.Input{Profile: testProfile()}
	for name, labels := range namespaces {
		in.Namespaces = append(in.Namespaces, render.Namespace{Name: name, Labels: labels})
	}
	p, err := render.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	p.Held = append(p.Held, held...)
	return p
}

// enforcedLabels are the labels of a namespace once Tierguard applied tier.
func enforcedLabels(env, tier string) map[string]string {
	return map[string]string{"env": env, key: tier, render.ProfileLabel: "company"}
}

func enforcedPolicy(t *testing.T, ns, env, tier string) *networkingv1.NetworkPolicy {
	t.Helper()
	p := plan(t, map[string]map[string]string{ns: {"env": env}})
	return p.Lookup(ns).Policy.DeepCopy()
}

func TestCompute(t *testing.T) {
	type want struct {
		typ    ActionType
		ns     string
		change segv1.DriftChange // "" when not drift
	}
	cases := []struct {
		name       string
		namespaces map[string]map[string]string
		policies   func(t *testing.T) map[string]*networkingv1.NetworkPolicy
		held       []string
		seen       map[string]bool
		want       []want
	}{
		{
			name:       "first apply is not drift",
			namespaces: map[string]map[string]string{"a": {"env": "dev"}},
			want:       []want{{ApplyLabels, "a", ""}, {ApplyPolicy, "a", ""}},
		},
		{
			name:       "steady state makes no writes",
			namespaces: map[string]map[string]string{"a": enforcedLabels("dev", "dev")},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				return map[string]*networkingv1.NetworkPolicy{"a": enforcedPolicy(t, "a", "dev", "dev")}
			},
		},
		{
			name:       "extra labels and annotations others add are not drift",
			namespaces: map[string]map[string]string{"a": enforcedLabels("dev", "dev")},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				p := enforcedPolicy(t, "a", "dev", "dev")
				p.Labels["argocd.argoproj.io/instance"] = "x"
				p.Annotations["note"] = "y"
				return map[string]*networkingv1.NetworkPolicy{"a": p}
			},
		},
		{
			name:       "edited spec is Modified drift",
			namespaces: map[string]map[string]string{"a": enforcedLabels("dev", "dev")},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				p := enforcedPolicy(t, "a", "dev", "dev")
				p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
				return map[string]*networkingv1.NetworkPolicy{"a": p}
			},
			want: []want{{ApplyPolicy, "a", segv1.DriftModified}},
		},
		{
			name:       "deleted policy of an enforced namespace is Deleted drift",
			namespaces: map[string]map[string]string{"a": enforcedLabels("dev", "dev")},
			seen:       map[string]bool{"a": true},
			want:       []want{{ApplyPolicy, "a", segv1.DriftDeleted}},
		},
		{
			name:       "a policy never seen is a first apply cut short, not drift",
			namespaces: map[string]map[string]string{"a": enforcedLabels("dev", "dev")},
			want:       []want{{ApplyPolicy, "a", ""}},
		},
		{
			name:       "removed tier label is LabelRemoved drift",
			namespaces: map[string]map[string]string{"a": {"env": "dev", render.ProfileLabel: "company"}},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				return map[string]*networkingv1.NetworkPolicy{"a": enforcedPolicy(t, "a", "dev", "dev")}
			},
			want: []want{{ApplyLabels, "a", segv1.DriftLabelRemoved}},
		},
		{
			name:       "changed tier label is LabelChanged drift",
			namespaces: map[string]map[string]string{"a": enforcedLabels("dev", "prod")},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				return map[string]*networkingv1.NetworkPolicy{"a": enforcedPolicy(t, "a", "dev", "dev")}
			},
			want: []want{{ApplyLabels, "a", segv1.DriftLabelChanged}},
		},
		{
			name:       "a namespace moved to another tier is a plan change, not drift",
			namespaces: map[string]map[string]string{"a": enforcedLabels("prod", "dev")},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				return map[string]*networkingv1.NetworkPolicy{"a": enforcedPolicy(t, "a", "dev", "dev")}
			},
			want: []want{{ApplyLabels, "a", ""}, {ApplyPolicy, "a", ""}},
		},
		{
			name:       "a namespace that left every tier is released and its policy deleted",
			namespaces: map[string]map[string]string{"a": enforcedLabels("none", "dev")},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				return map[string]*networkingv1.NetworkPolicy{"a": enforcedPolicy(t, "a", "dev", "dev")}
			},
			want: []want{{ReleaseLabels, "a", ""}, {DeletePolicy, "a", ""}},
		},
		{
			name:       "a held namespace is left as it is",
			namespaces: map[string]map[string]string{"a": enforcedLabels("none", "dev")},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				return map[string]*networkingv1.NetworkPolicy{"a": enforcedPolicy(t, "a", "dev", "dev")}
			},
			held: []string{"a"},
		},
		{
			name:       "another profile's policy and labels are not cleaned up",
			namespaces: map[string]map[string]string{"a": {"env": "none", key: "dev", render.ProfileLabel: "other"}},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				p := enforcedPolicy(t, "a", "dev", "dev")
				p.Labels[render.ProfileLabel] = "other"
				return map[string]*networkingv1.NetworkPolicy{"a": p}
			},
		},
		{
			name:       "a stripped owner reference is Modified drift",
			namespaces: map[string]map[string]string{"a": enforcedLabels("dev", "dev")},
			policies: func(t *testing.T) map[string]*networkingv1.NetworkPolicy {
				p := enforcedPolicy(t, "a", "dev", "dev")
				p.OwnerReferences = nil
				return map[string]*networkingv1.NetworkPolicy{"a": p}
			},
			want: []want{{ApplyPolicy, "a", segv1.DriftModified}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obs := Observed{NamespaceLabels: tc.namespaces, Policies: map[string]*networkingv1.NetworkPolicy{},
				Seen: func(ns string) bool { return tc.seen[ns] }}
			if tc.policies != nil {
				obs.Policies = tc.policies(t)
			}
			p := plan(t, tc.namespaces, tc.held...)
			got := Compute(p, obs)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d actions %+v, want %+v", len(got), got, tc.want)
			}
			for i, w := range tc.want {
				a := got[i]
				change := segv1.DriftChange("")
				if a.Drift != nil {
					change = a.Drift.Change
				}
				if a.Type != w.typ || a.Namespace != w.ns || change != w.change {
					t.Errorf("action %d = %s %s drift=%q, want %s %s drift=%q", i, a.Type, a.Namespace, change, w.typ, w.ns, w.change)
				}
			}
		})
	}
}
