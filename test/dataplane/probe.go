package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tierguard/tierguard/test/harness"
	"github.com/tierguard/tierguard/test/hostbed"
)

// Port is a transport protocol and port.
type Port struct {
	// Protocol is "TCP" or "UDP".
	Protocol string
	// Number is the port.
	Number int
}

// String returns e.g. "tcp/443".
func (p Port) String() string { return strings.ToLower(p.Protocol) + "/" + strconv.Itoa(p.Number) }

// target returns the probe's target syntax for p on ip.
func (p Port) target(ip string) string {
	return strings.ToLower(p.Protocol) + ":" + ip + ":" + strconv.Itoa(p.Number)
}

// Ports every probe server listens on: the matrix's ports plus TCP 53, DNS's
// other transport.
var (
	serverTCPPorts = []int{53, 443, 8080}
	serverUDPPorts = []int{53}
)

// dialTimeout bounds one matrix attempt. A refused connection fails in
// microseconds (the engine REJECTs), so only a dropped one waits this long;
// the margin keeps an open cell open on a machine busy with other builds.
const dialTimeout = 2 * time.Second

// probeResult is one attempt, as the probe prints it (probe/dial.go Result).
type probeResult struct {
	Target string `json:"target"`
	Open   bool   `json:"open"`
	Peer   string `json:"peer"`
	Error  string `json:"error"`
}

// startProbeServer runs the probe's listeners in pn's network namespace and
// waits until they are bound. The server answers with its namespace's name,
// so a client knows which pod it reached.
func startProbeServer(ctx context.Context, probeBin string, pn PodNet, logDir string) (*harness.Process, error) {
	ready := make(chan struct{})
	var once sync.Once
	proc := &harness.Process{
		Name: "probe server in " + pn.Netns,
		Path: "ip",
		Args: []string{"netns", "exec", pn.Netns, probeBin, "serve", "--name", pn.Namespace,
			"--tcp", joinInts(serverTCPPorts), "--udp", joinInts(serverUDPPorts)},
		LogPath: filepath.Join(logDir, "probe-"+pn.Namespace+".log"),
		Stdout: func(line string) {
			if line == "ready" {
				once.Do(func() { close(ready) })
			}
		},
		OnStart: hostbed.RecordPID(probeBin), OnExit: hostbed.UnregisterPID,
	}
	if err := proc.Start(); err != nil {
		return nil, err
	}
	select {
	case <-ready:
		return proc, nil
	case <-proc.Done():
		return nil, fmt.Errorf("probe server in %s exited: %s\n%s", pn.Netns, proc.ExitReason(), proc.LogTail(10))
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	err := fmt.Errorf("probe server in %s did not become ready\n%s", pn.Netns, proc.LogTail(10))
	return nil, errors.Join(err, proc.Stop(hostbed.StopGrace))
}

// UDP source ports of the matrix measurements cycle through this range, a
// fresh block per measurement (see the probe's --udp-source-port): at a few
// measurements a second, a port comes back after many minutes, long after
// the 30 s a UDP connection tracking entry lives.
const (
	udpSourceFirst = 20000
	udpSourceLast  = 31999
)

// udpSourceBlock returns the first port of the next block of n UDP source
// ports.
func (b *Bed) udpSourceBlock(n int) int {
	b.udpMu.Lock()
	defer b.udpMu.Unlock()
	if b.udpNext < udpSourceFirst || b.udpNext+n-1 > udpSourceLast {
		b.udpNext = udpSourceFirst
	}
	first := b.udpNext
	b.udpNext += n
	return first
}

// dial runs the probe client once in src's network namespace against every
// target at once and returns the results by target. UDP targets are tried
// from udpSource on (0: random ports).
func dial(ctx context.Context, probeBin string, src PodNet, targets []string, udpSource int) (map[string]probeResult, error) {
	args := append([]string{"netns", "exec", src.Netns, probeBin, "dial",
		"--timeout", dialTimeout.String(), "--udp-source-port", strconv.Itoa(udpSource)}, targets...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.SysProcAttr = harness.ChildSysProcAttr()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("probe dial from %s: %w: %s", src.Netns, err, strings.TrimSpace(stderr.String()))
	}
	results := map[string]probeResult{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r probeResult
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("probe dial from %s: decode result: %w", src.Netns, err)
		}
		results[r.Target] = r
	}
	for _, t := range targets {
		if _, ok := results[t]; !ok {
			return nil, fmt.Errorf("probe dial from %s: no result for %s", src.Netns, t)
		}
	}
	return results, nil
}

// joinInts joins ints with commas.
func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
