package scan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/process"
)

// watchdogNames are programs that restart miners when they sit above one in
// the process tree (shell loops); other ancestors (cron, sshd, a terminal)
// are the user's or the system's and do not belong to the incident.
var watchdogNames = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "busybox": true, "zsh": true, "ksh": true, "perl": true, "python": true, "python3": true, "nohup": true, "setsid": true}

// BuildIncidents groups process findings by pid into one verdict each.
// Evidence accumulates: an identified miner is at least high; identified or
// disguised AND talking to a pool is critical; a weak signal alone (CPU
// load) stays at most low. Findings are annotated with their incident id.
func BuildIncidents(fs []findings.Finding, procs *process.Table) []findings.Incident {
	byPID := map[int][]int{}
	for i, f := range fs {
		if f.Evidence.PID > 0 && f.Signal != findings.SignalStatus {
			byPID[f.Evidence.PID] = append(byPID[f.Evidence.PID], i)
		}
	}
	pids := make([]int, 0, len(byPID))
	for pid := range byPID {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	incidents := []findings.Incident{}
	for _, pid := range pids {
		idx := byPID[pid]
		in := verdict(pid, fs, idx)
		if in.Severity < findings.Low {
			continue
		}
		if procs != nil {
			in.Tree = tree(procs, pid, byPID)
		}
		incidents = append(incidents, in)
	}
	sort.SliceStable(incidents, func(i, j int) bool { return incidents[i].Severity > incidents[j].Severity })
	for n := range incidents {
		incidents[n].ID = fmt.Sprintf("INC-%03d", n+1)
		for _, i := range incidents[n].Findings {
			fs[i].Incident = incidents[n].ID
		}
	}
	return incidents
}

func verdict(pid int, fs []findings.Finding, idx []int) findings.Incident {
	in := findings.Incident{PID: pid, Findings: idx}
	best := map[findings.Signal]findings.Severity{}
	has := func(s findings.Signal, min findings.Severity) bool {
		v, ok := best[s]
		return ok && v >= min
	}
	miss := 1.0
	remotes := map[string]bool{}
	for _, i := range idx {
		f := fs[i]
		if v, ok := best[f.Signal]; !ok || f.Severity > v {
			best[f.Signal] = f.Severity
		}
		in.Severity = findings.Max(in.Severity, f.Severity)
		miss *= 1 - clamp01(f.Confidence)
		if !slices.Contains(in.Rules, f.Rule) {
			in.Rules = append(in.Rules, f.Rule)
		}
		in.Summary = append(in.Summary, f.Title)
		if f.Evidence.Remote != "" && f.Signal == findings.SignalNetwork {
			remotes[f.Evidence.Remote] = true
		}
		if in.Exe == "" {
			in.Exe, in.Cmdline, in.Comm, in.User = f.Evidence.Exe, f.Evidence.Cmdline, f.Evidence.Comm, f.Evidence.User
		}
	}
	for s := range best {
		in.Signals = append(in.Signals, s)
	}
	slices.Sort(in.Signals)
	for r := range remotes {
		in.Remotes = append(in.Remotes, r)
	}
	sort.Strings(in.Remotes)

	identified := has(findings.SignalIdentity, findings.High)
	disguised := has(findings.SignalDisguise, findings.Medium) || has(findings.SignalHiding, findings.Medium)
	pool := has(findings.SignalNetwork, findings.Medium)
	strong := 0
	for s, v := range best {
		if s != findings.SignalResource && s != findings.SignalStatus && v >= findings.Low {
			strong++
		}
	}
	switch {
	case (identified || disguised) && pool && (identified || has(findings.SignalNetwork, findings.High)):
		in.Severity = findings.Critical
	case identified && disguised:
		in.Severity = findings.Critical
	case identified:
		in.Severity = findings.Max(in.Severity, findings.High)
	case disguised && pool, strong >= 3:
		in.Severity = findings.Max(in.Severity, findings.High)
	case strong == 0:
		// Load alone is never more than a hint.
		in.Severity = min(in.Severity, findings.Low)
	}
	in.Confidence = float64(int((1-miss)*100+0.5)) / 100
	in.Title = incidentTitle(in, identified, disguised, pool)
	return in
}

func incidentTitle(in findings.Incident, identified, disguised, pool bool) string {
	name := in.Comm
	if name == "" {
		name = fmt.Sprintf("pid %d", in.PID)
	}
	var parts []string
	if identified {
		parts = append(parts, "identified miner")
	}
	if disguised {
		parts = append(parts, "disguised")
	}
	if pool {
		parts = append(parts, "connected to a mining pool")
	}
	if len(parts) == 0 {
		parts = append(parts, "suspicious process")
	}
	return fmt.Sprintf("%s (pid %d): %s", name, in.PID, strings.Join(parts, ", "))
}

// tree returns the pids that belong to an incident: the process, all its
// descendants, and the ancestors that can respawn it (shell loops or
// processes that are suspicious themselves), nearest first.
func tree(procs *process.Table, pid int, suspicious map[int][]int) []int {
	out := []int{pid}
	for _, a := range procs.Ancestors(pid) {
		if a.PID <= 2 || a.Kernel() {
			break
		}
		if _, bad := suspicious[a.PID]; !bad && !watchdogNames[a.Name()] {
			break
		}
		out = append(out, a.PID)
	}
	for _, d := range procs.Descendants(pid) {
		out = append(out, d.PID)
	}
	return out
}

func clamp01(f float64) float64 {
	return max(0, min(1, f))
}
