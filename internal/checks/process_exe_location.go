package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

func init() {
	registerFunc(Info{
		ID:          "process.exe_location",
		Title:       "Process running from a temp directory or a hidden directory",
		Description: "Reports user processes whose executable lives in a world-writable temp directory (/tmp, /dev/shm, ...) or under a hidden path component (dot directories, \"...\", names with spaces). Well-known tool directories (~/.local/bin, ~/.cargo/bin, ~/.vscode-server, intel processes.json) are reported low.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkExeLocation)
}

func checkExeLocation(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		if p.Exe == "" || p.MemFD() || !strings.HasPrefix(p.Exe, "/") {
			continue
		}
		sev := findings.Info
		var reasons, match []string
		details := map[string]string{}
		if dir, ok := env.Intel.InTempDir(p.Exe); ok {
			details["temp_dir"] = dir
			if pat, ok := env.Intel.TempExeAllowed(p.Exe); ok {
				sev = findings.Max(sev, findings.Low)
				details["allowed_by"] = pat
				reasons = append(reasons, fmt.Sprintf("it lives in the temp directory %s (in a location ordinary tools use: %s)", dir, pat))
			} else {
				sev = findings.Medium
				reasons = append(reasons, fmt.Sprintf("it lives in the temp directory %s, where anyone can write and no service should run from", dir))
			}
			match = append(match, "temp_dir: "+dir)
		}
		// The directory part only: a dot-named program in a normal place is
		// a name quirk, a dot-named directory is a hiding place.
		dirPart := p.Exe[:strings.LastIndex(p.Exe, "/")+1]
		if comp, ok := intel.HiddenComponent(dirPart); ok {
			details["hidden_component"] = comp
			match = append(match, fmt.Sprintf("hidden_component: %q", comp))
			if d, ok := wellKnownHiddenDir(env, p.Exe); ok {
				sev = findings.Max(sev, findings.Low)
				details["allowed_by"] = d
				reasons = append(reasons, fmt.Sprintf("its path has the hidden directory %q, a well-known tool directory (%s)", Printable(comp, 64), d))
			} else {
				sev = findings.Medium
				reasons = append(reasons, fmt.Sprintf("its path has the hidden directory %q, a way to keep files out of sight of ls", Printable(comp, 64)))
			}
		}
		if len(reasons) == 0 {
			continue
		}
		ev := env.ProcessEvidence(p)
		ev.Path = p.Exe
		ev.Match = match
		ev.Details = details
		conf := 0.6
		if sev < findings.Medium {
			conf = 0.2
		}
		out = append(out, findings.Finding{
			Rule:        "process.exe_location",
			Severity:    sev,
			Signal:      findings.SignalDisguise,
			Title:       fmt.Sprintf("%s (pid %d) runs from %s", Printable(p.Name(), 32), p.PID, Printable(p.Exe, 256)),
			Description: "The executable's location is suspicious: " + strings.Join(reasons, "; ") + ".",
			Evidence:    ev,
			Remediation: "Check what the program is (sha256, strings) and who started it; droppers put miners in /tmp, /dev/shm and dot directories.",
			Confidence:  conf,
		})
	}
	return out, nil
}

// wellKnownHiddenDir reports whether exe lies in an allow-listed tool
// directory of a home directory (/root or /home/USER).
func wellKnownHiddenDir(env *Env, exe string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(exe, "/"), "/")
	var rel []string
	switch {
	case len(parts) > 1 && parts[0] == "root":
		rel = parts[1:]
	case len(parts) > 2 && parts[0] == "home":
		rel = parts[2:]
	default:
		return "", false
	}
	return env.Intel.HiddenDirAllowed(strings.Join(rel, "/"))
}
