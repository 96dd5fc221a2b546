package respond

import (
	"errors"
	"time"
)

// FileMeta is everything undo needs to put a path back as it was: its
// type, content (by vault blob), owner, mode, times, extended attributes
// and inode flags (immutable, append-only).
type FileMeta struct {
	Exists bool   `json:"exists"`
	Type   string `json:"type,omitempty"` // "file", "symlink", "dir"
	Mode   uint32 `json:"mode,omitempty"` // permission and setuid/setgid/sticky bits
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	Size   int64  `json:"size,omitempty"`
	Atime  int64  `json:"atime_ns,omitempty"`
	Mtime  int64  `json:"mtime_ns,omitempty"`
	// Xattrs hold every extended attribute, security.* included (file
	// capabilities live there).
	Xattrs map[string][]byte `json:"xattrs,omitempty"`
	// Flags are the FS_IOC_GETFLAGS inode flags.
	Flags  uint32 `json:"flags,omitempty"`
	Link   string `json:"link,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Blob names the vault copy of a regular file's bytes.
	Blob string `json:"blob,omitempty"`
}

// MtimeTime is Mtime as a time.
func (m FileMeta) MtimeTime() time.Time { return time.Unix(0, m.Mtime) }

// Inode flags that block changes; they are cleared before a change and
// put back by undo.
const (
	flagImmutable  = 0x00000010 // FS_IMMUTABLE_FL
	flagAppendOnly = 0x00000020 // FS_APPEND_FL
	protectFlags   = flagImmutable | flagAppendOnly
)

// ErrUnsupported is returned where the operating system lacks what a
// response action needs.
var ErrUnsupported = errors.New("not supported on this operating system")
