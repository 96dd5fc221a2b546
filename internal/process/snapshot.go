package process

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/minerguard/minerguard/internal/host"
)

// Process is one process as read from /proc at snapshot time.
type Process struct {
	PID     int
	PPID    int
	Stat    Stat
	Status  Status
	Cmdline []string
	// Exe is the /proc/PID/exe link target with any " (deleted)" suffix
	// removed; ExeDeleted says whether it was there.
	Exe        string
	ExeDeleted bool
	// ExeErr says why the exe link could not be read (permission, exited).
	ExeErr error
	Cwd    string
	// CPUPercent is filled by Sample: 100 means one core fully used.
	CPUPercent float64
	// TreeCPUPercent adds the CPU of every descendant.
	TreeCPUPercent float64
	// Threads maps thread id to its CPU percent (Sample fills it).
	Threads map[int]float64

	proc     host.Proc
	envOnce  sync.Once
	env      []string
	envErr   error
	mapsOnce sync.Once
	maps     []string
	mapsErr  error
	fds      fdCache
}

// Kernel reports whether this is a kernel thread (not a user program).
func (p *Process) Kernel() bool {
	return p.Stat.Kernel() || p.Status.Kthread || p.PID == 2 || p.PPID == 2
}

// Name is the kernel's short name (comm, at most 15 bytes).
func (p *Process) Name() string { return p.Stat.Comm }

// Argv0 is the first command-line word ("" when there is none).
func (p *Process) Argv0() string {
	if len(p.Cmdline) == 0 {
		return ""
	}
	return p.Cmdline[0]
}

// CommandLine joins argv with spaces, as ps shows it.
func (p *Process) CommandLine() string { return strings.Join(p.Cmdline, " ") }

// UID is the real user id.
func (p *Process) UID() int { return p.Status.UID[0] }

// MemFD reports an executable that lives only in memory (memfd_create).
func (p *Process) MemFD() bool { return strings.HasPrefix(p.Exe, "/memfd:") }

// Environ reads /proc/PID/environ once, on first use.
func (p *Process) Environ() ([]string, error) {
	p.envOnce.Do(func() {
		b, err := p.proc.ReadFile(p.PID, "environ")
		if err != nil {
			p.envErr = err
			return
		}
		p.env = ParseNulList(b)
	})
	return p.env, p.envErr
}

// Getenv returns one variable from the process environment.
func (p *Process) Getenv(key string) (string, bool) {
	env, _ := p.Environ()
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// MappedFiles lists the distinct file paths in /proc/PID/maps, read once.
func (p *Process) MappedFiles() ([]string, error) {
	p.mapsOnce.Do(func() {
		b, err := p.proc.ReadFile(p.PID, "maps")
		if err != nil {
			p.mapsErr = err
			return
		}
		p.maps = ParseMapsPaths(b)
	})
	return p.maps, p.mapsErr
}

// Table is a snapshot of all processes.
type Table struct {
	procs    map[int]*Process
	order    []int
	children map[int][]int
	// Listed is every pid the /proc directory listing showed.
	Listed []int
	// Errors are per-process read problems other than "exited meanwhile".
	Errors []error
}

// Snapshot reads every process in the /proc listing. Processes that exit
// while it reads are dropped silently; other errors are collected.
func Snapshot(ctx context.Context, proc host.Proc) (*Table, error) {
	pids, err := proc.PIDs()
	if err != nil {
		return nil, err
	}
	slices.Sort(pids)
	t := &Table{procs: make(map[int]*Process, len(pids)), children: map[int][]int{}, Listed: pids}
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return t, err
		}
		p, err := Read(proc, pid)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !isESRCH(err) {
				t.Errors = append(t.Errors, err)
			}
			continue
		}
		t.add(p)
	}
	return t, nil
}

// Read reads one process. A process that has exited gives an error that
// matches fs.ErrNotExist.
func Read(proc host.Proc, pid int) (*Process, error) {
	b, err := proc.ReadFile(pid, "stat")
	if err != nil {
		return nil, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return nil, &ReadError{PID: pid, File: "stat", Err: err}
	}
	p := &Process{PID: pid, PPID: st.PPID, Stat: st, proc: proc}
	if b, err := proc.ReadFile(pid, "status"); err == nil {
		if s, err := ParseStatus(b); err == nil {
			p.Status = s
		} else {
			return nil, &ReadError{PID: pid, File: "status", Err: err}
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if b, err := proc.ReadFile(pid, "cmdline"); err == nil {
		p.Cmdline = ParseNulList(b)
	}
	if p.Kernel() {
		return p, nil
	}
	exe, err := proc.Readlink(pid, "exe")
	if err != nil {
		p.ExeErr = err
	} else {
		p.Exe, p.ExeDeleted = strings.CutSuffix(exe, " (deleted)")
	}
	if cwd, err := proc.Readlink(pid, "cwd"); err == nil {
		p.Cwd = strings.TrimSuffix(cwd, " (deleted)")
	}
	return p, nil
}

// ReadError names the /proc file that could not be parsed.
type ReadError struct {
	PID  int
	File string
	Err  error
}

func (e *ReadError) Error() string {
	return "/proc/" + itoa(e.PID) + "/" + e.File + ": " + e.Err.Error()
}

func (e *ReadError) Unwrap() error { return e.Err }

func (t *Table) add(p *Process) {
	t.procs[p.PID] = p
	t.order = append(t.order, p.PID)
	t.children[p.PPID] = append(t.children[p.PPID], p.PID)
}

// Add inserts a process found outside the listing (a hidden one).
func (t *Table) Add(p *Process) {
	if _, ok := t.procs[p.PID]; !ok {
		t.add(p)
	}
}

// Get returns the process with pid, or nil.
func (t *Table) Get(pid int) *Process { return t.procs[pid] }

// All returns the processes in pid order.
func (t *Table) All() []*Process {
	out := make([]*Process, 0, len(t.order))
	for _, pid := range t.order {
		out = append(out, t.procs[pid])
	}
	return out
}

// Len is the number of processes.
func (t *Table) Len() int { return len(t.order) }

// Children returns the direct children of pid.
func (t *Table) Children(pid int) []*Process {
	var out []*Process
	for _, c := range t.children[pid] {
		out = append(out, t.procs[c])
	}
	return out
}

// Descendants returns every process below pid.
func (t *Table) Descendants(pid int) []*Process {
	var out []*Process
	queue := []int{pid}
	seen := map[int]bool{pid: true}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, c := range t.children[cur] {
			if seen[c] {
				continue
			}
			seen[c] = true
			out = append(out, t.procs[c])
			queue = append(queue, c)
		}
	}
	return out
}

// Ancestors returns the parent chain of pid, nearest first, stopping at pid 1.
func (t *Table) Ancestors(pid int) []*Process {
	var out []*Process
	seen := map[int]bool{pid: true}
	p := t.procs[pid]
	for p != nil && p.PPID > 0 && !seen[p.PPID] {
		seen[p.PPID] = true
		parent := t.procs[p.PPID]
		if parent == nil {
			break
		}
		out = append(out, parent)
		p = parent
	}
	return out
}
