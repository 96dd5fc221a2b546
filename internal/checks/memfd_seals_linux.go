package checks

import "golang.org/x/sys/unix"

// writeSealed reports whether an open memfd carries F_SEAL_WRITE (or
// F_SEAL_FUTURE_WRITE): container runtimes (runc's cloned binary) and
// sandboxes seal the copy they execute so nobody can rewrite it; droppers
// that memfd-exec a downloaded miner do not bother.
func writeSealed(f any) bool {
	fd, ok := f.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	seals, err := unix.FcntlInt(fd.Fd(), unix.F_GET_SEALS, 0)
	if err != nil {
		return false
	}
	return seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0
}
