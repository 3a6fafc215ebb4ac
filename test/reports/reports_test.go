// Package reports tests Tierguard's OpenReports output against
// kube-apiserver with the OpenReports CRDs of the pinned
// github.com/openreports/reports-api module.
package reports

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/controller"
	"github.com/tierguard/tierguard/internal/render"
	"github.com/tierguard/tierguard/internal/reports"
	"github.com/tierguard/tierguard/internal/watchcache"
	"github.com/tierguard/tierguard/test/harness"
)

// reportCRDs are the OpenReports CRDs of the module go.mod pins.
func reportCRDs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api").Output()
	if err != nil {
		t.Fatalf("locate github.com/openreports/reports-api: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd")
	return []string{filepath.Join(dir, "openreports.io_reports.yaml"), filepath.Join(dir, "openreports.io_clusterreports.yaml")}
}

// writes counts the manager's writes to reports.
type writes struct {
	mu sync.Mutex
	n  int
}

func (w *writes) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && strings.Contains(req.URL.Path, "/openreports.io/") {
			w.mu.Lock()
			w.n++
			w.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (w *writes) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOpenReports: with --openreports, a profile gets a ClusterReport and
// each governed namespace a Report, owned by the profile; a hole shows as a
// failed result naming the policy that opens it; a steady pass writes
// nothing; a namespace that leaves loses its report.
func TestOpenReports(t *testing.T) {
	env, err := harness.StartEnvtest()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	if err := controller.ReportsServed(discovery.NewDiscoveryClientForConfigOrDie(env.Config)); !errors.Is(err, controller.ErrReportsNotServed) {
		t.Fatalf("ReportsServed without the CRDs: %v, want ErrReportsNotServed", err)
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: reportCRDs(t)}); err != nil {
		t.Fatal(err)
	}
	if err := controller.ReportsServed(discovery.NewDiscoveryClientForConfigOrDie(env.Config)); err != nil {
		t.Fatalf("ReportsServed with the CRDs installed: %v", err)
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(segv1.AddToScheme(scheme))
	utilruntime.Must(cnpapi.AddToScheme(scheme))
	utilruntime.Must(orv1.Install(scheme))
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	var w writes
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(w.wrap)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Cache: watchcache.WithReports(watchcache.CacheOptions()), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &controller.ProfileReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tierguard"),
		ApplyConcurrency: 4, Reports: true}
	if err := r.SetupWithManager(mgr, 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = mgr.Start(ctx) }()

	for _, ns := range []struct{ name, env string }{{"dev-a", "dev"}, {"prod-a", "prod"}, {"prod-b", "prod"}} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.name, Labels: map[string]string{"env": ns.env}}}); err != nil {
			t.Fatal(err)
		}
	}
	sel := func(env string) *segv1.LabelSelector {
		return &segv1.LabelSelector{MatchLabels: map[string]segv1.LabelValue{"env": segv1.LabelValue(env)}}
	}
	profile := &segv1.SegmentationProfile{ObjectMeta: metav1.ObjectMeta{Name: "company"}, Spec: segv1.SegmentationProfileSpec{
		Tiers: []segv1.Tier{{Name: "dev", Namespaces: segv1.NamespaceSet{Selector: sel("dev")}},
			{Name: "prod", Namespaces: segv1.NamespaceSet{Selector: sel("prod")}}},
		LeavePolicy: segv1.LeavePolicyRelease,
	}}
	if err := c.Create(ctx, profile); err != nil {
		t.Fatal(err)
	}

	name := reports.Name("company")
	results := func(rs []orv1.ReportResult) []string {
		var out []string
		for _, x := range rs {
			out = append(out, fmt.Sprintf("%s %s %s", x.Rule, x.Result, x.Description))
		}
		return out
	}
	eventually(t, "reports for the profile and its three namespaces", func() error {
		cr := &orv1.ClusterReport{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, cr); err != nil {
			return err
		}
		if !slices.ContainsFunc(cr.Results, func(x orv1.ReportResult) bool { return x.Rule == reports.RuleReady && x.Result == "pass" }) {
			return fmt.Errorf("cluster report results %q", results(cr.Results))
		}
		if !slices.ContainsFunc(cr.Results, func(x orv1.ReportResult) bool { return x.Rule == reports.RuleIsolation && x.Result == "pass" }) {
			return fmt.Errorf("cluster report results %q", results(cr.Results))
		}
		for _, ns := range []string{"dev-a", "prod-a", "prod-b"} {
			rep := &orv1.Report{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rep); err != nil {
				return err
			}
			if rep.Source != reports.Source || rep.Scope == nil || rep.Scope.Name != ns || len(rep.OwnerReferences) != 1 ||
				rep.OwnerReferences[0].Name != "company" || rep.Summary.Pass < 2 {
				return fmt.Errorf("report in %s: %+v", ns, rep)
			}
		}
		return nil
	})

	// A namespace owner's allow-all opens prod-a: its report fails
	// isolation, naming the policy.
	allowAll := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "prod-a", Name: "allow-all"},
		Spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}}
	if err := c.Create(ctx, allowAll); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the hole in prod-a's report", func() error {
		rep := &orv1.Report{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "prod-a", Name: name}, rep); err != nil {
			return err
		}
		i := slices.IndexFunc(rep.Results, func(x orv1.ReportResult) bool { return x.Rule == reports.RuleIsolation && x.Result == "fail" })
		if i < 0 || rep.Results[i].Properties["openedBy"] != "prod-a/allow-all" || rep.Summary.Fail == 0 {
			return fmt.Errorf("results %q", results(rep.Results))
		}
		other := &orv1.Report{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "prod-b", Name: name}, other); err != nil {
			return err
		}
		if other.Summary.Fail != 0 {
			return fmt.Errorf("prod-b fails too: %q", results(other.Results))
		}
		return nil
	})

	// A tenant who may edit reports in their namespace forges a pass over
	// the hole: the report is rewritten at once, the hole back in it.
	forged := &orv1.Report{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "prod-a", Name: name}, forged); err != nil {
		t.Fatal(err)
	}
	forged.Results = []orv1.ReportResult{{Source: reports.Source, Policy: "segmentationprofile/company", Rule: reports.RuleIsolation, Result: "pass"}}
	forged.Summary = orv1.ReportSummary{Pass: 1}
	if err := c.Update(ctx, forged, client.FieldOwner("tenant")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the forged report rewritten", func() error {
		rep := &orv1.Report{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "prod-a", Name: name}, rep); err != nil {
			return err
		}
		if rep.Summary.Fail == 0 {
			return fmt.Errorf("still forged: %q", results(rep.Results))
		}
		return nil
	})

	// Steady state: no report written.
	time.Sleep(time.Second)
	before := w.count()
	if before == 0 {
		t.Fatal("no report write counted: the counter does not see the manager's writes")
	}
	p := &segv1.SegmentationProfile{}
	if err := c.Get(ctx, client.ObjectKey{Name: "company"}, p); err != nil {
		t.Fatal(err)
	}
	// A pass with nothing new (an annotation starts one).
	p.Annotations = map[string]string{"example.com/touch": "1"}
	if err := c.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := w.count() - before; n != 0 {
		t.Fatalf("%d report write(s) in a pass that found nothing new", n)
	}

	// prod-b leaves: its report goes.
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: "prod-b"}, ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels["env"] = "none"
	if err := c.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	eventually(t, "prod-b's report removed", func() error {
		list := &orv1.ReportList{}
		if err := c.List(ctx, list, client.MatchingLabels{render.ProfileLabel: "company"}); err != nil {
			return err
		}
		var where []string
		for _, rep := range list.Items {
			where = append(where, rep.Namespace)
		}
		slices.Sort(where)
		if !slices.Equal(where, []string{"dev-a", "prod-a"}) {
			return fmt.Errorf("reports in %v", where)
		}
		return nil
	})
}
