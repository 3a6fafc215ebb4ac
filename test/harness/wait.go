package harness

import (
	"context"
	"fmt"
	"time"
)

// PollInterval is how often WaitFor checks.
const PollInterval = 100 * time.Millisecond

// attemptTimeout bounds one check of WaitFor.
const attemptTimeout = 5 * time.Second

// logTailLines is how many lines of a process's log a failed wait quotes.
const logTailLines = 40

// WaitFor runs check every PollInterval until it returns nil. It fails when
// timeout passes or ctx ends, with check's last error, and when proc (unless
// nil) exits first; a failure quotes proc's log. Each check gets at most
// five seconds.
func WaitFor(ctx context.Context, what string, timeout time.Duration, proc *Process, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var exited <-chan struct{}
	if proc != nil {
		exited = proc.Done()
	}
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, attemptTimeout)
		err := check(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %w)%s", what, ctx.Err(), err, tailOf(proc))
		case <-exited:
			return fmt.Errorf("wait for %s: %s exited (%s)%s", what, proc.Name, proc.ExitReason(), tailOf(proc))
		case <-time.After(PollInterval):
		}
	}
}

// Sleep waits for d, or less when ctx ends first, and returns ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tailOf formats the end of proc's log for an error message.
func tailOf(proc *Process) string {
	if proc == nil {
		return ""
	}
	return "\n" + proc.LogTail(logTailLines)
}
