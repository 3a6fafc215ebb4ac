package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tierguard/tierguard/internal/canary"
)

// runCanary is `manager canary serve|dial`: the enforcement canary's probe
// pods run the manager's own binary (internal/canary).
//
//	manager canary serve --name NAME --tcp 8080,443 --udp 8053
//	manager canary dial [--timeout 2s] [--results /dev/termination-log] tcp:IP:PORT=NAME ...
func runCanary(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: manager canary serve|dial [flags]")
	}
	fs := flag.NewFlagSet("canary "+args[0], flag.ContinueOnError)
	switch args[0] {
	case "serve":
		name := fs.String("name", "", "the name sent back to every client (the canary namespace)")
		tcp := fs.String("tcp", "", "comma-separated TCP ports")
		udp := fs.String("udp", "", "comma-separated UDP ports")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		tcpPorts, err := ports(*tcp)
		if err != nil {
			return err
		}
		udpPorts, err := ports(*udp)
		if err != nil {
			return err
		}
		if *name == "" {
			return errors.New("canary serve: --name is required")
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return canary.Serve(ctx, *name, tcpPorts, udpPorts)
	case "dial":
		timeout := fs.Duration("timeout", 2*time.Second, "time allowed per target")
		results := fs.String("results", "/dev/termination-log", "file the results are written to (the kubelet makes it the pod's termination message)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		var targets []canary.Target
		for _, a := range fs.Args() {
			t, err := canary.ParseTarget(a)
			if err != nil {
				return err
			}
			targets = append(targets, t)
		}
		out := canary.Dial(targets, *timeout)
		fmt.Println(out)
		return os.WriteFile(*results, []byte(out), 0o644)
	default:
		return fmt.Errorf("canary: unknown command %q (serve or dial)", args[0])
	}
}

// ports parses comma-separated ports.
func ports(s string) ([]int32, error) {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q: want 1-65535", f)
		}
		out = append(out, int32(n))
	}
	return out, nil
}
