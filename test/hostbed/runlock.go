package hostbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StateDir holds the run lock, the PID registry and the work dir of the
// current (or last) run.
var StateDir = filepath.Join(os.TempDir(), "tierguard-dataplane")

// runLockPath serializes runs of the bed on one machine. The bed's names are
// fixed (tgbr0, tgdp-*, 10.244.0.0/24), and the cleanup of leftovers at the
// start of a run would tear down a concurrent run's network. The kernel
// drops the lock when its holder dies, so a crashed run never blocks the next.
var runLockPath = filepath.Join(StateDir, "lock")

// AcquireRunLock waits until no other run of the bed holds the lock, takes
// it, and returns the function that releases it.
func AcquireRunLock(ctx context.Context, logf func(string, ...any)) (release func() error, err error) {
	if err := os.MkdirAll(filepath.Dir(runLockPath), 0o700); err != nil {
		return nil, fmt.Errorf("create run lock: %w", err)
	}
	// Go opens files close-on-exec: children never inherit the lock.
	f, err := os.OpenFile(runLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open run lock: %w", err)
	}
	waiting := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("take run lock %s: %w", runLockPath, err)
		}
		if !waiting {
			holder, _ := os.ReadFile(runLockPath)
			logf("Waiting for another run of a host test bed (pid %s) to finish", strings.TrimSpace(string(holder)))
			waiting = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for another run of a host test bed: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		_ = f.Truncate(0)
		// Closing the file releases the lock.
		if err := f.Close(); err != nil {
			return fmt.Errorf("release run lock: %w", err)
		}
		return nil
	}, nil
}
