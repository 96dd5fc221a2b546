package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/minercfg"
	"github.com/minerguard/minerguard/internal/process"
)

func init() {
	registerFunc(Info{
		ID:          "process.cmdline",
		Title:       "Mining pool URLs, miner flags and algorithms on process command lines",
		Description: "Reads every process's argv for stratum URLs, pool addresses given to -o/--url, strong miner flags and mining algorithms (intel cmdline.json).",
		Needs:       NeedsProc,
		Default:     true,
	}, checkCmdline)
}

const cmdlineRemediation = "Confirm with the owner; if unauthorised, stop the process tree, remove its files and persistence (minerguard clean) and block the pool."

func checkCmdline(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		if len(p.Cmdline) < 2 {
			continue
		}
		out = append(out, cmdlineFindings(env, p)...)
	}
	return out, nil
}

// cmdlineFindings returns one finding per kind of evidence on p's argv;
// weak flags are reported only when nothing stronger is there.
func cmdlineFindings(env *Env, p *process.Process) []findings.Finding {
	db := env.Intel
	args := minercfg.PoolsFromArgs(p.Cmdline, db)
	strong, weak := idMinerFlags(p.Cmdline, db)

	base := func(rule string, sev findings.Severity, conf float64, title, desc string, match []string) findings.Finding {
		ev := env.ProcessEvidence(p)
		ev.Match = match
		if len(args.URLs) > 0 {
			idSetPoolURL(&ev, args.URLs[0])
		}
		if len(args.Configs) > 0 && !strings.ContainsAny(args.Configs[0].Value, " \t;|&") {
			ev.Details = map[string]string{"config": Printable(args.Configs[0].Value, 300)}
		}
		return findings.Finding{
			Rule: rule, Severity: sev, Signal: findings.SignalIdentity, Confidence: conf,
			Title: title, Description: desc, Evidence: ev, Remediation: cmdlineRemediation,
		}
	}
	name := Printable(p.Name(), 32)
	var out []findings.Finding

	var stratum []minercfg.PoolURL
	var known []string
	for _, u := range args.URLs {
		if u.Stratum {
			stratum = append(stratum, u)
		}
		if d, ok := db.Domain(u.Host); ok && !u.IsIP() {
			known = append(known, d.Domain)
		}
	}
	if len(stratum) > 0 {
		f := base("process.cmdline.stratum_url", findings.High, 0.95,
			fmt.Sprintf("%s (pid %d) is given a mining pool URL", name, p.PID),
			fmt.Sprintf("The command line names the stratum pool %s; only mining software speaks stratum.", Printable(stratum[0].URL, 200)),
			idURLMatches(stratum))
		idSetPoolURL(&f.Evidence, stratum[0])
		out = append(out, f)
	} else if len(known) > 0 {
		for _, u := range args.URLs {
			if _, ok := db.Domain(u.Host); ok {
				f := base("process.cmdline.pool_domain", findings.High, 0.9,
					fmt.Sprintf("%s (pid %d) is pointed at the mining pool %s", name, p.PID, u.Host),
					fmt.Sprintf("The command line passes %s, a known mining pool (%s), to %s.", Printable(u.URL, 200), known[0], u.Flag),
					idURLMatches(args.URLs))
				idSetPoolURL(&f.Evidence, u)
				out = append(out, f)
				break
			}
		}
	}
	if len(strong) > 0 {
		out = append(out, base("process.cmdline.miner_flags", findings.High, 0.9,
			fmt.Sprintf("%s (pid %d) runs with miner options", name, p.PID),
			fmt.Sprintf("The command line uses %s, options that only mining software takes.", strings.Join(idFlagNames(strong), ", ")),
			idFlagMatches(strong)))
	}
	// An algorithm name is damning only beside a pool or user to mine for.
	poolOrUser := len(args.URLs) > 0 || len(args.Users) > 0
	if len(args.Algorithms) > 0 && poolOrUser {
		m := []string{}
		for _, a := range args.Algorithms {
			m = append(m, strings.Join(idPrintableAll(a.Args), " "))
		}
		m = append(m, idURLMatches(args.URLs)...)
		for _, u := range args.Users {
			m = append(m, strings.Join(idPrintableAll(u.Args), " "))
		}
		f := base("process.cmdline.algorithm", findings.High, 0.85,
			fmt.Sprintf("%s (pid %d) is told to mine %s", name, p.PID, args.Algorithms[0].Value),
			fmt.Sprintf("The command line selects the mining algorithm %s together with a pool or user to mine for.", args.Algorithms[0].Value),
			idDedupe(m))
		f.Evidence.Details = idMergeDetails(f.Evidence.Details, map[string]string{"algorithm": args.Algorithms[0].Value})
		out = append(out, f)
	}
	if len(out) > 0 {
		return out
	}
	// Weak evidence: flags miners share with other programs, a host:port
	// given to a URL flag, a user beside it. Two together are medium; one
	// is nothing (every program has a --worker or -o).
	var weakMatch []string
	weakMatch = append(weakMatch, idFlagMatches(weak)...)
	if len(args.URLs) > 0 {
		weakMatch = append(weakMatch, idURLMatches(args.URLs)...)
		for _, u := range args.Users {
			weakMatch = append(weakMatch, strings.Join(idPrintableAll(u.Args), " "))
		}
	}
	weakMatch = idDedupe(weakMatch)
	if len(weakMatch) >= 2 {
		out = append(out, base("process.cmdline.weak_flags", findings.Medium, 0.5,
			fmt.Sprintf("%s (pid %d) has a miner-like command line", name, p.PID),
			fmt.Sprintf("The command line combines %d options that miners use (%s); each alone is common.", len(weakMatch), strings.Join(weakMatch, ", ")),
			weakMatch))
	}
	return out
}

// idMinerFlags splits the intel flags found in argv by weight.
func idMinerFlags(argv []string, db *intel.DB) (strong, weak []idFlagHit) {
	seen := map[string]bool{}
	for i, a := range argv {
		if i == 0 || !strings.HasPrefix(a, "-") {
			continue
		}
		f, ok := db.Flag(a)
		if !ok || seen[f.Flag] {
			continue
		}
		seen[f.Flag] = true
		h := idFlagHit{flag: f, arg: a}
		if f.Weight == "strong" {
			strong = append(strong, h)
		} else {
			weak = append(weak, h)
		}
	}
	return strong, weak
}

type idFlagHit struct {
	flag *intel.Flag
	arg  string
}

func idFlagNames(hs []idFlagHit) []string {
	var out []string
	for _, h := range hs {
		s := h.flag.Flag
		if h.flag.Program != "" {
			s += " (" + h.flag.Program + ")"
		}
		out = append(out, s)
	}
	return out
}

func idFlagMatches(hs []idFlagHit) []string {
	var out []string
	for _, h := range hs {
		out = append(out, Printable(h.arg, 200))
	}
	return out
}

func idURLMatches(us []minercfg.PoolURL) []string {
	var out []string
	for _, u := range us {
		out = append(out, strings.Join(idPrintableAll(u.Args), " "))
	}
	return idDedupe(out)
}

func idPrintableAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Printable(s, 300)
	}
	return out
}

// idSetPoolURL records a pool URL: the domain when it is a name, the
// address in details when it is an IP.
func idSetPoolURL(ev *findings.Evidence, u minercfg.PoolURL) {
	ev.URL = Printable(u.URL, 300)
	ev.Domain = ""
	d := map[string]string{}
	if u.IsIP() {
		d["pool_ip"] = u.Host
	} else {
		ev.Domain = u.Host
	}
	if u.Port != "" {
		d["pool_port"] = u.Port
	}
	ev.Details = idMergeDetails(ev.Details, d)
}

func idMergeDetails(a, b map[string]string) map[string]string {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range b {
		a[k] = v
	}
	return a
}

func idDedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
