//go:build !windows

package sigscan

import (
	"io/fs"
	"syscall"
)

// fileID returns device and inode, the identity of a file across names.
func fileID(st fs.FileInfo) (dev, ino uint64) {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys != nil {
		return uint64(sys.Dev), uint64(sys.Ino)
	}
	return 0, 0
}
