//go:build linux

package controlplane

import "syscall"

// childSysProcAttr makes a child die with SIGKILL when the parent dies (so no
// etcd or API server outlives a crashed test) and puts it in its own process
// group (so a terminal's Ctrl-C reaches only the parent, which then stops the
// children in order).
//
// The kernel delivers Pdeathsig when the OS thread that forked the child
// exits; the Go runtime does not end threads of goroutines that did not lock
// them, so in practice this is the death of the parent process.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
