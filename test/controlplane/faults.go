package controlplane

import (
	"context"
	"errors"
	"fmt"
)

// errStopped is returned by the fault injection methods after Stop.
var errStopped = errors.New("control plane is stopped")

// RestartAPIServer stops kube-apiserver and starts it again on the same port,
// then waits until it is ready. Clients built from RESTConfig keep working
// once it is.
func (c *ControlPlane) RestartAPIServer(ctx context.Context) error {
	return c.fault("restart kube-apiserver", func() error {
		if err := c.apiServer.Stop(c.opts.StopTimeout); err != nil {
			return err
		}
		return c.startAPIServer(ctx)
	})
}

// StopEtcd stops etcd, keeping its data dir; the API server stays up but
// fails its requests and its readiness until StartEtcd.
func (c *ControlPlane) StopEtcd() error {
	return c.fault("stop etcd", func() error {
		if err := c.etcd.Stop(c.opts.StopTimeout); err != nil {
			return err
		}
		c.logf("Stopped etcd")
		return nil
	})
}

// StartEtcd starts a stopped etcd on the same ports and data dir, waits until
// it is healthy and, when kube-apiserver runs, until the API server has
// reconnected and is ready.
func (c *ControlPlane) StartEtcd(ctx context.Context) error {
	return c.fault("start etcd", func() error { return c.startEtcdAndReconnect(ctx) })
}

// RestartEtcd stops etcd and starts it again on the same ports and data dir,
// then waits until it is healthy and the API server is ready again.
func (c *ControlPlane) RestartEtcd(ctx context.Context) error {
	return c.fault("restart etcd", func() error {
		if err := c.etcd.Stop(c.opts.StopTimeout); err != nil {
			return err
		}
		return c.startEtcdAndReconnect(ctx)
	})
}

// fault runs inject while holding c.mu, unless the plane is stopped.
func (c *ControlPlane) fault(what string, inject func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("%s: %w", what, errStopped)
	}
	if err := inject(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// startEtcdAndReconnect starts etcd and waits for a running API server to be
// ready again; c.mu must be held.
func (c *ControlPlane) startEtcdAndReconnect(ctx context.Context) error {
	if err := c.startEtcd(ctx); err != nil {
		return err
	}
	if !c.apiServer.Running() {
		return nil
	}
	if err := c.waitAPIServerReady(ctx); err != nil {
		return fmt.Errorf("reconnect kube-apiserver to etcd: %w", err)
	}
	return nil
}
