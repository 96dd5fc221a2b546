package checks

import (
	"time"

	"golang.org/x/sys/unix"
)

// birthTime is when the file at real path p was created, where the
// filesystem records it (ext4, xfs, btrfs); ok is false elsewhere.
func birthTime(p string) (time.Time, bool) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &st); err != nil {
		return time.Time{}, false
	}
	if st.Mask&unix.STATX_BTIME == 0 || st.Btime.Sec == 0 {
		return time.Time{}, false
	}
	return time.Unix(st.Btime.Sec, int64(st.Btime.Nsec)), true
}
