package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	segv1 "github.com/tierguard/tierguard/api/v1alpha1"
	"github.com/tierguard/tierguard/test/harness"
)

// options are the command line flags.
type options struct {
	scales              []int
	fullAt              []int
	unrelated           int
	rawRuns             int
	rawConcurrency      []int
	coldRuns            map[int]int
	concurrency         int
	idle                time.Duration
	resync              time.Duration
	gap                 time.Duration
	timeout             time.Duration
	tamperings          int
	newNamespaces       int
	extraObjects        int
	extrasAt            int
	cpuProfileAt        int
	cnpAt               int
	cnpRuns             int
	cpuProfileSeconds   int
	driftProfileSeconds int
	out                 string
	workDir             string
	managerBin          string
	managerFlags        []string
	managerEnv          []string
	keep                bool
	plotOnly            bool
	// scenarios are the user scenarios' flags (scenarios.go).
	scenarios scenarioOptions
}

// productionFlags describes the flags the manager runs with.
const productionFlags = "--leader-elect, --metrics-secure=false and --pprof-bind-address on loopback; every other flag at its default"

// bench is one run of the benchmark.
type bench struct {
	opts       options
	configDir  string
	workDir    string
	profileDir string
	managerBin string
	profile    *segv1.SegmentationProfile

	mu         sync.Mutex
	k8sVersion string
}

func main() {
	opts, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// controller-runtime's client wants a logger; the bench reports through
	// its own output.
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	do := run
	if opts.plotOnly {
		do = func(context.Context, options) error { return replot(opts.out) }
	}
	if err := do(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	var scales, fullAt, coldRuns, rawConcurrency, managerExtra, managerEnv string
	flag.StringVar(&scales, "namespaces", "1000,5000,20000", "Numbers of governed namespaces, comma-separated.")
	flag.StringVar(&fullAt, "full-at", "1000,5000,20000", "Scales that also measure steady state, drift and new namespaces.")
	flag.IntVar(&o.unrelated, "unrelated", 300, "Unrelated namespaces beside the governed ones.")
	flag.StringVar(&rawConcurrency, "raw-concurrency", "16,32,64", "Writes in flight of the raw client, comma-separated: each is run with the policy created and with it server-side applied, and the fastest of each kind is T_raw.")
	flag.IntVar(&o.rawRuns, "raw-runs", 1, "Runs of the physical limit per scale, concurrency and kind, each on a fresh plane.")
	flag.StringVar(&coldRuns, "cold-runs", "1000:2,5000:1,20000:1", "Cold starts per scale (N:runs,... or one number for all), each on a fresh plane; the first is the full run.")
	flag.IntVar(&o.concurrency, "concurrency", 16, "Writes in flight of the bench's own bursts, such as the forced pass's (16); the raw client's are -raw-concurrency.")
	flag.DurationVar(&o.idle, "idle", 30*time.Second, "Idle window of the steady state (30 s holds about 15 lease renewals).")
	flag.DurationVar(&o.resync, "resync", 10*time.Second, "--sync-period of the manager restarted to force an informer resync (the first comes after about twice that).")
	flag.DurationVar(&o.gap, "gap", 200*time.Millisecond, "Pause after each repaired tampering and each enforced new namespace.")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "Bound of each wait.")
	flag.IntVar(&o.tamperings, "tamperings", 100, "Drift tamperings.")
	flag.IntVar(&o.newNamespaces, "new-namespaces", 100, "Namespaces created one at a time.")
	flag.IntVar(&o.extraObjects, "extra-objects", 10000, "Unrelated ConfigMaps, and foreign NetworkPolicies, added to measure the cache.")
	flag.IntVar(&o.extrasAt, "extras-at", 1000, "Scale whose full run adds the unrelated objects (0: none).")
	flag.IntVar(&o.cpuProfileAt, "cpu-profile-at", 5000, "Scale whose cold start is profiled (0: none).")
	flag.IntVar(&o.cnpAt, "cnp-at", 1000, "Governed namespaces of the enforcement comparison: cold starts of each spec.enforcement (NetworkPolicy, ClusterNetworkPolicy, Both), each on a fresh plane with the ClusterNetworkPolicy CRD (0: none).")
	flag.IntVar(&o.cnpRuns, "cnp-runs", 1, "Cold starts per enforcement mode at -cnp-at, the modes in turn.")
	flag.IntVar(&o.cpuProfileSeconds, "cpu-profile-seconds", 40, "Length of the CPU profile, from just before the profile's creation.")
	flag.IntVar(&o.driftProfileSeconds, "drift-profile-seconds", 20, "Length of the CPU profile taken while drift is repaired, at the profiled scale.")
	flag.StringVar(&o.out, "out", "test/bench/results", "Directory of latest.json and latest.md.")
	flag.StringVar(&o.workDir, "work-dir", "", "Directory of the planes' data and logs (default: a new temporary directory).")
	flag.StringVar(&o.managerBin, "manager", "", "Manager binary (default: built from ./cmd/manager into the work dir).")
	flag.StringVar(&managerEnv, "manager-env", "", "Extra environment of the manager, space-separated KEY=VALUE, to evaluate a tuning (e.g. GOGC=50).")
	flag.StringVar(&managerExtra, "manager-flags", "", "Extra manager flags, space-separated, to evaluate a tuning (e.g. --kube-api-qps=1000); the defaults are production's.")
	flag.BoolVar(&o.keep, "keep", false, "Keep the planes' data and logs.")
	flag.BoolVar(&o.plotOnly, "plot-only", false, "Run nothing: draw "+plotFile+" again from latest.json in -out.")
	o.scenarios.register()
	flag.Parse()
	if err := o.scenarios.parse(); err != nil {
		return o, err
	}
	o.managerFlags = strings.Fields(managerExtra)
	o.managerEnv = strings.Fields(managerEnv)
	var err error
	if o.scales, err = parseInts(scales); err != nil {
		return o, fmt.Errorf("-namespaces: %w", err)
	}
	if o.fullAt, err = parseInts(fullAt); err != nil {
		return o, fmt.Errorf("-full-at: %w", err)
	}
	if o.coldRuns, err = parseRuns(coldRuns, o.scales); err != nil {
		return o, fmt.Errorf("-cold-runs: %w", err)
	}
	if o.rawConcurrency, err = parseInts(rawConcurrency); err != nil || len(o.rawConcurrency) == 0 {
		return o, fmt.Errorf("-raw-concurrency: %q is not a list of positive integers", rawConcurrency)
	}
	if o.rawRuns < 1 || o.cnpRuns < 1 || o.concurrency < 1 || o.unrelated < 2 {
		return o, errors.New("-raw-runs, -cnp-runs and -concurrency must be positive, -unrelated at least 2")
	}
	return o, nil
}

// parseRuns parses "N:runs,..." (scales not listed get one run) or a single
// number of runs for every scale.
func parseRuns(s string, scales []int) (map[int]int, error) {
	runs := map[int]int{}
	for _, n := range scales {
		runs[n] = 1
	}
	if all, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		if all < 1 {
			return nil, fmt.Errorf("%d runs", all)
		}
		for _, n := range scales {
			runs[n] = all
		}
		return runs, nil
	}
	for _, pair := range strings.Split(s, ",") {
		n, r, ok := strings.Cut(strings.TrimSpace(pair), ":")
		ns, err1 := strconv.Atoi(n)
		rs, err2 := strconv.Atoi(r)
		if !ok || err1 != nil || err2 != nil || rs < 1 {
			return nil, fmt.Errorf("%q is not N:runs", pair)
		}
		if _, listed := runs[ns]; listed {
			runs[ns] = rs
		}
	}
	return runs, nil
}

// describeFlags describes the manager's flags with the extra ones.
func describeFlags(extra []string) string {
	if len(extra) == 0 {
		return productionFlags
	}
	return productionFlags + "; plus " + strings.Join(extra, " ")
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// run measures every scale and saves the results.
func run(ctx context.Context, o options) error {
	began := time.Now()
	res := &Results{
		Date: began.UTC().Format(time.RFC3339), Machine: thisMachine(),
		LoadAverage: map[string]string{"start": loadAverage()},
		Versions:    map[string]string{"go": runtime.Version(), "tierguard": gitCommit()},
		Settings: Settings{
			Unrelated: o.unrelated, RawConcurrency: o.rawConcurrency, RawRuns: o.rawRuns, ColdRuns: o.coldRuns,
			IdleSeconds: o.idle.Seconds(), ResyncSeconds: o.resync.Seconds(),
			Tamperings: o.tamperings, NewNamespaces: o.newNamespaces, GapMs: float64(o.gap.Milliseconds()),
			ExtraObjects:      o.extraObjects,
			ManagerFlags:      describeFlags(append(slices.Clone(o.managerEnv), o.managerFlags...)),
			CPUProfileSeconds: o.cpuProfileSeconds, DriftProfileSeconds: o.driftProfileSeconds,
		},
	}
	b, cleanup, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	failed := true
	defer func() { cleanup(failed) }()
	b.logf("Load average at start: %s (%d CPUs)", res.LoadAverage["start"], res.Machine.CPUs)
	estimated := estimateRun(o) + estimateScenarios(o)
	res.EstimatedSeconds = seconds(estimated)
	b.logf("Estimated run time: %s (on an idle 2-core machine; see estimate.go)", estimated.Round(time.Minute))

	for _, n := range o.scales {
		s, err := b.scale(ctx, n)
		if err != nil {
			return fmt.Errorf("%d namespaces: %w", n, err)
		}
		res.Scales = append(res.Scales, s)
	}
	if o.cnpAt > 0 {
		if res.Enforcement, err = b.compareEnforcement(ctx, o.cnpAt); err != nil {
			return fmt.Errorf("enforcement comparison: %w", err)
		}
	}
	if res.Scenarios, err = b.runScenarios(ctx); err != nil {
		return err
	}
	res.Versions["kubernetes"] = b.k8sVersion
	res.Scaling = scaling(res.Scales)
	res.MemoryTrend = memoryTrend(res.Scales)
	res.LoadAverage["end"] = loadAverage()
	res.RunSeconds = seconds(time.Since(began))
	res.evaluateTargets()
	if err := res.save(b.opts.out); err != nil {
		return err
	}
	failed = false
	fmt.Print(markdown(res))
	b.logf("Results in %s/latest.{json,md} and %s; ran %s (estimated %s); load average at end: %s", b.opts.out, plotFile,
		time.Since(began).Round(time.Second), estimated.Round(time.Minute), res.LoadAverage["end"])
	return nil
}

// newBench prepares the work dir, the manager binary and the profile. The
// returned cleanup removes the work dir unless -keep is set or the run
// failed (its logs then help).
func newBench(ctx context.Context, o options) (*bench, func(failed bool), error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, nil, err
	}
	b := &bench{opts: o, configDir: filepath.Join(root, "config")}
	if b.opts.out, err = outDir(o.out); err != nil {
		return nil, nil, err
	}
	b.workDir = o.workDir
	if b.workDir == "" {
		if b.workDir, err = os.MkdirTemp("", "tierguard-bench-"); err != nil {
			return nil, nil, fmt.Errorf("work dir: %w", err)
		}
	}
	cleanup := func(failed bool) {
		if failed {
			b.logf("Kept the work dir %s", b.workDir)
			return
		}
		if !b.opts.keep {
			_ = os.RemoveAll(b.workDir)
		}
	}
	b.profileDir = filepath.Join(b.workDir, "pprof")
	if err := os.MkdirAll(b.profileDir, 0o755); err != nil {
		cleanup(true)
		return nil, nil, fmt.Errorf("work dir: %w", err)
	}
	if b.profile, err = loadProfile(b.configDir); err != nil {
		cleanup(true)
		return nil, nil, err
	}
	b.managerBin = o.managerBin
	if b.managerBin == "" {
		b.managerBin = filepath.Join(b.workDir, "manager")
		b.logf("Building the manager: go build -o %s %s", b.managerBin, harness.ManagerPackage)
		if err := harness.GoBuild(ctx, root, harness.ManagerPackage, b.managerBin); err != nil {
			cleanup(true)
			return nil, nil, err
		}
	}
	b.logf("Work dir %s", b.workDir)
	return b, cleanup, nil
}

// outDir resolves the results directory against the repository's root.
func outDir(out string) (string, error) {
	if filepath.IsAbs(out) {
		return out, nil
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, out), nil
}

// scale measures one number of governed namespaces: the raw runs (every
// concurrency, the policy created then applied) and the cold starts
// alternate, so a change in the machine's load touches both.
func (b *bench) scale(ctx context.Context, n int) (Scale, error) {
	o := b.opts
	l := newLayout(n, o.unrelated)
	s := Scale{Namespaces: n, Unrelated: o.unrelated}
	full := slices.Contains(o.fullAt, n)
	coldRuns := o.coldRuns[n]
	for i := range max(o.rawRuns, coldRuns) {
		if i < o.rawRuns {
			if err := b.rawRound(ctx, l, i, &s); err != nil {
				return s, err
			}
		}
		if i < coldRuns {
			began := time.Now()
			first := i == 0
			what := measurements{full: first && full, profile: first && n == o.cpuProfileAt, extras: first && full && n == o.extrasAt && o.extraObjects > 0}
			b.logf("N=%d: manager run %d of %d%s", n, i+1, coldRuns, map[bool]string{true: " (full)", false: " (cold start only)"}[what.full])
			m, err := b.runManaged(ctx, l, i, what)
			if err != nil {
				return s, fmt.Errorf("manager run %d: %w", i+1, err)
			}
			s.Cold = append(s.Cold, m.Cold)
			s.Memory = append(s.Memory, m.Memory)
			if first {
				s.Managed = &m
			}
			b.logf("  manager run took %s", time.Since(began).Round(time.Second))
		}
	}
	s.summarize()
	b.logf("N=%d: T_cold %.2fs; best T_raw applied %.2fs (%d in flight), created %.2fs (%d in flight); ratios %.2f, %.2f",
		n, s.ColdSeconds.Median, s.BestRawApplied.Seconds.Median, s.BestRawApplied.Concurrency,
		s.BestRawCreated.Seconds.Median, s.BestRawCreated.Concurrency, s.Ratio, s.CreatedRatio)
	return s, nil
}

// rawRound runs the raw client once at every concurrency, with the policy
// created and with it applied.
func (b *bench) rawRound(ctx context.Context, l layout, run int, s *Scale) error {
	n := len(l.Governed)
	for _, c := range b.opts.rawConcurrency {
		for _, apply := range []bool{false, true} {
			began := time.Now()
			b.logf("N=%d: raw run %d of %d, %d in flight, policy %s", n, run+1, b.opts.rawRuns, c, rawKind(apply))
			r, err := b.runRaw(ctx, l, run, c, apply)
			if err != nil {
				return fmt.Errorf("raw run %d (%d in flight, policy %s): %w", run+1, c, rawKind(apply), err)
			}
			if apply {
				s.RawApply = append(s.RawApply, r)
			} else {
				s.Raw = append(s.Raw, r)
			}
			b.logf("  raw run took %s", time.Since(began).Round(time.Second))
		}
	}
	return nil
}

// scaling compares the per-namespace cold start cost of the largest scale
// with the smallest's.
func scaling(scales []Scale) *Scaling {
	if len(scales) < 2 {
		return nil
	}
	lo, hi := scales[0], scales[0]
	for _, s := range scales {
		if s.Namespaces < lo.Namespaces {
			lo = s
		}
		if s.Namespaces > hi.Namespaces {
			hi = s
		}
	}
	per := func(s Scale) float64 { return s.ColdSeconds.Median * 1000 / float64(s.Namespaces) }
	sc := &Scaling{From: lo.Namespaces, To: hi.Namespaces, FromPerNamespaceMs: round3(per(lo)), ToPerNamespaceMs: round3(per(hi))}
	if sc.FromPerNamespaceMs > 0 {
		sc.Ratio = round3(per(hi) / per(lo))
	}
	return sc
}

// noteVersion records the API server's version once.
func (b *bench) noteVersion(p *plane) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.k8sVersion == "" {
		b.k8sVersion = p.kubernetesVersion()
	}
}

// logf prints progress to stderr, so stdout carries only the table.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// gitCommit returns the repository's commit, with "-dirty" when the work
// tree has changes, or "unknown".
func gitCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
