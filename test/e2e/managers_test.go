package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tierguard/tierguard/test/harness"
)

// mainManagerName names the manager most specs rely on; it runs without
// leader election, as `make run` does, so that restarting it is immediate.
const mainManagerName = "main"

// managerSet tracks every manager process the suite starts, so that logs
// can be scanned and printed and nothing outlives the suite.
type managerSet struct {
	mu   sync.Mutex
	main *harness.Manager
	all  []*harness.Manager
}

// start starts a manager named name as the identity of kubeconfig, waits
// until it serves its probes, and registers it.
func (s *managerSet) start(ctx context.Context, name, kubeconfig string, leaderElect bool, args ...string) *harness.Manager {
	GinkgoHelper()
	m, err := harness.StartManager(harness.ManagerOptions{
		Binary: managerBin, Kubeconfig: kubeconfig, Name: name,
		LogDir: filepath.Join(workDir, "logs"), LeaderElect: leaderElect, Args: args,
	})
	Expect(err).NotTo(HaveOccurred())
	s.mu.Lock()
	s.all = append(s.all, m)
	s.mu.Unlock()
	Expect(m.WaitServing(ctx, time.Minute)).To(Succeed())
	GinkgoWriter.Printf("Started manager %s (pid %d, metrics %s)\n", name, m.PID(), m.MetricsURL)
	return m
}

// startMain starts the main manager as Tierguard's ServiceAccount.
func (s *managerSet) startMain(ctx context.Context) {
	GinkgoHelper()
	m := s.start(ctx, mainManagerName, managerKubeconfig, false)
	s.mu.Lock()
	s.main = m
	s.mu.Unlock()
}

// ensureMain starts the main manager unless it runs: specs that stop it
// register ensureMain to run when they end.
func (s *managerSet) ensureMain(ctx context.Context) {
	GinkgoHelper()
	if m := s.mainManager(); m != nil {
		if exited, _ := m.Exited(); !exited {
			return
		}
	}
	s.startMain(ctx)
}

// mainManager returns the running main manager; specs that stop it
// (faults) restart it before they end.
func (s *managerSet) mainManager() *harness.Manager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.main
}

// stopMain stops the main manager gracefully, so a spec can run managers
// of its own; such a spec registers ensureMain first.
func (s *managerSet) stopMain() {
	GinkgoHelper()
	s.mu.Lock()
	m := s.main
	s.main = nil
	s.mu.Unlock()
	if m != nil {
		Expect(m.Stop(15 * time.Second)).To(Succeed())
	}
}

// stopAll stops every manager still running.
func (s *managerSet) stopAll() {
	s.mu.Lock()
	all := append([]*harness.Manager(nil), s.all...)
	s.mu.Unlock()
	for _, m := range all {
		if err := m.Stop(10 * time.Second); err != nil {
			GinkgoWriter.Printf("Stopping manager %s: %v\n", m.Name, err)
		}
	}
}

// logMark records how far each log file was written.
type logMark map[string]int64

// markLogs returns the current size of every manager log.
func (s *managerSet) markLogs() logMark {
	mark := logMark{}
	for _, path := range s.logPaths() {
		if info, err := os.Stat(path); err == nil {
			mark[path] = info.Size()
		}
	}
	return mark
}

// logPaths returns the distinct log files (restarts of a name share one).
func (s *managerSet) logPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var paths []string
	for _, m := range s.all {
		if !seen[m.LogPath] {
			seen[m.LogPath] = true
			paths = append(paths, m.LogPath)
		}
	}
	return paths
}

// forbiddenSince returns the log lines written since mark that contain
// "forbidden", prefixed with the log's name.
func (s *managerSet) forbiddenSince(mark logMark) []string {
	var found []string
	for _, path := range s.logPaths() {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if _, err := f.Seek(mark[path], 0); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if strings.Contains(strings.ToLower(sc.Text()), "forbidden") {
					found = append(found, filepath.Base(path)+": "+sc.Text())
				}
			}
		}
		f.Close()
	}
	return found
}

// printLogs writes the last n lines of every manager log to GinkgoWriter.
func (s *managerSet) printLogs(n int) {
	s.mu.Lock()
	all := append([]*harness.Manager(nil), s.all...)
	s.mu.Unlock()
	printed := map[string]bool{}
	for _, m := range all {
		if printed[m.LogPath] {
			continue
		}
		printed[m.LogPath] = true
		GinkgoWriter.Print(m.LogTail(n))
	}
}

// scrape returns the metrics of manager m.
func scrape(ctx context.Context, m *harness.Manager) harness.Metrics {
	GinkgoHelper()
	metrics, err := m.Metrics(ctx)
	Expect(err).NotTo(HaveOccurred())
	return metrics
}

// settle waits until the main manager is idle: its work queue empty and no
// reconcile finished for a second.
func settle(ctx context.Context) {
	GinkgoHelper()
	_, err := managers.mainManager().Settle(ctx, harness.ProfileController, -1, time.Second, timeout)
	Expect(err).NotTo(HaveOccurred())
}

// expectRunning fails when m has exited.
func expectRunning(m *harness.Manager) {
	GinkgoHelper()
	exited, err := m.Exited()
	Expect(exited).To(BeFalse(), fmt.Sprintf("manager %s exited: %v", m.Name, err))
}
