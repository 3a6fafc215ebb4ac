package render_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/tierguard/tierguard/internal/render"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// goldenOperatorNamespace is where config/default installs Tierguard.
const goldenOperatorNamespace = "tierguard-system"

// TestGoldenSamples renders every sample profile against the namespaces
// fixture. A golden file is the review surface for a change to render:
// its diff shows exactly what the cluster would get.
func TestGoldenSamples(t *testing.T) {
	samples, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	namespaces := loadNamespaces(t, "testdata/namespaces.yaml")
	rendered := 0
	for _, path := range samples {
		if filepath.Base(path) == "kustomization.yaml" {
			continue
		}
		rendered++
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := render.Compute(render.Input{
				Profile:           profileYAML(t, string(data)),
				Namespaces:        namespaces,
				OperatorNamespace: goldenOperatorNamespace,
			})
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			out := planStream(t, plan, namespaces)
			if profile := profileYAML(t, string(data)); render.UsesClusterNetworkPolicies(profile) {
				// The ClusterNetworkPolicies follow the namespaces (and their
				// NetworkPolicies, under Both).
				cnps, err := render.ClusterNetworkPolicies(profile, plan, render.CNPPriority(profile))
				if err != nil {
					t.Fatalf("ClusterNetworkPolicies: %v", err)
				}
				b := bytes.NewBuffer(out)
				for i := range cnps {
					writeDoc(t, b, &cnps[i])
				}
				out = b.Bytes()
			}
			compareGolden(t, filepath.Join("testdata", "golden", name+".yaml"), out)
		})
	}
	if rendered < 2 {
		t.Fatalf("found %d samples in config/samples; the glob is probably wrong", rendered)
	}
}

// loadNamespaces reads what `kubectl get namespaces -o yaml` prints.
func loadNamespaces(t testing.TB, path string) []render.Namespace {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var list corev1.NamespaceList
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []render.Namespace
	for _, n := range list.Items {
		out = append(out, render.Namespace{
			Name:        n.Name,
			Labels:      n.Labels,
			Terminating: n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating,
		})
	}
	return out
}

// planStream prints a plan as a commented YAML stream: a summary of what is
// left alone, then for each governed namespace its resulting Namespace and
// its NetworkPolicy, the documents the kubectl plugin prints.
func planStream(t testing.TB, plan *render.Plan, namespaces []render.Namespace) []byte {
	t.Helper()
	current := map[string]map[string]string{}
	for _, n := range namespaces {
		current[n.Name] = n.Labels
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Profile %s (tierLabelKey %s): %d governed, %d held, %d conflicts, %d skipped.\n",
		plan.Profile, plan.TierLabelKey, len(plan.Governed), len(plan.Held), len(plan.Conflicts), len(plan.Skipped))
	if plan.Blocked {
		b.WriteString("# Blocked: the profile governs nothing.\n")
	}
	for _, c := range plan.Conflicts {
		fmt.Fprintf(&b, "# Conflict %s %q: %s\n", c.Reason, c.Namespace, c.Message)
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(&b, "# Skipped %s: %s\n", s.Namespace, s.Reason)
	}
	for _, h := range plan.Held {
		fmt.Fprintf(&b, "# Held %s\n", h)
	}
	for _, g := range plan.Governed {
		writeDoc(t, &b, &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: g.Name, Labels: render.MergedLabels(current[g.Name], g.Labels)},
		})
		writeDoc(t, &b, g.Policy)
	}
	return b.Bytes()
}

func writeDoc(t testing.TB, b *bytes.Buffer, obj any) {
	t.Helper()
	data, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("---\n")
	b.Write(data)
}

// compareGolden compares got with the golden file, or rewrites it with
// -update.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/render -run TestGolden -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-golden +got); if the change is intended, rerun with -update:\n%s", path, diff)
	}
}

// TestGoldenNamespacesFixture guards the fixture itself: the golden files
// only mean something if it holds every case they are meant to show.
func TestGoldenNamespacesFixture(t *testing.T) {
	var terminating, systemNS int
	for _, n := range loadNamespaces(t, "testdata/namespaces.yaml") {
		if n.Terminating {
			terminating++
		}
		if strings.HasPrefix(n.Name, "kube-") {
			systemNS++
		}
		if n.Labels[render.MetadataNameLabel] != n.Name {
			t.Errorf("%s: kubernetes.io/metadata.name is %q; the API server always sets it to the name", n.Name, n.Labels[render.MetadataNameLabel])
		}
	}
	if terminating != 1 || systemNS != 3 {
		t.Errorf("fixture has %d terminating and %d kube-* namespaces, want 1 and 3", terminating, systemNS)
	}
}
