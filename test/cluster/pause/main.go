// Command pause is the pod sandbox ("pause") image of the real-node test bed:
// no registry is reachable, so registry.k8s.io/pause cannot be pulled. It
// holds the pod's namespaces open and exits on SIGTERM or SIGINT, as the
// upstream pause does; as PID 1 of a sandbox it reaps nothing (pods here do
// not share a process namespace).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
