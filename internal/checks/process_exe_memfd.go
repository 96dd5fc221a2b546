package checks

import (
	"context"
	"fmt"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:          "process.exe_memfd",
		Title:       "Process running from an in-memory file (memfd)",
		Description: "Reports user processes whose executable is a memfd (/memfd:NAME): fileless malware loads its binary into memory so nothing is left on disk.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkExeMemfd)
}

func checkExeMemfd(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		if !p.MemFD() {
			continue
		}
		ev := env.ProcessEvidence(p)
		ev.Path = p.Exe
		sev, conf, why := findings.High, 0.75, ""
		if f, err := env.Host.Proc().OpenExe(p.PID); err == nil {
			if writeSealed(f) {
				sev, conf = findings.Low, 0.3
				why = " The memfd is write-sealed, as container runtimes and sandboxes seal the copy of themselves they execute; droppers rarely do."
				ev.Details = map[string]string{"sealed": "write"}
			}
			f.Close()
		}
		out = append(out, findings.Finding{
			Rule:        "process.exe_memfd",
			Severity:    sev,
			Signal:      findings.SignalDisguise,
			Title:       fmt.Sprintf("%s (pid %d) runs from memory-only file %s", Printable(p.Name(), 32), p.PID, Printable(p.Exe, 128)),
			Description: "The executable was created with memfd_create and never existed on disk. Some sandboxes and container runtimes do this, but it is the standard way fileless malware hides its binary." + why,
			Evidence:    ev,
			Remediation: fmt.Sprintf("Save the image with `cp /proc/%d/exe /root/pid%d.bin` for analysis before stopping the process, and find its parent.", p.PID, p.PID),
			Confidence:  conf,
		})
	}
	return out, nil
}
