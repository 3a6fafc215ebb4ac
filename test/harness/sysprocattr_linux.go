//go:build linux

package harness

import "syscall"

// ChildSysProcAttr makes a child die with SIGKILL when the test dies (so no
// etcd, API server, manager or probe outlives a crashed run) and puts it in
// its own process group (so a terminal's Ctrl-C reaches only the test, which
// then stops its children in order).
//
// The kernel delivers Pdeathsig when the OS thread that forked the child
// exits; the Go runtime does not end threads of goroutines that did not lock
// them, so in practice this is the death of the parent process.
func ChildSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
