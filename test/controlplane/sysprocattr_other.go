//go:build !linux

package controlplane

import "syscall"

// childSysProcAttr returns default attributes: only Linux can tie a child's
// life to its parent's (Pdeathsig), so elsewhere Stop must run.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
