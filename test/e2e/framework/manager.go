package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ManagerOptions configures one manager process.
type ManagerOptions struct {
	// Binary is the manager binary built from ./cmd/manager.
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
}

// Manager is a running (or exited) manager process. Its metrics are served
// over plain HTTP on a free loopback port.
type Manager struct {
	// Name is ManagerOptions.Name.
	Name string
	// LogPath collects the process's stdout and stderr.
	LogPath string
	// MetricsURL is the URL of its Prometheus metrics.
	MetricsURL string
	// ReadyURL is the URL of its readiness probe.
	ReadyURL string

	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	exitErr error
}

// StartManager starts the manager binary with POD_NAMESPACE=SystemNamespace
// and KUBECONFIG=opts.Kubeconfig. It returns once the process runs; use
// WaitServing to wait for its endpoints.
func StartManager(opts ManagerOptions) (*Manager, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("start manager %s: %w", opts.Name, err)
	}
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	probeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
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
	args = append(args, opts.Args...)

	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("start manager %s: %w", opts.Name, err)
	}
	logPath := filepath.Join(opts.LogDir, opts.Name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start manager %s: %w", opts.Name, err)
	}
	cmd := exec.Command(opts.Binary, args...)
	// KUBECONFIG comes last so it wins over one inherited from the caller.
	cmd.Env = append(append(os.Environ(), "POD_NAMESPACE="+SystemNamespace, "KUBECONFIG="+opts.Kubeconfig), opts.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childSysProcAttr()
	fmt.Fprintf(logFile, "==== %s: starting %s %v\n", time.Now().Format(time.RFC3339Nano), opts.Binary, args)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start manager %s: %w", opts.Name, err)
	}
	m := &Manager{
		Name:       opts.Name,
		LogPath:    logPath,
		MetricsURL: "http://" + metricsAddr + "/metrics",
		ReadyURL:   "http://" + probeAddr + "/readyz",
		cmd:        cmd,
		done:       make(chan struct{}),
	}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logFile, "==== %s: pid %d exited: %v\n", time.Now().Format(time.RFC3339Nano), cmd.Process.Pid, err)
		logFile.Close()
		m.mu.Lock()
		m.exitErr = err
		m.mu.Unlock()
		close(m.done)
	}()
	return m, nil
}

// PID returns the process id.
func (m *Manager) PID() int { return m.cmd.Process.Pid }

// Exited reports whether the process has exited, and how.
func (m *Manager) Exited() (bool, error) {
	select {
	case <-m.done:
		m.mu.Lock()
		defer m.mu.Unlock()
		return true, m.exitErr
	default:
		return false, nil
	}
}

// WaitServing waits until the readiness probe answers, failing early when
// the process exits.
func (m *Manager) WaitServing(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if err := httpGet(ctx, m.ReadyURL, io.Discard); err == nil {
			return nil
		}
		select {
		case <-m.done:
			_, err := m.Exited()
			return fmt.Errorf("manager %s exited before serving (%v):\n%s", m.Name, err, m.LogTail(30))
		case <-ctx.Done():
			return fmt.Errorf("manager %s not serving after %s:\n%s", m.Name, timeout, m.LogTail(30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM, which makes the manager release its lease and exit,
// and SIGKILL after grace. It does nothing when the process has exited.
func (m *Manager) Stop(grace time.Duration) error {
	if exited, _ := m.Exited(); exited {
		return nil
	}
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop manager %s: %w", m.Name, err)
	}
	select {
	case <-m.done:
		return nil
	case <-time.After(grace):
	}
	return m.Kill()
}

// Kill sends SIGKILL, as a node failure or the OOM killer would, and waits
// for the process to be gone.
func (m *Manager) Kill() error {
	if err := m.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill manager %s: %w", m.Name, err)
	}
	select {
	case <-m.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("kill manager %s: pid %d still running 10s after SIGKILL", m.Name, m.PID())
	}
}

// Log returns the whole log file (all runs of this name).
func (m *Manager) Log() string {
	data, err := os.ReadFile(m.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", m.LogPath, err)
	}
	return string(data)
}

// LogTail returns the last n lines of the log file.
func (m *Manager) LogTail(n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(m.Log()), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Metrics scrapes the manager's metrics endpoint.
func (m *Manager) Metrics(ctx context.Context) (Metrics, error) {
	var b bytes.Buffer
	if err := httpGet(ctx, m.MetricsURL, &b); err != nil {
		return nil, fmt.Errorf("scrape manager %s: %w", m.Name, err)
	}
	return ParseMetrics(b.String())
}

// httpGet fetches url into w, failing on a status other than 200.
func httpGet(ctx context.Context, url string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
