package hostbed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pidRegistryPath lists the bed's running children, one "pid exe" a line.
// Children die with the test process (Pdeathsig); the registry is the second
// line of defence, so that the next run stops, by PID and only after checking
// the executable, whatever a crashed run still left running.
var pidRegistryPath = filepath.Join(StateDir, "pids")

var registryMu sync.Mutex

// StopGrace is how long a child may take to exit after SIGTERM.
const StopGrace = 10 * time.Second

// RecordPID returns the harness.Process OnStart hook that records each run
// of exe, the binary the child ends up running (which differs from the
// process's path for `ip netns exec`); UnregisterPID is the OnExit hook.
func RecordPID(exe string) func(pid int) error {
	return func(pid int) error { return registerPID(pid, exe) }
}

// registerPID records a child.
func registerPID(pid int, exe string) error {
	registryMu.Lock()
	defer registryMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(pidRegistryPath), 0o700); err != nil {
		return fmt.Errorf("record pid %d: %w", pid, err)
	}
	f, err := os.OpenFile(pidRegistryPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record pid %d: %w", pid, err)
	}
	_, err = fmt.Fprintf(f, "%d %s\n", pid, exe)
	if err := errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("record pid %d: %w", pid, err)
	}
	return nil
}

// UnregisterPID forgets a child that has exited.
func UnregisterPID(pid int) {
	registryMu.Lock()
	defer registryMu.Unlock()
	entries := readRegistry()
	delete(entries, pid)
	var b strings.Builder
	for p, exe := range entries {
		fmt.Fprintf(&b, "%d %s\n", p, exe)
	}
	_ = os.WriteFile(pidRegistryPath, []byte(b.String()), 0o600)
}

// readRegistry returns the recorded children by PID.
func readRegistry() map[int]string {
	entries := map[int]string{}
	data, err := os.ReadFile(pidRegistryPath)
	if err != nil {
		return entries
	}
	for _, line := range strings.Split(string(data), "\n") {
		pidText, exe, ok := strings.Cut(line, " ")
		if pid, err := strconv.Atoi(pidText); ok && err == nil {
			entries[pid] = exe
		}
	}
	return entries
}

// KillRecordedProcesses sends SIGKILL to every recorded child of an earlier
// run that still runs its recorded executable (a recycled PID is left alone),
// then empties the registry.
func KillRecordedProcesses() error {
	registryMu.Lock()
	defer registryMu.Unlock()
	var errs []error
	for pid, exe := range readRegistry() {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || strings.TrimSuffix(target, " (deleted)") != exe {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill leftover %s (pid %d): %w", exe, pid, err))
		}
	}
	if err := os.Remove(pidRegistryPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove pid registry: %w", err))
	}
	return errors.Join(errs...)
}

// RecordedProcesses returns the recorded children still registered, by PID.
func RecordedProcesses() map[int]string {
	registryMu.Lock()
	defer registryMu.Unlock()
	return readRegistry()
}
