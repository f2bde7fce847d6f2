package testcluster

import "syscall"

// procAttr makes the kernel kill a chain process when the harness dies
// without stopping it, so no patron process outlives a crash soak.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
