package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:          "process.preload",
		Title:       "Preloaded libraries (/etc/ld.so.preload, LD_PRELOAD)",
		Description: "Reports /etc/ld.so.preload entries, which load a library into every dynamically linked program (the usual way user-space rootkits hide miners from ps and top), and LD_PRELOAD in the environment of running processes.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkPreload)
}

const ldSoPreload = "/etc/ld.so.preload"

func checkPreload(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	b, err := env.Host.FS().ReadFile(ldSoPreload)
	switch {
	case err == nil:
		if libs := ParsePreloadList(string(b), true); len(libs) > 0 {
			ev := findings.Evidence{Path: ldSoPreload, Paths: libs, Content: Printable(string(b), 2048)}
			out = append(out, findings.Finding{
				Rule:        "process.preload.file",
				Severity:    findings.High,
				Signal:      findings.SignalHiding,
				Title:       fmt.Sprintf("%s loads %s into every program", ldSoPreload, Printable(strings.Join(libs, ", "), 256)),
				Description: "Every dynamically linked program (ps, top, ls, netstat) loads these libraries first. Few legitimate setups use this file; user-space rootkits use it to hide processes, files and connections.",
				Evidence:    ev,
				Remediation: "Identify the library (package ownership, sha256); if it is not yours, empty /etc/ld.so.preload, remove the library and treat the host as compromised. minerguard is statically linked and not affected.",
				Confidence:  0.85,
			})
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("%s: %w", ldSoPreload, err)
	}
	for _, p := range env.UserProcesses() {
		v, ok := p.Getenv("LD_PRELOAD")
		if !ok {
			continue
		}
		libs := ParsePreloadList(v, false)
		if len(libs) == 0 {
			continue
		}
		ev := env.ProcessEvidence(p)
		ev.Paths = libs
		ev.Match = []string{Printable("LD_PRELOAD="+v, 512)}
		out = append(out, findings.Finding{
			Rule:        "process.preload.env",
			Severity:    findings.Medium,
			Signal:      findings.SignalHiding,
			Title:       fmt.Sprintf("%s (pid %d) runs with LD_PRELOAD=%s", Printable(p.Name(), 32), p.PID, Printable(strings.Join(libs, ":"), 256)),
			Description: "The process (and everything it starts) loads these libraries before any other. Debugging and profiling tools do this; so do rootkits that hide processes from the tools run under them.",
			Evidence:    ev,
			Remediation: "Identify each library and who set the variable (shell profile, systemd unit, parent process).",
			Confidence:  0.6,
		})
	}
	return out, nil
}

// ParsePreloadList splits an ld.so.preload file or LD_PRELOAD value into
// library names: whitespace separates both, and the dynamic loader also
// accepts ':' in the file. Lines starting with '#' in the file are
// comments. Duplicates are dropped; the result is sorted.
func ParsePreloadList(s string, file bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if file && strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, lib := range strings.FieldsFunc(line, func(r rune) bool {
			return r == ' ' || r == '\t' || r == '\r' || r == ':' || r == 0
		}) {
			if !seen[lib] {
				seen[lib] = true
				out = append(out, lib)
			}
		}
	}
	sort.Strings(out)
	return out
}
