package respond

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/process"
)

// Return is something a cleaned incident left that is back.
type Return struct {
	What   string `json:"what"` // process, file, line, connection, domain, incident
	Detail string `json:"detail"`
}

// Returned compares the host now (and a fresh report of it) with what a
// plan removed: quarantined files that exist again, removed lines that
// are back, processes running a removed executable or naming a removed
// path, connections to the incident's pools, and any new incident at or
// above minSev.
func Returned(ctx context.Context, h host.Host, plan *Plan, rep *findings.Report, minSev findings.Severity) []Return {
	var out []Return
	paths := map[string]bool{}
	exes := map[string]bool{}
	var remotes, domains []string
	for _, a := range plan.Actions {
		switch a.Kind {
		case KindQuarantine:
			paths[a.Path] = true
			if _, err := h.FS().Lstat(a.Path); err == nil {
				out = append(out, Return{"file", a.Path + " exists again"})
			}
		case KindRemoveLines, KindLockAccount:
			for _, e := range a.Edits {
				f := a.Path
				if e.File != "" {
					f = e.File
				}
				data, err := h.FS().ReadFile(f)
				if err != nil {
					continue
				}
				for _, l := range splitLines(data) {
					if bytes.Equal(lineBody(l), e.Old) {
						out = append(out, Return{"line", fmt.Sprintf("%s: %q is back", f, clip(e.Old, 120))})
						break
					}
				}
			}
		case KindKill:
			for _, p := range a.Procs {
				for _, f := range p.Files {
					exes[f] = true // the malware's own programs, never /usr/bin/sleep
				}
			}
			remotes = append(remotes, a.Remotes...)
		case KindBlockDomains:
			domains = append(domains, a.Domains...)
		}
	}
	if proc := h.Proc(); proc != nil && (len(exes) > 0 || len(paths) > 0) {
		if t, err := process.Snapshot(ctx, proc); err == nil {
			g := newGuard(proc)
			for _, p := range t.All() {
				if g.check(p) != "" {
					continue
				}
				cl := p.CommandLine()
				hit := ""
				if exes[p.Exe] || paths[p.Exe] {
					hit = "runs " + p.Exe
				}
				for q := range paths {
					if hit == "" && strings.Contains(cl, q) {
						hit = "its command line names " + q
					}
				}
				if hit != "" {
					out = append(out, Return{"process", fmt.Sprintf("pid %d (%s) %s", p.PID, p.Name(), hit)})
				}
			}
		}
	}
	if rep != nil {
		for _, f := range rep.Findings {
			ev := f.Evidence
			if ev.Remote != "" && slices.Contains(remotes, ev.Remote) {
				out = append(out, Return{"connection", fmt.Sprintf("pid %d connects to %s again", ev.PID, ev.Remote)})
			}
			if ev.Domain != "" && slices.Contains(domains, strings.ToLower(ev.Domain)) && f.Signal == findings.SignalNetwork {
				out = append(out, Return{"domain", fmt.Sprintf("%s is used again (%s)", ev.Domain, f.Rule)})
			}
		}
		for _, in := range rep.Incidents {
			if in.Severity >= minSev {
				out = append(out, Return{"incident", fmt.Sprintf("%s %s: %s", in.ID, in.Severity, in.Title)})
			}
		}
	}
	return out
}

// Watch re-checks on every tick until the window ends or something comes
// back; scan makes a fresh report. report is told each round's result.
func Watch(ctx context.Context, h host.Host, plan *Plan, scan func(context.Context) (*findings.Report, error), minSev findings.Severity,
	interval, window time.Duration, report func(round int, rs []Return)) ([]Return, error) {
	deadline := time.Now().Add(window)
	for round := 1; ; round++ {
		rep, err := scan(ctx)
		if err != nil {
			return nil, err
		}
		rs := Returned(ctx, h, plan, rep, minSev)
		if report != nil {
			report(round, rs)
		}
		if len(rs) > 0 {
			return rs, nil
		}
		if !time.Now().Add(interval).Before(deadline.Add(interval / 2)) {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
	}
}
