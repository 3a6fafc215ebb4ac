package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	npav1alpha2 "sigs.k8s.io/network-policy-api/apis/v1alpha2"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
	"sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/test/harness"
)

// TestMatrixFromCluster runs matrix --from-cluster against kube-apiserver
// as the cluster changes: without the ClusterNetworkPolicy CRD (not an
// error under NetworkPolicy enforcement), with a CRD that serves v1alpha2
// only (read through it), and with the pinned one (v1beta1) under
// ClusterNetworkPolicy enforcement.
func TestMatrixFromCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	env, err := harness.StartEnvtest()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, c := t.Context(), env.Client
	create := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				t.Fatalf("create %T %s: %v", o, o.GetName(), err)
			}
		}
	}
	pair := func(from, to string) pairJSON {
		t.Helper()
		r := runPlugin(t, "", "matrix", "--from-cluster", "--kubeconfig", kubeconfig, "-o", "json").mustSucceed(t)
		return decodePairs(t, r.stdout)[[2]string{from, to}]
	}

	// The profile, enforced by NetworkPolicies: namespaces with Tierguard's
	// labels and policies.
	profile := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company"}, Spec: segv1.SegmentationProfileSpec{
		Tiers: []segv1.Tier{
			{Name: "dev", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"app-dev"}}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Names: []segv1.NamespaceName{"billing-prod"}}},
		},
	}}
	create(profile)
	namespaces := []render.Namespace{{Name: "app-dev"}, {Name: "billing-prod"}, {Name: "other"}}
	plan, err := render.Compute(render.Input{Profile: profile, Namespaces: namespaces})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		var labels map[string]string
		if g := plan.Lookup(ns.Name); g != nil {
			labels = g.Labels
		}
		create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: labels}})
	}
	for _, g := range plan.Governed {
		create(g.Policy.DeepCopy())
	}
	if p := pair("app-dev", "billing-prod"); p.Differs || p.Allowed {
		t.Errorf("without the CRD, app-dev -> billing-prod: %+v", p)
	}

	// Another administrator's Admin policy, read through v1alpha2, opens
	// TCP/22 before any NetworkPolicy.
	installCRD(t, env, "v1alpha2")
	create(&npav1alpha2.ClusterNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "early-dev-to-prod"}, Spec: npav1alpha2.ClusterNetworkPolicySpec{
		Tier: npav1alpha2.AdminTier, Priority: 100,
		Subject: npav1alpha2.ClusterNetworkPolicySubject{Namespaces: tierSelector("prod")},
		Ingress: []npav1alpha2.ClusterNetworkPolicyIngressRule{{Name: "ssh", Action: npav1alpha2.ClusterNetworkPolicyRuleActionAccept,
			From:      []npav1alpha2.ClusterNetworkPolicyIngressPeer{{Namespaces: tierSelector("dev")}},
			Protocols: []npav1alpha2.ClusterNetworkPolicyProtocol{{TCP: &npav1alpha2.ClusterNetworkPolicyProtocolTCP{DestinationPort: &npav1alpha2.Port{Number: 22}}}}}},
	}})
	if p := pair("app-dev", "billing-prod"); !slices.Equal(p.UnintendedPorts, []string{"TCP/22"}) ||
		!slices.Equal(p.Responsible, []string{"ClusterNetworkPolicy/early-dev-to-prod"}) {
		t.Errorf("with a v1alpha2 Admin Accept, app-dev -> billing-prod: %+v", p)
	}

	// Enforced by ClusterNetworkPolicies (v1beta1): a namespace owner's
	// allow-all opens nothing, the early Admin policy still does.
	installCRD(t, env, "")
	profile.Spec.Enforcement = segv1.EnforcementClusterNetworkPolicy
	if err := c.Update(ctx, profile); err != nil {
		t.Fatal(err)
	}
	for _, g := range plan.Governed {
		if err := c.Delete(ctx, g.Policy.DeepCopy()); err != nil {
			t.Fatal(err)
		}
	}
	planned, err := render.ClusterNetworkPolicies(profile, plan, render.CNPPriority(profile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range planned {
		create(&planned[i])
	}
	create(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "billing-prod", Name: "allow-all"},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}})
	want := pairJSON{From: "app-dev", To: "billing-prod", Allowed: true, Ports: []string{"TCP/22"},
		Policies: []string{"ClusterNetworkPolicy/early-dev-to-prod"}, IntendedPorts: none, Differs: true, UnintendedPorts: []string{"TCP/22"},
		Responsible: []string{"ClusterNetworkPolicy/early-dev-to-prod"}, Exact: true, FromTier: "dev", ToTier: "prod"}
	if diff := cmp.Diff(want, pair("app-dev", "billing-prod")); diff != "" {
		t.Errorf("under ClusterNetworkPolicy enforcement (-want +got):\n%s", diff)
	}
	if p := pair("other", "billing-prod"); p.Differs || p.Allowed {
		t.Errorf("the allow-all in billing-prod opens it to other: %+v", p)
	}
	var list npav1beta1.ClusterNetworkPolicyList
	if err := c.List(ctx, &list); err != nil || len(list.Items) != len(planned)+1 {
		t.Errorf("the cluster holds %d ClusterNetworkPolicies (%v), want %d", len(list.Items), err, len(planned)+1)
	}

	// A profile NAME, as kubectl takes names, is --from-cluster --profile NAME.
	named := runPlugin(t, "", "matrix", "company", "--kubeconfig", kubeconfig, "-o", "json").mustSucceed(t)
	if diff := cmp.Diff(want, decodePairs(t, named.stdout)[[2]string{"app-dev", "billing-prod"}]); diff != "" {
		t.Errorf("matrix company (-want +got):\n%s", diff)
	}
	// The picture draws the hole in red, from dev to prod (one namespace
	// each, so the tiers), with the policy that opens it.
	dot := runPlugin(t, "", "matrix", "company", "--kubeconfig", kubeconfig, "-o", "dot").mustSucceed(t).stdout
	mustContain(t, dot, `g0 -> g1 [label="TCP/22\nby ClusterNetworkPolicy/early-dev-to-prod", color="#d00000"`)
	mermaid := runPlugin(t, "", "matrix", "--from-cluster", "--kubeconfig", kubeconfig, "-o", "mermaid").mustSucceed(t).stdout
	mustContain(t, mermaid, `g0 -->|"TCP/22<br>by ClusterNetworkPolicy/early-dev-to-prod"| g1`)
	// render NAME renders the cluster's profile against the cluster.
	rendered := runPlugin(t, "", "render", "company", "--kubeconfig", kubeconfig).mustSucceed(t).stdout
	mustContain(t, rendered, "kind: ClusterNetworkPolicy", "name: app-dev")
	if r := runPlugin(t, "", "render", "nothing", "--kubeconfig", kubeconfig); r.code != exitInvalid ||
		!strings.Contains(r.stderr, `SegmentationProfile "nothing" not found`) {
		t.Errorf("render of a missing profile: exit %d, %s", r.code, r.stderr)
	}
	// Shell completion offers the cluster's profiles.
	for _, cmd := range []string{"matrix", "render", "status"} {
		r := runPlugin(t, "", "__complete", cmd, "--kubeconfig", kubeconfig, "co").mustSucceed(t)
		if !strings.HasPrefix(r.stdout, "company\n:4\n") {
			t.Errorf("__complete %s co: %q, want company", cmd, r.stdout)
		}
	}
}

func tierSelector(tier string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{render.DefaultTierLabelKey: tier}}
}

// installCRD installs the pinned ClusterNetworkPolicy CRD, or, with only
// set, the same CRD serving that version alone, as an older release does.
func installCRD(t *testing.T, env *harness.Envtest, only string) {
	t.Helper()
	path, err := harness.ClusterNetworkPolicyCRD()
	if err != nil {
		t.Fatal(err)
	}
	if only != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			t.Fatal(err)
		}
		spec := obj["spec"].(map[string]any)
		var kept []any
		for _, v := range spec["versions"].([]any) {
			if m := v.(map[string]any); m["name"] == only {
				m["storage"], m["served"] = true, true
				kept = append(kept, m)
			}
		}
		spec["versions"] = kept
		out, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(t.TempDir(), "crd.yaml")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{path}}); err != nil {
		t.Fatal(err)
	}
}
