package canary

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The probe pods run the manager's own binary (`manager canary serve` and
// `manager canary dial`): no second image to trust. They get no
// ServiceAccount token; a client's only output is its termination message,
// written by the kubelet from /dev/termination-log.

// Serve listens on every address on the TCP and UDP ports and answers each
// connection or datagram with name and a newline, until ctx ends. A client
// counts a path open only when the name it expects comes back, so a
// handshake a policy engine let through but whose data it dropped does not
// count.
func Serve(ctx context.Context, name string, tcp, udp []int32) error {
	reply := []byte(name + "\n")
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	var wg sync.WaitGroup
	for _, port := range tcp {
		l, err := net.Listen("tcp4", ":"+strconv.Itoa(int(port)))
		if err != nil {
			return fmt.Errorf("listen tcp %d: %w", port, err)
		}
		closers = append(closers, l.Close)
		wg.Go(func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				_, _ = conn.Write(reply)
				_ = conn.Close()
			}
		})
	}
	for _, port := range udp {
		pc, err := net.ListenPacket("udp4", ":"+strconv.Itoa(int(port)))
		if err != nil {
			return fmt.Errorf("listen udp %d: %w", port, err)
		}
		closers = append(closers, pc.Close)
		wg.Go(func() {
			buf := make([]byte, 512)
			for {
				_, addr, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(reply, addr)
			}
		})
	}
	<-ctx.Done()
	for _, c := range closers {
		_ = c()
	}
	closers = nil
	wg.Wait()
	return nil
}

// Target is one path a client tries: protocol, address and the name the
// server must answer with.
type Target struct {
	Protocol string // tcp or udp
	Addr     string // host:port
	Expect   string
}

// String is the target's command-line form, proto:host:port=name.
func (t Target) String() string { return t.Protocol + ":" + t.Addr + "=" + t.Expect }

// ParseTarget reads a target's command-line form.
func ParseTarget(s string) (Target, error) {
	proto, rest, ok := strings.Cut(s, ":")
	addr, expect, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || (proto != "tcp" && proto != "udp") || expect == "" {
		return Target{}, fmt.Errorf("target %q: want tcp|udp:HOST:PORT=NAME", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	return Target{Protocol: proto, Addr: addr, Expect: expect}, nil
}

// Dial tries every target at once and returns one character per target, in
// order: '1' when the expected name came back within timeout, '0' when not.
// The string fits a termination message (4096 bytes) for MaxPaths targets.
func Dial(targets []Target, timeout time.Duration) string {
	out := make([]byte, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			out[i] = '0'
			if try(t, timeout) == nil {
				out[i] = '1'
			}
		})
	}
	wg.Wait()
	return string(out)
}

// try tries one target.
func try(t Target, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	conn, err := net.DialTimeout(t.Protocol+"4", t.Addr, timeout)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(deadline)
	if t.Protocol == "udp" {
		// Several datagrams: one may be lost without a policy dropping it.
		for range 3 {
			if _, err := conn.Write([]byte("canary\n")); err != nil {
				return err
			}
			_ = conn.SetReadDeadline(time.Now().Add(timeout / 3))
			buf := make([]byte, 512)
			n, err := conn.Read(buf)
			if err == nil {
				return expect(string(buf[:n]), t.Expect)
			}
		}
		return errors.New("no answer")
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	return expect(line, t.Expect)
}

func expect(got, want string) error {
	if strings.TrimSpace(got) != want {
		return fmt.Errorf("answered by %q, want %q", strings.TrimSpace(got), want)
	}
	return nil
}
