package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// serve listens on the given TCP and UDP ports until signalled.
func serve(args []string) error {
	fs := newFlags("serve")
	name := fs.String("name", "", "identity sent back to every client")
	tcpPorts := fs.String("tcp", "", "comma-separated TCP ports")
	udpPorts := fs.String("udp", "", "comma-separated UDP ports")
	_ = fs.Parse(args)
	if *name == "" {
		return errors.New("--name is required")
	}
	reply := []byte(*name + "\n")
	tcp, err := parsePorts(*tcpPorts)
	if err != nil {
		return fmt.Errorf("--tcp: %w", err)
	}
	udp, err := parsePorts(*udpPorts)
	if err != nil {
		return fmt.Errorf("--udp: %w", err)
	}
	failed := make(chan error, len(tcp)+len(udp))
	for _, port := range tcp {
		l, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
		if err != nil {
			return fmt.Errorf("listen tcp %d: %w", port, err)
		}
		go func() { failed <- serveTCP(l, reply) }()
	}
	for _, port := range udp {
		c, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		if err != nil {
			return fmt.Errorf("listen udp %d: %w", port, err)
		}
		go func() { failed <- serveUDP(c, reply) }()
	}
	// The bed waits for this line before it measures anything.
	fmt.Println("ready")
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-signals:
		return nil
	case err := <-failed:
		return err
	}
}

// serveTCP writes reply to every connection and closes it.
func serveTCP(l net.Listener, reply []byte) error {
	for {
		conn, err := l.Accept()
		if err != nil {
			return fmt.Errorf("accept on %s: %w", l.Addr(), err)
		}
		go func() {
			_, _ = conn.Write(reply)
			_ = conn.Close()
		}()
	}
}

// serveUDP answers every datagram with reply.
func serveUDP(c net.PacketConn, reply []byte) error {
	buf := make([]byte, 512)
	for {
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("read on %s: %w", c.LocalAddr(), err)
		}
		_, _ = c.WriteTo(reply, from)
	}
}

// parsePorts parses a comma-separated port list; empty means none.
func parsePorts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var ports []int
	for _, field := range strings.Split(s, ",") {
		port, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("bad port %q", field)
		}
		ports = append(ports, port)
	}
	return ports, nil
}
