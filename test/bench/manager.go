package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tierguard/tierguard/test/harness"
)

// managerProc is one run of the manager binary.
type managerProc struct {
	*harness.Manager
	// Started is when the process was started.
	Started time.Time
	// PprofURL is the base URL of its pprof endpoint (…/debug/pprof/).
	PprofURL string
}

// startManager starts the manager under the ServiceAccount of kubeconfig
// with its production flags (leader election on, --apply-concurrency and
// the rest at their defaults) plus a loopback pprof endpoint and extra, and
// waits until it serves its probes.
func (b *bench) startManager(ctx context.Context, p *plane, kubeconfig string, extra ...string) (*managerProc, error) {
	ports, err := harness.FreePorts(1)
	if err != nil {
		return nil, err
	}
	pprofAddr := harness.LoopbackAddr(ports[0])
	args := append([]string{"--pprof-bind-address=" + pprofAddr}, b.opts.managerFlags...)
	args = append(args, extra...)
	started := time.Now()
	m, err := harness.StartManager(harness.ManagerOptions{
		Binary: b.managerBin, Kubeconfig: kubeconfig, Name: "manager",
		LogDir: filepath.Join(p.dir, "logs"), LeaderElect: true, Args: args, Env: b.opts.managerEnv,
	})
	if err != nil {
		return nil, err
	}
	if err := m.WaitServing(ctx, time.Minute); err != nil {
		_ = m.Kill()
		return nil, err
	}
	return &managerProc{Manager: m, Started: started, PprofURL: "http://" + pprofAddr + "/debug/pprof/"}, nil
}

// metric returns the sum of the samples of name whose labels include match.
func (m *managerProc) metric(ctx context.Context, name string, match map[string]string) (float64, error) {
	ms, err := m.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	return ms.Sum(name, match), nil
}

// reconciles returns how many reconciles the controller has finished.
func (m *managerProc) reconciles(ctx context.Context) (float64, error) {
	return m.metric(ctx, "controller_runtime_reconcile_total", map[string]string{"controller": harness.ProfileController})
}

// reconcileTime returns how many reconciles the controller has finished and
// the seconds they took in all.
func (m *managerProc) reconcileTime(ctx context.Context) (count, sum float64, err error) {
	ms, err := m.Metrics(ctx)
	if err != nil {
		return 0, 0, err
	}
	match := map[string]string{"controller": harness.ProfileController}
	return ms.Sum("controller_runtime_reconcile_time_seconds_count", match), ms.Sum("controller_runtime_reconcile_time_seconds_sum", match), nil
}

// Passes are the reconciles the manager finished during a measurement.
type Passes struct {
	// Count is how many finished.
	Count float64 `json:"count"`
	// MeanMs is their mean duration.
	MeanMs float64 `json:"meanMs"`
	// Delta and Full are the profile passes of each kind
	// (tierguard_passes_total): a delta pass repairs only the namespaces
	// the events named.
	Delta float64 `json:"deltaPasses"`
	Full  float64 `json:"fullPasses"`
}

// passMeter measures the reconciles between its creation and done.
type passMeter struct {
	m                       *managerProc
	count, sum, delta, full float64
}

// meterPasses starts measuring the manager's reconciles.
func (m *managerProc) meterPasses(ctx context.Context) (*passMeter, error) {
	c, s, err := m.reconcileTime(ctx)
	if err != nil {
		return nil, err
	}
	delta, full, err := m.passKinds(ctx)
	if err != nil {
		return nil, err
	}
	return &passMeter{m: m, count: c, sum: s, delta: delta, full: full}, nil
}

// passKinds returns the delta and full passes the manager has made.
func (m *managerProc) passKinds(ctx context.Context) (delta, full float64, err error) {
	ms, err := m.Metrics(ctx)
	if err != nil {
		return 0, 0, err
	}
	return ms.Sum("tierguard_passes_total", map[string]string{"kind": "delta"}),
		ms.Sum("tierguard_passes_total", map[string]string{"kind": "full"}), nil
}

// done returns the reconciles finished since the meter started.
func (p *passMeter) done(ctx context.Context) (Passes, error) {
	c, s, err := p.m.reconcileTime(ctx)
	if err != nil {
		return Passes{}, err
	}
	delta, full, err := p.m.passKinds(ctx)
	if err != nil {
		return Passes{}, err
	}
	out := Passes{Count: c - p.count, Delta: delta - p.delta, Full: full - p.full}
	if out.Count > 0 {
		out.MeanMs = round((s - p.sum) / out.Count * 1000)
	}
	return out, nil
}

// settle waits until the manager has finished more than after reconciles
// and is idle (harness.Manager.Settle); no latency is measured this way.
func (m *managerProc) settle(ctx context.Context, after float64, quiet, timeout time.Duration) (float64, error) {
	return m.Settle(ctx, harness.ProfileController, after, quiet, timeout)
}

// Memory is the manager's memory at one moment.
type Memory struct {
	// PeakRSSMiB is VmHWM: the largest resident set since the process began.
	PeakRSSMiB float64 `json:"peakRssMiB"`
	// RSSMiB is VmRSS now.
	RSSMiB float64 `json:"rssMiB"`
	// HeapInuseMiB is go_memstats_heap_inuse_bytes after a forced GC
	// (median of three).
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	// HeapAllocMiB is go_memstats_heap_alloc_bytes after the same GCs: the
	// live objects.
	HeapAllocMiB float64 `json:"heapAllocMiB"`
	// RSSAnonMiB and RSSFileMiB split VmRSS: anonymous memory (heap, stacks,
	// runtime) and mapped files (the binary's pages).
	RSSAnonMiB float64 `json:"rssAnonMiB"`
	RSSFileMiB float64 `json:"rssFileMiB"`
	// HeapSysMiB, HeapReleasedMiB, StackSysMiB and NextGCMiB are the Go
	// runtime's view after the same GCs: heap obtained from the OS, heap
	// returned to it, stacks, and the heap size that triggers the next GC.
	HeapSysMiB      float64 `json:"heapSysMiB"`
	HeapReleasedMiB float64 `json:"heapReleasedMiB"`
	StackSysMiB     float64 `json:"stackSysMiB"`
	NextGCMiB       float64 `json:"nextGcMiB"`
}

// memory reads the process's memory. The heap is read after runtime.GC()
// (the pprof endpoint's heap?gc=1 runs one), so garbage awaiting collection
// does not hide what the cache holds.
func (m *managerProc) memory(ctx context.Context) (Memory, error) {
	var inuse, alloc []float64
	var last map[string]float64
	for range 3 {
		if err := harness.HTTPGet(ctx, m.PprofURL+"heap?gc=1", io.Discard); err != nil {
			return Memory{}, fmt.Errorf("force GC: %w", err)
		}
		ms, err := m.Metrics(ctx)
		if err != nil {
			return Memory{}, err
		}
		inuse = append(inuse, ms.Sum("go_memstats_heap_inuse_bytes", nil))
		alloc = append(alloc, ms.Sum("go_memstats_heap_alloc_bytes", nil))
		last = map[string]float64{}
		for _, name := range []string{"go_memstats_heap_sys_bytes", "go_memstats_heap_released_bytes", "go_memstats_stack_sys_bytes", "go_memstats_next_gc_bytes"} {
			last[name] = ms.Sum(name, nil)
		}
	}
	status, err := procStatus(m.PID())
	if err != nil {
		return Memory{}, err
	}
	return Memory{
		PeakRSSMiB: mib(status["VmHWM"]), RSSMiB: mib(status["VmRSS"]),
		HeapInuseMiB: mib(spreadOf(inuse).Median), HeapAllocMiB: mib(spreadOf(alloc).Median),
		RSSAnonMiB: mib(status["RssAnon"]), RSSFileMiB: mib(status["RssFile"]),
		HeapSysMiB: mib(last["go_memstats_heap_sys_bytes"]), HeapReleasedMiB: mib(last["go_memstats_heap_released_bytes"]),
		StackSysMiB: mib(last["go_memstats_stack_sys_bytes"]), NextGCMiB: mib(last["go_memstats_next_gc_bytes"]),
	}, nil
}

// procStatus returns the kB fields of /proc/<pid>/status, in bytes.
func procStatus(pid int) (map[string]float64, error) {
	return procStatusFile(fmt.Sprintf("/proc/%d/status", pid))
}

// procStatusFile returns the "Key: <n> kB" fields of a /proc file, in bytes.
func procStatusFile(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read process status: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(value)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if kb, err := strconv.ParseFloat(fields[0], 64); err == nil {
			out[key] = kb * 1024
		}
	}
	return out, sc.Err()
}
