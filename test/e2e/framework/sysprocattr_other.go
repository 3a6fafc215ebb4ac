//go:build !linux

package framework

import "syscall"

// childSysProcAttr sets nothing where Pdeathsig and process groups are not
// available the Linux way; stopping the manager is then up to the caller.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
