package checks

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/minercfg"
	"github.com/minerguard/minerguard/internal/process"
)

func init() {
	registerFunc(Info{
		ID:          "process.miner_config",
		Title:       "Miner configuration files used by running processes",
		Description: "Reads the files a process names with -c/--config and config.json, pools.txt and config.txt in its working directory and beside its executable, and parses them as XMRig, xmr-stak, cpuminer or generic pool configs.",
		Needs:       NeedsProc | NeedsFS,
		Default:     true,
	}, checkMinerConfig)
}

// minerConfigNames are the file names miners load without being told:
// XMRig's config.json, xmr-stak's config.txt and pools.txt.
var minerConfigNames = []string{"config.json", "pools.txt", "config.txt"}

// minerConfigMax bounds what is read from a host file; real configs are a
// few KiB, and a process may name a huge file to slow the scan.
const minerConfigMax = minercfg.MaxSize

// configSource is a candidate file and why it was looked at.
type configSource struct {
	path string // host path
	how  string // "argument --config", "working directory", "executable directory"
	// tied says the process itself points at the file (argument or its
	// own directory), rather than merely sitting in a directory with it.
	tied bool
}

// parsedConfig caches one file's result for the scan; many processes share
// a working directory.
type parsedConfig struct {
	cfg     *minercfg.Config
	err     error
	stratum []minercfg.PoolURL // for files that do not parse
	skip    bool               // missing, unreadable, not a regular file, too big
	size    int64
}

func checkMinerConfig(ctx context.Context, env *Env) ([]findings.Finding, error) {
	var mu sync.Mutex
	cache := map[string]*parsedConfig{}
	load := func(p string) *parsedConfig {
		mu.Lock()
		defer mu.Unlock()
		if pc, ok := cache[p]; ok {
			return pc
		}
		pc := readMinerConfig(env, p)
		cache[p] = pc
		return pc
	}
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		for _, src := range configSources(env, p) {
			pc := load(src.path)
			if pc.skip {
				continue
			}
			if f, ok := configFinding(env, p, src, pc); ok {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// configSources lists the candidate files of p, each once.
func configSources(env *Env, p *process.Process) []configSource {
	var out []configSource
	seen := map[string]bool{}
	add := func(s configSource) {
		if s.path == "" || seen[s.path] {
			return
		}
		seen[s.path] = true
		out = append(out, s)
	}
	if len(p.Cmdline) > 1 {
		for _, c := range minercfg.PoolsFromArgs(p.Cmdline, env.Intel).Configs {
			v := c.Value
			// "sh -c 'script'" also uses -c; a script is not a path.
			if strings.ContainsAny(v, " \t\n;|&$`") || len(v) > 4096 {
				continue
			}
			if !path.IsAbs(v) {
				if p.Cwd == "" || !path.IsAbs(p.Cwd) {
					continue
				}
				v = path.Join(p.Cwd, v)
			}
			add(configSource{path: path.Clean(v), how: "argument " + c.Flag, tied: true})
		}
	}
	var exeDir string
	if path.IsAbs(p.Exe) && !p.MemFD() {
		exeDir = path.Dir(p.Exe)
	}
	for _, n := range minerConfigNames {
		if exeDir != "" {
			add(configSource{path: path.Join(exeDir, n), how: "executable directory", tied: true})
		}
	}
	if path.IsAbs(p.Cwd) {
		for _, n := range minerConfigNames {
			add(configSource{path: path.Join(p.Cwd, n), how: "working directory", tied: !idLauncher(env, p)})
		}
	}
	return out
}

// idLauncher reports whether p has a child in its own working directory: a
// shell that started a miner there is where the miner's config sits, but
// the shell is not the miner, so its finding is weaker.
func idLauncher(env *Env, p *process.Process) bool {
	if env.Procs == nil {
		return false
	}
	for _, c := range env.Procs.Children(p.PID) {
		if c != nil && c.Cwd == p.Cwd {
			return true
		}
	}
	return false
}

func readMinerConfig(env *Env, p string) *parsedConfig {
	fsys := env.Host.FS()
	fi, err := fsys.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > minerConfigMax || fi.Size() == 0 {
		return &parsedConfig{skip: true}
	}
	f, err := fsys.Open(p)
	if err != nil {
		return &parsedConfig{skip: true}
	}
	defer f.Close()
	// Read at most one byte past the limit: the file may grow after Stat.
	b, err := io.ReadAll(io.LimitReader(f, minerConfigMax+1))
	if err != nil {
		return &parsedConfig{skip: true}
	}
	pc := &parsedConfig{size: int64(len(b))}
	if len(b) > minerConfigMax {
		return &parsedConfig{skip: true}
	}
	pc.cfg, pc.err = minercfg.ParseConfig(p, b, env.Intel)
	if pc.err != nil {
		// A miner's own reader may accept what ours rejects; a mining URL
		// in the text still says what the file is for.
		pc.stratum = minercfg.PoolsFromArgs([]string{"", string(b)}, env.Intel).URLs
	}
	return pc
}

func configFinding(env *Env, p *process.Process, src configSource, pc *parsedConfig) (findings.Finding, bool) {
	ev := env.ProcessEvidence(p)
	ev.Path = src.path
	ev.Size = pc.size
	ev.Details = map[string]string{"found_by": src.how}
	f := findings.Finding{
		Rule:        "process.miner_config",
		Signal:      findings.SignalIdentity,
		Remediation: "Confirm with the owner; if unauthorised, stop the process, keep a copy of the file for the incident report (it names the pool and payout wallet), then remove it.",
	}
	name := Printable(p.Name(), 32)
	switch {
	case pc.err == nil && pc.cfg.IsMiner() && len(pc.cfg.URLs) > 0:
		c := pc.cfg
		u := c.URLs[0]
		idSetPoolURL(&ev, u)
		if len(c.Users) > 0 {
			ev.Wallet = Printable(c.Users[0], 200)
			if w := env.Intel.FindWallets(c.Users[0]); len(w) > 0 {
				ev.Wallet, ev.Coin = w[0].Address, w[0].Coin
			}
		}
		ev.Details["format"] = string(c.Format)
		if len(c.Algorithms) > 0 {
			ev.Details["algorithm"] = strings.Join(c.Algorithms, ",")
		}
		ev.Match = c.Keys
		f.Severity, f.Confidence = findings.High, 0.9
		if !src.tied {
			f.Severity, f.Confidence = findings.Medium, 0.6
		}
		f.Title = fmt.Sprintf("%s (pid %d) has a miner config (%s) naming pool %s", name, p.PID, c.Format, u.Host)
		f.Description = fmt.Sprintf("%s (found by %s) is a %s mining configuration for %s.", src.path, src.how, c.Format, Printable(u.URL, 200))
	case pc.err == nil && pc.cfg.IsMiner():
		ev.Details["format"] = string(pc.cfg.Format)
		ev.Match = pc.cfg.Keys
		f.Severity, f.Confidence = findings.Medium, 0.6
		if !src.tied {
			f.Severity, f.Confidence = findings.Low, 0.4
		}
		f.Title = fmt.Sprintf("%s (pid %d) has a miner config (%s)", name, p.PID, pc.cfg.Format)
		f.Description = fmt.Sprintf("%s (found by %s) has the settings of a %s miner (%s) but names no pool.", src.path, src.how, pc.cfg.Format, strings.Join(pc.cfg.Keys, ", "))
	case pc.err != nil && len(pc.stratum) > 0:
		u := pc.stratum[0]
		idSetPoolURL(&ev, u)
		ev.Details["parse_error"] = Printable(pc.err.Error(), 300)
		ev.Match = idURLMatches(pc.stratum)
		f.Severity, f.Confidence = findings.Medium, 0.6
		if !src.tied {
			f.Severity, f.Confidence = findings.Low, 0.4
		}
		f.Title = fmt.Sprintf("%s (pid %d) has a file naming mining pool %s", name, p.PID, u.Host)
		f.Description = fmt.Sprintf("%s (found by %s) does not parse as a miner config but contains the mining URL %s.", src.path, src.how, Printable(u.URL, 200))
	default:
		return f, false
	}
	f.Evidence = ev
	return f, true
}
