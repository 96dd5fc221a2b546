package respond

import (
	"os"

	"golang.org/x/sys/unix"
)

func signalStop(pid int) error { return unix.Kill(pid, unix.SIGSTOP) }
func signalKill(pid int) error { return unix.Kill(pid, unix.SIGKILL) }
func signalCont(pid int) error { return unix.Kill(pid, unix.SIGCONT) }

// crashSelf dies at once, as a power cut would end the run: no deferred
// function, no flush.
func crashSelf() { unix.Kill(os.Getpid(), unix.SIGKILL) }
