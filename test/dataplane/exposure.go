package dataplane

import (
	"context"
	"fmt"
	"time"
)

// Tampering is one change to what Tierguard wrote.
type Tampering struct {
	// Tamper makes the change.
	Tamper func(context.Context) error
	// Repaired reports whether Tierguard has undone it, as the API server
	// shows it.
	Repaired func(context.Context) (bool, error)
}

// Exposure is how long a forbidden connection stayed possible after one
// tampering.
type Exposure struct {
	// Repair is from the tampering write to the API server showing it undone.
	Repair time.Duration
	// Opened is whether any attempt got through.
	Opened bool
	// Open is from the first attempt that got through to the first refused
	// attempt after the last one that got through: the measured exposure.
	Open time.Duration
	// TamperToClosed is from the tampering write to that refused attempt:
	// the engine's delay to open plus the exposure.
	TamperToClosed time.Duration
}

// ExposureTiming bounds MeasureExposure.
type ExposureTiming struct {
	// Observe is the least time to watch after tampering, longer than the
	// engine takes to program a change, so a window that opens late is seen.
	Observe time.Duration
	// Settle is how long the connection must stay refused to count as closed.
	Settle time.Duration
	// Deadline fails the measurement when the connection is still open.
	Deadline time.Duration
}

// repairPoll is how often MeasureExposure asks the API server whether the
// tampering has been undone.
const repairPoll = 5 * time.Millisecond

// MeasureExposure waits until the watched connection is refused, tampers,
// and measures how long Tierguard takes to undo it and how long the
// connection stays possible until it is refused again for good.
func MeasureExposure(ctx context.Context, w *Watch, t Tampering, timing ExposureTiming) (Exposure, error) {
	if err := w.waitClosedFor(ctx, timing.Settle/3, timing.Deadline); err != nil {
		return Exposure{}, fmt.Errorf("before tampering: %w", err)
	}
	t0 := time.Now()
	if err := t.Tamper(ctx); err != nil {
		return Exposure{}, fmt.Errorf("tamper: %w", err)
	}
	repairedAt, err := pollUntil(ctx, t.Repaired, timing.Deadline)
	if err != nil {
		return Exposure{}, fmt.Errorf("wait for the repair: %w", err)
	}
	exp, err := w.waitClosedAfter(ctx, t0, timing)
	exp.Repair = repairedAt.Sub(t0)
	return exp, err
}

// LateRepair is the control experiment: the window when the repair is held
// back until the forbidden connection has opened.
type LateRepair struct {
	// EngineOpen is from the tampering write to the first attempt that got
	// through: the engine's programming delay.
	EngineOpen time.Duration
	// ResumeToClosed is from letting the repair happen to the connection
	// being refused for good: Tierguard's repair plus the engine's delay.
	ResumeToClosed time.Duration
}

// MeasureLateRepair holds the repair back with pause, tampers, waits until
// the forbidden connection gets through, then calls resume and measures
// until it is refused again for good. It proves that a Watch sees a window
// when there is one, and measures the engine's own delay.
func MeasureLateRepair(ctx context.Context, w *Watch, t Tampering, pause, resume func() error, timing ExposureTiming) (LateRepair, error) {
	if err := w.waitClosedFor(ctx, timing.Settle/3, timing.Deadline); err != nil {
		return LateRepair{}, fmt.Errorf("before tampering: %w", err)
	}
	if err := pause(); err != nil {
		return LateRepair{}, err
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = resume()
		}
	}()
	t0 := time.Now()
	if err := t.Tamper(ctx); err != nil {
		return LateRepair{}, fmt.Errorf("tamper: %w", err)
	}
	openedAt, err := w.waitOpen(ctx, t0, timing.Deadline)
	if err != nil {
		return LateRepair{}, err
	}
	t1 := time.Now()
	resumed = true
	if err := resume(); err != nil {
		return LateRepair{}, err
	}
	exp, err := w.waitClosedAfter(ctx, t1, ExposureTiming{Settle: timing.Settle, Deadline: timing.Deadline})
	return LateRepair{EngineOpen: openedAt.Sub(t0), ResumeToClosed: exp.TamperToClosed}, err
}

// exposureOf computes the exposure from the attempts since tampering at t0,
// and whether the measurement is complete at now: watched for at least
// Observe, and refused for at least Settle since the last open attempt.
func exposureOf(attempts []Attempt, t0, now time.Time, timing ExposureTiming) (Exposure, bool) {
	lastOpen := -1
	firstOpen := -1
	for i, a := range attempts {
		if a.Open {
			lastOpen = i
			if firstOpen < 0 {
				firstOpen = i
			}
		}
	}
	if lastOpen == len(attempts)-1 || now.Sub(t0) < timing.Observe {
		return Exposure{}, false
	}
	closedAt := attempts[lastOpen+1].At
	if now.Sub(closedAt) < timing.Settle {
		return Exposure{}, false
	}
	if firstOpen < 0 {
		return Exposure{}, true
	}
	return Exposure{
		Opened:         true,
		Open:           closedAt.Sub(attempts[firstOpen].At),
		TamperToClosed: closedAt.Sub(t0),
	}, true
}

// pollUntil calls cond every repairPoll until it returns true and returns
// when that was.
func pollUntil(ctx context.Context, cond func(context.Context) (bool, error), timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond(ctx)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not done within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(repairPoll):
		}
	}
}
