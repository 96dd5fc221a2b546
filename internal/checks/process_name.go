package checks

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:          "process.name",
		Title:       "Known miner, mining malware, mining manager or wallet by process name",
		Description: "Matches comm, argv[0] and the executable's file name against intel miners.json.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkProcessName)
}

// kindVerdict maps a program kind to the severity and wording of a match.
var kindVerdict = map[string]struct {
	sev    findings.Severity
	signal findings.Signal
	what   string
}{
	"miner":   {findings.High, findings.SignalIdentity, "cryptocurrency miner"},
	"malware": {findings.High, findings.SignalIdentity, "mining malware"},
	"manager": {findings.Medium, findings.SignalIdentity, "mining management software"},
	"wallet":  {findings.Low, findings.SignalIdentity, "cryptocurrency wallet software"},
}

func checkProcessName(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		candidates := []struct{ name, where string }{
			{path.Base(p.Exe), "executable name"},
			{path.Base(p.Argv0()), "argv[0]"},
			{p.Name(), "process name"},
		}
		for _, c := range candidates {
			if c.name == "" || c.name == "." || c.name == "/" {
				continue
			}
			prog, ok := env.Intel.Program(c.name)
			if !ok {
				continue
			}
			v := kindVerdict[prog.Kind]
			conf := 0.9
			if c.where == "process name" {
				conf = 0.75
			}
			ev := env.ProcessEvidence(p)
			ev.Family = prog.Name
			ev.Match = []string{c.where + ": " + c.name}
			out = append(out, findings.Finding{
				Rule:        "process.name." + prog.Kind,
				Severity:    v.sev,
				Signal:      v.signal,
				Title:       fmt.Sprintf("%s %q runs as pid %d", capitalise(v.what), prog.Name, p.PID),
				Description: fmt.Sprintf("The %s %q matches the known %s %s.", c.where, Printable(c.name, 64), v.what, prog.Name),
				Evidence:    ev,
				Remediation: "Confirm with the owner, then stop the process tree and remove its persistence (minerguard clean).",
				Confidence:  conf,
			})
			break
		}
	}
	return out, nil
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
