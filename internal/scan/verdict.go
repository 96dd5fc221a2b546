package scan

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
)

// watchdogNames are programs that restart miners when they sit above one in
// the process tree (shell loops); other ancestors (cron, sshd, a terminal)
// are the user's or the system's and do not belong to the incident.
var watchdogNames = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "busybox": true, "zsh": true, "ksh": true, "perl": true, "python": true, "python3": true, "nohup": true, "setsid": true}

// BuildIncidents groups findings into one story per infection: findings
// join when they concern the same process, when one names a file another is
// about (a cron line that starts a binary, the binary's own signature
// finding, the process running it), or when they share a download URL.
// Each group gets one verdict: evidence accumulates, so an
// identified miner is at least high; identified or disguised AND talking
// to a pool, or identified AND persistent or hidden, is critical; a weak
// signal alone (CPU load) stays at most low. Configuration advice and
// scanner status are not infections and form no incident. Findings are
// annotated with their incident id.
func BuildIncidents(fs []findings.Finding, procs *process.Table, db *intel.DB) []findings.Incident {
	uf := newUnionFind(len(fs))
	owner := map[string]int{} // link key -> first finding holding it
	link := func(i int, key string) {
		if j, ok := owner[key]; ok {
			uf.union(i, j)
		} else {
			owner[key] = i
		}
	}
	var members []int
	for i, f := range fs {
		if f.Signal == findings.SignalStatus || f.Signal == findings.SignalHardening {
			continue
		}
		members = append(members, i)
		ev := f.Evidence
		if ev.PID > 0 {
			link(i, fmt.Sprintf("pid:%d", ev.PID))
		}
		for _, p := range artifactPaths(f) {
			link(i, "path:"+p)
			// A drop directory (temp or hidden) holds one intrusion's
			// pieces: the miner, its config, its helper scripts.
			if d := path.Dir(p); isDropDir(db, d) {
				link(i, "dir:"+d)
			}
		}
		// A shared dropper URL ties file artefacts (cron lines, scripts)
		// together. A process's URL is mostly its pool, and a shared pool
		// does not make one story (two intrusions, or a user's own miner,
		// may mine to the same pool): processes link by pid and executable.
		if ev.URL != "" && ev.PID == 0 && !isPoolURL(ev.URL) {
			link(i, "url:"+ev.URL)
		}
	}
	groups := map[int][]int{}
	for _, i := range members {
		r := uf.find(i)
		groups[r] = append(groups[r], i)
	}
	incidents := []findings.Incident{}
	for _, idx := range groups {
		sort.Ints(idx)
		in := verdict(fs, idx)
		if in.Severity < findings.Low {
			continue
		}
		if procs != nil {
			in.Tree = groupTree(procs, fs, idx)
		}
		incidents = append(incidents, in)
	}
	sort.SliceStable(incidents, func(i, j int) bool {
		a, b := incidents[i], incidents[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		return a.Findings[0] < b.Findings[0]
	})
	for n := range incidents {
		incidents[n].ID = fmt.Sprintf("INC-%03d", n+1)
		for _, i := range incidents[n].Findings {
			fs[i].Incident = incidents[n].ID
		}
	}
	return incidents
}

// isDropDir reports a temp directory below the top (/tmp/.x, not /tmp
// itself, where unrelated files meet) or a directory with a hidden component.
func isDropDir(db *intel.DB, d string) bool {
	if db != nil {
		if top, ok := db.InTempDir(d); ok {
			return d != top
		}
	}
	_, hidden := intel.HiddenComponent(d)
	return hidden
}

// isPoolURL reports a mining URL (stratum+tcp://...): the pool, not a dropper.
func isPoolURL(u string) bool {
	scheme, _, ok := strings.Cut(strings.ToLower(u), "://")
	return ok && (strings.HasPrefix(scheme, "stratum") || strings.Contains(scheme, "proxy") || strings.Contains(scheme, "getwork"))
}

// sharedTools are programs too many artifacts mention to tie them together:
// a cron line and a profile line that both run /bin/sh are not one story.
var sharedTools = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "zsh": true, "busybox": true, "env": true,
	"nohup": true, "setsid": true, "python": true, "python3": true, "perl": true, "curl": true, "wget": true, "chmod": true, "sleep": true}

// artifactPaths are the host files a finding is about or points at, for
// linking: its path, the files it references, and a process's executable
// (not for load findings: two training jobs sharing python3 are not one
// story).
func artifactPaths(f findings.Finding) []string {
	ev := f.Evidence
	var out []string
	add := func(p string) {
		p = strings.TrimSuffix(p, " (deleted)")
		if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "/memfd:") || strings.HasPrefix(p, "/proc/") {
			return
		}
		if sharedTools[path.Base(p)] || strings.HasPrefix(path.Base(p), "python") {
			return
		}
		out = append(out, p)
	}
	add(ev.Path)
	for _, p := range ev.Paths {
		add(p)
	}
	if f.Signal != findings.SignalResource {
		add(ev.Exe)
	}
	return out
}

type unionFind struct{ parent []int }

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int, n)}
	for i := range u.parent {
		u.parent[i] = i
	}
	return u
}

func (u *unionFind) find(i int) int {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]]
		i = u.parent[i]
	}
	return i
}

func (u *unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		u.parent[max(ra, rb)] = min(ra, rb)
	}
}

func verdict(fs []findings.Finding, idx []int) findings.Incident {
	in := findings.Incident{Findings: idx}
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
		if in.PID == 0 && f.Evidence.PID > 0 {
			in.PID = f.Evidence.PID
			in.Exe, in.Cmdline, in.Comm, in.User = f.Evidence.Exe, f.Evidence.Cmdline, f.Evidence.Comm, f.Evidence.User
		}
		if f.Evidence.PID > 0 && !slices.Contains(in.PIDs, f.Evidence.PID) {
			in.PIDs = append(in.PIDs, f.Evidence.PID)
		}
		for _, p := range artifactPaths(f) {
			if !slices.Contains(in.Paths, p) {
				in.Paths = append(in.Paths, p)
			}
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
	persistent := has(findings.SignalPersistence, findings.Medium)
	strong := 0
	for s, v := range best {
		if s != findings.SignalResource && s != findings.SignalStatus && v >= findings.Low {
			strong++
		}
	}
	switch {
	case (identified || disguised) && pool && (identified || has(findings.SignalNetwork, findings.High)):
		in.Severity = findings.Critical
	case identified && (disguised || persistent):
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
	sort.Ints(in.PIDs)
	// Name a file-only story after the strongest identifying artefact
	// (the miner binary rather than the cron line that starts it).
	var bestID *findings.Finding
	for _, i := range idx {
		f := &fs[i]
		if f.Signal == findings.SignalIdentity && f.Evidence.Path != "" && (bestID == nil || f.Severity > bestID.Severity) {
			bestID = f
		}
	}
	if bestID != nil && in.PID == 0 {
		p := bestID.Evidence.Path
		in.Paths = append([]string{p}, slices.DeleteFunc(in.Paths, func(x string) bool { return x == p })...)
	}
	in.Title = incidentTitle(in, identified, disguised, pool, persistent)
	return in
}

func incidentTitle(in findings.Incident, identified, disguised, pool, persistent bool) string {
	name := fmt.Sprintf("%s (pid %d)", in.Comm, in.PID)
	switch {
	case in.PID == 0 && len(in.Paths) > 0:
		name = in.Paths[0]
	case in.PID == 0:
		name = "host"
	case in.Comm == "":
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
	if persistent && len(parts) > 0 {
		parts = append(parts, "restarted by persistence")
	} else if persistent {
		parts = append(parts, "suspicious persistence")
	}
	if len(parts) == 0 && in.PID > 0 {
		parts = append(parts, "suspicious process")
	}
	if len(parts) == 0 {
		parts = append(parts, "suspicious artefacts")
	}
	return fmt.Sprintf("%s: %s", name, strings.Join(parts, ", "))
}

// groupTree is the union of the trees of every process in a group.
func groupTree(procs *process.Table, fs []findings.Finding, idx []int) []int {
	suspicious := map[int]bool{}
	for _, f := range fs {
		if f.Evidence.PID > 0 && f.Signal != findings.SignalStatus {
			suspicious[f.Evidence.PID] = true
		}
	}
	var out []int
	for _, i := range idx {
		pid := fs[i].Evidence.PID
		if pid <= 0 || slices.Contains(out, pid) {
			continue
		}
		for _, p := range tree(procs, pid, suspicious) {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// tree returns the pids that belong to an incident: the process, all its
// descendants, and the ancestors that can respawn it (shell loops or
// processes that are suspicious themselves), nearest first.
func tree(procs *process.Table, pid int, suspicious map[int]bool) []int {
	out := []int{pid}
	for _, a := range procs.Ancestors(pid) {
		if a.PID <= 2 || a.Kernel() {
			break
		}
		if !suspicious[a.PID] && !watchdogNames[a.Name()] {
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

// IsWatchdogName reports a program that restarts miners from a shell loop
// when it sits above one in the process tree.
func IsWatchdogName(name string) bool { return watchdogNames[name] }
