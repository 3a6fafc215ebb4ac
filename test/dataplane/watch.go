package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// Watch tries one connection again and again (the probe's watch mode) and
// keeps every attempt, timestamped as it arrives: arrival follows the
// attempt by well under a millisecond, and the bed's monotonic clock then
// times both the attempts and the tampering.
type Watch struct {
	proc     *harness.Process
	mu       sync.Mutex
	attempts []Attempt
}

// Attempt is one connection attempt of a Watch.
type Attempt struct {
	At   time.Time
	Open bool
}

// watchInterval is the time between a Watch's attempt starts, the
// resolution of an exposure window.
const watchInterval = 10 * time.Millisecond

// StartWatch starts trying from's pod to to's pod on port.
func (b *Bed) StartWatch(from, to string, port Port) (*Watch, error) {
	src, ok := b.pod(from)
	dst, ok2 := b.pod(to)
	if !ok || !ok2 {
		return nil, fmt.Errorf("watch %s -> %s: no such pod", from, to)
	}
	w := &Watch{}
	w.proc = &harness.Process{
		Name: fmt.Sprintf("probe watch %s -> %s %s", from, to, port),
		Path: "ip",
		Args: []string{"netns", "exec", src.Netns, b.probeBin, "watch",
			"--interval", watchInterval.String(), "--timeout", "250ms", port.target(dst.IP)},
		LogPath: filepath.Join(b.logDir(), "watch-"+from+"-"+to+".log"),
		OnStart: hostbed.RecordPID(b.probeBin), OnExit: hostbed.UnregisterPID,
		Stdout: func(line string) {
			var r probeResult
			if json.Unmarshal([]byte(line), &r) != nil {
				return
			}
			w.mu.Lock()
			w.attempts = append(w.attempts, Attempt{At: time.Now(), Open: r.Open})
			w.mu.Unlock()
		},
	}
	if err := w.proc.Start(); err != nil {
		return nil, err
	}
	return w, nil
}

// Stop stops the watch's probe.
func (w *Watch) Stop() error { return w.proc.Stop(hostbed.StopGrace) }

// since returns the attempts that arrived at or after t.
func (w *Watch) since(t time.Time) []Attempt {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, _ := slices.BinarySearchFunc(w.attempts, t, func(a Attempt, t time.Time) int { return a.At.Compare(t) })
	return slices.Clone(w.attempts[i:])
}

// waitClosedAfter polls the attempts since t0 until exposureOf says the
// measurement is complete.
func (w *Watch) waitClosedAfter(ctx context.Context, t0 time.Time, timing ExposureTiming) (Exposure, error) {
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		attempts := w.since(t0)
		if exp, done := exposureOf(attempts, t0, time.Now(), timing); done {
			return exp, nil
		}
		if time.Since(t0) > timing.Deadline {
			return Exposure{}, fmt.Errorf("the forbidden connection is still open %s after tampering (%d attempts)", timing.Deadline, len(attempts))
		}
		if !w.proc.Running() {
			return Exposure{}, fmt.Errorf("watch probe exited: %s\n%s", w.proc.ExitReason(), w.proc.LogTail(10))
		}
		select {
		case <-ctx.Done():
			return Exposure{}, ctx.Err()
		case <-ticker.C:
		}
	}
}

// waitOpen waits for the first attempt after t0 that got through.
func (w *Watch) waitOpen(ctx context.Context, t0 time.Time, timeout time.Duration) (time.Time, error) {
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	for {
		for _, a := range w.since(t0) {
			if a.Open {
				return a.At, nil
			}
		}
		if time.Since(t0) > timeout {
			return time.Time{}, fmt.Errorf("the tampered connection did not open within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-ticker.C:
		}
	}
}

// waitClosedFor waits until every attempt of the last hold was refused.
func (w *Watch) waitClosedFor(ctx context.Context, hold, timeout time.Duration) error {
	start := time.Now()
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	for {
		now := time.Now()
		recent := w.since(now.Add(-hold))
		if now.Sub(start) >= hold && len(recent) > 0 && !slices.ContainsFunc(recent, func(a Attempt) bool { return a.Open }) {
			return nil
		}
		if now.Sub(start) > timeout {
			return fmt.Errorf("the forbidden connection did not stay refused for %s within %s", hold, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
