package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/evaluate"
	"github.com/tierguard/tierguard/internal/render"
)

var enforcements = []segv1.Enforcement{segv1.EnforcementNetworkPolicy, segv1.EnforcementClusterNetworkPolicy, segv1.EnforcementBoth}

func profileEnforcedBy(mode segv1.Enforcement) *segv1.SegmentationProfile {
	p := matrixProfile()
	p.Spec.Enforcement = mode
	return p
}

// toTierB is a foreign Admin ClusterNetworkPolicy at priority 100 (before
// Tierguard's band, 200 and 201) whose subject is tier b, with one rule
// for the namespaces peers selects.
func toTierB(name string, action npav1beta1.ClusterNetworkPolicyRuleAction, peers *metav1.LabelSelector) npav1beta1.ClusterNetworkPolicy {
	return npav1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: npav1beta1.ClusterNetworkPolicySpec{
		Tier: npav1beta1.AdminTier, Priority: 100,
		Subject: npav1beta1.ClusterNetworkPolicySubject{Namespaces: &metav1.LabelSelector{
			MatchLabels: map[string]string{render.DefaultTierLabelKey: "b"}}},
		Ingress: []npav1beta1.ClusterNetworkPolicyIngressRule{{Name: "rule", Action: action,
			From: []npav1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: peers}}}},
	}}
}

var (
	fromOther = &metav1.LabelSelector{MatchLabels: map[string]string{render.MetadataNameLabel: "other"}}
	fromTierA = &metav1.LabelSelector{MatchLabels: map[string]string{render.DefaultTierLabelKey: "a"}}
)

func addAllowAll(ns string) func([]networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
	return func(ps []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
		return append(ps, networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "allow-all"},
			Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}})
	}
}

// TestMatrixByEnforcement: the matrix reads the policies in their order of
// precedence, whichever kinds Tierguard writes.
func TestMatrixByEnforcement(t *testing.T) {
	np, cnp, both := segv1.EnforcementNetworkPolicy, segv1.EnforcementClusterNetworkPolicy, segv1.EnforcementBoth
	allowAllB1 := []string{
		"kube-system (ungoverned) -> b-1 (b): allows all ports (intended: deny); by b-1/allow-all",
		"other (ungoverned) -> b-1 (b): allows all ports (intended: deny); by b-1/allow-all",
	}
	fromOtherByCNP := func(name string) []string {
		return []string{
			"other (ungoverned) -> b-1 (b): allows all ports (intended: deny); by ClusterNetworkPolicy/" + name,
			"other (ungoverned) -> b-2 (b): allows all ports (intended: deny); by ClusterNetworkPolicy/" + name,
		}
	}
	denied := func(name string) []string {
		var out []string
		for _, from := range []string{"a-1", "a-2"} {
			for _, to := range []string{"b-1", "b-2"} {
				out = append(out, from+" (a) -> "+to+" (b): blocks TCP/443, UDP/1000-2000 (intended: TCP/443,UDP/1000-2000); by ClusterNetworkPolicy/"+name)
			}
		}
		return out
	}
	cases := []struct {
		name    string
		edit    func([]networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy
		foreign []npav1beta1.ClusterNetworkPolicy
		want    map[segv1.Enforcement][]string
	}{
		{name: "Tierguard's policies alone match the intent"},
		{name: "an allow-all NetworkPolicy opens a tier only where NetworkPolicies alone enforce", edit: addAllowAll("b-1"),
			want: map[segv1.Enforcement][]string{np: allowAllB1}},
		{name: "an Admin Accept before Tierguard's opens the tier in every mode",
			foreign: []npav1beta1.ClusterNetworkPolicy{toTierB("open", npav1beta1.ClusterNetworkPolicyRuleActionAccept, fromOther)},
			want:    map[segv1.Enforcement][]string{np: fromOtherByCNP("open"), cnp: fromOtherByCNP("open"), both: fromOtherByCNP("open")}},
		{name: "an Admin Pass before Tierguard's opens the tier where no NetworkPolicy of Tierguard's follows",
			foreign: []npav1beta1.ClusterNetworkPolicy{toTierB("pass", npav1beta1.ClusterNetworkPolicyRuleActionPass, fromOther)},
			want:    map[segv1.Enforcement][]string{cnp: fromOtherByCNP("pass")}},
		{name: "an Admin Deny before Tierguard's blocks a flow, and is named",
			foreign: []npav1beta1.ClusterNetworkPolicy{toTierB("deny", npav1beta1.ClusterNetworkPolicyRuleActionDeny, fromTierA)},
			want:    map[segv1.Enforcement][]string{np: denied("deny"), cnp: denied("deny"), both: denied("deny")}},
	}
	for _, tc := range cases {
		for _, mode := range enforcements {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				m := matrixWith(t, profileEnforcedBy(mode), tc.edit, tc.foreign)
				if diff := cmp.Diff(tc.want[mode], differences(m), cmpEmpty); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestMatrixNamesPlannedClusterPolicyOnlyWhenDrifted: Tierguard's own
// ClusterNetworkPolicy is to blame once it no longer matches the plan.
func TestMatrixNamesPlannedClusterPolicyOnlyWhenDrifted(t *testing.T) {
	p := profileEnforcedBy(segv1.EnforcementClusterNetworkPolicy)
	plan := planFor(t, p, matrixNamespaces())
	nss, policies, cnps, err := Applied(p, plan, matrixNamespaces(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cnps {
		if cnps[i].Name == "tierguard.p.b" {
			// The drift: the boundary of b passes everything on.
			cnps[i].Spec.Ingress = slices.Insert(cnps[i].Spec.Ingress, 0, npav1beta1.ClusterNetworkPolicyIngressRule{
				Name: "drift", Action: npav1beta1.ClusterNetworkPolicyRuleActionPass,
				From: []npav1beta1.ClusterNetworkPolicyIngressPeer{{Namespaces: &metav1.LabelSelector{}}}})
		}
	}
	m, err := BuildMatrix(MatrixInput{Profile: p, Plan: plan, Namespaces: nss, Policies: policies, ClusterPolicies: cnps, PodCIDRs: DefaultPodCIDRs})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range m.Differences() {
		if d.To == "b-1" && d.From == "other" {
			got = d.Responsible
		}
	}
	if want := []string{"ClusterNetworkPolicy/tierguard.p.b"}; !slices.Equal(got, want) {
		t.Errorf("other -> b-1 responsible %v, want %v\n%s", got, want, strings.Join(differences(m), "\n"))
	}
}

// TestAppliedByEnforcement: offline, the cluster holds Tierguard's
// policies of the kinds its enforcement writes, in place of any given.
func TestAppliedByEnforcement(t *testing.T) {
	stale := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "a-1", Name: render.PolicyName}}
	staleCNP := npav1beta1.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "tierguard.p.gone",
		Labels: map[string]string{render.ManagedByLabel: render.ManagedByValue, render.ProfileLabel: "p"}}}
	others := toTierB("other-admin", npav1beta1.ClusterNetworkPolicyRuleActionDeny, fromOther)
	for _, mode := range enforcements {
		t.Run(string(mode), func(t *testing.T) {
			p := profileEnforcedBy(mode)
			plan := planFor(t, p, matrixNamespaces())
			_, nps, cnps, err := Applied(p, plan, matrixNamespaces(), []networkingv1.NetworkPolicy{stale},
				[]npav1beta1.ClusterNetworkPolicy{staleCNP, others})
			if err != nil {
				t.Fatal(err)
			}
			wantNPs := 0
			if render.UsesNetworkPolicies(p) {
				wantNPs = len(plan.Governed)
			}
			if len(nps) != wantNPs || slices.ContainsFunc(nps, func(np networkingv1.NetworkPolicy) bool { return np.Spec.Size() == stale.Spec.Size() }) {
				t.Errorf("%d NetworkPolicies, want %d, all rendered", len(nps), wantNPs)
			}
			var names []string
			for _, c := range cnps {
				names = append(names, c.Name)
			}
			want := []string{"other-admin"}
			if render.UsesClusterNetworkPolicies(p) {
				want = []string{"other-admin", "tierguard.p.a", "tierguard.p.b", "tierguard.p.b.b-1", "tierguard.p.b.b-2"}
			}
			if !slices.Equal(names, want) {
				t.Errorf("ClusterNetworkPolicies %v, want %v", names, want)
			}
		})
	}
}

// TestMatrixCrossChecksPods: on concrete pods, every connection the
// pod-level evaluator allows is among the matrix's ports, in every mode.
func TestMatrixCrossChecksPods(t *testing.T) {
	foreign := []npav1beta1.ClusterNetworkPolicy{
		toTierB("pass", npav1beta1.ClusterNetworkPolicyRuleActionPass, fromOther),
		toTierB("zz-deny", npav1beta1.ClusterNetworkPolicyRuleActionDeny, fromTierA),
	}
	for _, mode := range enforcements {
		t.Run(string(mode), func(t *testing.T) {
			p := profileEnforcedBy(mode)
			plan := planFor(t, p, matrixNamespaces())
			nss, nps, cnps, err := Applied(p, plan, matrixNamespaces(), nil, foreign)
			if err != nil {
				t.Fatal(err)
			}
			nps = addAllowAll("b-2")(nps)
			m, err := BuildMatrix(MatrixInput{Profile: p, Plan: plan, Namespaces: nss, Policies: nps, ClusterPolicies: cnps, PodCIDRs: DefaultPodCIDRs})
			if err != nil {
				t.Fatal(err)
			}
			c := evaluate.Cluster{Policies: nps, ClusterNetworkPolicies: cnps, PodCIDRs: DefaultPodCIDRs}
			for _, ns := range nss {
				c.Namespaces = append(c.Namespaces, evaluate.Namespace{Name: ns.Name, Labels: ns.Labels})
			}
			e := evaluate.New(c)
			for _, pair := range m.Pairs {
				a := evaluate.PodEndpoint(evaluate.Pod{Namespace: pair.From, Name: "a", IP: "10.0.0.1"})
				b := evaluate.PodEndpoint(evaluate.Pod{Namespace: pair.To, Name: "b", IP: "10.0.0.2"})
				for _, port := range []evaluate.Port{{Protocol: "TCP", Port: 443}, {Protocol: "TCP", Port: 22}, {Protocol: "UDP", Port: 1500}} {
					if e.Allowed(a, b, port).Allowed != pair.actual.Contains(port) {
						t.Errorf("%s -> %s on %s: pods %v, matrix %v", pair.From, pair.To, port, e.Allowed(a, b, port).Allowed, pair.actual)
					}
				}
			}
		})
	}
}

func TestObjectsByEnforcement(t *testing.T) {
	for _, tc := range []struct {
		mode segv1.Enforcement
		want []string
	}{
		{segv1.EnforcementNetworkPolicy, []string{"Namespace a-1", "NetworkPolicy a-1/tierguard-isolation", "Namespace a-2", "NetworkPolicy a-2/tierguard-isolation",
			"Namespace b-1", "NetworkPolicy b-1/tierguard-isolation", "Namespace b-2", "NetworkPolicy b-2/tierguard-isolation"}},
		{segv1.EnforcementClusterNetworkPolicy, []string{"Namespace a-1", "Namespace a-2", "Namespace b-1", "Namespace b-2",
			"ClusterNetworkPolicy tierguard.p.a", "ClusterNetworkPolicy tierguard.p.b", "ClusterNetworkPolicy tierguard.p.b.b-1", "ClusterNetworkPolicy tierguard.p.b.b-2"}},
		{segv1.EnforcementBoth, []string{"Namespace a-1", "NetworkPolicy a-1/tierguard-isolation", "Namespace a-2", "NetworkPolicy a-2/tierguard-isolation",
			"Namespace b-1", "NetworkPolicy b-1/tierguard-isolation", "Namespace b-2", "NetworkPolicy b-2/tierguard-isolation",
			"ClusterNetworkPolicy tierguard.p.a", "ClusterNetworkPolicy tierguard.p.b", "ClusterNetworkPolicy tierguard.p.b.b-1", "ClusterNetworkPolicy tierguard.p.b.b-2"}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			p := profileEnforcedBy(tc.mode)
			objects, err := Objects(p, planFor(t, p, matrixNamespaces()), matrixNamespaces())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objects {
				m := o.(metav1.Object)
				name := m.GetName()
				if m.GetNamespace() != "" {
					name = m.GetNamespace() + "/" + name
				}
				got = append(got, o.GetObjectKind().GroupVersionKind().Kind+" "+name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var b bytes.Buffer
			if err := WriteYAML(&b, objects); err != nil {
				t.Fatal(err)
			}
			if render.UsesClusterNetworkPolicies(p) && !strings.Contains(b.String(), "apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\n") {
				t.Errorf("no v1beta1 ClusterNetworkPolicy in:\n%s", b.String())
			}
		})
	}
	p := profileEnforcedBy(segv1.EnforcementClusterNetworkPolicy)
	p.Spec.Flows[0].Ports = []segv1.NetworkPolicyPort{{Protocol: "TCP", Port: ptr.To(intstr.FromString("https"))}}
	if _, err := Objects(p, planFor(t, p, matrixNamespaces()), matrixNamespaces()); err == nil || !strings.Contains(err.Error(), "named port") {
		t.Errorf("a named flow port under ClusterNetworkPolicy enforcement: err %v", err)
	}
}

func TestReadClusterPolicies(t *testing.T) {
	list := `apiVersion: v1
kind: List
items:
- apiVersion: policy.networking.k8s.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata: {name: b}
  spec: {tier: Admin, priority: 5, subject: {namespaces: {}}, ingress: [{name: r, action: Deny, from: [{namespaces: {}}]}]}
- apiVersion: policy.networking.k8s.io/v1alpha2
  kind: ClusterNetworkPolicy
  metadata: {name: a}
  spec: {tier: Baseline, priority: 7, subject: {namespaces: {matchLabels: {team: blue}}}}
`
	got, err := ReadClusterPolicies(strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" || got[0].Spec.Priority != 7 || got[0].Spec.Tier != npav1beta1.BaselineTier ||
		got[1].Spec.Ingress[0].Action != npav1beta1.ClusterNetworkPolicyRuleActionDeny || got[0].APIVersion != "policy.networking.k8s.io/v1beta1" {
		t.Errorf("got %+v", got)
	}
	for name, input := range map[string]string{
		"a NetworkPolicy":    "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: x, namespace: y}}",
		"twice":              "{apiVersion: policy.networking.k8s.io/v1beta1, kind: ClusterNetworkPolicy, metadata: {name: x}}\n---\n{apiVersion: policy.networking.k8s.io/v1beta1, kind: ClusterNetworkPolicy, metadata: {name: x}}",
		"no name":            "{apiVersion: policy.networking.k8s.io/v1beta1, kind: ClusterNetworkPolicy, metadata: {}}",
		"AdminNetworkPolicy": "{apiVersion: policy.networking.k8s.io/v1alpha1, kind: AdminNetworkPolicy, metadata: {name: x}}",
	} {
		if _, err := ReadClusterPolicies(strings.NewReader(input)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
