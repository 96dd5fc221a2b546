package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:          "process.kthread_mimic",
		Title:       "User process disguised as a kernel thread",
		Description: "Reports user-space processes (with an executable and user memory) whose comm or argv[0] looks like a kernel thread ([kworker/0:2], kswapd0): ps shows them beside the real kernel threads, a favourite miner disguise.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkKthreadMimic)
}

func checkKthreadMimic(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		var match []string
		if c := p.Name(); c != "" && env.Intel.KernelThreadName(c) {
			match = append(match, "comm: "+c)
		}
		a := strings.TrimSpace(p.Argv0())
		if a != "" && a != p.Name() {
			if env.Intel.KernelThreadName(a) {
				match = append(match, "argv[0]: "+a)
			} else if n := argv0Name(a); n != "" && n != p.Name() && env.Intel.KernelThreadName(n) {
				match = append(match, "argv[0]: "+a)
			}
		}
		if len(match) == 0 {
			continue
		}
		for i := range match {
			match[i] = Printable(match[i], 128)
		}
		ev := env.ProcessEvidence(p)
		ev.Match = match
		out = append(out, findings.Finding{
			Rule:        "process.kthread_mimic",
			Severity:    findings.High,
			Signal:      findings.SignalDisguise,
			Title:       fmt.Sprintf("User process pid %d poses as kernel thread %s", p.PID, Printable(strings.TrimPrefix(match[0], "comm: "), 64)),
			Description: fmt.Sprintf("The process has a user-space executable (%s) but calls itself %s. Real kernel threads have no executable; ordinary programs have no reason to take their names.", Printable(p.Exe, 256), strings.Join(match, " and ")),
			Evidence:    ev,
			Remediation: fmt.Sprintf("Inspect /proc/%d/exe and /proc/%d/cmdline, save the executable, then stop the process and its parent.", p.PID, p.PID),
			Confidence:  0.9,
		})
	}
	return out, nil
}
