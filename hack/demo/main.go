// Command demo shows Tierguard end to end with no cluster configured: it
// starts a cluster, installs the CRD and the manager's RBAC from config/,
// creates a few namespaces, runs the manager binary as a separate process
// under its own ServiceAccount, applies the sample profile, shows what a user
// looks at, tampers with a policy and a label, and shows the repair.
//
// As root on Linux the cluster is the real-node bed (test/cluster): a
// kubelet, containerd, kube-proxy and kube-router, with a probe pod in every
// tier and shared namespace, and real connections between them measured
// against what the profile intends. Elsewhere, or with DEMO_PLANE_ONLY=1, it
// is a control plane alone (etcd, kube-apiserver, kube-controller-manager;
// test/controlplane), where policies are written and verified but nothing
// enforces them.
//
// `make demo` runs it. The cluster then keeps running until Ctrl-C, SIGTERM
// or `make demo-stop` (go run ./hack/demo -stop); with DEMO_EXIT=1 the demo
// stops everything and exits once done, for scripts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tierguard/tierguard/test/controlplane"
	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// stateFileName is the file, in the work dir, that tells `-stop` (and other
// shells) which process runs the demo and where its kubeconfig is.
const stateFileName = "state.json"

func main() {
	dir := flag.String("dir", envOr("DEMO_DIR", filepath.Join("tmp", "demo")), "work dir of the demo cluster: data, certificates, kubeconfigs, logs (env DEMO_DIR)")
	managerBin := flag.String("manager", filepath.Join("bin", "manager"), "manager binary, built by `make build`")
	exit := flag.Bool("exit", envBool("DEMO_EXIT"), "stop the cluster and exit once the demo is done instead of leaving it running (env DEMO_EXIT=1)")
	stop := flag.Bool("stop", false, "stop a demo that is running, then exit")
	planeOnly := flag.Bool("plane-only", envBool("DEMO_PLANE_ONLY"), "run on a control plane alone even where a real node can run (env DEMO_PLANE_ONLY=1)")
	flag.Parse()

	var err error
	if *stop {
		err = stopRunning(*dir)
	} else {
		err = run(*dir, *managerBin, *exit, *planeOnly)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// run prepares the work dir, runs the demo and, unless exit is set, keeps
// the cluster running until a signal. Everything it started is stopped
// before it returns, also on Ctrl-C. The demo runs on a real node unless
// planeOnly is set or this machine cannot run one.
func run(dir, managerBin string, exit, planeOnly bool) (err error) {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if err := clearStaleWorkDir(absDir); err != nil {
		return err
	}
	if _, err := os.Stat(managerBin); err != nil {
		return fmt.Errorf("manager binary: %w (run `make build` first, or `make demo`)", err)
	}

	d := &demo{out: newPrinter(os.Stdout), dir: dir, absDir: absDir, managerBin: managerBin, began: time.Now()}
	d.realNode = d.chooseMode(planeOnly)
	defer func() { err = errors.Join(err, d.stop()) }()
	if err := d.run(ctx); err != nil {
		if ctx.Err() != nil {
			fmt.Println("\nInterrupted: stopping the demo")
			return nil
		}
		return err
	}
	if exit {
		d.out.heading("Stopping (DEMO_EXIT=1)")
		mode := "control plane only"
		if d.realNode {
			mode = "real node"
		}
		d.out.note("The demo (%s) took %s.", mode, time.Since(d.began).Round(time.Second))
		return nil
	}
	d.printUsage()
	<-ctx.Done()
	fmt.Println("\nStopping the demo")
	return nil
}

// chooseMode prints which mode runs, and why, and reports whether it is the
// real node.
func (d *demo) chooseMode(planeOnly bool) bool {
	unsupported := hostbed.Support()
	switch {
	case planeOnly:
		fmt.Printf("%s\n   (DEMO_PLANE_ONLY=1 or -plane-only chose it.)\n", planeOnlyMode)
	case unsupported != nil:
		fmt.Printf("%s\n   (This machine cannot run the real node: %v.)\n", planeOnlyMode, unsupported)
	default:
		fmt.Printf("%s\n   (DEMO_PLANE_ONLY=1 runs the control plane alone instead.)\n", realNodeMode)
	}
	return !planeOnly && unsupported == nil
}

// clearStaleWorkDir refuses to run beside a running demo and removes what a
// demo that did not stop cleanly left, so every run starts from an empty
// cluster.
func clearStaleWorkDir(dir string) error {
	if state, err := controlplane.ReadStateFile(filepath.Join(dir, stateFileName)); err == nil && alive(state.PID) {
		return fmt.Errorf("a demo is already running (pid %d); use it with `export KUBECONFIG=%s` or stop it with `make demo-stop`", state.PID, state.Kubeconfig)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if len(entries) > 0 {
		// Only a directory that an earlier demo used (a control plane's, or
		// a real-node demo's with its state file) is removed, never anything
		// else DEMO_DIR may point to by mistake.
		if !exists(filepath.Join(dir, "pki")) && !exists(filepath.Join(dir, stateFileName)) {
			return fmt.Errorf("work dir %s is not empty and holds no earlier demo; choose another DEMO_DIR", dir)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the previous demo's work dir: %w", err)
	}
	return nil
}

// stopRunning sends SIGTERM to the demo that runs with work dir dir and
// waits until it has stopped its cluster and exited.
func stopRunning(dir string) error {
	path := filepath.Join(dir, stateFileName)
	state, err := controlplane.ReadStateFile(path)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Printf("No demo is running (no %s).\n", path)
		return nil
	}
	if err != nil {
		return err
	}
	if !alive(state.PID) {
		fmt.Printf("No demo is running (pid %d in %s has exited).\n", state.PID, path)
		return nil
	}
	fmt.Printf("Stopping the demo (pid %d)...\n", state.PID)
	if err := syscall.Kill(state.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop demo pid %d: %w", state.PID, err)
	}
	// A real node takes longer to tear down than a control plane.
	err = harness.WaitFor(context.Background(), fmt.Sprintf("demo pid %d to stop after SIGTERM", state.PID), 3*time.Minute, nil,
		func(context.Context) error {
			if alive(state.PID) {
				return errors.New("still running")
			}
			return nil
		})
	if err != nil {
		return err
	}
	fmt.Println("Stopped.")
	return nil
}

// exists reports whether path exists (a file or a directory).
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}
