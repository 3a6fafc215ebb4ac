package intent

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
)

func envSelector(env string) *segv1.LabelSelector {
	return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": segv1.LabelValue(env)}}
}

func tcp(port intstr.IntOrString) segv1.NetworkPolicyPort {
	return segv1.NetworkPolicyPort{Protocol: "TCP", Port: &port}
}

// testProfile has three tiers (prod isolated per namespace), flows from
// dev to test on TCP 443 and 8000-8080 and from test to prod on the named
// port https, and the shared namespace ingress.
func testProfile(egress segv1.EgressIsolation) *segv1.SegmentationProfile {
	web := tcp(intstr.FromInt32(8000))
	web.EndPort = ptr.To[int32](8080)
	return &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "company"},
		Spec: segv1.SegmentationProfileSpec{
			Tiers: []segv1.Tier{
				{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: envSelector("dev")}},
				{Name: "test", Namespaces: segv1.NamespaceSet{Selector: envSelector("test")}},
				{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: envSelector("prod")}, Isolation: segv1.IsolationNamespace},
			},
			Flows: []segv1.Flow{
				{From: "dev", To: "test", Ports: []segv1.NetworkPolicyPort{tcp(intstr.FromInt32(443)), web}},
				{From: "test", To: "prod", Ports: []segv1.NetworkPolicyPort{tcp(intstr.FromString("https"))}},
			},
			SharedNamespaces: &segv1.NamespaceSet{Selector: &segv1.LabelSelector{
				MatchLabels: map[string]segv1.LabelValue{"shared": "true"}}},
			Egress: segv1.Egress{Isolation: egress},
		},
	}
}

var testNamespaces = []render.Namespace{
	{Name: "dev-a", Labels: map[string]string{"env": "dev"}},
	{Name: "dev-b", Labels: map[string]string{"env": "dev"}},
	{Name: "test-a", Labels: map[string]string{"env": "test"}},
	{Name: "prod-a", Labels: map[string]string{"env": "prod"}},
	{Name: "prod-b", Labels: map[string]string{"env": "prod"}},
	{Name: "ingress", Labels: map[string]string{"shared": "true"}},
	{Name: "kube-system", Labels: map[string]string{}},
	{Name: "other", Labels: map[string]string{}},
}

func newIntent(t *testing.T, p *segv1.SegmentationProfile, namespaces []render.Namespace) *Intent {
	t.Helper()
	plan, err := render.Compute(render.Input{Profile: p, Namespaces: namespaces})
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(p, plan, namespaces)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestPorts(t *testing.T) {
	const all = "all"
	cases := []struct {
		name     string
		egress   segv1.EgressIsolation
		from, to string
		want     string
	}{
		{name: "a namespace reaches itself", from: "prod-a", to: "prod-a", want: all},
		{name: "within a tier", from: "dev-a", to: "dev-b", want: all},
		{name: "between namespaces of a tier isolated per namespace", from: "prod-a", to: "prod-b", want: "none"},
		{name: "a flow's numbered ports", from: "dev-a", to: "test-a", want: "TCP/443, TCP/8000-8080"},
		{name: "a flow's named port stays a name, not every TCP port", from: "test-a", to: "prod-a", want: `TCP/"https"`},
		{name: "flows have a direction", from: "test-a", to: "dev-a", want: "none"},
		{name: "no flow between tiers", from: "dev-a", to: "prod-a", want: "none"},
		{name: "a shared namespace reaches every tier", from: "ingress", to: "prod-a", want: all},
		{name: "an ungoverned namespace reaches no tier", from: "other", to: "prod-a", want: "none"},
		{name: "without egress isolation a tier reaches ungoverned namespaces", from: "dev-a", to: "other", want: all},
		{name: "with egress isolation, not ungoverned ones", egress: segv1.EgressIsolationTier, from: "dev-a", to: "other", want: "none"},
		{name: "with egress isolation, DNS in kube-system", egress: segv1.EgressIsolationTier, from: "dev-a", to: "kube-system", want: "TCP/53, UDP/53"},
		{name: "with egress isolation, shared namespaces", egress: segv1.EgressIsolationTier, from: "prod-a", to: "ingress", want: all},
		{name: "with egress isolation, a flow's named port on both sides", egress: segv1.EgressIsolationTier, from: "test-a", to: "prod-a", want: `TCP/"https"`},
		{name: "with egress isolation, an ungoverned source is not limited", egress: segv1.EgressIsolationTier, from: "other", to: "kube-system", want: all},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newIntent(t, testProfile(tc.egress), testNamespaces)
			if got := in.Ports(tc.from, tc.to).String(); got != tc.want {
				t.Errorf("Ports(%s, %s) = %s, want %s", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestTierAndShared(t *testing.T) {
	in := newIntent(t, testProfile(segv1.EgressIsolationNone), testNamespaces)
	for ns, want := range map[string]string{"dev-a": "dev", "prod-b": "prod", "ingress": "", "other": ""} {
		if got := in.Tier(ns); got != want {
			t.Errorf("Tier(%s) = %q, want %q", ns, got, want)
		}
	}
	if !in.Shared("ingress") || in.Shared("other") {
		t.Errorf("Shared: ingress %v, other %v; want true, false", in.Shared("ingress"), in.Shared("other"))
	}
	if in.EgressIsolated() {
		t.Error("EgressIsolated without egress isolation")
	}
}

// TestRetainedNamespaceKeepsItsTier: a namespace that left every tier
// under leavePolicy Retain keeps the tier its labels say until released,
// so its tier's own traffic is intended.
func TestRetainedNamespaceKeepsItsTier(t *testing.T) {
	namespaces := append([]render.Namespace{{Name: "dev-old", Labels: map[string]string{
		"env": "gone", render.DefaultTierLabelKey: "dev", render.ProfileLabel: "company"}}}, testNamespaces...)
	in := newIntent(t, testProfile(segv1.EgressIsolationNone), namespaces)
	if got := in.Tier("dev-old"); got != "dev" {
		t.Fatalf("Tier(dev-old) = %q, want dev", got)
	}
	if got := in.Ports("dev-old", "dev-a"); !got.All() {
		t.Errorf("Ports(dev-old, dev-a) = %s, want all", got)
	}
}

func TestFlowPorts(t *testing.T) {
	udp := func(port intstr.IntOrString) segv1.NetworkPolicyPort {
		return segv1.NetworkPolicyPort{Protocol: "UDP", Port: &port}
	}
	rng := tcp(intstr.FromInt32(8000))
	rng.EndPort = ptr.To[int32](8080)
	cases := []struct {
		name string
		in   []segv1.NetworkPolicyPort
		want string
	}{
		{name: "no ports is every port", want: "all"},
		{name: "a protocol without a port is every port of it", in: []segv1.NetworkPolicyPort{{Protocol: "UDP"}}, want: "UDP/all"},
		{name: "TCP by default", in: []segv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(443))}}, want: "TCP/443"},
		{name: "a range", in: []segv1.NetworkPolicyPort{rng}, want: "TCP/8000-8080"},
		{name: "a named port stays a name", in: []segv1.NetworkPolicyPort{udp(intstr.FromString("dns"))}, want: `UDP/"dns"`},
		{name: "a name under every port of its protocol adds nothing", in: []segv1.NetworkPolicyPort{udp(intstr.FromString("dns")), {Protocol: "UDP"}}, want: "UDP/all"},
		{name: "numbers and names together, merged and sorted", in: []segv1.NetworkPolicyPort{
			udp(intstr.FromInt32(53)), tcp(intstr.FromString("https")), tcp(intstr.FromInt32(443)), tcp(intstr.FromInt32(444))},
			want: `TCP/443-444, UDP/53, TCP/"https"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FlowPorts(tc.in).String(); got != tc.want {
				t.Errorf("FlowPorts = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSharedNamespaces(t *testing.T) {
	p := testProfile(segv1.EgressIsolationNone)
	p.Spec.SharedNamespaces.Names = []segv1.NamespaceName{"monitoring"}
	got, err := SharedNamespaces(p, testNamespaces)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["ingress"] || !got["monitoring"] {
		t.Errorf("SharedNamespaces = %v, want ingress (by label) and monitoring (by name)", got)
	}
	p.Spec.SharedNamespaces = nil
	if got, err := SharedNamespaces(p, testNamespaces); err != nil || len(got) != 0 {
		t.Errorf("without sharedNamespaces: %v, %v; want none", got, err)
	}
}
