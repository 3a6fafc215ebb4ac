package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tierguard/tierguard/test/harness"
)

// The probe pods' ports: the sample profile's flow port, and a port no flow
// admits.
const (
	flowPort   = 443
	closedPort = 8080
)

// dialTimeout is the time the probe allows a connection; an answer that
// takes longer counts as blocked.
const dialTimeout = "2s"

// settleTimeout bounds the retries of one connection until its verdict is
// the expected one: kube-router programs a policy a moment after the API
// server stores it.
const settleTimeout = 30 * time.Second

// connection is one attempt between two probe pods, and what the sample
// profile (config/samples) intends for it, written out by hand from the
// YAML rather than from Tierguard's rendering.
type connection struct {
	from, to string
	port     int
	open     bool
	// why is the rule that decides the connection, in words.
	why string
}

// sampleConnections show each rule of the sample profile once.
var sampleConnections = []connection{
	{"team-a-dev", "payments-prod", closedPort, false, "dev cannot reach prod"},
	{"team-a-dev", "sandbox", closedPort, true, "dev reaches dev (sandbox is in dev by name)"},
	{"team-a-dev", "team-a-test", flowPort, true, "the flow dev -> test on TCP 443"},
	{"team-a-dev", "team-a-test", closedPort, false, "the flow dev -> test admits TCP 443 only"},
	{"payments-prod", "billing-prod", closedPort, false, "prod isolates each namespace, even within the tier"},
	{"ingress-nginx", "payments-prod", closedPort, true, "shared namespaces reach every tier"},
}

// intended reports whether the probe's result is what c intends: open only
// when the destination's own name came back.
func (c connection) intended(r dialResult) bool {
	return r.Open == c.open && (!c.open || r.Peer == c.to)
}

// dialResult is the probe's JSON line for one target (test/dataplane/probe).
type dialResult struct {
	Target string `json:"target"`
	Open   bool   `json:"open"`
	Peer   string `json:"peer"`
	Error  string `json:"error"`
}

// measureOnNode prints note and expects c on a real node; without one
// (plane-only mode) there are no pods and it does nothing.
func (d *demo) measureOnNode(ctx context.Context, note string, c connection) error {
	if d.node == nil {
		return nil
	}
	d.out.note("%s", note)
	return d.expectConnection(ctx, c)
}

// expectConnections runs each connection as a user would type it and prints
// a verdict; it fails on the first verdict the profile does not intend.
func (d *demo) expectConnections(ctx context.Context, conns ...connection) error {
	for _, c := range conns {
		if err := d.expectConnection(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// expectConnection runs one connection until its verdict is the intended
// one or settleTimeout passes, and prints the command, the probe's output
// and the verdict.
func (d *demo) expectConnection(ctx context.Context, c connection) error {
	ip, ok := d.podIPs[c.to]
	if !ok {
		return fmt.Errorf("no probe pod in namespace %s", c.to)
	}
	args := []string{"exec", "-n", c.from, probePodName, "--", "/probe", "dial", "--timeout", dialTimeout, fmt.Sprintf("tcp:%s:%d", ip, c.port)}
	_, _ = fmt.Fprintf(d.kubectl.Echo, "$ kubectl %s\n", strings.Join(args, " "))

	began := time.Now()
	deadline := began.Add(settleTimeout)
	attempts := 0
	var out string
	var r dialResult
	var err error
	for {
		attempts++
		out, r, err = d.dial(ctx, args)
		if err == nil && c.intended(r) {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		if sleepErr := harness.Sleep(ctx, 500*time.Millisecond); sleepErr != nil {
			return sleepErr
		}
	}
	_, _ = fmt.Fprint(d.kubectl.Echo, out)
	if err != nil {
		return fmt.Errorf("%s -> %s on TCP %d: %w", c.from, c.to, c.port, err)
	}
	measured := verdict(r)
	if !c.intended(r) {
		d.out.note("=> WRONG: %s, but the profile intends: %s", measured, c.why)
		return fmt.Errorf("%s -> %s on TCP %d: %s, but the profile intends: %s", c.from, c.to, c.port, measured, c.why)
	}
	separator := ": "
	if c.open {
		separator = "; " // after "connected: answered by NAME"
	}
	line := "=> " + measured + separator + c.why
	if attempts > 1 {
		line += fmt.Sprintf("\n   (held after %d tries over %s: kube-router programs a policy a moment after it is written)",
			attempts, time.Since(began).Round(100*time.Millisecond))
	}
	d.out.note("%s", line)
	return nil
}

// dial runs the probe's client through kubectl exec and decodes its one
// result.
func (d *demo) dial(ctx context.Context, args []string) (string, dialResult, error) {
	var r dialResult
	attempt, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := d.kubectl.Quiet().Run(attempt, args...)
	if err != nil {
		return out, r, err
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		return out, r, fmt.Errorf("decode the probe's output %q: %w", out, err)
	}
	if r.Target == "" {
		return out, r, errors.New("the probe printed no result")
	}
	return out, r, nil
}

// verdict says in words what the probe measured.
func verdict(r dialResult) string {
	switch {
	case r.Open:
		return "connected: answered by " + r.Peer
	case strings.Contains(r.Error, "connection refused"):
		return "refused"
	case strings.Contains(r.Error, "timeout"):
		return "blocked (no answer within " + dialTimeout + ")"
	default:
		return "failed (" + r.Error + ")"
	}
}
