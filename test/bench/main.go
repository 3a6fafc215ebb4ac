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
	rawApplyRuns        int
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
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	var scales, fullAt, coldRuns, managerExtra, managerEnv string
	flag.StringVar(&scales, "namespaces", "1000,5000", "Numbers of governed namespaces, comma-separated.")
	flag.StringVar(&fullAt, "full-at", "1000,5000", "Scales that also measure steady state, drift and new namespaces.")
	flag.IntVar(&o.unrelated, "unrelated", 300, "Unrelated namespaces beside the governed ones.")
	flag.IntVar(&o.rawRuns, "raw-runs", 3, "Runs of the physical limit per scale, each on a fresh plane.")
	flag.IntVar(&o.rawApplyRuns, "raw-apply-runs", 1, "Runs of the physical limit with the policy server-side applied (as Tierguard writes it) instead of created, per scale.")
	flag.StringVar(&coldRuns, "cold-runs", "1000:3,5000:1", "Cold starts per scale (N:runs,... or one number for all), each on a fresh plane; the first is the full run.")
	flag.IntVar(&o.concurrency, "concurrency", 16, "Writes in flight for the raw client (the manager's --apply-concurrency default).")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "Idle window of the steady state.")
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
			Unrelated: o.unrelated, Concurrency: o.concurrency, RawRuns: o.rawRuns, RawApplyRuns: o.rawApplyRuns, ColdRuns: o.coldRuns,
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
	res.LoadAverage["end"] = loadAverage()
	res.RunSeconds = seconds(time.Since(began))
	res.evaluateTargets()
	if err := res.save(b.opts.out); err != nil {
		return err
	}
	failed = false
	fmt.Print(markdown(res))
	b.logf("Results in %s/latest.{json,md}; ran %s; load average at end: %s", b.opts.out, time.Since(began).Round(time.Second), res.LoadAverage["end"])
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
	if !filepath.IsAbs(o.out) {
		b.opts.out = filepath.Join(root, o.out)
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

// scale measures one number of governed namespaces: the raw runs and the
// cold starts alternate, so a change in the machine's load touches both.
func (b *bench) scale(ctx context.Context, n int) (Scale, error) {
	o := b.opts
	l := newLayout(n, o.unrelated)
	s := Scale{Namespaces: n, Unrelated: o.unrelated}
	full := slices.Contains(o.fullAt, n)
	coldRuns := o.coldRuns[n]
	for i := range max(o.rawRuns, coldRuns, o.rawApplyRuns) {
		if i < o.rawRuns {
			b.logf("N=%d: raw run %d of %d", n, i+1, o.rawRuns)
			r, err := b.runRaw(ctx, l, i, false)
			if err != nil {
				return s, fmt.Errorf("raw run %d: %w", i+1, err)
			}
			s.Raw = append(s.Raw, r)
		}
		if i < o.rawApplyRuns {
			b.logf("N=%d: raw run with the policy applied %d of %d", n, i+1, o.rawApplyRuns)
			r, err := b.runRaw(ctx, l, i, true)
			if err != nil {
				return s, fmt.Errorf("raw apply run %d: %w", i+1, err)
			}
			s.RawApply = append(s.RawApply, r)
		}
		if i < coldRuns {
			first := i == 0
			what := measurements{full: first && full, profile: first && n == o.cpuProfileAt, extras: first && full && n == o.extrasAt}
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
		}
	}
	var raw, cold []float64
	for _, r := range s.Raw {
		raw = append(raw, r.Seconds)
	}
	for _, c := range s.Cold {
		cold = append(cold, c.Seconds)
	}
	var rawApply []float64
	for _, r := range s.RawApply {
		rawApply = append(rawApply, r.Seconds)
	}
	s.RawSeconds, s.ColdSeconds, s.RawApplySeconds = spreadOf(raw), spreadOf(cold), spreadOf(rawApply)
	if s.RawSeconds.Median > 0 {
		s.Ratio = round3(s.ColdSeconds.Median / s.RawSeconds.Median)
	}
	if s.RawApplySeconds.Median > 0 {
		s.ApplyRatio = round3(s.ColdSeconds.Median / s.RawApplySeconds.Median)
	}
	return s, nil
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
