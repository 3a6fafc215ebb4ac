//go:build linux

package dataplane

import "syscall"

// childSysProcAttr makes a child die with SIGKILL when the test process dies,
// so a crashed run leaves no engine, manager or probe behind, and puts it in
// its own process group, so a terminal's Ctrl-C reaches only the test, which
// then stops its children in order.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
