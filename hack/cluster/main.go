// Command cluster starts the real-node test bed (test/cluster) for people:
// a single-node cluster with kubelet, containerd, the bridge CNI, kube-proxy
// and kube-router on this machine, left running until Ctrl-C, SIGTERM or
// `make cluster-down` (go run ./hack/cluster -stop). Needs root and Linux.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tierguard/tierguard/test/cluster"
	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// stateFile tells -stop which process runs the cluster.
var stateFile = filepath.Join(hostbed.StateDir, "cluster.json")

type state struct {
	PID        int    `json:"pid"`
	Kubeconfig string `json:"kubeconfig"`
}

func main() {
	stop := flag.Bool("stop", false, "stop the cluster that is running, then exit")
	noEngine := flag.Bool("no-policy-engine", false, "start no NetworkPolicy engine (the bridge CNI alone enforces nothing)")
	flag.Parse()
	var err error
	if *stop {
		err = stopRunning()
	} else {
		err = run(*noEngine)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(noEngine bool) (err error) {
	if err := hostbed.Support(); err != nil {
		return fmt.Errorf("the real-node bed needs root and Linux: %w", err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	c, err := cluster.Up(ctx, cluster.Options{RepoRoot: root, NoPolicyEngine: noEngine, Logf: logf})
	defer func() {
		fmt.Println("Stopping the cluster")
		err = errors.Join(err, c.Down(), removeState())
	}()
	if err != nil {
		return err
	}
	data, _ := json.Marshal(state{PID: os.Getpid(), Kubeconfig: c.Plane.KubeconfigPath})
	if err := os.WriteFile(stateFile, data, 0o600); err != nil {
		return err
	}
	fmt.Printf("\nCluster ready: node %s at %s.\n  export KUBECONFIG=%s\nImport an image with: ctr --address %s -n k8s.io images import IMAGE.tar\nStop it with `make cluster-down`, Ctrl-C here, or `kill %d`.\n",
		cluster.NodeName, c.NodeIP, c.Plane.KubeconfigPath, filepath.Join(c.WorkDir, "containerd", "containerd.sock"), os.Getpid())
	<-ctx.Done()
	return nil
}

func removeState() error {
	if err := os.Remove(stateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// stopRunning sends SIGTERM to the running cluster's process and waits until
// it has exited (it tears the cluster down first).
func stopRunning() error {
	data, err := os.ReadFile(stateFile)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("No cluster is running.")
		return nil
	}
	if err != nil {
		return err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("read %s: %w", stateFile, err)
	}
	if err := syscall.Kill(s.PID, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return removeState()
		}
		return err
	}
	return harness.WaitFor(context.Background(), fmt.Sprintf("cluster pid %d to stop", s.PID), 2*time.Minute, nil,
		func(context.Context) error {
			if syscall.Kill(s.PID, 0) == nil {
				return fmt.Errorf("pid %d still runs", s.PID)
			}
			return nil
		})
}
