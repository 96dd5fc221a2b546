package checks

import (
	"io/fs"
	"syscall"
	"time"
)

// changeTime is the inode change time (st_ctime): the kernel sets it on
// every write, chmod or rename, and utimes cannot set it back.
func changeTime(st fs.FileInfo) (time.Time, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys == nil {
		return time.Time{}, false
	}
	return time.Unix(int64(sys.Ctim.Sec), int64(sys.Ctim.Nsec)), true
}
