//go:build linux

package fstree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Entry is everything undo promises to restore about one path.
type Entry struct {
	Type, Link, SHA string
	Mode            fs.FileMode
	UID, GID        uint32
	Mtime           int64
	Flags           uint32
	Xattrs          string
}

// Snapshot records every path under root (root included): what undo and
// rollback promise to restore.
func Snapshot(t testing.TB, root string) map[string]Entry {
	t.Helper()
	out := map[string]Entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		e := Entry{Mode: fs.FileMode(st.Mode & 0o7777), UID: st.Uid, GID: st.Gid, Mtime: st.Mtim.Nano()}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			e.Type = "link"
			e.Link, _ = os.Readlink(p)
		case unix.S_IFDIR:
			e.Type = "dir"
		default:
			e.Type = "file"
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			e.SHA = hex.EncodeToString(s[:])
		}
		if e.Type != "link" {
			e.Xattrs = xattrString(p)
			if fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0); err == nil {
				e.Flags, _ = unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
				unix.Close(fd)
			}
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func xattrString(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		v := make([]byte, 4096)
		m, _ := unix.Lgetxattr(p, name, v)
		fmt.Fprintf(&b, "%s=%q;", name, v[:max(m, 0)])
	}
	return b.String()
}

// Diff lists every difference between two snapshots.
func Diff(a, b map[string]Entry) []string {
	var out []string
	for k, ea := range a {
		eb, ok := b[k]
		switch {
		case !ok:
			out = append(out, "missing: "+k)
		case ea != eb:
			out = append(out, fmt.Sprintf("%s: was %+v, now %+v", k, ea, eb))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "added: "+k)
		}
	}
	sort.Strings(out)
	return out
}
