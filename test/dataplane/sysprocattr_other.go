//go:build !linux

package dataplane

import "syscall"

// childSysProcAttr: the bed runs only on Linux; elsewhere the suite skips
// before starting anything.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
