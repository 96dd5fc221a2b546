//go:build !windows

package host

import "syscall"

const oNonblock = syscall.O_NONBLOCK
