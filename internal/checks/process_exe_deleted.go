package checks

import (
	"context"
	"fmt"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:          "process.exe_deleted",
		Title:       "Process running from a deleted executable",
		Description: "Reports user processes whose /proc/PID/exe is marked (deleted): malware deletes its binary after starting. A file at the same path again (a package upgrade replaced it) lowers the finding.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkExeDeleted)
}

func checkExeDeleted(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		// A memfd always reads as deleted; process.exe_memfd reports it.
		if !p.ExeDeleted || p.Exe == "" || p.MemFD() {
			continue
		}
		ev := env.ProcessEvidence(p)
		ev.Path = p.Exe
		f := findings.Finding{
			Rule:        "process.exe_deleted",
			Severity:    findings.Medium,
			Signal:      findings.SignalDisguise,
			Title:       fmt.Sprintf("%s (pid %d) runs from a deleted file %s", Printable(p.Name(), 32), p.PID, Printable(p.Exe, 256)),
			Description: "The executable was removed after the process started, so it cannot be found or inspected on disk; mining malware deletes itself this way. The running image is still readable through /proc/PID/exe.",
			Evidence:    ev,
			Remediation: fmt.Sprintf("Copy /proc/%d/exe aside for analysis before stopping the process, then find out what started it.", p.PID),
			Confidence:  0.6,
		}
		// After an upgrade the package manager puts a new file where the
		// old one was; a daemon still running the old image is normal.
		if st, err := env.Host.FS().Stat(p.Exe); err == nil && st.Mode().IsRegular() {
			f.Severity = findings.Low
			f.Confidence = 0.25
			f.Title = fmt.Sprintf("%s (pid %d) runs a replaced version of %s", Printable(p.Name(), 32), p.PID, Printable(p.Exe, 256))
			f.Description = "The executable the process started from was deleted, and a file exists at the same path again: usually a package upgrade replaced it and the process was not restarted. Restart it to run the current version."
			f.Remediation = "Restart the service so it runs the installed binary; if no upgrade happened, compare /proc/PID/exe with the file on disk."
			ev.Details = map[string]string{"replaced_on_disk": "true"}
			f.Evidence = ev
		}
		out = append(out, f)
	}
	return out, nil
}
