package helm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	rv1 "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tierguard/tierguard/test/harness"
)

// TestInstallAndUpgrade installs the chart on etcd and kube-apiserver
// (envtest; no kubelet, so the manager does not run), checks that the
// cluster holds the objects of config/default, then upgrades with other
// values and checks that the objects follow.
func TestInstallAndUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx := t.Context()
	// Not harness.StartEnvtest: it installs the CRD, which the chart must
	// create (and own) itself.
	assets := harness.ResolveAssetsDir("")
	if err := harness.CheckAssets(assets, harness.EtcdBinary, harness.APIServerBinary); err != nil {
		t.Skipf("no control plane: %v (make envtest-assets)", err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	restConfig, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	c, err := client.New(restConfig, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := helmConfig(t, kubeconfig)
	chrt := loadChart(t)

	// namespace.create: the Namespace too, with config/default's labels.
	install := action.NewInstall(cfg)
	install.ReleaseName = releaseName
	install.Namespace = releaseNamespace
	install.WaitStrategy = kube.HookOnlyStrategy // no kubelet: the Deployment never becomes available
	installValues := map[string]any{"namespace": map[string]any{"create": true}}
	rel, err := install.Run(chrt, installValues)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	released, err := parseManifest(rel.(*rv1.Release).Manifest)
	if err != nil {
		t.Fatal(err)
	}
	want := expected(t)
	if diff := diffStrings(keys(want), keys(released)); diff != "" {
		t.Fatalf("released objects (-config/default +release):\n%s", diff)
	}
	for _, w := range want {
		live := get(ctx, t, c, w)
		if live == nil {
			continue
		}
		if rel := live.GetAnnotations()["meta.helm.sh/release-name"]; rel != releaseName {
			t.Errorf("%s: meta.helm.sh/release-name %q, want %q", key(w), rel, releaseName)
		}
		if err := contains(live.Object, w.Object, ""); err != nil {
			t.Errorf("%s in the cluster is not config/default's: %v", key(w), err)
		}
	}

	// The admission policy fails closed until the API server has synced its
	// paramKind, the CRD just installed; the upgrade applies the Namespace.
	waitNamespaceWritable(ctx, t, c)

	// An upgrade that changes values converges: the Deployment follows, the
	// admission policies go.
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = releaseNamespace
	upgrade.WaitStrategy = kube.HookOnlyStrategy
	if _, err := upgrade.Run(releaseName, chrt, map[string]any{
		"namespace":       map[string]any{"create": true},
		"manager":         map[string]any{"replicas": 3, "logLevel": "debug"},
		"admissionPolicy": map[string]any{"enable": false},
	}); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	deployment := &unstructured.Unstructured{}
	deployment.SetAPIVersion("apps/v1")
	deployment.SetKind("Deployment")
	deployment.SetNamespace(releaseNamespace)
	deployment.SetName("tierguard-controller-manager")
	live := get(ctx, t, c, deployment)
	replicas, _, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
	containers, _, _ := unstructured.NestedSlice(live.Object, "spec", "template", "spec", "containers")
	gotArgs := fmt.Sprint(containers[0].(map[string]any)["args"])
	if replicas != 3 || !strings.Contains(gotArgs, "--zap-log-level=debug") || !strings.Contains(gotArgs, "--admission-policies=") {
		t.Errorf("after the upgrade: replicas %d, args %s; want 3 replicas, --zap-log-level=debug and --admission-policies=", replicas, gotArgs)
	}
	for _, w := range want {
		if !strings.HasPrefix(w.GetKind(), "ValidatingAdmissionPolicy") {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(w.GroupVersionKind())
		err := c.Get(ctx, client.ObjectKeyFromObject(w), u)
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("after the upgrade with admissionPolicy.enable=false: %s: %v, want not found", key(w), err)
		}
	}
}

// helmConfig is the Helm SDK's configuration for the cluster of kubeconfig,
// with releases in memory: the release namespace does not exist before the
// chart creates it (namespace.create).
func helmConfig(t *testing.T, kubeconfig string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	ns := releaseNamespace
	flags.Namespace = &ns
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, releaseNamespace, "memory"); err != nil {
		t.Fatalf("helm configuration: %v", err)
	}
	return cfg
}

// waitNamespaceWritable waits until a (dry-run) label patch of the release
// namespace is admitted.
func waitNamespaceWritable(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(releaseNamespace)
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"tierguard-helm-test":"probe"}}}`))
	deadline := time.Now().Add(time.Minute)
	for {
		err := c.Patch(ctx, ns, patch, client.DryRunAll)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s not writable: %v", releaseNamespace, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func get(ctx context.Context, t *testing.T, c client.Client, w *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(w.GroupVersionKind())
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Get(ctx, client.ObjectKeyFromObject(w), u)
		if err == nil {
			return u
		}
		if time.Now().After(deadline) {
			t.Errorf("get %s: %v", key(w), err)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// contains reports where want is not part of got: every field of want is
// in got with the same value (got has the API server's defaults, status and
// Helm's labels besides); lists have want's length.
func contains(got, want any, path string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %v, want an object", path, got)
		}
		for k, v := range w {
			if err := contains(g[k], v, path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: %v, want %v", path, got, want)
		}
		for i := range w {
			if err := contains(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		if fmt.Sprint(got) != fmt.Sprint(want) || (reflect.TypeOf(got) != reflect.TypeOf(want) && !numbers(got, want)) {
			return fmt.Errorf("%s: %v, want %v", path, got, want)
		}
		return nil
	}
}

func numbers(a, b any) bool {
	isNumber := func(v any) bool {
		switch v.(type) {
		case int, int32, int64, float64:
			return true
		}
		return false
	}
	return isNumber(a) && isNumber(b)
}

func diffStrings(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("-" + w + "\n")
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("+" + g + "\n")
		}
	}
	return b.String()
}
