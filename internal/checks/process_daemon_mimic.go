package checks

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

func init() {
	registerFunc(Info{
		ID:          "process.daemon_mimic",
		Title:       "Process posing as a well-known daemon",
		Description: "Reports processes whose comm or argv[0] names a well-known program (sshd, systemd-journald, python3, ...) while the executable lives outside that program's directories, unless the executable carries the genuine program's markers (a conda python3).",
		Needs:       NeedsProc,
		Default:     true,
	}, checkDaemonMimic)
}

func checkDaemonMimic(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		if p.Exe == "" {
			continue // exe unreadable: nothing to compare with
		}
		d, claim := claimedDaemon(env.Intel, p.Name(), argv0Name(p.Argv0()))
		if d == nil {
			continue
		}
		inDir := false
		for _, dir := range d.Dirs {
			if !p.MemFD() && underDir(p.Exe, dir) {
				inDir = true
				break
			}
		}
		if inDir {
			continue
		}
		details := map[string]string{"daemon": d.Name, "expected_dirs": strings.Join(d.Dirs, ",")}
		if len(d.Markers) > 0 {
			// A genuine build elsewhere (conda, pyenv) carries the
			// program's own symbols; a renamed miner does not.
			res, err := env.Exes.ScanExe(env.Host.Proc(), p.PID)
			if err != nil {
				env.Log.Debug("daemon_mimic: scan exe", "pid", p.PID, "err", err)
				continue // cannot tell; exited or unreadable
			}
			var found []string
			for _, m := range d.Markers {
				if res.Markers[m] {
					found = append(found, m)
				}
			}
			if len(found) > 0 {
				continue
			}
			details["markers_missing"] = strings.Join(d.Markers, ",")
		}
		ev := env.ProcessEvidence(p)
		ev.Path = p.Exe
		ev.Match = []string{claim}
		ev.Details = details
		out = append(out, findings.Finding{
			Rule:        "process.daemon_mimic",
			Severity:    findings.High,
			Signal:      findings.SignalDisguise,
			Title:       fmt.Sprintf("pid %d calls itself %s but runs %s", p.PID, d.Name, Printable(p.Exe, 256)),
			Description: fmt.Sprintf("The process presents itself as %s (%s), a program that lives in %s, yet its executable is %s. Miners take system daemon names so they pass a glance at ps or top.", d.Name, Printable(claim, 128), strings.Join(d.Dirs, ", "), Printable(p.Exe, 256)),
			Evidence:    ev,
			Remediation: fmt.Sprintf("Compare /proc/%d/exe with the real %s, save it for analysis, then stop the process and remove what starts it.", p.PID, d.Name),
			Confidence:  0.85,
		})
	}
	return out, nil
}

// claimedDaemon returns the well-known program the comm or argv[0] names.
// comm is cut at 15 bytes, so "systemd-journal" claims systemd-journald.
func claimedDaemon(db *intel.DB, comm, argv0 string) (*intel.Daemon, string) {
	if d, ok := db.Daemon(argv0); ok && argv0 != "" {
		return d, "argv[0]: " + argv0
	}
	if comm == "" {
		return nil, ""
	}
	if d, ok := db.Daemon(comm); ok {
		return d, "comm: " + comm
	}
	if len(comm) == 15 {
		var names []string
		for i := range db.Processes.Daemons {
			if n := db.Processes.Daemons[i].Name; len(n) > 15 && n[:15] == comm {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		if len(names) > 0 {
			d, _ := db.Daemon(names[0])
			return d, "comm: " + comm
		}
	}
	return nil, ""
}
