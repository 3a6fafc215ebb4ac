package cli

import (
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
	"github.com/tierguard/tierguard/internal/intent"
	"github.com/tierguard/tierguard/internal/render"
)

// matrixProfile has a Tier-isolated tier a and a Namespace-isolated tier b,
// flows both ways (a to b on two port ranges, b to a on every port), a
// shared namespace and egress isolation.
func matrixProfile() *segv1.SegmentationProfile {
	names := func(ns ...segv1.NamespaceName) segv1.NamespaceSet { return segv1.NamespaceSet{Names: ns} }
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: segv1.SegmentationProfileSpec{
			Tiers: []segv1.Tier{
				{Name: "a", Namespaces: names("a-1", "a-2")},
				{Name: "b", Namespaces: names("b-1", "b-2"), Isolation: segv1.IsolationNamespace},
			},
			Flows: []segv1.Flow{
				{From: "a", To: "b", Ports: []segv1.NetworkPolicyPort{
					{Protocol: "TCP", Port: ptr.To(intstr.FromInt32(443))},
					{Protocol: "UDP", Port: ptr.To(intstr.FromInt32(1000)), EndPort: ptr.To[int32](2000)},
				}},
				{From: "b", To: "a"},
			},
			SharedNamespaces: &segv1.NamespaceSet{Names: []segv1.NamespaceName{"sh"}},
			Egress:           segv1.Egress{Isolation: segv1.EgressIsolationTier},
		},
	}
}

func matrixNamespaces() []render.Namespace {
	var out []render.Namespace
	for _, n := range []string{"a-1", "a-2", "b-1", "b-2", "kube-system", "other", "sh"} {
		out = append(out, render.Namespace{Name: n, Labels: map[string]string{render.MetadataNameLabel: n}})
	}
	return append(out, render.Namespace{Name: "going", Labels: map[string]string{}, Terminating: true})
}

func planFor(t *testing.T, p *segv1.SegmentationProfile, nss []render.Namespace) *render.Plan {
	t.Helper()
	plan, err := render.Compute(render.Input{Profile: p, Namespaces: nss})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestIntentRules(t *testing.T) {
	dns := []string{"TCP/53", "UDP/53"}
	all := []string{"TCP/all", "UDP/all", "SCTP/all"}
	flow := []string{"TCP/443", "UDP/1000-2000"}
	cases := []struct {
		name     string
		edit     func(*segv1.SegmentationProfile)
		from, to string
		want     []string
	}{
		{"a namespace with itself, Namespace isolation", nil, "b-1", "b-1", all},
		{"same tier, Tier isolation", nil, "a-1", "a-2", all},
		{"same tier, Namespace isolation", nil, "b-1", "b-2", nil},
		{"a flow on ports, both sides agree", nil, "a-1", "b-1", flow},
		{"a flow on every port", nil, "b-2", "a-1", all},
		{"shared source, ungoverned so not egress-isolated", nil, "sh", "b-1", all},
		{"shared destination", nil, "a-1", "sh", all},
		{"ungoverned source into a tier", nil, "other", "a-1", nil},
		{"egress to an ungoverned namespace", nil, "a-1", "other", nil},
		{"egress to kube-system: DNS only", nil, "b-1", "kube-system", dns},
		{"ungoverned to ungoverned", nil, "other", "kube-system", all},
		{"no DNS", func(p *segv1.SegmentationProfile) { p.Spec.Egress.AllowDNS = ptr.To(false) }, "b-1", "kube-system", nil},
		{"no egress isolation", func(p *segv1.SegmentationProfile) { p.Spec.Egress.Isolation = segv1.EgressIsolationNone }, "a-1", "other", all},
		{"egress narrows a flow to the flows of the source's tier",
			func(p *segv1.SegmentationProfile) { p.Spec.Flows = p.Spec.Flows[:1] }, "b-1", "a-1", nil},
		{"a flow's named port stays a name", func(p *segv1.SegmentationProfile) { p.Spec.Flows[0].Ports = httpsOnly }, "a-1", "b-1", []string{`TCP/"https"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := matrixProfile()
			if tc.edit != nil {
				tc.edit(p)
			}
			nss := matrixNamespaces()
			in, err := intent.New(p, planFor(t, p, nss), nss)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, in.Ports(tc.from, tc.to).Strings(), cmpEmpty); diff != "" {
				t.Errorf("%s -> %s (-want +got):\n%s", tc.from, tc.to, diff)
			}
		})
	}
}

// httpsOnly is a flow on the named port https.
var httpsOnly = []segv1.NetworkPolicyPort{{Protocol: "TCP", Port: ptr.To(intstr.FromString("https"))}}

// cmpEmpty equates nil and empty lists.
var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

// matrixOf builds the matrix of the profile over policies changed by edit.
func matrixOf(t *testing.T, p *segv1.SegmentationProfile, edit func([]networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy) *Matrix {
	t.Helper()
	return matrixWith(t, p, edit, nil)
}

// matrixWith is matrixOf with ClusterNetworkPolicies besides the
// profile's.
func matrixWith(t *testing.T, p *segv1.SegmentationProfile, edit func([]networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy,
	foreign []npav1beta1.ClusterNetworkPolicy) *Matrix {
	t.Helper()
	plan := planFor(t, p, matrixNamespaces())
	nss, policies, cnps, err := Applied(p, plan, matrixNamespaces(), nil, foreign)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		policies = edit(policies)
	}
	m, err := BuildMatrix(MatrixInput{Profile: p, Plan: plan, Namespaces: nss, Policies: policies, ClusterPolicies: cnps, PodCIDRs: DefaultPodCIDRs})
	if err != nil {
		t.Fatal(err)
	}
	if m.Unusable != nil {
		t.Fatal(m.Unusable)
	}
	return m
}

func differences(m *Matrix) []string {
	var out []string
	for _, p := range m.Differences() {
		out = append(out, m.describe(p))
	}
	return out
}

func TestMatrixRenderedMatchesIntent(t *testing.T) {
	m := matrixOf(t, matrixProfile(), nil)
	if d := differences(m); len(d) > 0 {
		t.Errorf("differences:\n%s", strings.Join(d, "\n"))
	}
	if len(m.Pairs) != 49 {
		t.Errorf("%d pairs, want 49: the terminating namespace is left out", len(m.Pairs))
	}
	want := []Group{
		{Name: "a", Kind: GroupTier, Namespaces: []string{"a-1", "a-2"}},
		{Name: "b", Kind: GroupTier, Namespaces: []string{"b-1", "b-2"}},
		{Name: "(shared)", Kind: GroupShared, Namespaces: []string{"sh"}},
		{Name: "(ungoverned)", Kind: GroupUngoverned, Namespaces: []string{"kube-system", "other"}},
	}
	if diff := cmp.Diff(want, m.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

// TestMatrixBlamesDriftedPolicy: in a cluster, Tierguard's own policy is to
// blame once it no longer matches the plan.
func TestMatrixBlamesDriftedPolicy(t *testing.T) {
	m := matrixOf(t, matrixProfile(), func(ps []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
		for i := range ps {
			if ps[i].Namespace == "b-2" {
				ps[i].Spec.Ingress = append(ps[i].Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
			}
		}
		return ps
	})
	got := differences(m)
	// Governed sources are held back by their egress isolation.
	want := []string{
		"kube-system (ungoverned) -> b-2 (b): allows all ports (intended: deny); by b-2/tierguard-isolation",
		"other (ungoverned) -> b-2 (b): allows all ports (intended: deny); by b-2/tierguard-isolation",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestMatrixMissingPolicy: before Tierguard enforced a namespace, nothing
// isolates it, and the difference says so.
func TestMatrixMissingPolicy(t *testing.T) {
	m := matrixOf(t, matrixProfile(), func(ps []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
		return slices.DeleteFunc(ps, func(p networkingv1.NetworkPolicy) bool { return p.Namespace == "b-1" })
	})
	var lines []string
	for _, p := range m.Differences() {
		if p.From == "b-1" && p.To == "other" {
			lines = append(lines, m.describe(p))
			if len(p.Responsible) != 0 {
				t.Errorf("responsible %v, want none: no policy opens it", p.Responsible)
			}
		}
	}
	want := []string{"b-1 (b) -> other (ungoverned): allows all ports (intended: deny); by no policy isolates pods of b-1 for egress"}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestMatrixBlamesTheProfile: an allowedCIDRs that holds pod addresses
// opens pod traffic the rules do not intend; only Tierguard's policy can be
// named.
func TestMatrixBlamesTheProfile(t *testing.T) {
	p := matrixProfile()
	p.Spec.Egress.AllowedCIDRs = []segv1.IPBlock{{CIDR: "10.0.0.0/8"}}
	m := matrixOf(t, p, nil)
	var pair *Pair
	for i := range m.Pairs {
		if m.Pairs[i].From == "a-1" && m.Pairs[i].To == "other" {
			pair = &m.Pairs[i]
		}
	}
	if !pair.Differs || !slices.Equal(pair.Responsible, []string{"a-1/tierguard-isolation"}) || pair.Exact {
		t.Errorf("a-1 -> other: differs %v, responsible %v, exact %v; want the profile's own policy, for some pods",
			pair.Differs, pair.Responsible, pair.Exact)
	}
	if !m.IPBlocks {
		t.Errorf("IPBlocks not set")
	}
	if !strings.Contains(m.describe(*pair), "allows all ports for some pods") {
		t.Errorf("describe: %s", m.describe(*pair))
	}
}

func TestGroupCell(t *testing.T) {
	m := matrixOf(t, matrixProfile(), nil)
	idx := map[[2]string]*Pair{}
	for i := range m.Pairs {
		idx[[2]string{m.Pairs[i].From, m.Pairs[i].To}] = &m.Pairs[i]
	}
	cases := []struct {
		from, to int
		want     string
	}{
		{0, 1, "TCP/443,UDP/1000-2000"},
		{1, 1, "deny"},           // pairs with itself do not count
		{0, 3, "TCP/53,UDP/53*"}, // kube-system DNS only, other nothing
		{2, 2, "-"},              // one shared namespace
		{3, 3, "allow"},          // kube-system and other
		{1, 0, "allow"},          // b -> a on every port
		{3, 0, "deny"},           // ungoverned into a
		{2, 1, "allow"},          // shared into b
		{0, 2, "allow"},          // a to shared
		{1, 3, "TCP/53,UDP/53*"}, // b egress
		{3, 2, "allow"},          // ungoverned to shared
		{0, 0, "allow"},          // a-1 <-> a-2
		{2, 3, "allow"},          // shared to ungoverned
		{2, 0, "allow"},          // shared to a
		{3, 1, "deny"},           // ungoverned to b
		{1, 2, "allow"},          // b to shared
	}
	for _, tc := range cases {
		if got := groupCell(m.Groups[tc.from], m.Groups[tc.to], idx); got != tc.want {
			t.Errorf("%s -> %s: %q, want %q", m.Groups[tc.from].Name, m.Groups[tc.to].Name, got, tc.want)
		}
	}
}

// TestMatrixPartialDifference: without egress isolation, a drifted policy
// opens the ports around a flow's, and only those are reported.
func TestMatrixPartialDifference(t *testing.T) {
	p := matrixProfile()
	p.Spec.Egress.Isolation = segv1.EgressIsolationNone
	m := matrixOf(t, p, func(ps []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
		for i := range ps {
			if ps[i].Namespace == "b-2" {
				ps[i].Spec.Ingress = append(ps[i].Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
			}
		}
		return ps
	})
	var got string
	for _, pair := range m.Differences() {
		if pair.From == "a-1" {
			got = m.describe(pair)
			if !slices.Equal(pair.UnintendedPorts, []string{"TCP/1-442", "TCP/444-65535", "UDP/1-999", "UDP/2001-65535", "SCTP/all"}) {
				t.Errorf("unintended ports %v", pair.UnintendedPorts)
			}
		}
	}
	want := "a-1 (a) -> b-2 (b): allows TCP/1-442, TCP/444-65535, UDP/1-999, UDP/2001-65535, SCTP/all (intended: TCP/443,UDP/1000-2000); by b-2/tierguard-isolation"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// fromNamespace is a foreign policy in ns admitting the namespace from on
// one TCP port.
func fromNamespace(ns, name, from string, port intstr.IntOrString) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: networkingv1.NetworkPolicySpec{
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{render.MetadataNameLabel: from}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Port: &port}},
		}},
	}}
}

// TestMatrixPortsAndCulprits: a named flow port is neither every port nor
// a cover for TCP/22, and every policy opening a port beyond the intent is
// responsible, not only those of its first port.
func TestMatrixPortsAndCulprits(t *testing.T) {
	cases := []struct {
		name    string
		flow    []segv1.NetworkPolicyPort
		foreign []networkingv1.NetworkPolicy
		want    []string
	}{
		{name: "a named flow port, rendered, matches the intent", flow: httpsOnly},
		{name: "TCP/22 beside a named flow port is a difference", flow: httpsOnly,
			foreign: []networkingv1.NetworkPolicy{fromNamespace("b-1", "ssh", "a-1", intstr.FromInt32(22))},
			want:    []string{`a-1 (a) -> b-1 (b): allows TCP/22 (intended: TCP/"https"); by b-1/ssh`}},
		{name: "the named flow port itself opened again is no difference", flow: httpsOnly,
			foreign: []networkingv1.NetworkPolicy{fromNamespace("b-1", "https", "a-1", intstr.FromString("https"))}},
		{name: "every policy opening a port beyond the intent is named",
			foreign: []networkingv1.NetworkPolicy{
				fromNamespace("b-1", "ssh", "a-1", intstr.FromInt32(22)), fromNamespace("b-1", "web", "a-1", intstr.FromInt32(8080))},
			want: []string{"a-1 (a) -> b-1 (b): allows TCP/22, TCP/8080 (intended: TCP/443,UDP/1000-2000); by b-1/ssh, b-1/web"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := matrixProfile()
			p.Spec.Egress.Isolation = segv1.EgressIsolationNone
			if tc.flow != nil {
				p.Spec.Flows[0].Ports = tc.flow
			}
			m := matrixOf(t, p, func(ps []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy { return append(ps, tc.foreign...) })
			if diff := cmp.Diff(tc.want, differences(m), cmpEmpty); diff != "" {
				t.Errorf("differences (-want +got):\n%s", diff)
			}
		})
	}
}
