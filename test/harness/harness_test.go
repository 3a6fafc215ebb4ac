package harness

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCheckAssetsMissing: a missing binary is reported with
// ErrMissingBinary and the hint to build it.
func TestCheckAssetsMissing(t *testing.T) {
	err := CheckAssets(t.TempDir())
	if !errors.Is(err, ErrMissingBinary) {
		t.Fatalf("CheckAssets(empty dir) = %v, want ErrMissingBinary", err)
	}
	if !strings.Contains(err.Error(), "make envtest-assets") {
		t.Errorf("error %q does not tell to run make envtest-assets", err)
	}
}

// TestProcessLifecycle: a process logs every run to one file, reports its
// pid to the hooks, stops on SIGTERM, is killed when it ignores it, and
// restarts with the same command.
func TestProcessLifecycle(t *testing.T) {
	var mu sync.Mutex
	var started, exited []int
	p := &Process{
		Name: "sleeper", Path: "/bin/sh",
		// Ignores SIGTERM when told to (exec keeps the ignored signal), so that
		// Stop has to kill it.
		Args:    []string{"-c", `echo "run $MODE"; [ "$MODE" = stubborn ] && trap '' TERM; exec sleep 30`},
		Env:     []string{"MODE=polite"},
		LogPath: filepath.Join(t.TempDir(), "sleeper.log"),
		OnStart: func(pid int) error { mu.Lock(); defer mu.Unlock(); started = append(started, pid); return nil },
		OnExit:  func(pid int) { mu.Lock(); defer mu.Unlock(); exited = append(exited, pid) },
	}
	if exited, _ := p.Exited(); !exited || p.Running() {
		t.Fatal("a process not started yet reports running")
	}
	for _, mode := range []string{"polite", "stubborn"} {
		p.Env = []string{"MODE=" + mode}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err == nil {
			t.Fatal("a second Start of a running process succeeded")
		}
		// The trap is set once the shell has echoed.
		err := WaitFor(context.Background(), "the shell to start", 10*time.Second, p, func(context.Context) error {
			if !strings.Contains(p.Log(), "run "+mode) {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if err := p.Stop(300 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if p.Running() {
			t.Fatalf("%s: still running after Stop", mode)
		}
		t.Logf("%s: stopped in %s", mode, time.Since(began).Round(time.Millisecond))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(started) != 2 || !slices.Equal(started, exited) {
		t.Errorf("OnStart saw %v, OnExit %v; want the same two pids", started, exited)
	}
	tail := p.LogTail(100)
	for _, want := range []string{"run polite", "run stubborn", "signal: killed", "--- last 100 lines of"} {
		if !strings.Contains(tail, want) {
			t.Errorf("log tail lacks %q:\n%s", want, tail)
		}
	}
}
