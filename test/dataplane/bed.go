package dataplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// Namespace is one namespace of the bed, holding one pod.
type Namespace struct {
	// Name is the namespace; kube-system is reused, others are created.
	Name string
	// Labels are set on the namespace.
	Labels map[string]string
	// PodLabels are set on its pod (k8s-app=kube-dns for the DNS pod).
	PodLabels map[string]string
}

// Options configures Up.
type Options struct {
	// RepoRoot is the repository's root directory.
	RepoRoot string
	// Namespaces are created, each with one pod and its network namespace.
	Namespaces []Namespace
	// Logf receives progress messages.
	Logf func(format string, args ...any)
}

// Bed is a running test bed. Call Down even when Up fails.
type Bed struct {
	// Plane is the control plane.
	Plane *controlplane.ControlPlane
	// Clientset and Client act as the admin user.
	Clientset kubernetes.Interface
	Client    client.Client

	opts          Options
	workDir       string
	kubectl       harness.Kubectl
	probeBin      string
	pods          []PodNet
	servers       []*harness.Process
	engine        *harness.Process
	manager       *harness.Manager
	restoreKernel func() error
	releaseLock   func() error

	udpMu   sync.Mutex // guards udpNext
	udpNext int        // next UDP source port of a measurement
}

// Up cleans what a crashed run may have left, then starts the bed: tools,
// binaries, control plane, node, namespaces, pods and their network, probe
// servers, the engine and the manager. It returns the bed also on error, so
// that Down removes whatever was set up.
func Up(ctx context.Context, opts Options) (*Bed, error) {
	b := &Bed{opts: opts}
	if b.opts.Logf == nil {
		b.opts.Logf = func(string, ...any) {}
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"take the run lock", b.lock},
		{"install tools", func(context.Context) error { return hostbed.InstallTools(opts.RepoRoot, false) }},
		{"clean leftovers of earlier runs", func(context.Context) error { return removeLeftovers() }},
		{"build binaries", b.buildBinaries},
		{"start the control plane", b.startPlane},
		{"create the node, namespaces and pods", b.createObjects},
		{"wire the pod network", b.wireNetwork},
		{"start kube-router", b.startEngine},
		{"start the manager", b.startManager},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(ctx); err != nil {
			return b, fmt.Errorf("%s: %w", s.name, err)
		}
		b.opts.Logf("Bed: %s (%.1fs)", s.name, time.Since(start).Seconds())
	}
	return b, nil
}

func (b *Bed) lock(ctx context.Context) error {
	release, err := hostbed.AcquireRunLock(ctx, b.opts.Logf)
	b.releaseLock = release
	return err
}

func (b *Bed) buildBinaries(ctx context.Context) error {
	b.workDir = runDir
	if err := os.MkdirAll(b.logDir(), 0o755); err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	if _, err := hostbed.EnsureKubeRouter(b.opts.RepoRoot, b.opts.Logf); err != nil {
		return err
	}
	b.probeBin = filepath.Join(b.workDir, "probe")
	if err := harness.GoBuild(ctx, b.opts.RepoRoot, "./test/dataplane/probe", b.probeBin); err != nil {
		return err
	}
	return harness.GoBuild(ctx, b.opts.RepoRoot, harness.ManagerPackage, b.managerBin())
}

// startPlane starts the control plane and installs the CRD from config/.
func (b *Bed) startPlane(ctx context.Context) error {
	plane, err := controlplane.Start(ctx, controlplane.Options{WorkDir: filepath.Join(b.workDir, "controlplane"), Logf: b.opts.Logf})
	if err != nil {
		return err
	}
	b.Plane, b.Clientset, b.kubectl = plane, plane.Clientset(), plane.Kubectl()
	if err := harness.InstallCRD(ctx, b.kubectl, b.configDir()); err != nil {
		return err
	}
	b.Client, err = harness.NewClient(plane.RESTConfig())
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	return nil
}

func (b *Bed) wireNetwork(ctx context.Context) error {
	restore, err := hostbed.TuneKernel(false)
	if err != nil {
		return err
	}
	b.restoreKernel = restore
	if err := hostbed.FlushConntrack(podSubnet.String()); err != nil {
		return err
	}
	if err := createBridge(); err != nil {
		return err
	}
	for i, ns := range b.opts.Namespaces {
		pn, err := addPodNet(podNetFor(i, ns.Name))
		if err != nil {
			return err
		}
		b.pods = append(b.pods, pn)
		server, err := startProbeServer(ctx, b.probeBin, pn, b.logDir())
		if err != nil {
			return err
		}
		b.servers = append(b.servers, server)
	}
	return nil
}

// Down stops the manager, the engine and the probe servers (by PID), removes
// kube-router's chains and ipsets, the network namespaces and the bridge,
// stops the control plane and restores the kernel settings, then checks that
// nothing of the bed is left on the machine. It runs every step even when
// one fails and returns all errors. Without the run lock (Up failed to take
// it) the machine belongs to another run, and Down does nothing.
func (b *Bed) Down() error {
	if b.releaseLock == nil {
		return nil
	}
	var errs []error
	if b.manager != nil {
		errs = append(errs, b.manager.Stop(hostbed.StopGrace))
	}
	for _, p := range append([]*harness.Process{b.engine}, b.servers...) {
		errs = append(errs, p.Stop(hostbed.StopGrace))
	}
	errs = append(errs, hostbed.RemoveKubeState(), removeNetwork(), hostbed.FlushConntrack(podSubnet.String()))
	hostbed.RunUndo() // the network is removed above; this empties the journal
	if b.Plane != nil {
		errs = append(errs, b.Plane.Stop())
	}
	if b.restoreKernel != nil {
		errs = append(errs, b.restoreKernel())
	}
	if b.workDir != "" && os.Getenv("DATAPLANE_KEEP_LOGS") == "" {
		errs = append(errs, os.RemoveAll(b.workDir))
	}
	// Checked under the lock: once it is free, another run may start.
	if left := leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left on the machine after teardown: %s", strings.Join(left, "; ")))
	} else {
		b.opts.Logf("Bed: teardown verified: no network namespace %s*, bridge %s, veth, KUBE- iptables line, kube-router ipset, "+
			"changed kernel setting or child process left", NetnsPrefix, BridgeName)
	}
	errs = append(errs, b.releaseLock())
	return errors.Join(errs...)
}

// PauseManager stops the manager with SIGSTOP, so that a test can show what
// happens while no repair comes. Call ResumeManager soon: its clients time
// out after a while.
func (b *Bed) PauseManager() error { return b.manager.Signal(syscall.SIGSTOP) }

// ResumeManager continues a paused manager.
func (b *Bed) ResumeManager() error { return b.manager.Signal(syscall.SIGCONT) }

// Namespaces returns the bed's namespaces in order.
func (b *Bed) Namespaces() []string {
	names := make([]string, len(b.opts.Namespaces))
	for i, ns := range b.opts.Namespaces {
		names[i] = ns.Name
	}
	return names
}

// Diagnostics returns the ends of the engine's, the manager's and the
// control plane's logs, for a failing test.
func (b *Bed) Diagnostics() string {
	var s strings.Builder
	if b.engine != nil {
		s.WriteString(b.engine.LogTail(40))
	}
	if b.manager != nil {
		s.WriteString(b.manager.LogTail(40))
	}
	if b.Plane != nil {
		s.WriteString(b.Plane.LogTails(20))
	}
	if b.workDir != "" {
		fmt.Fprintf(&s, "Logs: %s (kept until the next run when DATAPLANE_KEEP_LOGS is set)\n", b.logDir())
	}
	return s.String()
}

// pod returns the pod network of a namespace.
func (b *Bed) pod(namespace string) (PodNet, bool) {
	for _, p := range b.pods {
		if p.Namespace == namespace {
			return p, true
		}
	}
	return PodNet{}, false
}

func (b *Bed) logDir() string     { return filepath.Join(b.workDir, "logs") }
func (b *Bed) managerBin() string { return filepath.Join(b.workDir, "manager") }
func (b *Bed) configDir() string  { return filepath.Join(b.opts.RepoRoot, "config") }
