// Package bundle_test checks the OLM bundle in bundle/: it passes the
// operator-framework validators (the default bundle validators and the
// OperatorHub ones), it is what hack/bundle generates from config/ today,
// and its CSV installs what config/default does.
package bundle_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	interfaces "github.com/operator-framework/api/pkg/validation/interfaces"
)

// repo is the repository root, relative to this package (go test runs in
// the package's directory).
var repo = filepath.Join("..", "..")

// validators are run on the bundle: DefaultBundleValidators (what
// `operator-sdk bundle validate` runs by default: CSV, CRD and bundle
// checks) and the optional OperatorHub ones (`--select-optional
// suite=operatorframework`). MultipleArchitecturesValidator is left out: it
// pulls the manager image from its registry.
var validators = []struct {
	name string
	v    interfaces.Validator
}{
	{"default (CSV, CRD, bundle)", validation.DefaultBundleValidators},
	{"OperatorHubV2", validation.OperatorHubV2Validator},
	{"StandardCapabilities", validation.StandardCapabilitiesValidator},
	{"StandardCategories", validation.StandardCategoriesValidator},
	{"GoodPractices", validation.GoodPracticesValidator},
	{"Object", validation.ObjectValidator},
	{"AlphaDeprecatedAPIs", validation.AlphaDeprecatedAPIsValidator},
}

// k8sVersion is the Kubernetes version the deprecated-API checks assume: the
// version Tierguard is built and tested against.
const k8sVersion = "1.37"

func TestBundleValidates(t *testing.T) {
	dir := filepath.Join(repo, "bundle")
	b, err := manifests.GetBundleFromDir(dir)
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	if b.CSV == nil {
		t.Fatalf("%s has no ClusterServiceVersion", dir)
	}
	objs := append(b.ObjectsToValidate(), map[string]string{"k8s-version": k8sVersion})

	var errs, warns int
	for _, v := range validators {
		for _, r := range v.v.Validate(objs...) {
			for _, e := range r.Errors {
				errs++
				t.Errorf("%s validator: %s: %v", v.name, r.Name, e)
			}
			for _, w := range r.Warnings {
				warns++
				t.Logf("%s validator: warning: %s: %v", v.name, r.Name, w)
			}
		}
	}
	t.Logf("validators %s: %d errors, %d warnings", names(), errs, warns)
}

// TestBundleIsUpToDate regenerates the bundle into a temporary directory and
// compares it with bundle/ and bundle.Dockerfile, file by file.
func TestBundleIsUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator with go run")
	}
	root := repo
	tmp := t.TempDir()
	// The manager image is a parameter of the bundle (make bundle passes
	// IMG), not part of config/: regenerate with the image the committed
	// bundle names.
	committed, err := manifests.GetBundleFromDir(filepath.Join(root, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	image := committed.CSV.Annotations["containerImage"]
	if image == "" {
		t.Fatal("the committed CSV has no containerImage annotation")
	}
	args := []string{"run", "./hack/bundle",
		"-image", image,
		"-out", filepath.Join(tmp, "bundle"),
		"-dockerfile", filepath.Join(tmp, "bundle.Dockerfile"),
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}

	want := readTree(t, filepath.Join(tmp, "bundle"))
	got := readTree(t, filepath.Join(root, "bundle"))
	want["bundle.Dockerfile"] = readFile(t, filepath.Join(tmp, "bundle.Dockerfile"))
	got["bundle.Dockerfile"] = readFile(t, filepath.Join(root, "bundle.Dockerfile"))

	var stale []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			stale = append(stale, name+" is missing")
		case g != w:
			stale = append(stale, name+" differs:\n"+firstDifference(g, w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			stale = append(stale, name+" is no longer generated")
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("bundle/ is stale; run 'make bundle' and commit:\n%s", strings.Join(stale, "\n"))
	}
	t.Logf("%d files compared", len(want))
}

// TestBundleContents checks what the CSV installs against config/: the
// restricted Deployment and the permissions of config/rbac.
func TestBundleContents(t *testing.T) {
	b, err := manifests.GetBundleFromDir(filepath.Join(repo, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	csv := b.CSV
	if csv.Spec.MinKubeVersion != "1.30.0" {
		t.Errorf("minKubeVersion %q, want 1.30.0", csv.Spec.MinKubeVersion)
	}
	for _, m := range csv.Spec.InstallModes {
		if m.Supported != (m.Type == "AllNamespaces") {
			t.Errorf("install mode %s supported=%v; only AllNamespaces is supported", m.Type, m.Supported)
		}
	}
	if len(csv.Spec.Icon) != 1 || csv.Spec.Icon[0].MediaType != "image/svg+xml" || csv.Spec.Icon[0].Data == "" {
		t.Errorf("want one SVG icon, got %+v", csv.Spec.Icon)
	}
	owned := csv.Spec.CustomResourceDefinitions.Owned
	if len(owned) != 1 || len(owned[0].SpecDescriptors) == 0 || len(owned[0].StatusDescriptors) == 0 {
		t.Fatalf("want one owned CRD with spec and status descriptors, got %+v", owned)
	}
	for _, d := range owned[0].SpecDescriptors {
		if d.Description == "" {
			t.Errorf("spec descriptor %s has no description", d.Path)
		}
	}
	if len(b.V1CRDs) != 1 || b.V1CRDs[0].Name != owned[0].Name {
		t.Errorf("want the CRD %s in the bundle", owned[0].Name)
	}
	if csv.Annotations["alm-examples"] == "" || csv.Annotations["alm-examples"] == "[]" {
		t.Error("alm-examples is empty")
	}

	deps := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	if len(deps) != 1 {
		t.Fatalf("want one Deployment, got %d", len(deps))
	}
	spec := deps[0].Spec
	if spec.Replicas == nil || *spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", spec.Replicas)
	}
	pod := spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod security context is not restricted: %+v", psc)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s security context is not restricted: %+v", c.Name, sc)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("container %s lacks probes", c.Name)
		}
		if c.Resources.Requests.Memory().String() != "128Mi" || c.Resources.Limits.Memory().String() != "384Mi" {
			t.Errorf("container %s memory requests/limits %v/%v, want 128Mi/384Mi (sized from make bench)", c.Name,
				c.Resources.Requests.Memory(), c.Resources.Limits.Memory())
		}
		if !contains(c.Args, "--leader-elect") {
			t.Errorf("container %s runs without --leader-elect", c.Name)
		}
	}

	perms := csv.Spec.InstallStrategy.StrategySpec
	if len(perms.ClusterPermissions) != 1 || len(perms.Permissions) != 1 {
		t.Fatalf("want clusterPermissions and permissions for one service account, got %d and %d",
			len(perms.ClusterPermissions), len(perms.Permissions))
	}
	sa := pod.ServiceAccountName
	if perms.ClusterPermissions[0].ServiceAccountName != sa || perms.Permissions[0].ServiceAccountName != sa {
		t.Errorf("permissions are not for the Deployment's service account %s", sa)
	}
	var pdb bool
	for _, o := range b.Objects {
		if o.GetKind() == "PodDisruptionBudget" {
			pdb = true
		}
		if o.GetNamespace() != "" {
			t.Errorf("%s %s has a namespace; OLM chooses it", o.GetKind(), o.GetName())
		}
	}
	if !pdb {
		t.Error("no PodDisruptionBudget in the bundle")
	}
}

func names() string {
	var out []string
	for _, v := range validators {
		out = append(out, v.name)
	}
	return strings.Join(out, ", ")
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(filepath.Dir(dir), path)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = readFile(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// firstDifference shows the first line that differs.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("  line %d: bundle has %q, generator writes %q", i+1, gl, wl)
		}
	}
	return "  (no line differs)"
}
