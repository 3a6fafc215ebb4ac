//go:build linux

package framework

import "syscall"

// childSysProcAttr makes the manager die with its parent (no manager
// outlives a crashed test or demo) and puts it in its own process group, so
// a terminal's Ctrl-C reaches only the parent, which stops it in order.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
