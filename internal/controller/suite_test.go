package controller_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/controller"
	"github.com/tierguard/tierguard/internal/watchcache"
	"github.com/tierguard/tierguard/test/harness"
)

var (
	testEnv   *envtest.Environment
	k8s       client.Client // the tests' own client, an administrator
	scheme    = runtime.NewScheme()
	writes    = &writeCounter{}
	cancelMgr context.CancelFunc
	mgrCache  cache.Cache // the manager's cache, shared with its passes
	cfg       *rest.Config
	bgCtx     = context.Background()
)

// restClientFor returns a REST client for raw requests (Table output).
func restClientFor() rest.Interface {
	return kubernetes.NewForConfigOrDie(cfg).CoreV1().RESTClient()
}

func TestController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(segv1.AddToScheme(scheme))
	utilruntime.Must(cnpapi.AddToScheme(scheme))

	env, err := harness.StartEnvtest()
	Expect(err).NotTo(HaveOccurred())
	testEnv, cfg = env.Environment, env.Config

	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// The manager runs with the production cache and options; its client
	// counts the mutating requests it sends.
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(writes.wrap)
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:  scheme,
		Cache:   watchcache.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	Expect(err).NotTo(HaveOccurred())
	r := &controller.ProfileReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Recorder:          mgr.GetEventRecorder("tierguard"),
		OperatorNamespace: "tierguard-system",
		ApplyConcurrency:  8,
		// The ClusterNetworkPolicy CRD is installed mid-suite (cnp_test.go):
		// noticed within half a second.
		ClusterNetworkPolicies: &cnpapi.Detector{Discovery: discovery.NewDiscoveryClientForConfigOrDie(cfg), NotFound: 500 * time.Millisecond},
	}
	Expect(r.SetupWithManager(mgr, 2)).To(Succeed())
	mgrCache = mgr.GetCache()

	var ctx context.Context
	ctx, cancelMgr = context.WithCancel(context.Background())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancelMgr != nil {
		cancelMgr()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// writeCounter counts the mutating requests the manager sends, by resource,
// leaving out events (they are not state).
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
	// log is every counted request, "METHOD path", in the order sent.
	log []string
}

func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && !strings.Contains(req.URL.Path, "/events") {
			w.mu.Lock()
			if w.counts == nil {
				w.counts = map[string]int{}
			}
			w.counts[req.Method+" "+req.URL.Path]++
			w.log = append(w.log, req.Method+" "+req.URL.Path)
			w.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// snapshot returns a copy of the counts so far.
func (w *writeCounter) snapshot() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.counts))
	for k, v := range w.counts {
		out[k] = v
	}
	return out
}

// since returns the requests logged after the first n.
func (w *writeCounter) since(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.log[n:])
}

// logged returns how many requests were logged.
func (w *writeCounter) logged() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.log)
}

// total returns the number of writes whose path contains any of parts.
func (w *writeCounter) total(parts ...string) int {
	n := 0
	for k, v := range w.snapshot() {
		for _, p := range parts {
			if strings.Contains(k, p) {
				n += v
				break
			}
		}
	}
	return n
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Timeouts for Eventually: the controller reacts within a second; the
// margin covers a loaded 2-core machine.
const (
	timeout  = 15 * time.Second
	interval = 100 * time.Millisecond
)
