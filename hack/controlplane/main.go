// Command controlplane runs the local control plane of package
// test/controlplane (etcd, kube-apiserver, kube-controller-manager on
// 127.0.0.1) until SIGINT or SIGTERM, for demos and manual testing:
//
//	go run ./hack/controlplane --dir ./tmp/demo --state-file ./tmp/demo/state.json
//
// It prints `export KUBECONFIG=...` and the components' PIDs once the plane is
// ready. With --state-file it also writes a JSON controlplane.State there
// (removed on exit), so another shell or script can wait for the file and read
// the kubeconfig path from it, e.g. `jq -r .kubeconfig ./tmp/demo/state.json`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/tierguard/tierguard/test/controlplane"
)

func main() {
	log.SetFlags(log.LstdFlags)
	log.SetPrefix("controlplane: ")
	dir := flag.String("dir", "", "work dir for etcd data, certificates, kubeconfigs and logs; the admin kubeconfig is <dir>/kubeconfig (default: a new temporary directory)")
	keepData := flag.Bool("keep-data", false, "keep the work dir on exit; a later run with the same --dir reuses its data and CA")
	assets := flag.String("assets", "", "directory of the etcd, kube-apiserver, kube-controller-manager and kubectl binaries (default: $KUBEBUILDER_ASSETS, else "+controlplane.DefaultAssetsDir()+")")
	stateFile := flag.String("state-file", "", "write a JSON description of the running plane (kubeconfig, URLs, PIDs, logs) to this file once ready; removed on exit")
	startTimeout := flag.Duration("start-timeout", controlplane.DefaultStartTimeout, "how long each component may take to become ready")
	verbose := flag.Bool("v", false, "log progress while starting and stopping")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("Unexpected arguments: %v", flag.Args())
	}

	opts := controlplane.Options{
		AssetsDir:    *assets,
		WorkDir:      *dir,
		KeepData:     *keepData,
		StartTimeout: *startTimeout,
	}
	if *verbose {
		opts.Logf = log.Printf
	}
	if err := run(opts, *stateFile); err != nil {
		log.Printf("Error: %v", err)
		os.Exit(1)
	}
}

// run starts the plane, reports it and waits for a signal to stop it.
func run(opts controlplane.Options, stateFile string) (err error) {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	started := time.Now()
	cp, err := controlplane.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if stateFile != "" {
			if rmErr := os.Remove(stateFile); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("remove state file: %w", rmErr))
			}
		}
		err = errors.Join(err, cp.Stop())
		if err == nil {
			log.Printf("Stopped")
		}
	}()

	if stateFile != "" {
		if err := cp.WriteStateFile(stateFile); err != nil {
			return err
		}
	}
	log.Printf("Control plane ready in %s; API server %s; work dir %s", time.Since(started).Round(time.Millisecond), cp.APIServerURL, cp.WorkDir)
	if stateFile != "" {
		log.Printf("State file: %s", stateFile)
	}
	// Stdout stays shell-friendly: the export line and comments.
	fmt.Printf("export KUBECONFIG=%s\n", cp.KubeconfigPath)
	state := cp.State()
	names := make([]string, 0, len(state.PIDs))
	for name := range state.PIDs {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Printf("# pid %d: controlplane (this process; stop it with Ctrl-C or kill %d)\n", state.PID, state.PID)
	for _, name := range names {
		fmt.Printf("# pid %d: %s (log %s)\n", state.PIDs[name], name, state.Logs[name])
	}

	<-ctx.Done()
	log.Printf("Stopping on signal")
	return nil
}
