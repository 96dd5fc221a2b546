package host

import (
	"errors"

	"golang.org/x/sys/unix"
)

// signalZero probes pid with kill(pid, 0): EPERM still means it exists.
func signalZero(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
