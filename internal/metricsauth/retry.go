package metricsauth

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
)

// reviewAttempts bounds the attempts of one review, and retryDelay is the
// wait before the second, growing by half for each later one (0.5, 0.75,
// 1.125 and 1.69 s): controller-runtime's filter gives k8s.io/apiserver's
// webhook client that backoff (500 ms, factor 1.5, five steps). All
// attempts share the request's reviewTimeout.
const (
	reviewAttempts = 5
	retryDelay     = 500 * time.Millisecond
)

// transient reports whether a failed review may succeed if asked again,
// as k8s.io/apiserver's webhook.DefaultShouldRetry decides: a connection
// reset or lost, an internal error, a timeout, too many requests, or an
// answer that asks to retry later.
func transient(err error) bool {
	if utilnet.IsConnectionReset(err) || utilnet.IsHTTP2ConnectionLost(err) ||
		apierrors.IsInternalError(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) {
		return true
	}
	_, retry := apierrors.SuggestsClientDelay(err)
	return retry
}

// withRetry calls review until it succeeds, fails for good, has been
// tried reviewAttempts times, or ctx ends.
func (g *gate) withRetry(ctx context.Context, review func(context.Context) error) error {
	backoff := wait.Backoff{Duration: retryDelay, Factor: 1.5, Steps: reviewAttempts - 1}
	for {
		err := review(ctx)
		if err == nil || backoff.Steps == 0 || !transient(err) {
			return err
		}
		if werr := g.sleep(ctx, backoff.Step()); werr != nil {
			return err
		}
	}
}

// sleepContext waits for d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
