//go:build !linux

package harness

import "syscall"

// ChildSysProcAttr returns default attributes: only Linux ties a child's
// life to its parent's (Pdeathsig), so elsewhere the caller must stop it.
func ChildSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
