package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tierguard/tierguard/test/harness"
)

// Default timeouts of Options.
const (
	DefaultStartTimeout = 2 * time.Minute
	DefaultStopTimeout  = 15 * time.Second
)

// Entries of the work dir. A work dir that Start did not create loses only
// these on Stop.
const (
	etcdDataDir         = "etcd"
	pkiDir              = "pki"
	logsDir             = "logs"
	kubeconfigsDir      = "kubeconfigs"
	adminKubeconfigFile = "kubeconfig"
	auditPolicyFile     = "audit-policy.yaml"
)

// Identities of the plane's own client certificates.
const (
	// AdminUser is the user of the admin kubeconfig, a member of system:masters.
	AdminUser = "tierguard-admin"
	// ControllerManagerUser is the user kube-controller-manager runs as, also
	// a member of system:masters because every controller shares it.
	ControllerManagerUser = "system:kube-controller-manager"
	// MastersGroup is the group that RBAC lets do anything.
	MastersGroup = "system:masters"
	// KubeletClientUser is the API server's identity towards kubelets
	// (Options.KubeletClient).
	KubeletClientUser = "kube-apiserver-kubelet-client"
)

// DefaultAssetsDir is where `make envtest-assets` puts the binaries.
var DefaultAssetsDir = harness.DefaultAssetsDir

// Options configures Start. The zero value is ready to use.
type Options struct {
	// AssetsDir holds the etcd, kube-apiserver, kube-controller-manager and
	// kubectl binaries; empty means $KUBEBUILDER_ASSETS, else DefaultAssetsDir().
	AssetsDir string
	// WorkDir holds etcd's data, certificates, kubeconfigs and logs; empty
	// means a new temporary directory. A given directory is created when
	// missing; when it already holds a kept plane's data, that data is reused.
	WorkDir string
	// KeepData leaves the work dir in place on Stop.
	KeepData bool
	// StartTimeout bounds each wait for a component to become ready;
	// zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// StopTimeout is how long a component may take to exit after SIGTERM
	// before it gets SIGKILL; zero means DefaultStopTimeout.
	StopTimeout time.Duration
	// Controllers are the kube-controller-manager controllers to run; empty
	// means DefaultControllers.
	Controllers []string
	// DisableControllerManager runs only etcd and kube-apiserver.
	DisableControllerManager bool
	// AuditPolicy, when set, is the API server's audit policy (YAML); the
	// audit log is then written to ControlPlane.AuditLogPath.
	AuditPolicy string
	// Address, when set, is the address the API server binds to and
	// advertises (in the kubernetes Service's endpoints) instead of
	// 127.0.0.1; its serving certificate then holds it too. The real-node
	// bed (test/cluster) sets this machine's own address, because Endpoints
	// may not hold loopback addresses and pods reach the API server through
	// the kubernetes Service.
	Address string
	// SecurePort, when set, is the API server's port instead of a free one
	// (the real-node bed uses 6443, the port config/network-policy admits).
	SecurePort int
	// KubeletClient gives the API server a client certificate (user
	// KubeletClientUser in system:masters) for calls to kubelets (logs,
	// exec, port-forward).
	KubeletClient bool
	// EtcdArgs, APIServerArgs and ControllerManagerArgs are appended to the
	// flags of the respective component.
	EtcdArgs, APIServerArgs, ControllerManagerArgs []string
	// Logf, when set, receives progress messages.
	Logf func(format string, args ...any)
}

// ControlPlane is a running etcd, kube-apiserver and (unless disabled)
// kube-controller-manager, listening only on 127.0.0.1. Its exported fields
// are read-only.
type ControlPlane struct {
	// WorkDir holds the data, certificates, kubeconfigs and logs.
	WorkDir string
	// KubeconfigPath is the admin kubeconfig (user AdminUser in system:masters).
	KubeconfigPath string
	// APIServerURL is the https URL of the API server.
	APIServerURL string
	// EtcdURL is the http URL of etcd's client port.
	EtcdURL string
	// CACertPath is the PEM certificate of the CA that signed the API
	// server's serving certificate and every client certificate.
	CACertPath string
	// EtcdLogPath, APIServerLogPath and ControllerManagerLogPath collect the
	// stdout and stderr of each component, across restarts.
	EtcdLogPath, APIServerLogPath, ControllerManagerLogPath string
	// AuditLogPath is the API server's audit log, when Options.AuditPolicy
	// is set.
	AuditLogPath string

	opts           Options
	assetsDir      string
	createdWorkDir bool
	pki            *pki
	restConfig     *rest.Config
	client         kubernetes.Interface
	etcd           *harness.Process
	apiServer      *harness.Process
	controllers    *harness.Process // nil when disabled

	mu      sync.Mutex // serializes starting and stopping components
	stopped bool
}

// Start starts etcd, kube-apiserver and kube-controller-manager and returns
// once the API server is ready, its default and kube-system namespaces exist
// and kube-controller-manager has begun working. ctx bounds only the start:
// the processes run until Stop. On error nothing is left running.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if len(opts.Controllers) == 0 {
		opts.Controllers = slices.Clone(DefaultControllers)
	}
	c := &ControlPlane{opts: opts, assetsDir: harness.ResolveAssetsDir(opts.AssetsDir)}
	needed := []string{harness.EtcdBinary, harness.APIServerBinary}
	if !opts.DisableControllerManager {
		needed = append(needed, harness.ControllerManagerBinary)
	}
	if err := harness.CheckAssets(c.assetsDir, needed...); err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	if err := c.prepare(); err != nil {
		return nil, errors.Join(fmt.Errorf("start control plane: %w", err), c.cleanup())
	}
	if err := c.startAll(ctx); err != nil {
		stopErr := c.Stop()
		return nil, errors.Join(fmt.Errorf("start control plane: %w", err), stopErr)
	}
	return c, nil
}

// prepare creates the work dir, the certificates and the kubeconfigs, and
// defines the processes.
func (c *ControlPlane) prepare() error {
	dir := c.opts.WorkDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "tierguard-controlplane-")
		if err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
		dir, c.createdWorkDir = tmp, true
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("work dir %s: %w", dir, err)
		}
		dir = abs
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			c.createdWorkDir = true
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
	}
	c.WorkDir = dir
	for _, sub := range []string{logsDir, kubeconfigsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", sub, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, etcdDataDir), 0o700); err != nil {
		return fmt.Errorf("create etcd data dir: %w", err)
	}

	var servingIPs []net.IP
	if c.opts.Address != "" {
		ip := net.ParseIP(c.opts.Address)
		if ip == nil {
			return fmt.Errorf("address %q is not an IP address", c.opts.Address)
		}
		servingIPs = append(servingIPs, ip)
	}
	p, err := loadOrCreatePKI(filepath.Join(dir, pkiDir), servingIPs...)
	if err != nil {
		return err
	}
	c.pki = p
	c.CACertPath = p.path(caCertFile)

	ports, err := harness.FreePorts(3)
	if err != nil {
		return err
	}
	etcdClientPort, etcdPeerPort, apiServerPort := ports[0], ports[1], ports[2]
	c.EtcdURL = "http://" + harness.LoopbackAddr(etcdClientPort)
	host := "127.0.0.1"
	if c.opts.Address != "" {
		host = c.opts.Address
	}
	if c.opts.SecurePort > 0 {
		apiServerPort = c.opts.SecurePort
	}
	c.APIServerURL = "https://" + net.JoinHostPort(host, strconv.Itoa(apiServerPort))

	adminCert, adminKey, err := p.clientCert(AdminUser, []string{MastersGroup})
	if err != nil {
		return fmt.Errorf("issue admin certificate: %w", err)
	}
	admin := credentials{certPEM: adminCert, keyPEM: adminKey}
	c.KubeconfigPath = filepath.Join(dir, adminKubeconfigFile)
	if err := writeKubeconfig(c.KubeconfigPath, c.APIServerURL, p.caPEM, admin); err != nil {
		return fmt.Errorf("write admin kubeconfig: %w", err)
	}
	c.restConfig = restConfig(c.APIServerURL, p.caPEM, admin)
	if c.client, err = kubernetes.NewForConfig(c.restConfig); err != nil {
		return fmt.Errorf("create admin client: %w", err)
	}

	c.etcd = c.component(harness.EtcdBinary, etcdArgs(filepath.Join(dir, etcdDataDir), etcdClientPort, etcdPeerPort, c.opts.EtcdArgs))
	c.EtcdLogPath = c.etcd.LogPath
	apiArgs, err := c.auditArgs()
	if err != nil {
		return err
	}
	if c.opts.KubeletClient {
		kubeletArgs, err := c.kubeletClientArgs()
		if err != nil {
			return err
		}
		apiArgs = append(apiArgs, kubeletArgs...)
	}
	c.apiServer = c.component(harness.APIServerBinary, apiServerArgs(p, host, apiServerPort, c.EtcdURL, append(apiArgs, c.opts.APIServerArgs...)))
	c.APIServerLogPath = c.apiServer.LogPath
	if c.opts.DisableControllerManager {
		return nil
	}
	kcmCert, kcmKey, err := p.clientCert(ControllerManagerUser, []string{MastersGroup})
	if err != nil {
		return fmt.Errorf("issue kube-controller-manager certificate: %w", err)
	}
	kcmKubeconfig := filepath.Join(dir, kubeconfigsDir, harness.ControllerManagerBinary+".kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, c.APIServerURL, p.caPEM, credentials{certPEM: kcmCert, keyPEM: kcmKey}); err != nil {
		return fmt.Errorf("write kube-controller-manager kubeconfig: %w", err)
	}
	c.controllers = c.component(harness.ControllerManagerBinary, controllerManagerArgs(p, kcmKubeconfig, c.opts.Controllers, c.opts.ControllerManagerArgs))
	c.ControllerManagerLogPath = c.controllers.LogPath
	return nil
}

// component defines the process of the binary name of the assets
// directory, logging to <WorkDir>/logs/<name>.log.
func (c *ControlPlane) component(name string, args []string) *harness.Process {
	return &harness.Process{
		Name: name, Path: filepath.Join(c.assetsDir, name), Args: args, Dir: c.WorkDir,
		LogPath: filepath.Join(c.WorkDir, logsDir, name+".log"),
	}
}

// auditArgs writes Options.AuditPolicy to the work dir and returns the API
// server's flags that apply it, or none without a policy.
func (c *ControlPlane) auditArgs() ([]string, error) {
	if c.opts.AuditPolicy == "" {
		return nil, nil
	}
	policy := filepath.Join(c.WorkDir, auditPolicyFile)
	if err := writeFile(policy, []byte(c.opts.AuditPolicy), 0o644); err != nil {
		return nil, fmt.Errorf("write audit policy: %w", err)
	}
	c.AuditLogPath = filepath.Join(c.WorkDir, logsDir, "audit.log")
	return []string{"--audit-policy-file=" + policy, "--audit-log-path=" + c.AuditLogPath}, nil
}

// kubeletClientArgs issues the API server's client certificate for kubelets
// and returns the flags that use it.
func (c *ControlPlane) kubeletClientArgs() ([]string, error) {
	certPEM, keyPEM, err := c.pki.clientCert(KubeletClientUser, []string{MastersGroup})
	if err != nil {
		return nil, fmt.Errorf("issue the kubelet client certificate: %w", err)
	}
	certPath, keyPath := c.pki.path("apiserver-kubelet-client.crt"), c.pki.path("apiserver-kubelet-client.key")
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	return []string{"--kubelet-client-certificate=" + certPath, "--kubelet-client-key=" + keyPath}, nil
}

// startAll starts the components in dependency order.
func (c *ControlPlane) startAll(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startEtcd(ctx); err != nil {
		return err
	}
	if err := c.startAPIServer(ctx); err != nil {
		return err
	}
	if c.controllers == nil {
		return nil
	}
	if err := c.controllers.Start(); err != nil {
		return err
	}
	c.logf("Started kube-controller-manager (pid %d) with controllers %s", c.controllers.PID(), strings.Join(c.opts.Controllers, ","))
	if runsServiceAccountController(c.opts.Controllers) {
		err := harness.WaitFor(ctx, "kube-controller-manager to create the default ServiceAccount", c.opts.StartTimeout, c.controllers,
			func(ctx context.Context) error { return controllerManagerWorking(ctx, c.client) })
		if err != nil {
			return fmt.Errorf("start kube-controller-manager: %w", err)
		}
	}
	c.logf("Control plane ready: export KUBECONFIG=%s", c.KubeconfigPath)
	return nil
}

// startEtcd starts etcd and waits until it is healthy; c.mu must be held.
func (c *ControlPlane) startEtcd(ctx context.Context) error {
	if err := c.etcd.Start(); err != nil {
		return err
	}
	err := harness.WaitFor(ctx, "etcd to be healthy", c.opts.StartTimeout, c.etcd,
		func(ctx context.Context) error { return etcdHealthy(ctx, c.EtcdURL) })
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	c.logf("Started etcd (pid %d) at %s", c.etcd.PID(), c.EtcdURL)
	return nil
}

// startAPIServer starts kube-apiserver and waits until it is ready; c.mu
// must be held.
func (c *ControlPlane) startAPIServer(ctx context.Context) error {
	if err := c.apiServer.Start(); err != nil {
		return err
	}
	if err := c.waitAPIServerReady(ctx); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	c.logf("Started kube-apiserver (pid %d) at %s", c.apiServer.PID(), c.APIServerURL)
	return nil
}

// waitAPIServerReady waits for /readyz and the default namespaces.
func (c *ControlPlane) waitAPIServerReady(ctx context.Context) error {
	return harness.WaitFor(ctx, "kube-apiserver to be ready", c.opts.StartTimeout, c.apiServer,
		func(ctx context.Context) error { return apiServerReady(ctx, c.client) })
}

// Stop stops every running component, kube-controller-manager first and etcd
// last, each with SIGTERM and after Options.StopTimeout SIGKILL, then removes
// the work dir unless Options.KeepData is set. A second call does nothing.
func (c *ControlPlane) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	for _, p := range []*harness.Process{c.controllers, c.apiServer, c.etcd} {
		if err := p.Stop(c.opts.StopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		c.logf("Stopped the control plane")
	}
	errs = append(errs, c.cleanup())
	return errors.Join(errs...)
}

// cleanup removes the work dir (only the plane's own entries when Start did
// not create it) unless Options.KeepData is set.
func (c *ControlPlane) cleanup() error {
	if c.opts.KeepData || c.WorkDir == "" {
		return nil
	}
	if c.createdWorkDir {
		if err := os.RemoveAll(c.WorkDir); err != nil {
			return fmt.Errorf("remove work dir: %w", err)
		}
		return nil
	}
	var errs []error
	for _, entry := range []string{etcdDataDir, pkiDir, logsDir, kubeconfigsDir, adminKubeconfigFile} {
		if err := os.RemoveAll(filepath.Join(c.WorkDir, entry)); err != nil {
			errs = append(errs, fmt.Errorf("remove %s from work dir: %w", entry, err))
		}
	}
	return errors.Join(errs...)
}

// RESTConfig returns a copy of the admin client configuration.
func (c *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }

// Clientset returns a clientset acting as the admin user.
func (c *ControlPlane) Clientset() kubernetes.Interface { return c.client }

// PIDs returns the process ids of the running components, keyed by binary
// name (harness.EtcdBinary, APIServerBinary, ControllerManagerBinary).
// Restarts change them; a stopped component is absent.
func (c *ControlPlane) PIDs() map[string]int {
	pids := map[string]int{}
	for _, p := range []*harness.Process{c.etcd, c.apiServer, c.controllers} {
		if p.Running() {
			pids[p.Name] = p.PID()
		}
	}
	return pids
}

// LogTails returns the last n lines of each component's log, for a failing
// test to print before Stop removes the work dir.
func (c *ControlPlane) LogTails(n int) string {
	var b strings.Builder
	for _, p := range []*harness.Process{c.etcd, c.apiServer, c.controllers} {
		if p != nil {
			b.WriteString(p.LogTail(n))
		}
	}
	return b.String()
}

// Kubectl returns the assets directory's kubectl acting as the admin.
func (c *ControlPlane) Kubectl() harness.Kubectl {
	return harness.Kubectl{Path: filepath.Join(c.assetsDir, harness.KubectlBinary), Kubeconfig: c.KubeconfigPath}
}

// logf passes a progress message to Options.Logf.
func (c *ControlPlane) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}
