package checks

import (
	"context"
	"fmt"
	"sort"

	"github.com/minerguard/minerguard/internal/findings"
)

// Thresholds for CPU load. Load alone is a weak signal: compilers, tests
// and training jobs burn CPU too, so it is reported at low at most and
// only weighs in beside other evidence.
const (
	cpuBusyPercent   = 80  // a process using most of one core
	cpuThreadPercent = 50  // threads each using half a core or more
	cpuHotThreads    = 2   // how many such threads make a miner-like pattern
	cpuInfoPercent   = 300 // a process tree using several cores
)

func init() {
	registerFunc(Info{
		ID:          "process.cpu",
		Title:       "Sustained CPU load per process, thread and process tree",
		Description: "Samples utime+stime of every process and thread over --sample and attributes load to the process and its tree.",
		Needs:       NeedsProc | NeedsCPU,
		Default:     true,
	}, checkCPU)
}

func checkCPU(_ context.Context, env *Env) ([]findings.Finding, error) {
	if env.Sample <= 0 {
		return nil, Skipped("CPU sampling disabled (--sample 0)")
	}
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		hot := 0
		var hotTIDs []int
		for tid, pct := range p.Threads {
			if pct >= cpuThreadPercent {
				hot++
				hotTIDs = append(hotTIDs, tid)
			}
		}
		sort.Ints(hotTIDs)
		busy := p.CPUPercent >= cpuBusyPercent
		treeBusy := p.TreeCPUPercent >= cpuInfoPercent && p.CPUPercent < cpuBusyPercent
		if !busy && !treeBusy {
			continue
		}
		ev := env.ProcessEvidence(p)
		ev.Details = map[string]string{
			"tree_cpu_percent": fmt.Sprintf("%.1f", p.TreeCPUPercent),
			"threads":          fmt.Sprint(len(p.Threads)),
			"hot_threads":      fmt.Sprint(hot),
			"sample_ms":        fmt.Sprint(env.Sample.Milliseconds()),
		}
		f := findings.Finding{
			Rule:        "process.cpu.high",
			Severity:    findings.Low,
			Signal:      findings.SignalResource,
			Title:       fmt.Sprintf("%s (pid %d) uses %.0f%% CPU", Printable(p.Name(), 32), p.PID, p.CPUPercent),
			Description: fmt.Sprintf("Over %s the process used %.0f%% of a core (%.0f%% with its children); %d threads used more than half a core each.", env.Sample, p.CPUPercent, p.TreeCPUPercent, hot),
			Evidence:    ev,
			Remediation: "High CPU alone is not proof of mining: check what the process is and who started it.",
			Confidence:  0.3,
		}
		if treeBusy {
			f.Rule = "process.cpu.tree"
			f.Severity = findings.Info
			f.Title = fmt.Sprintf("%s (pid %d) and its children use %.0f%% CPU", Printable(p.Name(), 32), p.PID, p.TreeCPUPercent)
		} else if hot >= cpuHotThreads {
			f.Confidence = 0.4
			ev.Details["hot_tids"] = fmt.Sprint(hotTIDs)
		}
		out = append(out, f)
	}
	return out, nil
}
