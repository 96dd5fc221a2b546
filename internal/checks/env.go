package checks

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/gpu"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
	"github.com/minerguard/minerguard/internal/sigscan"
)

// Env is what every check receives: the host, the intel, and facts
// gathered once per scan and shared (process table, sockets, executable
// contents) so no check reads /proc twice.
type Env struct {
	Host  host.Host
	Intel *intel.DB
	// Procs is the process snapshot, nil on an offline root.
	Procs *process.Table
	// Sample is the CPU sample window; 0 means CPU was not sampled.
	Sample time.Duration
	Log    *slog.Logger
	// Exes scans executables for signatures, once per file.
	Exes *sigscan.Scanner
	// Now is the scan's start, so checks agree on "recent".
	Now time.Time
	// Resolve allows DNS lookups of pool names seen on the host. Off by
	// default: a scanner asking the resolver for pool names trips the
	// network's own mining alarms, and /etc/hosts is always consulted.
	Resolve bool
	// Paths are extra host directories file checks search (--paths); Full
	// searches the whole filesystem (--full).
	Paths []string
	Full  bool
	// GPU lists GPUs and their processes (gpu.Query when nil); tests set it
	// to play a driver.
	GPU func() ([]gpu.Device, error)

	sockOnce sync.Once
	socks    []host.Socket
	sockErr  error

	usersOnce sync.Once
	users     map[int]string
}

// NewEnv prepares an Env; procs may be nil for an offline host.
func NewEnv(h host.Host, db *intel.DB, procs *process.Table, log *slog.Logger) *Env {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Env{Host: h, Intel: db, Procs: procs, Log: log, Exes: sigscan.New(db), Now: time.Now()}
}

// Sockets lists the host's sockets once per scan.
func (e *Env) Sockets(ctx context.Context) ([]host.Socket, error) {
	e.sockOnce.Do(func() {
		if p := e.Host.Proc(); p != nil {
			e.socks, e.sockErr = p.Sockets(ctx)
		}
	})
	return e.socks, e.sockErr
}

// UserName maps a uid to a name from the host's /etc/passwd (not NSS: the
// scanner reads files, it does not ask services that may be subverted).
func (e *Env) UserName(uid int) string {
	e.usersOnce.Do(func() {
		e.users = map[int]string{}
		b, err := e.Host.FS().ReadFile("/etc/passwd")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 3 {
				continue
			}
			if id, err := strconv.Atoi(f[2]); err == nil {
				if _, dup := e.users[id]; !dup {
					e.users[id] = f[0]
				}
			}
		}
	})
	if n, ok := e.users[uid]; ok {
		return n
	}
	return strconv.Itoa(uid)
}

// ProcessEvidence fills the evidence fields every process finding carries.
func (e *Env) ProcessEvidence(p *process.Process) findings.Evidence {
	uid := p.UID()
	ev := findings.Evidence{
		PID:     p.PID,
		PPID:    p.PPID,
		UID:     &uid,
		User:    e.UserName(uid),
		Comm:    Printable(p.Name(), 64),
		Exe:     Printable(p.Exe, 4096),
		Cmdline: Printable(p.CommandLine(), 4096),
		Cwd:     Printable(p.Cwd, 4096),
	}
	ev.Container = process.ContainerOf(p)
	if p.ExeDeleted {
		ev.Exe += " (deleted)"
	}
	if e.Sample > 0 {
		ev.CPUPercent = round1(p.CPUPercent)
	}
	return ev
}

// Printable makes untrusted bytes safe to print: control characters are
// escaped and the text is cut at max bytes.
func Printable(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		switch {
		case r == '\uFFFD':
			b.WriteString(`\ufffd`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatInt(int64(r)|0x100, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// UserProcesses returns live, non-kernel processes other than minerguard
// itself (whose binary carries every signature as intel data).
func (e *Env) UserProcesses() []*process.Process {
	if e.Procs == nil {
		return nil
	}
	self := 0
	if p := e.Host.Proc(); p != nil {
		self = p.Self()
	}
	var out []*process.Process
	for _, p := range e.Procs.All() {
		if p.Kernel() || p.PID == self {
			continue
		}
		out = append(out, p)
	}
	return out
}
