//go:build unix

package checks

import (
	"io/fs"
	"syscall"
)

// dirID returns a directory's device and inode, so a walk visits a
// directory reached twice (bind mounts, overlapping roots) only once.
func dirID(info fs.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true //nolint:unconvert // Dev is uint32 on some platforms
}
