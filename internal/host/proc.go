package host

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// ProcDir reads a /proc tree: the kernel's on a live host, a fixture in tests.
type ProcDir struct {
	dir  string
	live bool
}

// NewLiveProc returns the running kernel's /proc.
func NewLiveProc() *ProcDir { return &ProcDir{dir: "/proc", live: true} }

// NewProcDir returns a /proc fixture tree rooted at dir.
func NewProcDir(dir string) (*ProcDir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	return &ProcDir{dir: dir}, nil
}

// Live reports whether this is the running kernel's /proc.
func (p *ProcDir) Live() bool { return p.live }

func (p *ProcDir) path(pid int, name string) string {
	if name == "" {
		return filepath.Join(p.dir, strconv.Itoa(pid))
	}
	return filepath.Join(p.dir, strconv.Itoa(pid), filepath.FromSlash(name))
}

// PIDs lists numeric entries of the /proc directory.
func (p *ProcDir) PIDs() ([]int, error) {
	f, err := os.Open(p.dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.dir, err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// ReadFile reads /proc/PID/NAME.
func (p *ProcDir) ReadFile(pid int, name string) ([]byte, error) {
	return readProcFile(p.path(pid, name))
}

// Readlink reads /proc/PID/NAME as a link.
func (p *ProcDir) Readlink(pid int, name string) (string, error) {
	return os.Readlink(p.path(pid, name))
}

// ReadDir lists /proc/PID/NAME.
func (p *ProcDir) ReadDir(pid int, name string) ([]fs.DirEntry, error) {
	return os.ReadDir(p.path(pid, name))
}

// Stat stats /proc/PID/NAME, following links.
func (p *ProcDir) Stat(pid int, name string) (fs.FileInfo, error) {
	return os.Stat(p.path(pid, name))
}

// OpenExe opens /proc/PID/exe.
func (p *ProcDir) OpenExe(pid int) (File, error) {
	f, err := os.Open(p.path(pid, "exe"))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ReadGlobal reads /proc/NAME.
func (p *ProcDir) ReadGlobal(name string) ([]byte, error) {
	return readProcFile(filepath.Join(p.dir, filepath.FromSlash(name)))
}

// Self is minerguard's own pid on a live host.
func (p *ProcDir) Self() int {
	if p.live {
		return os.Getpid()
	}
	return 0
}

// ClockTicks is USER_HZ: 100 on every architecture Linux exposes to user space.
func (p *ProcDir) ClockTicks() int { return 100 }

// Alive asks the kernel for pid directly on a live host; a fixture answers
// from its tree.
func (p *ProcDir) Alive(pid int) bool {
	if p.live {
		return signalZero(pid)
	}
	_, err := os.Stat(p.path(pid, ""))
	return err == nil
}

// Sockets lists sockets through netlink sock_diag on a live Linux host and
// falls back to the /proc/net tables (always used for fixtures).
func (p *ProcDir) Sockets(ctx context.Context) ([]Socket, error) {
	if p.live {
		if socks, err := netlinkSockets(ctx); err == nil {
			return socks, nil
		}
	}
	return p.procNetSockets()
}
