package main

import "syscall"

// childProcAttr makes the kernel send a cluster child SIGTERM when
// patron cluster dies without stopping it (SIGKILL), so no node outlives
// the demo.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
