package respond

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/atomicfile"
	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/process"
	"github.com/minerguard/minerguard/internal/scan"
)

// guard knows the processes minerguard must never signal: init, kernel
// threads, itself and the chain of processes that started it.
type guard struct {
	proc      host.Proc
	protected map[int]bool
}

func newGuard(proc host.Proc) *guard {
	g := &guard{proc: proc, protected: map[int]bool{0: true, 1: true, 2: true}}
	for pid := proc.Self(); pid > 1 && !g.protected[pid]; {
		g.protected[pid] = true
		p, err := process.Read(proc, pid)
		if err != nil {
			break
		}
		pid = p.PPID
	}
	return g
}

// check says why p must not be signalled, or "" when it may be.
func (g *guard) check(p *process.Process) string {
	switch {
	case g.protected[p.PID]:
		return "init, minerguard itself or one of its ancestors"
	case p.Kernel():
		return "kernel thread"
	}
	return ""
}

// same re-reads pid and says whether it is still the process planned (its
// start time is unchanged), so a pid reused since the plan is left alone.
func (g *guard) same(want Proc) (*process.Process, bool) {
	p, err := process.Read(g.proc, want.PID)
	if err != nil || (want.StartTime != 0 && p.Stat.StartTime != want.StartTime) {
		return nil, false
	}
	return p, true
}

func procOf(p *process.Process, why string) Proc {
	return Proc{PID: p.PID, StartTime: p.Stat.StartTime, Comm: p.Name(), Exe: p.Exe, Cmdline: checks.Printable(p.CommandLine(), 1024), Why: why}
}

// markers are the strings that tie a process to an incident: the paths of
// its files and executables, and the script files of its shell loops.
type markers struct {
	fsys  host.FS
	paths map[string]bool
	names map[string]bool // executable base names, for "pgrep NAME" style watchdogs
}

// commonNames are base names too generic to tie a script to an incident.
var commonNames = map[string]bool{"sh": true, "bash": true, "dash": true, "python": true, "python3": true, "perl": true, "sleep": true,
	"nohup": true, "setsid": true, "busybox": true, "sudo": true, "su": true, "env": true, "timeout": true, "systemd": true, "init": true}

func (m *markers) addPath(p string) {
	if p == "" || !strings.HasPrefix(p, "/") || len(p) < 4 {
		return
	}
	m.paths[p] = true
	if b := path.Base(p); len(b) >= 4 && !commonNames[b] && !m.systemName(b) {
		m.names[b] = true
	}
}

// systemName reports a base name that a system binary also has: a miner
// disguised as /tmp/.x/sshd must not make every "sshd" a watchdog.
func (m *markers) systemName(b string) bool {
	if m.fsys == nil {
		return false
	}
	for _, d := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin", "/usr/libexec"} {
		if _, err := m.fsys.Lstat(path.Join(d, b)); err == nil {
			return true
		}
	}
	return false
}

func (m *markers) mentionsPath(text string) string {
	for p := range m.paths {
		if strings.Contains(text, p) {
			return p
		}
	}
	return ""
}

func isShell(p *process.Process) bool {
	return scan.IsWatchdogName(p.Name()) || scan.IsWatchdogName(path.Base(p.Argv0()))
}

// mentions says whether text names a marker path or executable name (a
// name counts as a word on its own, so "xmr" does not match "xmrig2").
func (m *markers) mentions(text string) string {
	if p := m.mentionsPath(text); p != "" {
		return p
	}
	for n := range m.names {
		for i := 0; ; {
			j := strings.Index(text[i:], n)
			if j < 0 {
				break
			}
			j += i
			before := j == 0 || !isWordByte(text[j-1])
			after := j+len(n) == len(text) || !isWordByte(text[j+len(n)])
			if before && after {
				return n
			}
			i = j + 1
		}
	}
	return ""
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// maxScript bounds how much of a watchdog's script is read.
const maxScript = 1 << 20

// scriptOf returns the script file an interpreter runs (sh watchdog.sh),
// resolved against the process's working directory.
func scriptOf(p *process.Process) string {
	if !scan.IsWatchdogName(path.Base(p.Argv0())) && !scan.IsWatchdogName(p.Name()) {
		return ""
	}
	for _, a := range p.Cmdline[min(1, len(p.Cmdline)):] {
		if strings.HasPrefix(a, "-") {
			if a == "-c" {
				return "" // inline script: the command line itself is checked
			}
			continue
		}
		if !strings.HasPrefix(a, "/") {
			if p.Cwd == "" {
				return ""
			}
			a = path.Join(p.Cwd, a)
		}
		return a
	}
	return ""
}

// Processes finds every process to stop for the incidents a plan answers:
// the incidents' own processes and trees, further copies of their
// executables, and watchdogs elsewhere in the table whose command line or
// script names one of them (a mutual-respawn pair need not be parent and
// child). Protected processes are never returned.
func Processes(ctx context.Context, h host.Host, rep *findings.Report, opts Options) ([]Proc, error) {
	if h.Proc() == nil {
		return nil, nil
	}
	t, err := process.Snapshot(ctx, h.Proc())
	if err != nil {
		return nil, err
	}
	g := newGuard(h.Proc())
	b := &builder{rep: rep, opts: opts}
	selected := b.selectFindings()
	in := map[int]string{}
	m := &markers{fsys: h.FS(), paths: map[string]bool{}, names: map[string]bool{}}
	incs := map[string]bool{}
	for _, i := range selected {
		f := rep.Findings[i]
		incs[f.Incident] = true
		if f.Evidence.PID > 0 {
			in[f.Evidence.PID] = f.Rule
		}
		if strat, _ := strategyOf(f.Rule); strat == stratQuarantine {
			m.addPath(f.Evidence.Path)
		}
	}
	for _, inc := range rep.Incidents {
		if !incs[inc.ID] {
			continue
		}
		for _, pid := range append(slices.Clone(inc.PIDs), inc.Tree...) {
			if _, ok := in[pid]; !ok {
				in[pid] = "in the process tree of " + inc.ID
			}
		}
	}
	for pid := range in {
		if p := t.Get(pid); p != nil && ownProgram(p) {
			m.addPath(p.Exe)
		}
	}
	scripts := map[string]string{}
	// Grow the set until nothing new ties in: a watchdog's script names
	// the miner; the guardian's script names the watchdog's script.
	for round := 0; round < 8; round++ {
		grew := false
		for pid := range in {
			p := t.Get(pid)
			if p == nil {
				continue
			}
			if s := scriptOf(p); s != "" {
				if !m.paths[s] {
					m.addPath(s)
					grew = true
				}
			}
			for _, d := range t.Descendants(pid) {
				if _, ok := in[d.PID]; !ok {
					in[d.PID] = fmt.Sprintf("child of %d", pid)
					grew = true
				}
			}
		}
		for _, p := range t.All() {
			if _, ok := in[p.PID]; ok || g.check(p) != "" {
				continue
			}
			why := ""
			cl := p.CommandLine()
			shellHit := ""
			if isShell(p) {
				shellHit = m.mentions(cl)
			}
			if p.Exe != "" && m.paths[p.Exe] {
				why = "runs " + p.Exe
			} else if hit := m.mentionsPath(cl); hit != "" {
				why = "its command line names " + hit
			} else if shellHit != "" {
				why = "its shell command names " + shellHit
			} else if s := scriptOf(p); s != "" {
				body, read := scripts[s]
				if !read {
					body = readScript(h.FS(), s) // once, whatever the number of rounds
					scripts[s] = body
				}
				if hit := m.mentions(body); hit != "" {
					why = fmt.Sprintf("its script %s names %s", s, hit)
				}
			}
			if why != "" {
				in[p.PID] = why
				grew = true
				// Its shell-loop parents restart it.
				for _, a := range t.Ancestors(p.PID) {
					if g.check(a) != "" || !scan.IsWatchdogName(a.Name()) {
						break
					}
					if _, ok := in[a.PID]; !ok {
						in[a.PID] = fmt.Sprintf("shell loop above %d", p.PID)
					}
				}
			}
		}
		if !grew {
			break
		}
	}
	var out []Proc
	exeDirs := map[string]bool{}
	for pid := range in {
		if p := t.Get(pid); p != nil && g.check(p) == "" && ownProgram(p) {
			exeDirs[path.Dir(p.Exe)] = true
		}
	}
	for pid, why := range in {
		p := t.Get(pid)
		if p == nil || g.check(p) != "" {
			continue
		}
		pr := procOf(p, why)
		if ownProgram(p) {
			pr.Files = append(pr.Files, p.Exe)
		}
		// A watchdog's script next to the miner is the malware's too.
		if s := scriptOf(p); s != "" && exeDirs[path.Dir(s)] {
			pr.Files = append(pr.Files, s)
		}
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// systemDirs hold the distribution's programs: an interpreter or tool run
// from there is not the malware's own file even when malware runs it.
var systemDirs = []string{"/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/libexec/", "/usr/share/", "/snap/"}

// ownProgram reports an executable that belongs to the malware itself
// (not an interpreter or system tool it runs), so other processes running
// the same file are copies of it and the file may be quarantined.
func ownProgram(p *process.Process) bool {
	if p.Exe == "" || p.ExeDeleted || p.MemFD() || isShell(p) || scan.IsWatchdogName(path.Base(p.Exe)) {
		return false
	}
	for _, d := range systemDirs {
		if strings.HasPrefix(p.Exe, d) {
			return false
		}
	}
	return true
}

func readScript(fsys host.FS, p string) string {
	f, err := fsys.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxScript))
	return string(b)
}

// frozen returns the processes action i's freeze recorded, or the plan's.
func (a *Applier) frozen(act Action) []Proc {
	var out []Proc
	for ai, ps := range a.st.procs {
		if a.Journal.Plan().Actions[ai].Kind == KindFreeze {
			out = append(out, ps...)
		}
	}
	if len(out) == 0 {
		out = act.Procs
	}
	return out
}

// freeze stops every planned process, then stops the children they forked
// between the plan and the stop, until no new child appears.
func (a *Applier) freeze(i int, act Action) (string, error) {
	if a.guard == nil {
		return "no live process table (offline root)", nil
	}
	var stopped []Proc
	seen := map[int]bool{}
	todo := act.Procs
	for round := 0; round < 20 && len(todo) > 0; round++ {
		var now []Proc
		for _, want := range todo {
			if seen[want.PID] {
				continue
			}
			seen[want.PID] = true
			p, ok := a.guard.same(want)
			if !ok || a.guard.check(p) != "" {
				continue
			}
			if err := signalStop(want.PID); err != nil {
				continue // exited meanwhile
			}
			now = append(now, want)
		}
		if len(now) > 0 {
			if err := a.Journal.Append(Record{Type: recProcs, Action: i, Procs: now}); err != nil {
				return "", err
			}
			a.st.procs[i] = append(a.st.procs[i], now...)
			stopped = append(stopped, now...)
		}
		todo = nil
		t, err := process.Snapshot(context.Background(), a.Host.Proc())
		if err != nil {
			break
		}
		for _, s := range stopped {
			for _, c := range t.Children(s.PID) {
				if !seen[c.PID] && a.guard.check(c) == "" {
					todo = append(todo, procOf(c, fmt.Sprintf("forked by %d", s.PID)))
				}
			}
		}
	}
	return fmt.Sprintf("%d process(es) stopped", len(stopped)), nil
}

// evidence copies what a process is into the vault while it is frozen:
// its executable (through /proc/PID/exe, which works for deleted and
// memfd binaries), command line, environment, maps, status and sockets.
func (a *Applier) evidence(ctx context.Context, i int, act Action) (string, error) {
	if a.guard == nil {
		return "no live process table (offline root)", nil
	}
	proc := a.Host.Proc()
	socks, _ := proc.Sockets(ctx)
	n := 0
	for _, want := range a.frozen(act) {
		p, ok := a.guard.same(want)
		if !ok {
			continue
		}
		dir := filepath.Join(a.Journal.Dir, "evidence", fmt.Sprintf("%d-%s", want.PID, safeName(want.Comm)))
		if err := ensureDir(dir); err != nil {
			return "", err
		}
		rec := map[string]any{"pid": p.PID, "ppid": p.PPID, "comm": p.Name(), "exe": p.Exe, "exe_deleted": p.ExeDeleted,
			"cmdline": p.Cmdline, "cwd": p.Cwd, "uid": p.UID(), "start_time": p.Stat.StartTime, "why": want.Why}
		if f, err := proc.OpenExe(p.PID); err == nil {
			sha, size, err := a.vault.StoreReader(f)
			f.Close()
			if err == nil {
				rec["exe_sha256"], rec["exe_size"], rec["exe_blob"] = sha, size, sha
			} else {
				rec["exe_error"] = err.Error()
			}
		} else {
			rec["exe_error"] = err.Error()
		}
		for _, name := range []string{"environ", "maps", "status", "cmdline"} {
			if b, err := proc.ReadFile(p.PID, name); err == nil {
				if err := atomicfile.WriteSynced(filepath.Join(dir, name), b); err != nil {
					return "", err
				}
			}
		}
		if inodes, err := p.SocketInodes(); err == nil {
			var conns []string
			for _, s := range socks {
				if inodes[s.Inode] {
					conns = append(conns, fmt.Sprintf("%s %s -> %s %s", s.Proto, s.Local, s.Remote, s.State))
				}
			}
			rec["connections"] = conns
		}
		b, _ := json.MarshalIndent(rec, "", "  ")
		if err := atomicfile.WriteSynced(filepath.Join(dir, "process.json"), b); err != nil {
			return "", err
		}
		n++
	}
	return fmt.Sprintf("evidence of %d process(es) in %s", n, filepath.Join(a.Journal.Dir, "evidence")), nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// kill ends every frozen process, waits for them to go, then watches the
// table for copies that start again (cron firing, a watchdog missed) and
// kills those too.
func (a *Applier) kill(ctx context.Context, i int, act Action) (string, error) {
	if a.guard == nil {
		return "no live process table (offline root)", nil
	}
	targets := a.frozen(act)
	// Only the malware's own programs and scripts mark a respawn: the
	// frozen set may hold a "sleep" or "sh" that every host runs.
	m := &markers{paths: map[string]bool{}, names: map[string]bool{}}
	for _, p := range act.Procs {
		for _, f := range p.Files {
			m.paths[f] = true
		}
	}
	for _, x := range a.Journal.Plan().Actions {
		if x.Kind == KindQuarantine {
			m.paths[x.Path] = true
		}
	}
	// Units whose files are gone are stopped before the kill, so systemd
	// does not restart them (Restart=always), and then forgotten.
	var unitNote string
	if units := planUnits(a.Journal.Plan()); len(units) > 0 && a.Systemd != nil {
		if err := a.Systemd.Stop(ctx, units); err != nil {
			unitNote = "; " + err.Error()
		} else {
			unitNote = fmt.Sprintf("; systemd units stopped: %s", strings.Join(units, ", "))
		}
		if err := a.Systemd.Reload(ctx); err != nil {
			unitNote += "; " + err.Error()
		}
	}
	killed := a.killAll(i, targets)
	sweep := a.Sweep
	if sweep == 0 {
		sweep = 3 * time.Second
	}
	deadline := time.Now().Add(sweep)
	respawns := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		t, err := process.Snapshot(ctx, a.Host.Proc())
		if err != nil {
			break
		}
		var again []Proc
		for _, p := range t.All() {
			if a.guard.check(p) != "" {
				continue
			}
			if (p.Exe != "" && m.paths[p.Exe]) || m.mentionsPath(p.CommandLine()) != "" {
				again = append(again, procOf(p, "started again after the kill"))
			}
		}
		if len(again) > 0 {
			for _, p := range again {
				signalStop(p.PID)
			}
			respawns += len(again)
			killed += a.killAll(i, again)
		}
	}
	if respawns > 0 {
		return fmt.Sprintf("%d process(es) killed, %d of them respawns caught by the sweep%s", killed, respawns, unitNote), nil
	}
	return fmt.Sprintf("%d process(es) killed; nothing respawned in %s%s", killed, sweep, unitNote), nil
}

func (a *Applier) killAll(i int, targets []Proc) int {
	var sent []Proc
	for _, want := range targets {
		p, ok := a.guard.same(want)
		if !ok || a.guard.check(p) != "" {
			continue
		}
		if signalKill(want.PID) == nil {
			sent = append(sent, want)
		}
	}
	if len(sent) > 0 {
		a.Journal.Append(Record{Type: recProcs, Action: i, Procs: sent, Note: "killed"})
	}
	// Wait for them to be gone (or zombies, which hold nothing).
	deadline := time.Now().Add(5 * time.Second)
	for _, want := range sent {
		for time.Now().Before(deadline) {
			p, ok := a.guard.same(want)
			if !ok || p.Stat.State == 'Z' || p.Stat.State == 'X' {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return len(sent)
}
