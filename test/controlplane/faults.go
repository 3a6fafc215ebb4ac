package controlplane

import (
	"context"
	"errors"
	"fmt"
)

// errStopped is returned by the fault injection methods after Stop.
var errStopped = errors.New("control plane is stopped")

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after
// Options.StopTimeout); etcd and kube-controller-manager keep running.
func (c *ControlPlane) StopAPIServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("stop kube-apiserver: %w", errStopped)
	}
	if err := c.apiServer.stop(c.opts.StopTimeout); err != nil {
		return err
	}
	c.logf("Stopped kube-apiserver")
	return nil
}

// StartAPIServer starts a stopped kube-apiserver on the same port and waits
// until it is ready.
func (c *ControlPlane) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("start kube-apiserver: %w", errStopped)
	}
	return c.startAPIServer(ctx)
}

// RestartAPIServer stops kube-apiserver and starts it again on the same port,
// then waits until it is ready. Clients built from RESTConfig keep working
// once it is.
func (c *ControlPlane) RestartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("restart kube-apiserver: %w", errStopped)
	}
	if err := c.apiServer.stop(c.opts.StopTimeout); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	if err := c.startAPIServer(ctx); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}

// StopEtcd stops etcd, keeping its data dir; the API server stays up but
// fails its requests and its readiness until StartEtcd.
func (c *ControlPlane) StopEtcd() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("stop etcd: %w", errStopped)
	}
	if err := c.etcd.stop(c.opts.StopTimeout); err != nil {
		return err
	}
	c.logf("Stopped etcd")
	return nil
}

// StartEtcd starts a stopped etcd on the same ports and data dir, waits until
// it is healthy and, when kube-apiserver runs, until the API server has
// reconnected and is ready.
func (c *ControlPlane) StartEtcd(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("start etcd: %w", errStopped)
	}
	return c.startEtcdAndReconnect(ctx)
}

// RestartEtcd stops etcd and starts it again on the same ports and data dir,
// then waits until it is healthy and the API server is ready again.
func (c *ControlPlane) RestartEtcd(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("restart etcd: %w", errStopped)
	}
	if err := c.etcd.stop(c.opts.StopTimeout); err != nil {
		return fmt.Errorf("restart etcd: %w", err)
	}
	if err := c.startEtcdAndReconnect(ctx); err != nil {
		return fmt.Errorf("restart etcd: %w", err)
	}
	return nil
}

// startEtcdAndReconnect starts etcd and waits for a running API server to be
// ready again; c.mu must be held.
func (c *ControlPlane) startEtcdAndReconnect(ctx context.Context) error {
	if err := c.startEtcd(ctx); err != nil {
		return err
	}
	if c.apiServer.pid() == 0 {
		return nil
	}
	if err := c.waitAPIServerReady(ctx); err != nil {
		return fmt.Errorf("reconnect kube-apiserver to etcd: %w", err)
	}
	return nil
}

// RestartControllerManager stops kube-controller-manager and starts it again.
// It does not wait for the controllers to resync.
func (c *ControlPlane) RestartControllerManager() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return fmt.Errorf("restart kube-controller-manager: %w", errStopped)
	}
	if c.controllers == nil {
		return errors.New("restart kube-controller-manager: disabled by Options.DisableControllerManager")
	}
	if err := c.controllers.stop(c.opts.StopTimeout); err != nil {
		return fmt.Errorf("restart kube-controller-manager: %w", err)
	}
	if err := c.controllers.start(); err != nil {
		return fmt.Errorf("restart kube-controller-manager: %w", err)
	}
	c.logf("Restarted kube-controller-manager (pid %d)", c.controllers.pid())
	return nil
}
