package controlplane

import (
	"context"
	"fmt"
	"time"
)

// pollInterval is how often readiness checks run.
const pollInterval = 100 * time.Millisecond

// logTailLines is how many lines of a component's log an error quotes.
const logTailLines = 40

// waitFor runs check until it succeeds, failing when timeout passes, ctx
// ends, or proc (when not nil) exits; the error quotes proc's log.
func waitFor(ctx context.Context, what string, proc *process, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var exited <-chan struct{}
	exitErr := func() error { return nil }
	if proc != nil {
		exited, exitErr = proc.exited()
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		err := check(attemptCtx)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)%s", what, ctx.Err(), err, tailOf(proc))
		case <-exited:
			return fmt.Errorf("wait for %s: %s exited (%v)%s", what, proc.name, exitErr(), tailOf(proc))
		case <-ticker.C:
		}
	}
}

// tailOf formats the end of proc's log for an error message.
func tailOf(proc *process) string {
	if proc == nil {
		return ""
	}
	return fmt.Sprintf("\n--- last lines of %s ---\n%s", proc.logPath, proc.logTail(logTailLines))
}
