// Command manager runs Tierguard's controller: it keeps every
// SegmentationProfile enforced.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/internal/admission"
	"github.com/tierguard/tierguard/internal/cnpapi"
	"github.com/tierguard/tierguard/internal/controller"
	"github.com/tierguard/tierguard/internal/metricsauth"
	"github.com/tierguard/tierguard/internal/watchcache"
)

// defaultGCPercent is the manager's GOGC unless the environment sets one.
const defaultGCPercent = 50

// Set at build time with -ldflags "-X main.version=...".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "canary" {
		if err := runCanary(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var (
		metricsAddr          string
		probeAddr            string
		secureMetrics        bool
		enableHTTP2          bool
		leaderElect          bool
		openReports          bool
		leaderElectionNS     string
		qps                  float64
		burst                int
		applyConcurrency     int
		reconcileConcurrency int
		syncPeriod           time.Duration
		pprofAddr            string
		showVersion          bool
		admissionPolicies    string
		canaryEnabled        bool
		canaryImage          string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint (:8443 for HTTPS, :8080 for HTTP, 0 to disable).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the health and readiness probes.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS behind Kubernetes authentication and authorization.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server (off: HTTP/2 Rapid Reset and Stream Cancellation CVEs).")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Enable leader election, so only one replica writes.")
	flag.BoolVar(&openReports, "openreports", false, "Write OpenReports (openreports.io/v1alpha1): a ClusterReport per profile and a Report per governed namespace. Needs the OpenReports CRDs; without them the manager logs why and writes none.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election lease (default: the operator's namespace).")
	flag.Float64Var(&qps, "kube-api-qps", 1000, "Queries per second to the API server (client-side limit; the API server's own flow control still applies).")
	flag.IntVar(&burst, "kube-api-burst", 2000, "Burst of queries to the API server.")
	flag.IntVar(&applyConcurrency, "apply-concurrency", 64, "Writes in flight at once within one reconcile (make bench: the physical limit was fastest at 64).")
	flag.IntVar(&reconcileConcurrency, "max-concurrent-reconciles", 2, "Profiles reconciled at once.")
	flag.DurationVar(&syncPeriod, "sync-period", 10*time.Hour, "How often every cached object is reconciled again (a resync makes no writes when nothing changed).")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address of the pprof endpoint for profiling (empty: off).")
	flag.BoolVar(&showVersion, "version", false, "Print the version and exit.")
	flag.BoolVar(&canaryEnabled, "canary", true,
		"Run the enforcement canary of the profiles that set spec.canary (probe pods in namespaces Tierguard owns).")
	flag.StringVar(&canaryImage, "canary-image", "",
		"Image of the canary's probe pods; empty: the manager's own, read from its pod (POD_NAMESPACE, POD_NAME).")
	flag.StringVar(&admissionPolicies, "admission-policies", "tierguard-protect-tier-labels",
		"Comma-separated ValidatingAdmissionPolicies (and their bindings of the same name) that take SegmentationProfiles as params: "+
			"the manager makes the CRD their owner, so deleting the CRD removes them instead of blocking namespace writes (empty: none).")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	if showVersion {
		fmt.Printf("tierguard manager %s (commit %s)\n", version, commit)
		return
	}
	logger := zap.New(zap.UseFlagOptions(&opts))
	ctrl.SetLogger(logger)
	// client-go's own logs (reflectors, leader election) in the same format.
	klog.SetLogger(logger)
	if _, set := os.LookupEnv("GOGC"); !set {
		// Half the default heap headroom: a third less peak memory at 5,000
		// namespaces (make bench: 76 to 67 MiB) for a little more GC work in
		// the cold start; steady state allocates next to nothing. GOGC in the
		// environment overrides it.
		debug.SetGCPercent(defaultGCPercent)
	}
	log := ctrl.Log.WithName("setup")

	operatorNS := os.Getenv("POD_NAMESPACE")
	if leaderElectionNS == "" {
		leaderElectionNS = operatorNS
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(segv1.AddToScheme(scheme))
	utilruntime.Must(cnpapi.AddToScheme(scheme))
	utilruntime.Must(orv1.Install(scheme))

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		metricsOpts.FilterProvider = metricsauth.Filter
	}

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(qps), burst
	cacheOpts := watchcache.CacheOptions()
	cacheOpts.SyncPeriod = &syncPeriod
	if openReports {
		d, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err == nil {
			err = controller.ReportsServed(d)
		}
		if err != nil {
			// Asked for and absent: said once, loudly; enforcement goes on.
			log.Error(err, "--openreports: not writing OpenReports")
			openReports = false
		} else {
			cacheOpts = watchcache.WithReports(cacheOpts)
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "tierguard.segmentation.tierguard.io",
		LeaderElectionNamespace:       leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		log.Error(err, "Unable to create manager")
		os.Exit(1)
	}

	r := &controller.ProfileReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Recorder:          mgr.GetEventRecorder("tierguard"),
		OperatorNamespace: operatorNS,
		ApplyConcurrency:  applyConcurrency,
		Reports:           openReports,
	}
	if canaryEnabled {
		r.Canary = &controller.CanaryRunner{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Image: canaryImage,
			PodNamespace: operatorNS, PodName: os.Getenv("POD_NAME"),
		}
	}
	if err := r.SetupWithManager(mgr, reconcileConcurrency); err != nil {
		log.Error(err, "Unable to set up controller")
		os.Exit(1)
	}
	if admissionPolicies != "" {
		direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
		if err != nil {
			log.Error(err, "Unable to create a client")
			os.Exit(1)
		}
		if err := mgr.Add(&admission.Adopter{Client: direct, Names: strings.Split(admissionPolicies, ",")}); err != nil {
			log.Error(err, "Unable to add the admission policy adopter")
			os.Exit(1)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up ready check")
		os.Exit(1)
	}
	log.Info("Starting manager", "version", version, "operatorNamespace", operatorNS, "leaderElection", leaderElect)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}
