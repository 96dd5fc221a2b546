// Package host is the one way minerguard reads a machine: a root filesystem
// and, on a live system, its /proc. Checks never call os.Open or exec
// directly, so the same check runs on "/", on a mounted disk image (--root)
// and on fixture trees in tests. Nothing here shells out: ps, netstat, ls and
// lsof are what mining malware replaces.
package host

import (
	"context"
	"io"
	"io/fs"
)

// Host is the machine under inspection.
type Host interface {
	// Root is the directory the host's "/" lives at, for display and records.
	Root() string
	// FS reads files by their path on the host ("/etc/crontab").
	FS() FS
	// Proc is the process view, or nil when the host is not running (an
	// offline disk) — process and socket checks are then skipped.
	Proc() Proc
}

// FS reads the host's files. Names are absolute slash paths as seen on the
// host; symbolic links are resolved inside the root and never escape it.
type FS interface {
	Open(name string) (File, error)
	ReadFile(name string) ([]byte, error)
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	Readlink(name string) (string, error)
	// RealPath is where name lives on this machine (for syscalls such as
	// ioctl flags that need a real path).
	RealPath(name string) (string, error)
}

// File is an open host file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Closer
	Stat() (fs.FileInfo, error)
}

// Proc is the host's process table, read from /proc (or a fixture of it).
type Proc interface {
	// PIDs lists the thread-group ids in the /proc directory listing.
	PIDs() ([]int, error)
	// ReadFile reads /proc/PID/NAME ("stat", "status", "cmdline", "task/TID/stat").
	ReadFile(pid int, name string) ([]byte, error)
	// Readlink reads a link under /proc/PID ("exe", "cwd", "fd/3").
	Readlink(pid int, name string) (string, error)
	// ReadDir lists /proc/PID/NAME ("fd", "task").
	ReadDir(pid int, name string) ([]fs.DirEntry, error)
	// Stat stats /proc/PID/NAME ("" for the directory itself, "exe" follows the link).
	Stat(pid int, name string) (fs.FileInfo, error)
	// OpenExe opens the executable the process runs, through /proc/PID/exe,
	// which works even when the file was deleted or lives in a memfd.
	OpenExe(pid int) (File, error)
	// ReadGlobal reads a file at the top of /proc ("loadavg", "net/tcp", "self/mountinfo").
	ReadGlobal(name string) ([]byte, error)
	// Alive asks the kernel whether pid exists, without the /proc listing
	// (signal 0 on a live host), to find processes hidden from readdir.
	Alive(pid int) bool
	// Sockets lists every TCP and UDP socket, IPv4 and IPv6.
	Sockets(ctx context.Context) ([]Socket, error)
	// Self is the pid of minerguard itself (0 for fixtures).
	Self() int
	// ClockTicks is USER_HZ, the unit of the times in /proc/PID/stat.
	ClockTicks() int
}
