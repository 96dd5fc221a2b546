package checks

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/process"
)

func init() {
	registerFunc(Info{
		ID:          "process.name_mismatch",
		Title:       "Process name that does not match its executable",
		Description: "Reports processes whose argv[0] or comm differs from the executable's file name in a way normal programs do not explain (comm truncation, symlinks and multi-call binaries, interpreters, login shells, sshd/postgres/nginx titles).",
		Needs:       NeedsProc,
		Default:     true,
	}, checkNameMismatch)
}

// binDirs are searched for a symlink or hard link named like the process
// when argv[0] carries no directory (exec through $PATH).
var binDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

func checkNameMismatch(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		base := exeBase(p)
		if base == "" || len(p.Cmdline) == 0 || env.Intel.Interpreter(base) || env.Intel.Multicall(base) {
			continue
		}
		var match []string
		var exeInfo fs.FileInfo
		exeStat := func() fs.FileInfo {
			if exeInfo == nil {
				exeInfo = statExe(env, p)
			}
			return exeInfo
		}
		a := argv0Name(p.Argv0())
		if a != "" && !nameExplained(env, p, base, a, exeStat) {
			match = append(match, "argv[0]: "+Printable(p.Argv0(), 128))
		}
		if c := p.Name(); c != "" && c != a && !nameExplained(env, p, base, c, exeStat) {
			match = append(match, "comm: "+Printable(c, 32))
		}
		if len(match) == 0 {
			continue
		}
		ev := env.ProcessEvidence(p)
		ev.Match = match
		out = append(out, findings.Finding{
			Rule:        "process.name_mismatch",
			Severity:    findings.Low,
			Signal:      findings.SignalDisguise,
			Title:       fmt.Sprintf("pid %d runs %s under another name", p.PID, Printable(base, 64)),
			Description: fmt.Sprintf("The executable is %s but the process shows %s. Programs rarely rename themselves; miners do so to look like something harmless.", Printable(p.Exe, 256), strings.Join(match, " and ")),
			Evidence:    ev,
			Remediation: "Check that the executable is what the name claims (package ownership, sha256).",
			Confidence:  0.35,
		})
	}
	return out, nil
}

// nameExplained reports whether a process may call itself name while running exe base.
func nameExplained(env *Env, p *process.Process, base, name string, exeStat func() fs.FileInfo) bool {
	if name == base || (len(name) == 15 && strings.HasPrefix(base, name)) {
		return true // comm is the first 15 bytes of the name exec'd
	}
	if env.Intel.NameAllowed(base, name) {
		return true
	}
	// The name of a link to the executable: python3 -> python3.11, sbin
	// links under usrmerge, alternatives, busybox-style applets.
	st := exeStat()
	if st == nil {
		return false
	}
	var cands []string
	if first := firstWord(p.Argv0()); strings.Contains(first, "/") && path.Base(first) == name {
		if !strings.HasPrefix(first, "/") && p.Cwd != "" {
			first = path.Join(p.Cwd, first)
		}
		cands = append(cands, first)
	}
	cands = append(cands, path.Join(path.Dir(p.Exe), name))
	for _, d := range binDirs {
		cands = append(cands, path.Join(d, name))
	}
	for _, c := range cands {
		if other, err := env.Host.FS().Stat(c); err == nil && os.SameFile(st, other) {
			return true
		}
	}
	return false
}

// statExe stats the executable on the host filesystem (nil when it is not
// there, as for a container's file or a deleted one).
func statExe(env *Env, p *process.Process) fs.FileInfo {
	if p.ExeDeleted {
		return nil
	}
	st, err := env.Host.FS().Stat(p.Exe)
	if err != nil {
		return nil
	}
	return st
}

func firstWord(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}
