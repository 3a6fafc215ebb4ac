package helm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	rv1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// repo is the repository root, relative to this package.
var repo = filepath.Join("..", "..")

var chartDir = filepath.Join(repo, "dist", "chart")

const (
	// releaseName differs from the chart's name prefix, to show that names
	// do not follow it.
	releaseName = "tg"
	// releaseNamespace differs from config/default's namespace, to show
	// that the chart installs into the release's.
	releaseNamespace = "tierguard-helm"
	// kustomizeNamespace is config/default's namespace.
	kustomizeNamespace = "tierguard-system"
)

// helmLabels are the labels the chart adds to config/default's objects (and
// app.kubernetes.io/managed-by, kustomize's there, Helm's here).
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart %s: %v", chartDir, err)
	}
	return c
}

// render is `helm template` with values: the objects of the chart, without
// an API server.
func render(t *testing.T, values map[string]any, apiVersions ...string) []*unstructured.Unstructured {
	t.Helper()
	cfg := action.NewConfiguration()
	cfg.Releases = storage.Init(driver.NewMemory())
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard}
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = releaseName
	install.Namespace = releaseNamespace
	install.Replace = true
	install.KubeVersion = kubeVersion(t)
	install.APIVersions = apiVersions // beside the built-in ones, as a cluster would serve them
	rel, err := install.Run(loadChart(t), values)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	objs, err := parseManifest(rel.(*rv1.Release).Manifest)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// kubeVersion is the Kubernetes version the chart is rendered for: the
// version of the test control plane (Helm's default, without a cluster, is
// older than the chart's kubeVersion).
func kubeVersion(t *testing.T) *common.KubeVersion {
	t.Helper()
	v, err := common.ParseKubeVersion("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func parseManifest(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		obj := map[string]any{}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse manifest: %w", err)
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// kustomizeBuild is `kustomize build dir` with the kustomize of the
// operator's module, the one hack/helmchart generates the chart with (go
// run ./hack/helmchart -kustomize-build): this module gets a newer kyaml
// from the Helm SDK.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	cmd := exec.Command("go", "run", "./hack/helmchart", "-kustomize-build", dir)
	cmd.Dir = repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v: %s", dir, err, stderr.String())
	}
	objs, err := parseManifest(string(out))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// expected is config/default's objects as the chart installs them: in the
// release namespace, without kustomize's managed-by label.
func expected(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, u := range kustomizeBuild(t, "config/default") {
		u = u.DeepCopy()
		replaceString(u.Object, kustomizeNamespace, releaseNamespace)
		stripLabels(u, "app.kubernetes.io/managed-by")
		out = append(out, u)
	}
	return out
}

// withoutHelm returns u without the labels and annotations Helm adds.
func withoutHelm(u *unstructured.Unstructured) *unstructured.Unstructured {
	u = u.DeepCopy()
	stripLabels(u, helmLabels...)
	annotations := u.GetAnnotations()
	for k := range annotations {
		if strings.HasPrefix(k, "meta.helm.sh/") || k == "helm.sh/resource-policy" {
			delete(annotations, k)
		}
	}
	if len(annotations) == 0 {
		annotations = nil
	}
	u.SetAnnotations(annotations)
	return u
}

func stripLabels(u *unstructured.Unstructured, keys ...string) {
	labels := u.GetLabels()
	for _, k := range keys {
		delete(labels, k)
	}
	if len(labels) == 0 {
		labels = nil
	}
	u.SetLabels(labels)
}

func replaceString(v any, from, to string) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if s, ok := e.(string); ok && s == from {
				t[k] = to
			} else {
				replaceString(e, from, to)
			}
		}
	case []any:
		for i, e := range t {
			if s, ok := e.(string); ok && s == from {
				t[i] = to
			} else {
				replaceString(e, from, to)
			}
		}
	}
}

func key(u *unstructured.Unstructured) string {
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

func byKey(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := make(map[string]*unstructured.Unstructured, len(objs))
	for _, u := range objs {
		m[key(u)] = u
	}
	return m
}

func keys(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, u := range objs {
		out = append(out, key(u))
	}
	sort.Strings(out)
	return out
}

func TestLint(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"default values": nil,
		"every part switched": {
			"namespace":       map[string]any{"create": true},
			"crd":             map[string]any{"enable": false, "keep": false},
			"metrics":         map[string]any{"enable": false},
			"prometheus":      map[string]any{"enable": true},
			"networkPolicy":   map[string]any{"enable": false},
			"admissionPolicy": map[string]any{"enable": false},
			"rbac":            map[string]any{"namespaceAssigners": []any{map[string]any{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "platform"}}},
			"manager": map[string]any{
				"logLevel": "debug", "kubeAPIQPS": 50, "syncPeriod": "1h", "enableHTTP2": true,
				"leaderElection":      map[string]any{"enable": false},
				"podDisruptionBudget": map[string]any{"enable": false},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = releaseNamespace
			lint.KubeVersion = kubeVersion(t)
			result := lint.Run([]string{chartDir}, values)
			for _, m := range result.Messages {
				t.Log(m)
			}
			for _, err := range result.Errors {
				t.Errorf("helm lint --strict: %v", err)
			}
			if result.TotalChartsLinted != 1 {
				t.Errorf("linted %d charts, want 1", result.TotalChartsLinted)
			}
		})
	}
}

// TestDefaultValuesRenderConfigDefault: with the default values (and the
// Namespace, which config/default creates), the chart renders the objects
// of `kustomize build config/default`, field for field, in the release
// namespace, plus Helm's labels.
func TestDefaultValuesRenderConfigDefault(t *testing.T) {
	want := expected(t)
	got := render(t, map[string]any{"namespace": map[string]any{"create": true}})
	if diff := cmp.Diff(keys(want), keys(got)); diff != "" {
		t.Fatalf("objects (-config/default +chart):\n%s", diff)
	}
	gotByKey := byKey(got)
	for _, w := range want {
		g := gotByKey[key(w)]
		for _, l := range helmLabels {
			if g.GetLabels()[l] == "" {
				t.Errorf("%s: no label %s", key(g), l)
			}
		}
		if diff := cmp.Diff(w.Object, withoutHelm(g).Object); diff != "" {
			t.Errorf("%s (-config/default +chart):\n%s", key(w), diff)
		}
	}

	// Without namespace.create (the default: helm install
	// --create-namespace), the same less the Namespace.
	plain := keys(render(t, nil))
	var wantPlain []string
	for _, k := range keys(want) {
		if !strings.HasPrefix(k, "Namespace ") {
			wantPlain = append(wantPlain, k)
		}
	}
	if diff := cmp.Diff(wantPlain, plain); diff != "" {
		t.Errorf("objects with the default values (-want +got):\n%s", diff)
	}
}

// TestMonitoringRendersConfigPrometheus: prometheus.enable adds the objects
// of config/prometheus (the ServiceMonitor, ...), as kustomize builds them.
func TestMonitoringRendersConfigPrometheus(t *testing.T) {
	got := byKey(render(t, map[string]any{"prometheus": map[string]any{"enable": true}}))
	for _, w := range kustomizeBuild(t, "config/prometheus") {
		replaceString(w.Object, kustomizeNamespace, releaseNamespace)
		stripLabels(w, "app.kubernetes.io/managed-by")
		g, ok := got[key(w)]
		if !ok {
			t.Errorf("prometheus.enable: no %s", key(w))
			continue
		}
		if diff := cmp.Diff(w.Object, withoutHelm(g).Object); diff != "" {
			t.Errorf("%s (-config/prometheus +chart):\n%s", key(w), diff)
		}
	}
	if _, ok := got["ServiceMonitor "+releaseNamespace+"/tierguard-controller-manager-metrics-monitor"]; !ok {
		t.Errorf("prometheus.enable: no ServiceMonitor")
	}
}

const deploymentKey = "Deployment " + releaseNamespace + "/tierguard-controller-manager"

func managerContainer(t *testing.T, objs map[string]*unstructured.Unstructured) map[string]any {
	t.Helper()
	d, ok := objs[deploymentKey]
	if !ok {
		t.Fatalf("no %s", deploymentKey)
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		if m := c.(map[string]any); m["name"] == "manager" {
			return m
		}
	}
	t.Fatalf("%s: no container manager", deploymentKey)
	return nil
}

func args(t *testing.T, objs map[string]*unstructured.Unstructured) []string {
	t.Helper()
	var out []string
	for _, a := range managerContainer(t, objs)["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func countKind(objs map[string]*unstructured.Unstructured, kind string) int {
	n := 0
	for _, u := range objs {
		if u.GetKind() == kind {
			n++
		}
	}
	return n
}

func dump(objs map[string]*unstructured.Unstructured, k string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%v", objs[k])
	return b.String()
}

// TestValues: each value changes what it should.
func TestValues(t *testing.T) {
	defaults := byKey(render(t, nil))
	defaultArgs := args(t, defaults)
	if want := []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8443"}; !cmp.Equal(defaultArgs, want) {
		t.Fatalf("default args %q, want config/manager's %q", defaultArgs, want)
	}

	// OpenReports: auto follows what the API server serves.
	if a := args(t, byKey(render(t, nil, "openreports.io/v1alpha1/Report", "openreports.io/v1alpha1"))); !slices.Contains(a, "--openreports") {
		t.Errorf("openReports auto with the OpenReports API served: args %q lack --openreports", a)
	}
	for v, want := range map[string]bool{"true": true, "false": false} {
		a := args(t, byKey(render(t, map[string]any{"manager": map[string]any{"openReports": v == "true"}}, "openreports.io/v1alpha1/Report")))
		if slices.Contains(a, "--openreports") != want {
			t.Errorf("openReports %s: args %q", v, a)
		}
	}

	tests := []struct {
		name   string
		values map[string]any
		check  func(t *testing.T, objs map[string]*unstructured.Unstructured)
	}{{
		name:   "replicas, image, pull policy and resources",
		values: map[string]any{"manager": map[string]any{"replicas": 3, "image": map[string]any{"repository": "registry.example/tierguard", "tag": "v1.2.3", "pullPolicy": "IfNotPresent"}, "resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			replicas, _, _ := unstructured.NestedFieldNoCopy(objs[deploymentKey].Object, "spec", "replicas")
			c := managerContainer(t, objs)
			if fmt.Sprint(replicas) != "3" || c["image"] != "registry.example/tierguard:v1.2.3" || c["imagePullPolicy"] != "IfNotPresent" {
				t.Errorf("replicas %v, image %v, pull policy %v", replicas, c["image"], c["imagePullPolicy"])
			}
			// Helm merges maps with the defaults: requests and the CPU limit stay.
			want := map[string]any{"limits": map[string]any{"cpu": "1", "memory": "1Gi"}, "requests": map[string]any{"cpu": "100m", "memory": "128Mi"}}
			if diff := cmp.Diff(want, c["resources"]); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
		},
	}, {
		name:   "admission policy off removes the ValidatingAdmissionPolicies and the manager adopts none",
		values: map[string]any{"admissionPolicy": map[string]any{"enable": false}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			if n := countKind(objs, "ValidatingAdmissionPolicy") + countKind(objs, "ValidatingAdmissionPolicyBinding"); n != 0 {
				t.Errorf("%d admission policies and bindings, want none", n)
			}
			wantArgs(t, objs, append(defaultArgs, "--admission-policies="))
		},
	}, {
		name:   "prometheus on adds the ServiceMonitor",
		values: map[string]any{"prometheus": map[string]any{"enable": true}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			if countKind(objs, "ServiceMonitor") != 1 {
				t.Errorf("%d ServiceMonitors, want 1", countKind(objs, "ServiceMonitor"))
			}
		},
	}, {
		name:   "metrics off removes the Service and the endpoint",
		values: map[string]any{"metrics": map[string]any{"enable": false}, "prometheus": map[string]any{"enable": true}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			if countKind(objs, "Service")+countKind(objs, "ServiceMonitor") != 0 {
				t.Errorf("a Service or ServiceMonitor without metrics")
			}
			wantArgs(t, objs, []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=0"})
		},
	}, {
		name:   "metrics port",
		values: map[string]any{"metrics": map[string]any{"port": 9443}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			wantArgs(t, objs, []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:9443"})
			for _, k := range []string{"Service " + releaseNamespace + "/tierguard-controller-manager-metrics-service", "NetworkPolicy " + releaseNamespace + "/tierguard-allow-metrics-traffic", deploymentKey} {
				if s := dump(objs, k); strings.Contains(s, "8443") || !strings.Contains(s, "9443") {
					t.Errorf("%s: not on port 9443: %s", k, s)
				}
			}
		},
	}, {
		name:   "network policies off",
		values: map[string]any{"networkPolicy": map[string]any{"enable": false}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			if n := countKind(objs, "NetworkPolicy"); n != 0 {
				t.Errorf("%d NetworkPolicies, want none", n)
			}
		},
	}, {
		name:   "CRD off, PodDisruptionBudget off",
		values: map[string]any{"crd": map[string]any{"enable": false}, "manager": map[string]any{"podDisruptionBudget": map[string]any{"enable": false}}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			if countKind(objs, "CustomResourceDefinition")+countKind(objs, "PodDisruptionBudget") != 0 {
				t.Errorf("a CRD or PodDisruptionBudget left")
			}
		},
	}, {
		name:   "the CRD is kept on uninstall unless crd.keep is off",
		values: map[string]any{"crd": map[string]any{"keep": false}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			crd := objs["CustomResourceDefinition /segmentationprofiles.segmentation.tierguard.io"]
			if _, kept := crd.GetAnnotations()["helm.sh/resource-policy"]; kept {
				t.Errorf("crd.keep=false: the CRD still has helm.sh/resource-policy")
			}
			if _, kept := defaults["CustomResourceDefinition /segmentationprofiles.segmentation.tierguard.io"].GetAnnotations()["helm.sh/resource-policy"]; !kept {
				t.Errorf("default values: the CRD has no helm.sh/resource-policy: keep")
			}
		},
	}, {
		name: "manager flags",
		values: map[string]any{"manager": map[string]any{
			"logLevel": "debug", "kubeAPIQPS": 50, "kubeAPIBurst": 100, "applyConcurrency": 4, "maxConcurrentReconciles": 3,
			"syncPeriod": "1h", "enableHTTP2": true, "pprofBindAddress": ":6060", "extraArgs": []any{"--zap-encoder=console"},
			"leaderElection": map[string]any{"enable": false, "namespace": "kube-system"},
		}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			wantArgs(t, objs, []string{"--health-probe-bind-address=:8081", "--metrics-bind-address=:8443",
				"--zap-log-level=debug", "--leader-election-namespace=kube-system", "--kube-api-qps=50", "--kube-api-burst=100",
				"--apply-concurrency=4", "--max-concurrent-reconciles=3", "--sync-period=1h", "--enable-http2",
				"--pprof-bind-address=:6060", "--zap-encoder=console"})
		},
	}, {
		name: "namespace assigners are bound to tierguard-namespace-assigner",
		values: map[string]any{"rbac": map[string]any{"namespaceAssigners": []any{
			map[string]any{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "platform-admins"},
		}}},
		check: func(t *testing.T, objs map[string]*unstructured.Unstructured) {
			b, ok := objs["ClusterRoleBinding /tierguard-namespace-assigner"]
			if !ok {
				t.Fatalf("no ClusterRoleBinding tierguard-namespace-assigner")
			}
			if _, ok := objs["ClusterRole /tierguard-namespace-assigner"]; !ok {
				t.Fatalf("the binding's ClusterRole tierguard-namespace-assigner is not in the chart")
			}
			role, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
			subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
			if role != "tierguard-namespace-assigner" || len(subjects) != 1 || subjects[0].(map[string]any)["name"] != "platform-admins" {
				t.Errorf("binding: roleRef %s, subjects %v", role, subjects)
			}
			if _, ok := defaults["ClusterRoleBinding /tierguard-namespace-assigner"]; ok {
				t.Errorf("default values bind the namespace assigner role")
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, byKey(render(t, tt.values))) })
	}
}

func wantArgs(t *testing.T, objs map[string]*unstructured.Unstructured, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, args(t, objs)); diff != "" {
		t.Errorf("manager args (-want +got):\n%s", diff)
	}
}
