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
		Description: "Collects pids from sources a readdir hook does not cover (every cgroup.procs, the parents of listed processes, a bounded kill(0) sweep above the newest pid) and reports live processes missing from the /proc listing, and mounts over /proc/PID (the bind-mount hiding trick).",
		Needs:       NeedsProc,
		Default:     true,
	}, checkHidden)
}

// hiddenPIDMargin is probed beyond the highest pid seen, for processes
// started with a pid above every listed one.
const hiddenPIDMargin = 4096

// hiddenProbeWindow bounds the kill(pid, 0) sweep. A probe costs about a
// microsecond, and systemd hosts allow pids up to 4194304: sweeping all of
// them would take seconds. Beyond the window, the cgroup and parent
// sources below still see every pid.
const hiddenProbeWindow = 1 << 16

func checkHidden(ctx context.Context, env *Env) ([]findings.Finding, error) {
	return findHidden(ctx, env, hiddenProbeWindow)
}

// findHidden gathers pids from sources a readdir hook does not cover —
// every cgroup's cgroup.procs, the parents named by listed processes, and
// a kill(0) sweep of up to window pids ending above the newest pid — and
// reports those that are live thread-group leaders yet missing from the
// /proc listing.
func findHidden(ctx context.Context, env *Env, window int) ([]findings.Finding, error) {
	proc := env.Host.Proc()
	out := procMountFindings(env)
	listed := env.Procs.Listed
	known := make(map[int]bool, len(listed))
	for _, p := range listed {
		known[p] = true
	}
	sources := map[int][]string{}
	note := func(pid int, src string) {
		if pid > 0 && !known[pid] && !slices.Contains(sources[pid], src) {
			sources[pid] = append(sources[pid], src)
		}
	}
	for _, pid := range cgroupPIDs(env) {
		note(pid, "cgroup.procs")
	}
	for _, p := range env.Procs.All() {
		note(p.PPID, "parent of a listed process")
	}
	top := 0
	if len(listed) > 0 {
		top = slices.Max(listed)
	}
	if b, err := proc.ReadGlobal("sys/kernel/ns_last_pid"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > top {
			top = n
		}
	}
	hi := top + hiddenPIDMargin
	if b, err := proc.ReadGlobal("sys/kernel/pid_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && hi >= n {
			hi = n - 1
		}
	}
	if window > 0 {
		lo := max(1, hi-window+1)
		for _, pid := range probeUnlisted(ctx, proc.Alive, listed, lo, hi) {
			note(pid, "kill(0) probe")
		}
	}
	if len(sources) == 0 {
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
	cands := make([]int, 0, len(sources))
	for pid := range sources {
		cands = append(cands, pid)
	}
	slices.Sort(cands)
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
		ev := findings.Evidence{PID: pid, PPID: st.PPid, Comm: Printable(st.Name, 64), Path: fmt.Sprintf("/proc/%d", pid)}
		uid := st.UID[0]
		ev.UID, ev.User = &uid, env.UserName(uid)
		if p, err := process.Read(proc, pid); err == nil {
			ev = env.ProcessEvidence(p)
		}
		ev.Details = map[string]string{"found_by": strings.Join(sources[pid], ", ")}
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

// probeUnlisted returns the pids in lo..hi that alive() confirms but
// listed lacks, probing in parallel: a kill(2) per pid is cheap but 100k
// of them on one core is not.
func probeUnlisted(ctx context.Context, alive func(int) bool, listed []int, first, last int) []int {
	first = max(first, 1)
	if last < first {
		return nil
	}
	known := make([]bool, last+1)
	for _, p := range listed {
		if p > 0 && p <= last {
			known[p] = true
		}
	}
	workers := min(runtime.GOMAXPROCS(0), 8)
	span := last - first + 1
	chunk := (span + workers - 1) / workers
	found := make([][]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := first+w*chunk, min(last, first+(w+1)*chunk-1)
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

// cgroupPIDs lists every pid in the host's cgroup hierarchy (one hierarchy:
// the unified v2 tree, or one v1 controller, since all of them hold every
// process). cgroupfs is a kernel interface separate from /proc's readdir,
// so a hook that hides a pid from the listing rarely hides it here.
func cgroupPIDs(env *Env) []int {
	fsys := env.Host.FS()
	root := ""
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/memory"} {
		if _, err := fsys.Stat(dir + "/cgroup.procs"); err == nil {
			root = dir
			break
		}
	}
	if root == "" {
		return nil
	}
	var pids []int
	dirs := []string{root}
	for n := 0; len(dirs) > 0 && n < 50000; n++ {
		dir := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		if b, err := fsys.ReadFile(dir + "/cgroup.procs"); err == nil {
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
					pids = append(pids, pid)
				}
			}
		}
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, dir+"/"+e.Name())
			}
		}
	}
	return pids
}
