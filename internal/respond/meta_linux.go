package respond

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/minerguard/minerguard/internal/host"
	"golang.org/x/sys/unix"
)

// statMeta reads a path's metadata without following a final symlink.
// Content (SHA256, Blob) is filled by the vault.
func statMeta(p string) (FileMeta, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return FileMeta{}, nil
		}
		return FileMeta{}, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	m := FileMeta{Exists: true, Mode: st.Mode & 0o7777, UID: int(st.Uid), GID: int(st.Gid), Size: st.Size,
		Atime: st.Atim.Nano(), Mtime: st.Mtim.Nano()}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		m.Type = "file"
	case unix.S_IFDIR:
		m.Type = "dir"
	case unix.S_IFLNK:
		m.Type = "symlink"
		l, err := os.Readlink(p)
		if err != nil {
			return m, err
		}
		m.Link = l
		return m, nil // links carry no flags, and user xattrs are not allowed on them
	default:
		return m, fmt.Errorf("%s: not a regular file, directory or symlink", p)
	}
	x, err := readXattrs(p)
	if err != nil {
		return m, err
	}
	m.Xattrs = x
	f, err := getFlags(p)
	if err != nil {
		return m, err
	}
	m.Flags = f
	return m, nil
}

func readXattrs(p string) (map[string][]byte, error) {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		return nil, &os.PathError{Op: "listxattr", Path: p, Err: err}
	}
	if sz == 0 {
		return nil, nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, &os.PathError{Op: "listxattr", Path: p, Err: err}
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		n, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, &os.PathError{Op: "getxattr " + name, Path: p, Err: err}
		}
		v := make([]byte, n)
		if n > 0 {
			if n, err = unix.Lgetxattr(p, name, v); err != nil {
				return nil, &os.PathError{Op: "getxattr " + name, Path: p, Err: err}
			}
		}
		out[name] = v[:n]
	}
	return out, nil
}

// getFlags reads inode flags; filesystems without them report 0.
func getFlags(p string) (uint32, error) {
	f, err := host.InodeFlags(p)
	if errors.Is(err, host.ErrFlagsUnsupported) {
		return 0, nil
	}
	return f, err
}

func flagsUnsupported(err error) bool {
	return errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)
}

// setFlags writes inode flags (a no-op where the filesystem has none).
func setFlags(p string, flags uint32) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	cur, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		if flagsUnsupported(err) && flags == 0 {
			return nil
		}
		return &os.PathError{Op: "FS_IOC_GETFLAGS", Path: p, Err: err}
	}
	if cur == flags {
		return nil
	}
	if err := unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags)); err != nil {
		return &os.PathError{Op: "FS_IOC_SETFLAGS", Path: p, Err: err}
	}
	return nil
}

// clearProtect clears immutable and append-only on p if set and returns
// the flags it had.
func clearProtect(p string) (uint32, error) {
	f, err := getFlags(p)
	if err != nil || f&protectFlags == 0 {
		return f, err
	}
	return f, setFlags(p, f&^protectFlags)
}

// applyMeta puts owner, mode, xattrs, times and flags of m on p, in the
// order that keeps each from undoing the last: chown clears setuid bits and
// capabilities, so it goes first; flags go last because immutable forbids
// everything after it.
func applyMeta(p string, m FileMeta) error {
	if err := unix.Lchown(p, m.UID, m.GID); err != nil {
		return &os.PathError{Op: "chown", Path: p, Err: err}
	}
	if m.Type != "symlink" {
		if err := unix.Chmod(p, m.Mode); err != nil {
			return &os.PathError{Op: "chmod", Path: p, Err: err}
		}
		if err := syncXattrs(p, m.Xattrs); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(m.Atime), unix.NsecToTimespec(m.Mtime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: p, Err: err}
	}
	if m.Type != "symlink" {
		return setFlags(p, m.Flags)
	}
	return nil
}

// syncXattrs makes p's extended attributes exactly want.
func syncXattrs(p string, want map[string][]byte) error {
	have, err := readXattrs(p)
	if err != nil {
		return err
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			if err := unix.Lremovexattr(p, k); err != nil {
				return &os.PathError{Op: "removexattr " + k, Path: p, Err: err}
			}
		}
	}
	for k, v := range want {
		if hv, ok := have[k]; ok && string(hv) == string(v) {
			continue
		}
		if err := unix.Lsetxattr(p, k, v, 0); err != nil {
			return &os.PathError{Op: "setxattr " + k, Path: p, Err: err}
		}
	}
	return nil
}

// fsStatus says whether dir's filesystem is read-only and how many bytes
// are free there for root.
func fsStatus(dir string) (readOnly bool, free uint64, err error) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return false, 0, &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	return s.Flags&unix.ST_RDONLY != 0, s.Bfree * uint64(s.Bsize), nil
}
