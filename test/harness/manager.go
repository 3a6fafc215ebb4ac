package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ProfileController is the manager's controller of SegmentationProfiles, as
// its metrics label it.
const ProfileController = "segmentationprofile"

// ManagerOptions configures one manager process.
type ManagerOptions struct {
	// Binary is the manager binary built from ManagerPackage.
	Binary string
	// Kubeconfig is the identity it runs as: a ServiceAccount's token
	// kubeconfig, never the admin's.
	Kubeconfig string
	// Name names the process in messages and its log file, <LogDir>/<Name>.log.
	Name string
	// LogDir holds the log file; logs of restarts with the same name append.
	LogDir string
	// LeaderElect runs with --leader-elect in SystemNamespace.
	LeaderElect bool
	// Args are appended to the manager's flags.
	Args []string
	// Env is appended to the manager's environment (KEY=VALUE).
	Env []string
	// OnStart and OnExit are the process's (see Process).
	OnStart func(pid int) error
	OnExit  func(pid int)
}

// Manager is a running (or exited) manager process. Its metrics are served
// over plain HTTP on a free loopback port.
type Manager struct {
	*Process
	// MetricsURL is the URL of its Prometheus metrics.
	MetricsURL string
	// ReadyURL is the URL of its readiness probe.
	ReadyURL string
}

// StartManager starts the manager binary with POD_NAMESPACE=SystemNamespace
// and KUBECONFIG=opts.Kubeconfig. It returns once the process runs; use
// WaitServing to wait for its endpoints.
func StartManager(opts ManagerOptions) (*Manager, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("start manager %s: %w", opts.Name, err)
	}
	metricsAddr, probeAddr := LoopbackAddr(ports[0]), LoopbackAddr(ports[1])
	args := []string{
		"--metrics-bind-address=" + metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address=" + probeAddr,
		"--zap-encoder=console",
		"--zap-time-encoding=rfc3339nano",
	}
	if opts.LeaderElect {
		args = append(args, "--leader-elect", "--leader-election-namespace="+SystemNamespace)
	}
	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("start manager %s: %w", opts.Name, err)
	}
	m := &Manager{
		Process: &Process{
			Name: opts.Name, Path: opts.Binary, Args: append(args, opts.Args...),
			// Added to the caller's environment, so KUBECONFIG wins over an inherited one.
			Env:     append([]string{"POD_NAMESPACE=" + SystemNamespace, "KUBECONFIG=" + opts.Kubeconfig}, opts.Env...),
			LogPath: filepath.Join(opts.LogDir, opts.Name+".log"),
			OnStart: opts.OnStart, OnExit: opts.OnExit,
		},
		MetricsURL: "http://" + metricsAddr + "/metrics",
		ReadyURL:   "http://" + probeAddr + "/readyz",
	}
	if err := m.Start(); err != nil {
		return nil, err
	}
	return m, nil
}

// WaitServing waits until the readiness probe answers, failing early when
// the process exits.
func (m *Manager) WaitServing(ctx context.Context, timeout time.Duration) error {
	return WaitFor(ctx, "manager "+m.Name+" to serve "+m.ReadyURL, timeout, m.Process, func(ctx context.Context) error {
		return HTTPGet(ctx, m.ReadyURL, io.Discard)
	})
}

// Metrics scrapes the manager's metrics endpoint.
func (m *Manager) Metrics(ctx context.Context) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var b bytes.Buffer
	if err := HTTPGet(ctx, m.MetricsURL, &b); err != nil {
		return nil, fmt.Errorf("scrape manager %s: %w", m.Name, err)
	}
	return ParseMetrics(b.String())
}

// settlePoll is how often Settle scrapes the manager: often enough to
// notice a reconcile, rarely enough to cost the manager little.
const settlePoll = 500 * time.Millisecond

// Settle waits until controller has finished more than after reconciles,
// its work queue is empty, and no reconcile finished for quiet; it returns
// the reconcile count then. The manager exposes no "idle" signal, so this
// watches its metrics (controller-runtime's reconcile total and work queue
// depth).
func (m *Manager) Settle(ctx context.Context, controller string, after float64, quiet, timeout time.Duration) (float64, error) {
	deadline := time.Now().Add(timeout)
	last, since := -1.0, time.Now()
	for {
		ms, err := m.Metrics(ctx)
		if err != nil {
			return 0, err
		}
		n := ms.Sum("controller_runtime_reconcile_total", map[string]string{"controller": controller})
		depth := ms.Sum("workqueue_depth", map[string]string{"name": controller})
		if n != last || depth > 0 {
			last, since = n, time.Now()
		}
		if n > after && depth == 0 && time.Since(since) >= quiet {
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("manager %s not settled after %s (%v reconciles, waiting for more than %v; queue depth %v)", m.Name, timeout, n, after, depth)
		}
		if err := Sleep(ctx, settlePoll); err != nil {
			return n, err
		}
	}
}
