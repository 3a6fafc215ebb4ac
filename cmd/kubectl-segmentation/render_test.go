package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	npav1beta1 "sigs.k8s.io/network-policy-api/apis/v1beta1"
	"sigs.k8s.io/yaml"
)

// stream is the decoded output of render -o yaml.
type stream struct {
	namespaces      []corev1.Namespace
	policies        []networkingv1.NetworkPolicy
	clusterPolicies []npav1beta1.ClusterNetworkPolicy
	kinds           []string // in output order
}

func parseStream(t *testing.T, out string) stream {
	t.Helper()
	if out != "" && !strings.HasPrefix(out, "---\n") {
		t.Fatalf("the stream does not start with ---:\n%s", out)
	}
	var s stream
	for _, doc := range strings.Split(out, "---\n")[1:] {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("document is not YAML: %v\n%s", err, doc)
		}
		s.kinds = append(s.kinds, head.Kind)
		switch head.Kind {
		case "Namespace":
			var ns corev1.Namespace
			if err := yaml.UnmarshalStrict([]byte(doc), &ns); err != nil {
				t.Fatal(err)
			}
			s.namespaces = append(s.namespaces, ns)
		case "NetworkPolicy":
			var np networkingv1.NetworkPolicy
			if err := yaml.UnmarshalStrict([]byte(doc), &np); err != nil {
				t.Fatal(err)
			}
			s.policies = append(s.policies, np)
		case "ClusterNetworkPolicy":
			var c npav1beta1.ClusterNetworkPolicy
			if err := yaml.UnmarshalStrict([]byte(doc), &c); err != nil {
				t.Fatal(err)
			}
			s.clusterPolicies = append(s.clusterPolicies, c)
		default:
			t.Fatalf("unexpected kind %q in:\n%s", head.Kind, doc)
		}
	}
	return s
}

// goldenDocuments returns the YAML documents of a golden file of package
// render, without its comment header: the plugin must print exactly what
// the render tests pinned.
func goldenDocuments(t *testing.T, sample string) string {
	t.Helper()
	data, err := os.ReadFile("../../internal/render/testdata/golden/" + sample + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "---\n")
	if i < 0 {
		return ""
	}
	return text[i:]
}

func TestRenderSamplesFromNamespaceList(t *testing.T) {
	cases := []struct {
		profile, golden string
		warnings        []string
	}{
		{
			profile: sampleProfile, golden: "segmentation_v1alpha1_segmentationprofile",
			warnings: []string{
				"Warning: namespace ingress-nginx skipped: shared namespace",
				"Warning: namespace kube-system skipped: always excluded (Kubernetes system namespace)",
				"Warning: namespace legacy skipped: listed in excludedNamespaces",
				"Warning: namespace monitoring skipped: shared namespace",
				"Warning: namespace old-test skipped: being deleted",
				"Warning: namespace tierguard-system skipped: the operator's own namespace",
			},
		},
		{
			profile: egressSampleProfile, golden: "segmentation_v1alpha1_segmentationprofile_egress",
			warnings: []string{
				"Warning: namespace shared-tools: conflict SharedAndTier: shared namespace matched by tier dev; treated as shared only",
				"Warning: namespace ingress-nginx skipped: shared namespace",
				"Warning: namespace kube-system skipped: always excluded (Kubernetes system namespace)",
				"Warning: namespace monitoring skipped: shared namespace",
				"Warning: namespace old-test skipped: being deleted",
				"Warning: namespace tierguard-system skipped: the operator's own namespace",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			r := runPlugin(t, "", "render", "--profile", tc.profile, "--namespaces", namespacesList).mustSucceed(t)
			if diff := cmp.Diff(goldenDocuments(t, tc.golden), r.stdout); diff != "" {
				t.Errorf("output differs from render's golden file (-golden +output):\n%s", diff)
			}
			if diff := cmp.Diff(tc.warnings, lines(r.stderr)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderFromNamespaceStream(t *testing.T) {
	r := runPlugin(t, "", "render", "--profile", sampleProfile, "--namespaces", namespacesStream).mustSucceed(t)
	s := parseStream(t, r.stdout)
	wantKinds := []string{"Namespace", "NetworkPolicy", "Namespace", "NetworkPolicy", "Namespace", "NetworkPolicy"}
	if diff := cmp.Diff(wantKinds, s.kinds); diff != "" {
		t.Fatalf("kinds (-want +got):\n%s", diff)
	}
	wantLabels := map[string]map[string]string{
		"web-dev": {
			"env": "dev", "kubernetes.io/metadata.name": "web-dev",
			"pod-security.kubernetes.io/enforce": "baseline",
			"segmentation.tierguard.io/profile":  "company", "segmentation.tierguard.io/tier": "dev",
		},
		"web-prod": {
			"env": "prod", "kubernetes.io/metadata.name": "web-prod",
			"pod-security.kubernetes.io/enforce": "restricted",
			"segmentation.tierguard.io/profile":  "company", "segmentation.tierguard.io/tier": "prod",
		},
		"web-test": {
			"env": "test", "team": "web", "kubernetes.io/metadata.name": "web-test",
			"pod-security.kubernetes.io/enforce": "baseline",
			"segmentation.tierguard.io/profile":  "company", "segmentation.tierguard.io/tier": "test",
		},
	}
	got := map[string]map[string]string{}
	for i, ns := range s.namespaces {
		got[ns.Name] = ns.Labels
		if p := s.policies[i]; p.Namespace != ns.Name || p.Name != "tierguard-isolation" {
			t.Errorf("document after Namespace %s is policy %s/%s", ns.Name, p.Namespace, p.Name)
		}
	}
	if diff := cmp.Diff(wantLabels, got); diff != "" {
		t.Errorf("namespace labels (-want +got):\n%s", diff)
	}
	wantWarnings := []string{
		"Warning: namespace going-away skipped: being deleted",
		"Warning: namespace ingress-nginx skipped: shared namespace",
	}
	if diff := cmp.Diff(wantWarnings, lines(r.stderr)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestRenderNamespacesFromStdin(t *testing.T) {
	data, err := os.ReadFile(namespacesList)
	if err != nil {
		t.Fatal(err)
	}
	fromStdin := runPlugin(t, string(data), "render", "--profile", sampleProfile, "--namespaces", "-").mustSucceed(t)
	fromFile := runPlugin(t, "", "render", "--profile", sampleProfile, "--namespaces", namespacesList).mustSucceed(t)
	if fromStdin.stdout != fromFile.stdout || fromStdin.stderr != fromFile.stderr {
		t.Errorf("reading namespaces from stdin changed the result")
	}
}

func TestRenderJSON(t *testing.T) {
	r := runPlugin(t, "", "render", "--profile", egressSampleProfile, "--namespaces", namespacesList, "-o", "json").mustSucceed(t)
	var list struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	if list.APIVersion != "v1" || list.Kind != "List" {
		t.Errorf("got %s %s, want a v1 List", list.APIVersion, list.Kind)
	}
	var order []string
	for _, item := range list.Items {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(item, &obj); err != nil {
			t.Fatal(err)
		}
		order = append(order, obj.Kind+" "+obj.Metadata.Namespace+"/"+obj.Metadata.Name)
	}
	var want []string
	for _, ns := range []string{"app-dev", "billing-prod", "legacy", "qa", "shop-prod", "shop-test"} {
		want = append(want, "Namespace /"+ns, "NetworkPolicy "+ns+"/tierguard-isolation")
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}

	// The same objects as the YAML stream.
	yamlOut := parseStream(t, runPlugin(t, "", "render", "--profile", egressSampleProfile, "--namespaces", namespacesList).mustSucceed(t).stdout)
	var firstPolicy networkingv1.NetworkPolicy
	if err := json.Unmarshal(list.Items[1], &firstPolicy); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(yamlOut.policies[0], firstPolicy); diff != "" {
		t.Errorf("JSON and YAML disagree (-yaml +json):\n%s", diff)
	}
}

func TestRenderJSONWithNothingGoverned(t *testing.T) {
	r := runPlugin(t, "apiVersion: v1\nkind: List\nitems: []\n", "render", "--profile", sampleProfile, "--namespaces", "-", "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"items": []`) {
		t.Errorf("want an empty items array, got:\n%s", r.stdout)
	}
	yamlRun := runPlugin(t, "", "render", "--profile", sampleProfile, "--namespaces", "-").mustSucceed(t)
	if yamlRun.stdout != "" {
		t.Errorf("YAML output for no namespaces: %q, want nothing", yamlRun.stdout)
	}
}

func TestRenderWarnsOnConflicts(t *testing.T) {
	r := runPlugin(t, "", "render", "--profile", "testdata/conflicts.yaml", "--namespaces", "testdata/conflict-namespaces.yaml").mustSucceed(t)
	want := []string{
		"Warning: namespace both: conflict MultipleTiers: matched by tiers dev and test; left ungoverned",
		"Warning: namespace tools: conflict SharedAndTier: shared namespace matched by tier dev; treated as shared only",
		"Warning: namespace web-test: conflict MultipleTiers: matched by tiers dev and test; stays in tier test",
		"Warning: namespace ingress-nginx skipped: shared namespace",
	}
	if diff := cmp.Diff(want, lines(r.stderr)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	s := parseStream(t, r.stdout)
	var names []string
	for _, ns := range s.namespaces {
		names = append(names, ns.Name+"="+ns.Labels["segmentation.tierguard.io/tier"])
	}
	// Conflicting namespaces are left alone, except web-test, which keeps
	// the matching tier it already has.
	if want := []string{"web-dev=dev", "web-test=test"}; !slices.Equal(names, want) {
		t.Errorf("rendered namespaces %v, want %v", names, want)
	}
}

func TestRenderAppliesSchemaDefaults(t *testing.T) {
	// The egress sample sets allowDNS explicitly; without it the CRD's
	// default (true) must apply, as the API server would store it.
	profile := `apiVersion: segmentation.tierguard.io/v1alpha1
kind: SegmentationProfile
metadata: {name: defaults}
spec:
  tiers:
  - {name: dev, namespaces: {names: [web-dev]}}
  flows: []
  egress: {isolation: Tier}
`
	dir := t.TempDir()
	path := dir + "/profile.yaml"
	if err := os.WriteFile(path, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runPlugin(t, "", "render", "--profile", path, "--namespaces", namespacesStream).mustSucceed(t)
	s := parseStream(t, r.stdout)
	if len(s.policies) != 1 {
		t.Fatalf("%d policies, want 1", len(s.policies))
	}
	egress := s.policies[0].Spec.Egress
	if len(egress) != 2 || egress[1].To[0].PodSelector == nil || egress[1].To[0].PodSelector.MatchLabels["k8s-app"] != "kube-dns" {
		t.Errorf("egress rules %+v, want the tier rule and DNS", egress)
	}
	if s.namespaces[0].Labels["segmentation.tierguard.io/tier"] != "dev" {
		t.Errorf("labels %v: the default tierLabelKey was not applied", s.namespaces[0].Labels)
	}
}
