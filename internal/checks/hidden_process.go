package checks

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/process"
)

func init() {
	registerFunc(Info{
		ID:          "process.hidden",
		Title:       "Processes hidden from the /proc listing",
		Description: "Asks the kernel about every pid up to the highest in use (kill 0) and reports live processes missing from the /proc directory listing (a readdir hook), and mounts over /proc/PID (the bind-mount hiding trick).",
		Needs:       NeedsProc,
		Default:     true,
	}, checkHidden)
}

// hiddenPIDMargin is probed beyond the highest pid seen, for processes
// started with a pid above every listed one.
const hiddenPIDMargin = 4096

func checkHidden(ctx context.Context, env *Env) ([]findings.Finding, error) {
	proc := env.Host.Proc()
	out := procMountFindings(env)
	listed := env.Procs.Listed
	top := 0
	if len(listed) > 0 {
		top = slices.Max(listed)
	}
	if b, err := proc.ReadGlobal("sys/kernel/ns_last_pid"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > top {
			top = n
		}
	}
	limit := top + hiddenPIDMargin
	if b, err := proc.ReadGlobal("sys/kernel/pid_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && limit >= n {
			limit = n - 1
		}
	}
	cands := probeUnlisted(ctx, proc.Alive, listed, limit)
	if len(cands) == 0 {
		return out, ctx.Err()
	}
	// Processes started since the snapshot are in a fresh listing; those
	// that exited are no longer alive. Only what survives both is hidden.
	relisted := map[int]bool{}
	if pids, err := proc.PIDs(); err == nil {
		for _, p := range pids {
			relisted[p] = true
		}
	}
	for _, pid := range cands {
		if relisted[pid] {
			continue
		}
		b, err := proc.ReadFile(pid, "status")
		if err != nil {
			continue // exited, or a thread gone meanwhile
		}
		st, err := process.ParseStatus(b)
		if err != nil || st.Tgid != pid {
			continue // a thread: kill(tid, 0) answers too
		}
		if !proc.Alive(pid) {
			continue
		}
		ev := findings.Evidence{PID: pid, PPID: st.PPid, Comm: st.Name, Path: fmt.Sprintf("/proc/%d", pid)}
		uid := st.UID[0]
		ev.UID, ev.User = &uid, env.UserName(uid)
		if p, err := process.Read(proc, pid); err == nil {
			ev = env.ProcessEvidence(p)
		}
		out = append(out, findings.Finding{
			Rule:        "process.hidden",
			Severity:    findings.High,
			Signal:      findings.SignalHiding,
			Title:       fmt.Sprintf("Process %d (%s) is hidden from the /proc listing", pid, Printable(st.Name, 32)),
			Description: "The kernel says this process exists, but it is missing from the /proc directory listing that ps and top read. Something hooks directory reads to hide it: a rootkit, usually protecting a miner.",
			Evidence:    ev,
			Remediation: fmt.Sprintf("Inspect /proc/%d directly (exe, cmdline, environ), look for ld.so.preload or a loaded kernel module, and treat the host as compromised.", pid),
			Confidence:  0.9,
		})
	}
	return out, ctx.Err()
}

// probeUnlisted returns the pids in 1..limit that alive() confirms but
// listed lacks, probing in parallel: a kill(2) per pid is cheap but 100k
// of them on one core is not.
func probeUnlisted(ctx context.Context, alive func(int) bool, listed []int, limit int) []int {
	if limit < 1 {
		return nil
	}
	known := make([]bool, limit+1)
	for _, p := range listed {
		if p > 0 && p <= limit {
			known[p] = true
		}
	}
	workers := min(runtime.GOMAXPROCS(0), 8)
	chunk := (limit + workers) / workers
	found := make([][]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := 1+w*chunk, min(limit, (w+1)*chunk)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pid := lo; pid <= hi; pid++ {
				if pid&4095 == 0 && ctx.Err() != nil {
					return
				}
				if !known[pid] && alive(pid) {
					found[w] = append(found[w], pid)
				}
			}
		}()
	}
	wg.Wait()
	var out []int
	for _, f := range found {
		out = append(out, f...)
	}
	return out
}

// procMountFindings reports mounts on /proc/PID: bind-mounting an empty
// directory there hides the process from every /proc reader.
func procMountFindings(env *Env) []findings.Finding {
	b, err := env.Host.Proc().ReadGlobal("self/mountinfo")
	if err != nil {
		return nil
	}
	var out []findings.Finding
	for _, m := range ParseMountinfo(b) {
		rest, ok := strings.CutPrefix(m.MountPoint, "/proc/")
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(rest, "/")
		pid, err := strconv.Atoi(first)
		if err != nil || pid <= 0 {
			continue
		}
		ev := findings.Evidence{PID: pid, Path: m.MountPoint, Details: map[string]string{"source": m.Source, "fstype": m.FSType, "root": m.Root}}
		out = append(out, findings.Finding{
			Rule:        "process.proc_mount",
			Severity:    findings.High,
			Signal:      findings.SignalHiding,
			Title:       fmt.Sprintf("Something is mounted over %s", Printable(m.MountPoint, 128)),
			Description: fmt.Sprintf("A %s filesystem (%s) is mounted on %s, which replaces what ps, top and every other tool see for process %d. This is a known trick to hide a miner.", Printable(m.FSType, 32), Printable(m.Source, 128), Printable(m.MountPoint, 128), pid),
			Evidence:    ev,
			Remediation: fmt.Sprintf("Run `umount %s`, then inspect the process it hid.", m.MountPoint),
			Confidence:  0.95,
		})
	}
	return out
}

// Mount is one line of /proc/PID/mountinfo.
type Mount struct {
	Root, MountPoint, FSType, Source string
}

// ParseMountinfo parses mountinfo lines; malformed lines are skipped.
// Fields: id parent major:minor root mountpoint options [optional...] - fstype source superopts.
func ParseMountinfo(b []byte) []Mount {
	var out []Mount
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		f := strings.Fields(string(line))
		if len(f) < 5 {
			continue
		}
		m := Mount{Root: unescapeMount(f[3]), MountPoint: unescapeMount(f[4])}
		if len(f) < 7 {
			continue
		}
		if i := slices.Index(f[6:], "-"); i >= 0 && len(f) > 6+i+2 {
			m.FSType = f[6+i+1]
			m.Source = unescapeMount(f[6+i+2])
		}
		out = append(out, m)
	}
	return out
}

// unescapeMount decodes the kernel's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
