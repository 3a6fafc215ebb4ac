package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Result is one attempt on one target; the bed decodes the same JSON.
type Result struct {
	// Target is the attempted "proto:ip:port".
	Target string `json:"target"`
	// Open is true when the server's name came back.
	Open bool `json:"open"`
	// Peer is the name the server sent.
	Peer string `json:"peer,omitempty"`
	// Error says why the target was not open.
	Error string `json:"error,omitempty"`
	// Start is when the attempt began, in Unix nanoseconds.
	Start int64 `json:"start"`
	// Micros is how long the attempt took.
	Micros int64 `json:"micros"`
}

// udpResend is how often an unanswered UDP datagram is sent again within the
// timeout, so one datagram lost during neighbour discovery does not close a cell.
const udpResend = 150 * time.Millisecond

// dial tries every target concurrently, once, and prints the results.
//
// With --udp-source-port, the UDP targets are tried from that port and the
// following ones, in order, instead of from random ports: the caller picks
// ports no earlier attempt used, so a datagram never matches the connection
// tracking entry of an earlier, allowed exchange (30 s for UDP), which a
// policy engine lets through whatever the policy says now.
func dial(args []string) error {
	fs := newFlags("dial")
	timeout := fs.Duration("timeout", time.Second, "time allowed per target")
	udpSource := fs.Int("udp-source-port", 0, "first local port of the UDP targets (0: random ports)")
	_ = fs.Parse(args)
	targets := fs.Args()
	sources := make([]int, len(targets))
	next := *udpSource
	for i, t := range targets {
		proto, _, err := splitTarget(t)
		if err != nil {
			return err
		}
		if proto == "udp" && next > 0 {
			sources[i] = next
			next++
		}
	}
	results := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { results[i] = attempt(t, sources[i], *timeout) })
	}
	wg.Wait()
	enc := json.NewEncoder(os.Stdout)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return nil
}

// watch tries one target every interval until SIGTERM or SIGINT.
func watch(args []string) error {
	fs := newFlags("watch")
	interval := fs.Duration("interval", 10*time.Millisecond, "time between attempt starts")
	timeout := fs.Duration("timeout", 250*time.Millisecond, "time allowed per attempt")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("watch takes exactly one target")
	}
	target := fs.Arg(0)
	if _, _, err := splitTarget(target); err != nil {
		return err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	for {
		if err := enc.Encode(attempt(target, 0, *timeout)); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		// Flush per attempt: the bed timestamps transitions as they arrive.
		if err := out.Flush(); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		select {
		case <-signals:
			return nil
		case <-ticker.C:
		}
	}
}

// attempt makes one connection attempt; a UDP attempt uses local port
// udpSource when it is not 0.
func attempt(target string, udpSource int, timeout time.Duration) Result {
	start := time.Now()
	proto, addr, _ := splitTarget(target)
	var peer string
	var err error
	if proto == "tcp" {
		peer, err = tryTCP(addr, start.Add(timeout))
	} else {
		peer, err = tryUDP(addr, udpSource, start.Add(timeout))
	}
	r := Result{Target: target, Start: start.UnixNano(), Micros: time.Since(start).Microseconds()}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Open, r.Peer = true, peer
	return r
}

// tryTCP connects and reads the server's name.
func tryTCP(addr string, deadline time.Time) (string, error) {
	conn, err := net.DialTimeout("tcp4", addr, time.Until(deadline))
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }() // an attempt's result is already known
	if err := conn.SetDeadline(deadline); err != nil {
		return "", err
	}
	return readName(conn)
}

// tryUDP sends a datagram, again every udpResend, until the server's name
// comes back, the deadline passes or the network refuses (ICMP unreachable).
func tryUDP(addr string, source int, deadline time.Time) (string, error) {
	dialer := net.Dialer{Deadline: deadline}
	if source > 0 {
		dialer.LocalAddr = &net.UDPAddr{Port: source}
	}
	conn, err := dialer.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }() // an attempt's result is already known
	for {
		if _, err := conn.Write([]byte("ping\n")); err != nil {
			return "", err
		}
		wait := time.Now().Add(udpResend)
		if wait.After(deadline) {
			wait = deadline
		}
		if err := conn.SetReadDeadline(wait); err != nil {
			return "", err
		}
		name, err := readName(conn)
		var netErr net.Error
		if err == nil || !errors.As(err, &netErr) || !netErr.Timeout() || !time.Now().Before(deadline) {
			return name, err
		}
	}
}

// readName reads the server's one-line name.
func readName(conn net.Conn) (string, error) {
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if n > 0 {
		if name := strings.TrimSpace(string(buf[:n])); name != "" {
			return name, nil
		}
	}
	if err == nil || errors.Is(err, io.EOF) {
		return "", errors.New("no name received")
	}
	return "", err
}

// splitTarget splits "proto:ip:port" into the protocol and "ip:port".
func splitTarget(t string) (string, string, error) {
	proto, addr, ok := strings.Cut(t, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return "", "", fmt.Errorf("bad target %q: want tcp:IP:PORT or udp:IP:PORT", t)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("bad target %q: %w", t, err)
	}
	return proto, addr, nil
}
