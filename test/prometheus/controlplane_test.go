package prometheus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsyaml "sigs.k8s.io/yaml"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/harness"
)

// managerUser is the manager's identity in these tests: an administrator,
// so that only the admission policy below refuses it anything.
const managerUser = "tierguard-test-manager"

// TestOnControlPlane starts a control plane (the harness's envtest) and
// checks config/prometheus against it: the manifests against the
// prometheus-operator CRDs, and the metrics the alerts and the dashboard
// query against a running manager's metrics endpoint.
func TestOnControlPlane(t *testing.T) {
	if err := harness.CheckAssets(harness.ResolveAssetsDir(""), harness.EtcdBinary, harness.APIServerBinary); err != nil {
		t.Skipf("no control plane binaries (make envtest-assets): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	crds, err := filepath.Abs(filepath.Join("testdata", "crds"))
	if err != nil {
		t.Fatal(err)
	}
	used := usedMetrics(t)
	// The harness finds the repository (config/crd, ./cmd/manager) from
	// the working directory.
	t.Chdir(filepath.Join("..", ".."))
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "manager")
	built := make(chan error, 1)
	go func() { built <- harness.GoBuild(ctx, root, harness.ManagerPackage, bin) }()

	env, err := harness.StartEnvtest()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crds}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("install the prometheus-operator CRDs: %v", err)
	}

	t.Run("manifests match the CRDs", func(t *testing.T) {
		for _, f := range []string{"alerts.yaml", "monitor.yaml"} {
			createStrict(ctx, t, env.Client, filepath.Join("config", "prometheus", f))
		}
	})

	if err := <-built; err != nil {
		t.Fatal(err)
	}
	t.Run("metrics the alerts and the dashboard query are served", func(t *testing.T) {
		m, asManager := startManager(ctx, t, env, bin)
		metricsServed(ctx, t, env.Client, asManager, m, used)
	})
}

// createStrict creates the object of a manifest with strict field
// validation: the API server refuses unknown fields, not only invalid ones.
func createStrict(ctx context.Context, t *testing.T, c client.Client, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := sigsyaml.Unmarshal(b, &u.Object); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	u.SetNamespace("default")
	if err := c.Create(ctx, u, client.FieldValidation("Strict")); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

// startManager starts the manager as managerUser; it returns it and a
// client acting as the same user.
func startManager(ctx context.Context, t *testing.T, env *harness.Envtest, bin string) (*harness.Manager, client.Client) {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: managerUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	asManager, err := harness.NewClient(user.Config())
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	mustCreate(ctx, t, env.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: harness.SystemNamespace}})
	m, err := harness.StartManager(harness.ManagerOptions{Binary: bin, Kubeconfig: path, Name: "manager", LogDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("manager log:\n%s", m.LogTail(40))
		}
	})
	if err := m.WaitServing(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	return m, asManager
}

// metricsServed makes the manager produce every tierguard_ series (a
// profile, a drift it repairs, a write it is refused), checks the metric
// names used, and that tierguard_profile_condition follows Ready and goes
// with the profile.
func metricsServed(ctx context.Context, t *testing.T, c, asManager client.Client, m *harness.Manager, used map[string][]string) {
	const profile = "prom"
	t.Cleanup(func() {
		p := &segv1.SegmentationProfile{}
		if t.Failed() && c.Get(context.Background(), client.ObjectKey{Name: profile}, p) == nil {
			t.Logf("profile %s: conditions %+v", profile, p.Status.Conditions)
		}
	})
	for _, ns := range []struct{ name, env string }{{"prom-dev", "dev"}, {"prom-prod", "prod"}} {
		mustCreate(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.name, Labels: map[string]string{"prom-env": ns.env}}})
	}
	tier := func(name, env string) segv1.Tier {
		return segv1.Tier{Name: segv1.TierName(name), Namespaces: segv1.NamespaceSet{Selector: &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"prom-env": segv1.LabelValue(env)}}}}
	}
	mustCreate(ctx, t, c, &segv1.SegmentationProfile{
		ObjectMeta: metav1.ObjectMeta{Name: profile},
		Spec:       segv1.SegmentationProfileSpec{TierLabelKey: segv1.LabelKey("prom.example/tier"), Tiers: []segv1.Tier{tier("dev", "dev"), tier("prod", "prod")}},
	})
	ready := map[string]string{"profile": profile, "type": segv1.ConditionReady}
	waitMetric(ctx, t, m, "Ready", func(ms harness.Metrics) bool {
		v, ok := ms.Get("tierguard_profile_condition", withStatus(ready, "True"))
		return ok && v == 1
	})

	// Drift: delete the policy Tierguard wrote; it puts it back.
	var pols networkingv1.NetworkPolicyList
	if err := c.List(ctx, &pols, client.InNamespace("prom-dev")); err != nil || len(pols.Items) == 0 {
		t.Fatalf("list the policies of prom-dev: %d, %v", len(pols.Items), err)
	}
	if err := c.Delete(ctx, &pols.Items[0]); err != nil {
		t.Fatal(err)
	}
	waitMetric(ctx, t, m, "a drift repair", func(ms harness.Metrics) bool {
		return ms.Sum("tierguard_drift_repairs_total", map[string]string{"profile": profile}) > 0
	})

	// A write refused: an admission policy keeps the manager from
	// labelling one namespace.
	denied := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prom-denied"}}
	mustCreate(ctx, t, c, denied)
	denyLabels(ctx, t, c, asManager, denied.Name)
	denied.Labels = map[string]string{"prom-env": "prod"}
	if err := c.Update(ctx, denied); err != nil {
		t.Fatal(err)
	}
	waitMetric(ctx, t, m, "an apply error and Ready=False", func(ms harness.Metrics) bool {
		v, _ := ms.Get("tierguard_profile_condition", withStatus(ready, "False"))
		return ms.Sum("tierguard_apply_errors_total", map[string]string{"profile": profile}) > 0 && v == 1
	})

	ms, err := m.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, s := range ms {
		served[s.Name] = true
	}
	var missing, names []string
	for name, where := range used {
		names = append(names, name)
		if name == "up" { // Prometheus's own, per scrape target
			continue
		}
		if !served[name] {
			missing = append(missing, fmt.Sprintf("%s (%s)", name, strings.Join(where, ", ")))
		}
	}
	sort.Strings(missing)
	sort.Strings(names)
	t.Logf("metrics queried: %s", strings.Join(names, ", "))
	if len(missing) > 0 {
		t.Errorf("the manager serves no series of:\n  %s", strings.Join(missing, "\n  "))
	}
	// The dashboard's API panel groups client-go's requests by method and code.
	for _, s := range ms.Filter("rest_client_requests_total") {
		if s.Labels["method"] == "" || s.Labels["code"] == "" {
			t.Errorf("rest_client_requests_total without method or code: %v", s.Labels)
		}
	}

	// The profile's condition series go with it.
	if err := c.Delete(ctx, &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: profile}}); err != nil {
		t.Fatal(err)
	}
	waitMetric(ctx, t, m, "the profile's series to go", func(ms harness.Metrics) bool {
		return len(ms.Filter("tierguard_profile_condition")) == 0
	})
}

func withStatus(ls map[string]string, status string) map[string]string {
	out := map[string]string{"status": status}
	for k, v := range ls {
		out[k] = v
	}
	return out
}

// denyLabels refuses the manager's updates of namespace ns, and waits until
// the API server does.
func denyLabels(ctx context.Context, t *testing.T, c, asManager client.Client, ns string) {
	t.Helper()
	fail := admissionv1.Fail
	mustCreate(ctx, t, c, &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "prom-deny-labels"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"namespaces"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf("request.userInfo.username != %q || object.metadata.name != %q", managerUser, ns),
				Message:    "the test refuses the manager's writes to " + ns,
			}},
		},
	})
	mustCreate(ctx, t, c, &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prom-deny-labels"},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "prom-deny-labels",
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
		},
	})
	err := harness.WaitFor(ctx, "the admission policy to refuse the manager", time.Minute, nil, func(ctx context.Context) error {
		probe := &corev1.Namespace{}
		if err := asManager.Get(ctx, client.ObjectKey{Name: ns}, probe); err != nil {
			return err
		}
		probe.Annotations = map[string]string{"probe": "1"}
		if err := asManager.Update(ctx, probe, client.DryRunAll); err == nil {
			return fmt.Errorf("not refused yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func waitMetric(ctx context.Context, t *testing.T, m *harness.Manager, what string, ok func(harness.Metrics) bool) {
	t.Helper()
	err := harness.WaitFor(ctx, what, time.Minute, m.Process, func(ctx context.Context) error {
		ms, err := m.Metrics(ctx)
		if err != nil {
			return err
		}
		if !ok(ms) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustCreate(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}
