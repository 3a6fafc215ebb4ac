package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// Binaries of the node, built beside the control plane by
// hack/envtest/build.sh node.
const (
	KubeletBinary   = "kubelet"
	SchedulerBinary = "kube-scheduler"
	ProxyBinary     = "kube-proxy"
)

// cniPlugins are the CNI plugins the bed's network uses, in the assets dir's
// cni/ directory.
var cniPlugins = []string{"bridge", "host-local", "loopback"}

// workDir holds the bed's configuration, state, data and logs.
var workDir = filepath.Join(hostbed.StateDir, "cluster")

// Options configures Up.
type Options struct {
	// RepoRoot is the repository's root directory.
	RepoRoot string
	// AssetsDir holds the binaries of `make envtest-assets` (empty: the
	// default, or KUBEBUILDER_ASSETS).
	AssetsDir string
	// NoPolicyEngine starts no NetworkPolicy engine: the bridge CNI alone,
	// which, like Flannel, enforces nothing.
	NoPolicyEngine bool
	// Logf receives progress messages.
	Logf func(format string, args ...any)
}

// Cluster is a running single-node cluster. Call Down even when Up fails.
type Cluster struct {
	// Plane is the control plane.
	Plane *controlplane.ControlPlane
	// Clientset and Client act as the admin user.
	Clientset kubernetes.Interface
	Client    client.Client
	// NodeIP is this machine's address: the node's InternalIP and the API
	// server's address.
	NodeIP string
	// WorkDir holds the configuration, state and logs.
	WorkDir string

	opts        Options
	assetsDir   string
	uplink      string
	containerd  *harness.Process
	scheduler   *harness.Process
	kubelet     *harness.Process
	proxy       *harness.Process
	engine      *harness.Process
	restores    []func() error
	releaseLock func() error
}

// Up removes what a crashed run of either host bed left, then starts the
// cluster: tools, binaries, images, kernel settings, the traffic guard, the
// control plane, containerd, the node's components and the policy engine,
// and waits until the node is Ready. It returns the cluster also on error,
// so that Down removes whatever was set up.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	c := &Cluster{opts: opts, WorkDir: workDir, assetsDir: harness.ResolveAssetsDir(opts.AssetsDir)}
	if c.opts.Logf == nil {
		c.opts.Logf = func(string, ...any) {}
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"take the run lock", c.lock},
		{"install containerd, runc and network tools", func(context.Context) error { return hostbed.InstallTools(opts.RepoRoot, true) }},
		{"clean leftovers of earlier runs", func(context.Context) error { return c.removeLeftovers() }},
		{"build binaries and images", c.build},
		{"tune the kernel", func(context.Context) error { return c.tuneKernel() }},
		{"guard the uplink", func(context.Context) error { return c.guard() }},
		{"start the control plane", c.startControlPlane},
		{"start containerd", c.startContainerd},
		{"start the node", c.startNode},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(ctx); err != nil {
			return c, fmt.Errorf("%s: %w", s.name, err)
		}
		c.opts.Logf("Bed: %s (%.1fs)", s.name, time.Since(start).Seconds())
	}
	return c, nil
}

func (c *Cluster) lock(ctx context.Context) error {
	release, err := hostbed.AcquireRunLock(ctx, c.opts.Logf)
	if err != nil {
		return err
	}
	c.releaseLock = release
	return nil
}

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.WorkDir}, elem...)...)
}

// LogDir holds every component's log.
func (c *Cluster) LogDir() string { return c.path("logs") }

// tuneKernel turns on what the node needs (hostbed.TuneKernel, with IPv4
// forwarding), journaled and restored by Down.
func (c *Cluster) tuneKernel() error {
	restore, err := hostbed.TuneKernel(true)
	if err != nil {
		return err
	}
	c.restores = append(c.restores, restore)
	return nil
}

// guard installs the traffic guard (settings.go), each rule's removal
// journaled first.
func (c *Cluster) guard() error {
	_, podNet, _ := net.ParseCIDR(PodCIDR)
	ip, uplink, err := hostbed.NodeAddress(podNet)
	if err != nil {
		return err
	}
	c.NodeIP, c.uplink = ip, uplink
	for _, rule := range guardRules(uplink) {
		table, chain, spec := rule[0], rule[1], rule[2:]
		if err := hostbed.RecordUndo(append([]string{"iptables", "-w", "-t", table, "-D", chain}, spec...)...); err != nil {
			return err
		}
		if _, err := hostbed.Run("iptables", append([]string{"-w", "-t", table, "-I", chain, "1"}, spec...)...); err != nil {
			return fmt.Errorf("guard: %w", err)
		}
	}
	return nil
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	plane, err := controlplane.Start(ctx, controlplane.Options{
		AssetsDir:     c.assetsDir,
		WorkDir:       c.path("controlplane"),
		Address:       c.NodeIP,
		SecurePort:    APIServerPort,
		KubeletClient: true,
		Controllers:   Controllers,
		APIServerArgs: apiServerArgs(),
		Logf:          c.opts.Logf,
	})
	if err != nil {
		return err
	}
	c.Plane, c.Clientset = plane, plane.Clientset()
	c.Client, err = client.New(plane.RESTConfig(), client.Options{})
	return err
}

// process returns a child process of the bed, recorded in the shared PID
// registry and logging into LogDir.
func (c *Cluster) process(name, path string, args ...string) *harness.Process {
	return &harness.Process{
		Name: name, Path: path, Args: args, Dir: c.WorkDir,
		LogPath: filepath.Join(c.LogDir(), name+".log"),
		OnStart: hostbed.RecordPID(path), OnExit: hostbed.UnregisterPID,
	}
}

func (c *Cluster) containerdSocket() string { return c.path("containerd", "containerd.sock") }

func (c *Cluster) startContainerd(ctx context.Context) error {
	dir := c.path("containerd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	conf := c.path("containerd", "config.toml")
	if err := writeIfChanged(conf, containerdConfig(dir, filepath.Join(c.assetsDir, "cni"), c.path("cni", "net.d"))); err != nil {
		return err
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return err
	}
	c.containerd = c.process("containerd", bin, "--config", conf)
	if err := c.containerd.Start(); err != nil {
		return err
	}
	err = harness.WaitFor(ctx, "containerd to serve", time.Minute, c.containerd, func(ctx context.Context) error {
		return c.ctr(ctx, "version")
	})
	if err != nil {
		return err
	}
	for _, image := range []string{"pause", "probe"} {
		if err := c.ImportImage(ctx, c.path("images", image+".tar")); err != nil {
			return err
		}
	}
	return nil
}

// ctr runs containerd's client against the bed's containerd, in the CRI's
// namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.containerdSocket(), "--namespace", containerdNamespace}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ImportImage imports an image tarball (docker or OCI format) into the
// node's containerd, where pods with imagePullPolicy IfNotPresent or Never
// find it.
func (c *Cluster) ImportImage(ctx context.Context, tarball string) error {
	return c.ctr(ctx, "images", "import", tarball)
}

func (c *Cluster) startNode(ctx context.Context) error {
	// CNI: the plugins run from the assets dir; the conflist is written in
	// place (7).
	if err := hostbed.RecordUndo("ip", "link", "delete", BridgeName); err != nil {
		return err
	}
	if err := os.MkdirAll(c.path("cni", "net.d"), 0o755); err != nil {
		return err
	}
	if err := writeIfChanged(c.path("cni", "net.d", "10-tierguard.conflist"), cniConfig(c.path("cni", "ipam"))); err != nil {
		return err
	}

	kubeletKC, err := c.identity("system:node:"+NodeName, "system:nodes")
	if err != nil {
		return err
	}
	proxyKC, err := c.identity("system:kube-proxy")
	if err != nil {
		return err
	}
	schedulerKC, err := c.identity("system:kube-scheduler")
	if err != nil {
		return err
	}

	kubeletConf := c.path("kubelet", "config.yaml")
	if err := os.MkdirAll(c.path("kubelet"), 0o700); err != nil {
		return err
	}
	// 6. kube-proxy exits when its configuration file is rewritten: every
	// configuration is written only when its content changes.
	if err := writeIfChanged(kubeletConf, kubeletConfig(c.Plane.CACertPath, c.containerdSocket(), c.NodeIP, c.path("kubelet", "pod-logs"))); err != nil {
		return err
	}
	proxyConf := c.path("kube-proxy.yaml")
	if err := writeIfChanged(proxyConf, kubeProxyConfig(proxyKC)); err != nil {
		return err
	}

	c.scheduler = c.process(SchedulerBinary, filepath.Join(c.assetsDir, SchedulerBinary),
		"--kubeconfig="+schedulerKC, "--authentication-kubeconfig="+schedulerKC, "--authorization-kubeconfig="+schedulerKC,
		"--leader-elect=false", "--secure-port=0")
	c.kubelet = c.process(KubeletBinary, filepath.Join(c.assetsDir, KubeletBinary),
		"--config="+kubeletConf, "--kubeconfig="+kubeletKC, "--root-dir="+c.path("kubelet", "root"),
		"--cert-dir="+c.path("kubelet", "pki"), "--hostname-override="+NodeName, "--node-ip="+c.NodeIP,
		"--v=1")
	c.proxy = c.process(ProxyBinary, filepath.Join(c.assetsDir, ProxyBinary), "--config="+proxyConf)
	for _, p := range []*harness.Process{c.scheduler, c.kubelet, c.proxy} {
		if err := p.Start(); err != nil {
			return err
		}
	}
	// kube-router identifies its node by the Node object kubelet registers.
	err = harness.WaitFor(ctx, "kubelet to register node "+NodeName, time.Minute, c.kubelet, func(ctx context.Context) error {
		_, err := c.Clientset.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return err
	}
	if !c.opts.NoPolicyEngine {
		if err := c.StartPolicyEngine(ctx); err != nil {
			return err
		}
	}
	if err := harness.WaitFor(ctx, "node "+NodeName+" to be Ready", 2*time.Minute, c.kubelet, c.nodeReady); err != nil {
		return err
	}
	// kube-proxy is healthy once it has programmed the Services.
	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", kubeProxyHealthPort)
	return harness.WaitFor(ctx, "kube-proxy to be healthy", time.Minute, c.proxy, func(ctx context.Context) error {
		return harness.HTTPGet(ctx, healthz, io.Discard)
	})
}

// identity issues a client certificate for user in groups and returns its
// kubeconfig.
func (c *Cluster) identity(user string, groups ...string) (string, error) {
	_, path, err := c.Plane.UserConfig(user, groups)
	return path, err
}

// nodeReady is nil once the Node reports Ready.
func (c *Cluster) nodeReady(ctx context.Context) error {
	node, err := c.Clientset.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			if cond.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s not Ready: %s: %s", NodeName, cond.Reason, cond.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition yet", NodeName)
}

// StartPolicyEngine starts kube-router's firewall, unless it runs, and
// waits until it has programmed iptables.
func (c *Cluster) StartPolicyEngine(ctx context.Context) error {
	bin := hostbed.KubeRouterBinary()
	if c.engine == nil {
		c.engine = c.process("kube-router", bin, hostbed.KubeRouterArgs(c.Plane.KubeconfigPath, NodeName, ServiceCIDR)...)
	}
	if c.engine.Running() {
		return nil
	}
	if err := c.engine.Start(); err != nil {
		return err
	}
	return harness.WaitFor(ctx, "kube-router to program iptables", time.Minute, c.engine, func(context.Context) error {
		_, err := hostbed.Run("iptables", "-w", "-t", "filter", "-S", "KUBE-ROUTER-FORWARD")
		return err
	})
}

// StopPolicyEngine stops kube-router and removes its chains and ipsets, as
// when a CNI's policy agent crashes and its rules are flushed: the cluster
// then enforces no NetworkPolicy at all.
func (c *Cluster) StopPolicyEngine() error {
	if c.engine == nil {
		return nil
	}
	if err := c.engine.Stop(hostbed.StopGrace); err != nil {
		return err
	}
	return removeKubeRouterState()
}
