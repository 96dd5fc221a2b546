package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/process"
	"github.com/minerguard/minerguard/internal/sigscan"
)

func init() {
	registerFunc(Info{
		ID:          "process.exe_signature",
		Title:       "Miner byte signatures and packers in running executables",
		Description: "Scans each user process's executable through /proc/PID/exe (deleted and memfd files included) for intel signatures.json byte patterns and packer marks. Builds of minerguard itself, which embed every pattern as intel data, are skipped (docs/intel.md).",
		Needs:       NeedsProc,
		Default:     true,
	}, checkExeSignature)
}

// systemExeDirs are where package-managed executables live. A packed
// binary there is unusual but seen (vendor tools); elsewhere it is a
// common way to hide a miner's strings. These are file-system layout
// facts, not miner indicators, so they stay here rather than in intel.
var systemExeDirs = []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/lib", "/lib64"}

func inSystemDir(p string) bool {
	for _, d := range systemExeDirs {
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// minerguardExe reports whether the process runs a build of minerguard's
// own module.
func minerguardExe(proc host.Proc, pid int) bool {
	f, err := proc.OpenExe(pid)
	if err != nil {
		return false
	}
	defer f.Close()
	return isMinerguardBuild(f)
}

func checkExeSignature(ctx context.Context, env *Env) ([]findings.Finding, error) {
	proc := env.Host.Proc()
	if proc == nil {
		return nil, Skipped("no process view")
	}
	var out []findings.Finding
	unreadable := 0
	var unreadablePIDs []int
	// Results are cached per file, so the pointer identifies the file: a
	// miner running as many processes is hashed once.
	sums := map[*sigscan.Result]string{}
	ours := map[*sigscan.Result]bool{}
	for _, p := range env.UserProcesses() {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if p.Exe == "" && p.ExeErr == nil {
			continue
		}
		res, err := env.Exes.ScanExe(proc, p.PID)
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrPermission):
				unreadable++
				unreadablePIDs = append(unreadablePIDs, p.PID)
			case errors.Is(err, fs.ErrNotExist):
				// Exited since the snapshot, or a zombie without an exe.
			default:
				env.Log.Debug("exe scan failed", "pid", p.PID, "err", err)
			}
			continue
		}
		if !res.Matched && res.Packer == "" {
			continue
		}
		// minerguard itself, another build of it (the fleet agent, an
		// older release, its tests) embeds every signature and packer
		// mark as intel data. The same policy as for files on disk
		// (isMinerguardBuild): it still faces the CPU, pool and
		// disguise checks if it misbehaves.
		mine, known := ours[res]
		if !known {
			mine = minerguardExe(proc, p.PID)
			ours[res] = mine
		}
		if mine {
			env.Log.Debug("exe signature skipped: a minerguard build", "pid", p.PID, "exe", p.Exe)
			continue
		}
		if res.Matched {
			sum, hashed := sums[res]
			if !hashed {
				sum, _ = sigscan.SHA256(proc, p.PID)
				sums[res] = sum
			}
			out = append(out, exeSignatureFinding(env, p, res, sum))
		}
		if res.Packer != "" {
			out = append(out, exePackedFinding(env, p, res))
		}
	}
	if unreadable > 0 {
		out = append(out, findings.Finding{
			Rule:     "scan.exe_unreadable",
			Severity: findings.Info,
			Signal:   findings.SignalStatus,
			Title:    fmt.Sprintf("%d executables could not be read for signature scanning", unreadable),
			Description: fmt.Sprintf("Opening /proc/PID/exe was refused for %d processes, so their executables were not scanned for miner signatures. "+
				"Run minerguard as root to scan every process.", unreadable),
			Evidence: findings.Evidence{Details: map[string]string{
				"count": fmt.Sprint(unreadable),
				"pids":  truncInts(unreadablePIDs, 50),
			}},
			Confidence: 1,
		})
	}
	return out, nil
}

func exeSignatureFinding(env *Env, p *process.Process, res *sigscan.Result, sum string) findings.Finding {
	ev := env.ProcessEvidence(p)
	ev.Match = res.Signatures
	ev.Family = strings.Join(res.Families, ",")
	ev.SHA256 = sum
	ev.Size = res.Size
	ev.Details = map[string]string{
		"score":     fmt.Sprint(res.Score),
		"threshold": fmt.Sprint(env.Intel.Signatures.Threshold),
	}
	if res.Truncated {
		ev.Details["truncated"] = fmt.Sprintf("only the first %d bytes were scanned", sigscan.MaxBytes)
	}
	what := "mining code"
	if ev.Family != "" {
		what = ev.Family + " mining code"
	}
	conf := 0.85
	if len(res.Families) > 0 {
		conf = 0.95
	}
	return findings.Finding{
		Rule:     "process.exe_signature",
		Severity: findings.High,
		Signal:   findings.SignalIdentity,
		Title:    fmt.Sprintf("Executable of %s (pid %d) contains %s", Printable(p.Name(), 32), p.PID, what),
		Description: fmt.Sprintf("The file behind /proc/%d/exe (%s) contains %d miner byte signatures (score %d, threshold %d): %s.",
			p.PID, Printable(ev.Exe, 256), len(res.Signatures), res.Score, env.Intel.Signatures.Threshold, strings.Join(res.Signatures, ", ")),
		Evidence:    ev,
		Remediation: "Preserve the binary (copy /proc/PID/exe) and its sha256, then stop the process tree and remove its persistence (minerguard clean).",
		Confidence:  conf,
	}
}

func exePackedFinding(env *Env, p *process.Process, res *sigscan.Result) findings.Finding {
	ev := env.ProcessEvidence(p)
	ev.Match = []string{"packer: " + res.Packer}
	ev.Size = res.Size
	sev, conf, where := findings.Medium, 0.5, "outside the system directories"
	// A deleted or memfd executable is never trusted by its old path.
	if inSystemDir(p.Exe) && !p.ExeDeleted && !p.MemFD() {
		sev, conf, where = findings.Low, 0.3, "in a system directory"
	}
	return findings.Finding{
		Rule:     "process.exe_packed",
		Severity: sev,
		Signal:   findings.SignalDisguise,
		Title:    fmt.Sprintf("%s (pid %d) runs a %s-packed executable %s", Printable(p.Name(), 32), p.PID, res.Packer, where),
		Description: fmt.Sprintf("The file behind /proc/%d/exe (%s) carries the %s packer mark. Packing hides a program's strings from scanners and is common in mining malware, rare in packaged software.",
			p.PID, Printable(ev.Exe, 256), res.Packer),
		Evidence:    ev,
		Remediation: "Find out where the binary came from; unpack a copy (upx -d) and scan it again.",
		Confidence:  conf,
	}
}

// truncInts prints up to max integers, then how many more.
func truncInts(v []int, max int) string {
	var b strings.Builder
	for i, n := range v {
		if i == max {
			fmt.Fprintf(&b, " (+%d more)", len(v)-max)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, n)
	}
	return b.String()
}
