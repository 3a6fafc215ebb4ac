package cnpapi_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/test/harness"
)

func crd(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/network-policy-api").Output()
	if err != nil {
		t.Fatalf("locate sigs.k8s.io/network-policy-api: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard", "policy.networking.k8s.io_clusternetworkpolicies.yaml")
}

// onlyVersion writes the CRD with one version served, for a server that
// has not upgraded to v0.3.0.
func onlyVersion(t *testing.T, version string) string {
	t.Helper()
	data, err := os.ReadFile(crd(t))
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
		if m := v.(map[string]any); m["name"] == version {
			m["storage"], m["served"] = true, true
			kept = append(kept, m)
		}
	}
	spec["versions"] = kept
	out, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		crd  func(t *testing.T) string // nil: not installed
		want string
	}{
		{name: "not installed"},
		{name: "v0.3.0 serves v1beta1 and v1alpha2: v1beta1", crd: crd, want: "v1beta1"},
		{name: "v0.2.0 serves v1alpha2 only", crd: func(t *testing.T) string { return onlyVersion(t, "v1alpha2") }, want: "v1alpha2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := harness.StartEnvtest()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = env.Stop() })
			if tc.crd != nil {
				if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{tc.crd(t)}}); err != nil {
					t.Fatal(err)
				}
			}
			gv, err := cnpapi.Detect(discovery.NewDiscoveryClientForConfigOrDie(env.Config))
			switch {
			case tc.want == "" && !errors.Is(err, cnpapi.ErrNotServed):
				t.Fatalf("Detect() = %v, %v; want ErrNotServed", gv, err)
			case tc.want != "" && (err != nil || gv != (schema.GroupVersion{Group: cnpapi.Group, Version: tc.want})):
				t.Fatalf("Detect() = %v, %v; want %s", gv, err, tc.want)
			}
		})
	}
}
