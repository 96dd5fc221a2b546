// Package scan runs the registered checks against a host and turns their
// findings into one verdict per process (incidents).
package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
	"github.com/minerguard/minerguard/internal/version"
)

// Options controls a scan.
type Options struct {
	// Sample is the CPU sample window (0 skips CPU sampling).
	Sample time.Duration
	// Only, when set, runs just these check ids; Skip drops ids.
	Only []string
	Skip []string
	// Intel is the intel set (the embedded one when nil).
	Intel *intel.DB
	Log   *slog.Logger
	// Resolve allows DNS lookups of pool names (see checks.Env.Resolve).
	Resolve bool
	// Paths and Full widen the file checks (see checks.Env).
	Paths []string
	Full  bool
}

// Run scans h and returns the report.
func Run(ctx context.Context, h host.Host, opts Options) (*findings.Report, error) {
	started := time.Now()
	db := opts.Intel
	if db == nil {
		var err error
		if db, err = intel.Load(); err != nil {
			return nil, err
		}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	selected, err := selectChecks(opts.Only, opts.Skip)
	if err != nil {
		return nil, err
	}
	rep := &findings.Report{
		Tool:     version.Tool,
		Version:  version.Version,
		Schema:   findings.SchemaVersion,
		Started:  started.UTC(),
		Findings: []findings.Finding{},
		Warnings: []string{},
		Options: findings.Options{
			SampleMS: opts.Sample.Milliseconds(),
			Checks:   opts.Only,
			IntelVer: db.Manifest.Version,
		},
	}
	rep.Host = hostInfo(h)

	var procs *process.Table
	proc := h.Proc()
	if proc != nil {
		procs, err = process.Snapshot(ctx, proc)
		if err != nil {
			return nil, fmt.Errorf("read process table: %w", err)
		}
		rep.Host.Processes = procs.Len()
		for _, e := range procs.Errors {
			rep.Warnings = append(rep.Warnings, e.Error())
		}
	} else {
		rep.Warnings = append(rep.Warnings, "offline root: process, socket and GPU checks skipped")
	}

	env := checks.NewEnv(h, db, procs, log)
	env.Now = started
	env.Resolve = opts.Resolve
	env.Paths, env.Full = opts.Paths, opts.Full
	sampled := make(chan struct{})
	if procs != nil && opts.Sample > 0 {
		env.Sample = opts.Sample
		go func() {
			defer close(sampled)
			if err := process.Sample(ctx, proc, procs, opts.Sample); err != nil {
				log.Warn("cpu sample", "err", err)
			}
		}()
	} else {
		close(sampled)
	}

	results := make([]checkResult, len(selected))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	for i, c := range selected {
		info := c.Info()
		results[i].run.ID = info.ID
		if info.Needs&(checks.NeedsProc|checks.NeedsCPU) != 0 && procs == nil {
			results[i].run.Status, results[i].run.Reason = "skipped", "no live process table"
			continue
		}
		wg.Add(1)
		go func(i int, c checks.Check) {
			defer wg.Done()
			if c.Info().Needs&checks.NeedsCPU != 0 {
				<-sampled
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = runCheck(ctx, c, env)
		}(i, c)
	}
	wg.Wait()
	<-sampled

	for _, r := range results {
		rep.Checks = append(rep.Checks, r.run)
		if r.err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("check %s: %v", r.run.ID, r.err))
		}
		rep.Warnings = append(rep.Warnings, r.warnings...)
		rep.Findings = append(rep.Findings, r.findings...)
	}
	sortFindings(rep.Findings)
	rep.Incidents = BuildIncidents(rep.Findings, procs, db)
	rep.Finished = time.Now().UTC()
	rep.DurationMS = time.Since(started).Milliseconds()
	rep.Summarise()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, nil
}

type checkResult struct {
	run      findings.CheckRun
	findings []findings.Finding
	err      error
	warnings []string
}

// runCheck runs one check, turning a panic into an error so one bad parser
// cannot take the whole scan down.
func runCheck(ctx context.Context, c checks.Check, env *checks.Env) (res checkResult) {
	info := c.Info()
	start := time.Now()
	res.run.ID = info.ID
	defer func() {
		if r := recover(); r != nil {
			res.err = fmt.Errorf("panic: %v", r)
			res.run.Status = "error"
			res.run.Reason = res.err.Error()
		}
		res.run.DurationMS = time.Since(start).Milliseconds()
	}()
	fs, err := c.Run(ctx, env)
	for i := range fs {
		if fs[i].Check == "" {
			fs[i].Check = info.ID
		}
	}
	res.findings = fs
	res.run.Findings = len(fs)
	var warns checks.Warnings
	switch {
	case errors.As(err, &warns):
		res.run.Status = "ok"
		res.run.Reason = fmt.Sprintf("%d warnings", len(warns))
		for _, w := range warns {
			res.warnings = append(res.warnings, fmt.Sprintf("check %s: %v", info.ID, w))
		}
	case errors.Is(err, checks.ErrSkipped):
		res.run.Status, res.run.Reason = "skipped", strings.TrimPrefix(err.Error(), checks.ErrSkipped.Error()+": ")
	case err != nil:
		res.run.Status, res.run.Reason, res.err = "error", err.Error(), err
	default:
		res.run.Status = "ok"
	}
	return res
}

func selectChecks(only, skip []string) ([]checks.Check, error) {
	for _, id := range append(append([]string{}, only...), skip...) {
		if _, ok := checks.Lookup(id); !ok {
			return nil, fmt.Errorf("unknown check %q (see `minerguard checks`)", id)
		}
	}
	skipSet := map[string]bool{}
	for _, id := range skip {
		skipSet[id] = true
	}
	var out []checks.Check
	if len(only) > 0 {
		for _, id := range only {
			c, _ := checks.Lookup(id)
			if !skipSet[id] {
				out = append(out, c)
			}
		}
		return out, nil
	}
	for _, c := range checks.All() {
		if c.Info().Default && !skipSet[c.Info().ID] {
			out = append(out, c)
		}
	}
	return out, nil
}

func sortFindings(fs []findings.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Evidence.PID != b.Evidence.PID {
			return a.Evidence.PID < b.Evidence.PID
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Evidence.Path < b.Evidence.Path
	})
}

func hostInfo(h host.Host) findings.HostInfo {
	hi := findings.HostInfo{OS: runtime.GOOS, Arch: runtime.GOARCH, Root: h.Root(), Live: h.Proc() != nil, CPUs: runtime.NumCPU()}
	fsys := h.FS()
	if b, err := fsys.ReadFile("/etc/hostname"); err == nil {
		hi.Hostname = strings.TrimSpace(string(b))
	}
	if hi.Live {
		if n, err := os.Hostname(); err == nil {
			hi.Hostname = n
		}
		if p := h.Proc(); p != nil {
			if b, err := p.ReadGlobal("sys/kernel/osrelease"); err == nil {
				hi.Kernel = strings.TrimSpace(string(b))
			}
			if b, err := p.ReadGlobal("stat"); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					var bt int64
					if _, err := fmt.Sscanf(l, "btime %d", &bt); err == nil {
						hi.BootTime = time.Unix(bt, 0).UTC()
					}
				}
			}
		}
	} else {
		hi.CPUs = 0
	}
	if b, err := fsys.ReadFile("/etc/machine-id"); err == nil {
		hi.MachineID = strings.TrimSpace(string(b))
	}
	return hi
}
