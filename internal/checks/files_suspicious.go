package checks

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/minercfg"
)

func init() {
	registerFunc(Info{
		ID:    "files.suspicious",
		Title: "Executables, miner configs and dropper scripts in temp and hidden directories",
		Description: "Walks the temp directories (/tmp, /var/tmp, /dev/shm, ...), the hidden directories of /root and /home/* " +
			"and the files one or two levels into each home, plus --paths (or the whole root with --full). Reports ELF/PE " +
			"programs in temp or hidden directories, any executable carrying miner signatures, UPX-packed executables " +
			"outside system directories, miner configuration files, and download-and-execute scripts in temp directories.",
		Needs:   NeedsFS,
		Default: true,
	}, checkFilesSuspicious)
}

// fileScope says why a directory is searched.
type fileScope int

const (
	scopeTemp  fileScope = iota // a temp directory: any program there is suspect
	scopeHome                   // a home directory (hidden dirs are suspect)
	scopeOther                  // --paths, --full: only content counts
)

// suspiciousSearch is one search root.
type suspiciousSearch struct {
	root  string
	scope fileScope
	lim   walkLimits
}

// suspiciousRoots decides what the default search covers: temp directories
// whole; each home's top level, its plain subdirectories two levels deep
// (an unpacked ~/xmrig-6.21.0/xmrig) and its hidden directories six deep,
// except tool directories intel knows (~/.cargo/bin, ~/.vscode-server);
// then --paths and, with --full, "/". Everything shares one entry budget,
// so a host with a million files in /tmp still finishes.
func suspiciousRoots(env *Env, fi *filesIntel) []suspiciousSearch {
	var out []suspiciousSearch
	s := fi.Search
	depth := s.MaxDepth
	if env.Full {
		depth = s.FullMaxDepth
	}
	for _, d := range env.Intel.Processes.TempDirs {
		out = append(out, suspiciousSearch{root: d, scope: scopeTemp, lim: walkLimits{maxDepth: depth}})
	}
	for _, h := range userHomes(env.Host.FS()) {
		home := h
		out = append(out, suspiciousSearch{root: home, scope: scopeHome, lim: walkLimits{
			maxDepth: max(s.HomeHiddenDepth, s.HomePlainDepth),
			descend: func(dir string, d int) bool {
				rel := strings.TrimPrefix(dir, home+"/")
				if _, ok := env.Intel.HiddenDirAllowed(rel); ok {
					return false
				}
				if strings.HasPrefix(rel, ".") {
					return d <= s.HomeHiddenDepth
				}
				return d < s.HomePlainDepth
			},
		}})
	}
	for _, p := range env.Paths {
		out = append(out, suspiciousSearch{root: path.Clean("/" + p), scope: scopeOther, lim: walkLimits{maxDepth: depth}})
	}
	if env.Full {
		out = append(out, suspiciousSearch{root: "/", scope: scopeOther, lim: walkLimits{maxDepth: depth}})
	}
	return out
}

func checkFilesSuspicious(ctx context.Context, env *Env) ([]findings.Finding, error) {
	fi, err := loadFilesIntel(env.Intel)
	if err != nil {
		return nil, err
	}
	budget := fi.Search.MaxEntries
	if env.Full {
		budget = fi.Search.FullMaxEntries
	}
	skip := append(append([]string{}, fi.Search.SkipDirs...), pseudoMounts(env, fi.Search.SkipFSTypes)...)
	w := newWalker(env.Host.FS(), budget, skip)
	var out []findings.Finding
	for _, r := range suspiciousRoots(env, fi) {
		home := ""
		if r.scope == scopeHome {
			home = r.root
		}
		w.walk(ctx, r.root, r.lim, func(p string, d fs.DirEntry, _ int) {
			if f, ok := inspectFile(env, fi, p, d, r.scope, home); ok {
				out = append(out, f...)
			}
		})
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	for _, e := range w.errs {
		env.Log.Debug("files.suspicious: unreadable directory", "err", e)
	}
	if w.truncated {
		out = append(out, searchTruncated("files.suspicious", budget))
	}
	out = groupLocationFindings(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Evidence.Path < out[j].Evidence.Path })
	return out, nil
}

// maxPerDir is how many unsigned executables one directory may yield
// before they are reported as one finding: an unpacked toolchain or root
// filesystem in /tmp is one fact, not three hundred.
const maxPerDir = 5

// groupLocationFindings folds the temp/hidden executable findings of a
// directory with more than maxPerDir of them into one finding about the
// directory (Paths lists the first files). Signature, packer, config and
// script findings are never folded.
func groupLocationFindings(in []findings.Finding) []findings.Finding {
	byDir := map[string][]int{}
	for i, f := range in {
		if f.Rule == "files.temp_executable" || f.Rule == "files.hidden_executable" {
			d := path.Dir(f.Evidence.Path)
			byDir[d] = append(byDir[d], i)
		}
	}
	drop := map[int]bool{}
	var add []findings.Finding
	for d, idx := range byDir {
		if len(idx) <= maxPerDir {
			continue
		}
		first := in[idx[0]]
		g := first
		g.Evidence = findings.Evidence{Path: d, Details: map[string]string{"executables": fmt.Sprint(len(idx)), "location": first.Evidence.Details["location"]}}
		for _, i := range idx {
			drop[i] = true
			if len(g.Evidence.Paths) < 20 {
				g.Evidence.Paths = append(g.Evidence.Paths, in[i].Evidence.Path)
			}
		}
		sort.Strings(g.Evidence.Paths)
		g.Confidence = 0.4
		g.Title = fmt.Sprintf("%d executables in a %s: %s", len(idx), first.Evidence.Details["location"], Printable(d, 200))
		g.Description = fmt.Sprintf("%s holds %d programs without miner signatures (an unpacked archive or toolchain, or a dropper's staging directory); the first are listed.", Printable(d, 400), len(idx))
		add = append(add, g)
	}
	if len(add) == 0 {
		return in
	}
	out := make([]findings.Finding, 0, len(in)-len(drop)+len(add))
	for i, f := range in {
		if !drop[i] {
			out = append(out, f)
		}
	}
	return append(out, add...)
}

// searchTruncated says a walk hit its entry budget: what was not looked at
// is not known to be clean.
func searchTruncated(check string, budget int) findings.Finding {
	return findings.Finding{
		Rule: "files.search_truncated", Severity: findings.Info, Signal: findings.SignalStatus,
		Title:       fmt.Sprintf("%s stopped after %d directory entries", check, budget),
		Description: "The file search reached its entry limit; files past it were not inspected.",
		Evidence:    findings.Evidence{Details: map[string]string{"check": check}},
		Confidence:  1,
	}
}

// inspectFile looks at one regular file.
func inspectFile(env *Env, fi *filesIntel, p string, d fs.DirEntry, scope fileScope, home string) ([]findings.Finding, bool) {
	info, err := d.Info()
	if err != nil || info.Size() == 0 {
		return nil, false
	}
	name := d.Name()
	isConfig := info.Size() <= minercfg.MaxSize && (containsString(fi.Search.ConfigNames, name) || hasExt(name, fi.Search.ConfigExts))
	fsys := env.Host.FS()
	f, err := fsys.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	head := readHead(f, headerSize)
	if k := classifyExe(head, f); k != exeNone {
		if (k == exeELF || k == exeELFLib) && isMinerguardBuild(f) {
			return nil, false
		}
		return executableFinding(env, fi, p, f, k, info, scope, home)
	}
	var out []findings.Finding
	if isConfig {
		if fd, ok := configFileFinding(env, p); ok {
			out = append(out, fd)
		}
	}
	if scope == scopeTemp && info.Size() <= fi.Search.MaxScriptSize && looksLikeScript(name, head) {
		if b, err := readBounded(fsys, p, fi.Search.MaxScriptSize); err == nil {
			if fd, ok := scriptFinding(env, fi, p, b); ok {
				out = append(out, fd)
			}
		}
	}
	return out, len(out) > 0
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasExt(name string, exts []string) bool {
	e := strings.ToLower(path.Ext(name))
	return e != "" && containsString(exts, e)
}

// suspectLocation says why an executable's directory is itself suspect
// ("" when it is not): a temp dir, or a hidden directory that no known
// tool uses.
func suspectLocation(env *Env, p string, k exeKind, scope fileScope, home string) string {
	if k == exeELFObj {
		return "" // compiler output (cc's /tmp/ccXXXX.o) cannot run
	}
	if d, ok := env.Intel.InTempDir(p); ok {
		if _, allowed := env.Intel.TempExeAllowed(p); allowed {
			return ""
		}
		return "temp directory " + d
	}
	if k != exeELF && k != exePE {
		return "" // libraries in hidden dirs are plugin caches, venvs, IDEs
	}
	dir := path.Dir(p)
	if home != "" {
		rel := strings.TrimPrefix(dir, home+"/")
		if rel == dir || !strings.HasPrefix(rel, ".") {
			return ""
		}
		if _, ok := env.Intel.HiddenDirAllowed(rel); ok {
			return ""
		}
		c, _ := intel.HiddenComponent(rel)
		return "hidden directory " + Printable(c, 64)
	}
	fi, _ := loadFilesIntel(env.Intel)
	if fi != nil && inDirs(p, fi.Search.SystemDirs) {
		return ""
	}
	if c, ok := intel.HiddenComponent(dir); ok {
		return "hidden directory " + Printable(c, 64)
	}
	return ""
}

func executableFinding(env *Env, fi *filesIntel, p string, f host.File, k exeKind, info fs.FileInfo, scope fileScope, home string) ([]findings.Finding, bool) {
	loc := suspectLocation(env, p, k, scope, home)
	res, err := env.Exes.ScanFile(f)
	if err != nil {
		env.Log.Debug("files.suspicious: scan failed", "path", p, "err", err)
	}
	ev := findings.Evidence{
		Path: p, Size: info.Size(),
		Details: map[string]string{"type": k.String(), "mode": info.Mode().String()},
	}
	fd := findings.Finding{Signal: findings.SignalIdentity, Evidence: ev}
	packed := res != nil && res.Packer != "" && !inDirs(p, fi.Search.SystemDirs)
	switch {
	case res != nil && res.Matched:
		fd.Rule, fd.Severity, fd.Confidence = "files.miner_binary", findings.High, 0.9
		fd.Evidence.Match = res.Signatures
		if len(res.Families) > 0 {
			fd.Evidence.Family = res.Families[0]
		}
		fd.Title = fmt.Sprintf("Miner executable %s", Printable(p, 200))
		fd.Description = fmt.Sprintf("%s is a %s carrying mining signatures (%s, score %d).", Printable(p, 400), k, strings.Join(res.Signatures, ", "), res.Score)
		if loc != "" {
			fd.Description += " It sits in a " + loc + "."
		}
		fd.Remediation = "Find and stop whatever runs it (cron, services, shell profiles), keep a copy and its hash for the incident report, then delete it."
	case packed:
		fd.Rule, fd.Severity, fd.Confidence = "files.packed_executable", findings.Medium, 0.6
		fd.Signal = findings.SignalDisguise
		fd.Title = fmt.Sprintf("%s-packed executable %s", res.Packer, Printable(p, 200))
		fd.Description = fmt.Sprintf("%s is a %s compressed with %s outside the system directories; miners are packed to hide their strings from scanners.", Printable(p, 400), k, res.Packer)
		if loc != "" {
			fd.Description += " It sits in a " + loc + "."
		}
		fd.Remediation = "Identify the owner and origin of the file; unpack it (upx -d on a copy) and scan again."
	case loc != "":
		fd.Rule, fd.Severity, fd.Confidence = "files.temp_executable", findings.Medium, 0.5
		if strings.HasPrefix(loc, "hidden") {
			fd.Rule = "files.hidden_executable"
		}
		fd.Signal = findings.SignalDisguise
		fd.Title = fmt.Sprintf("%s in a %s: %s", k, loc, Printable(p, 200))
		fd.Description = fmt.Sprintf("%s is a %s in a %s, where droppers put miners; no miner signature was found in it.", Printable(p, 400), k, loc)
		fd.Remediation = "Find out who created it (owner, mtime, shell history) and whether anything runs it."
	default:
		return nil, false
	}
	if res != nil && res.Packer != "" {
		fd.Evidence.Details["packer"] = res.Packer
	}
	if loc != "" {
		fd.Evidence.Details["location"] = loc
	}
	fd.Evidence.SHA256 = fileSHA256(env.Host.FS(), p)
	return []findings.Finding{fd}, true
}

// configFileFinding parses a candidate miner config (config.json,
// pools.txt, config.txt, *.json).
func configFileFinding(env *Env, p string) (findings.Finding, bool) {
	pc := readMinerConfig(env, p)
	if pc.skip {
		return findings.Finding{}, false
	}
	ev := findings.Evidence{Path: p, Size: pc.size, Details: map[string]string{}}
	fd := findings.Finding{Rule: "files.miner_config", Signal: findings.SignalIdentity,
		Remediation: "Keep a copy for the incident report (it names the pool and payout wallet), find the miner that reads it, then remove both."}
	switch {
	case pc.err == nil && pc.cfg.IsMiner() && len(pc.cfg.URLs) > 0:
		c := pc.cfg
		idSetPoolURL(&ev, c.URLs[0])
		if len(c.Users) > 0 {
			ev.Wallet = Printable(c.Users[0], 200)
			if w := env.Intel.FindWallets(c.Users[0]); len(w) > 0 {
				ev.Wallet, ev.Coin = w[0].Address, w[0].Coin
			}
		}
		ev.Details["format"] = string(c.Format)
		ev.Match = c.Keys
		fd.Severity, fd.Confidence = findings.High, 0.9
		fd.Title = fmt.Sprintf("Miner configuration %s (%s) naming pool %s", Printable(p, 200), c.Format, c.URLs[0].Host)
		fd.Description = fmt.Sprintf("%s is a %s mining configuration for %s.", Printable(p, 400), c.Format, Printable(c.URLs[0].URL, 200))
	case pc.err == nil && pc.cfg.IsMiner():
		ev.Details["format"] = string(pc.cfg.Format)
		ev.Match = pc.cfg.Keys
		fd.Severity, fd.Confidence = findings.Medium, 0.6
		fd.Title = fmt.Sprintf("Miner configuration %s (%s) without a pool", Printable(p, 200), pc.cfg.Format)
		fd.Description = fmt.Sprintf("%s has the settings of a %s miner (%s) but names no pool.", Printable(p, 400), pc.cfg.Format, strings.Join(pc.cfg.Keys, ", "))
	case pc.err != nil && len(pc.stratum) > 0:
		idSetPoolURL(&ev, pc.stratum[0])
		ev.Details["parse_error"] = Printable(pc.err.Error(), 300)
		ev.Match = idURLMatches(pc.stratum)
		fd.Severity, fd.Confidence = findings.Medium, 0.6
		fd.Title = fmt.Sprintf("File %s names mining pool %s", Printable(p, 200), pc.stratum[0].Host)
		fd.Description = fmt.Sprintf("%s does not parse as a miner config but contains the mining URL %s.", Printable(p, 400), Printable(pc.stratum[0].URL, 200))
	default:
		return fd, false
	}
	fd.Evidence = ev
	return fd, true
}

// looksLikeScript says whether a temp file is worth reading as a script.
func looksLikeScript(name string, head []byte) bool {
	if len(head) >= 2 && head[0] == '#' && head[1] == '!' {
		return true
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".sh", ".bash", ".py", ".pl":
		return true
	}
	return false
}

var urlRE = regexp.MustCompile(`(?i)\b(?:https?|ftp|tftp)://[^\s'"|;&<>()\x60]+`)

// scriptVerdict is what scanScript found in a script.
type scriptVerdict struct {
	line    int
	content string
	url     string
	how     string // "pipe to shell", "download and chmod +x"
}

// scanScript finds the first download-and-execute step in a script: a
// downloader piped into a shell or interpreter on one line, or a download
// followed by chmod +x in the same script.
func scanScript(fi *filesIntel, b []byte) (scriptVerdict, bool) {
	lines := strings.Split(string(b), "\n")
	var dl scriptVerdict
	haveDL := false
	for i, raw := range lines {
		l := strings.TrimSpace(raw)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		low := strings.ToLower(l)
		if !hasDownloader(fi, low) {
			if haveDL && hasChmodExec(fi, low) {
				dl.how = "download, then " + strings.Join(strings.Fields(low)[:min(2, len(strings.Fields(low)))], " ")
				return dl, true
			}
			continue
		}
		v := scriptVerdict{line: i + 1, content: l, url: urlRE.FindString(l)}
		if pipesToShell(fi, low) {
			v.how = "download piped to an interpreter"
			return v, true
		}
		if hasChmodExec(fi, low) {
			v.how = "download and chmod +x"
			return v, true
		}
		if !haveDL {
			dl, haveDL = v, true
		}
	}
	return scriptVerdict{}, false
}

// hasDownloader reports whether a line runs one of intel's downloaders as
// a command word.
func hasDownloader(fi *filesIntel, low string) bool {
	for _, d := range fi.Scripts.Downloaders {
		if containsWord(low, d) {
			return true
		}
	}
	return false
}

func hasChmodExec(fi *filesIntel, low string) bool {
	for _, c := range fi.Scripts.ChmodExec {
		if strings.Contains(low, c) {
			return true
		}
	}
	return false
}

// pipesToShell reports "... | sh", "| sudo bash", "sh -c "$(curl ...)"",
// "bash <(wget ...)".
func pipesToShell(fi *filesIntel, low string) bool {
	for _, seg := range strings.Split(low, "|")[1:] {
		w := strings.Fields(seg)
		for len(w) > 0 && (w[0] == "sudo" || w[0] == "env" || strings.HasPrefix(w[0], "-")) {
			w = w[1:]
		}
		if len(w) > 0 && isShell(fi, path.Base(w[0])) {
			return true
		}
	}
	for _, s := range fi.Scripts.Shells {
		if strings.Contains(low, s+" -c \"$(") || strings.Contains(low, s+" -c '$(") || strings.Contains(low, s+" <(") || strings.Contains(low, s+" -c \"`") {
			return true
		}
	}
	return false
}

func isShell(fi *filesIntel, w string) bool {
	for _, s := range fi.Scripts.Shells {
		if w == s {
			return true
		}
	}
	return false
}

// containsWord reports whether w occurs in s bounded by non-word bytes, so
// "curl" matches "x=$(curl -s ...)" but not "curling".
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(s[j-1])
		after := j+len(w) == len(s) || !isWordByte(s[j+len(w)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

func scriptFinding(env *Env, fi *filesIntel, p string, b []byte) (findings.Finding, bool) {
	v, ok := scanScript(fi, b)
	if !ok {
		return findings.Finding{}, false
	}
	ev := findings.Evidence{Path: p, Line: v.line, Content: Printable(v.content, 500), Size: int64(len(b)),
		Details: map[string]string{"pattern": v.how}}
	if v.url != "" {
		ev.URL = Printable(v.url, 500)
		if u, err := url.Parse(v.url); err == nil {
			ev.Domain = strings.ToLower(u.Hostname())
		}
	}
	fd := findings.Finding{
		Rule: "files.dropper_script", Severity: findings.Medium, Signal: findings.SignalIdentity, Confidence: 0.6,
		Title:       fmt.Sprintf("Download-and-execute script in a temp directory: %s", Printable(p, 200)),
		Description: fmt.Sprintf("%s line %d fetches code from the network and runs it (%s).", Printable(p, 400), v.line, v.how),
		Evidence:    ev,
		Remediation: "Read the script, fetch nothing it names; find what started it (cron, services, web shell) and remove both.",
	}
	// A dropper that also names a miner, a pool or a stratum URL is the
	// installer of a miner.
	var why []string
	if r := env.Exes.ScanBytes(b); r.Matched {
		why = append(why, r.Signatures...)
	}
	if a := minercfg.PoolsFromArgs(append([]string{""}, strings.Fields(string(b))...), env.Intel); len(a.URLs) > 0 {
		for _, u := range a.URLs {
			if u.Stratum {
				why = append(why, "stratum URL "+Printable(u.URL, 120))
				break
			}
		}
	}
	if len(why) > 0 {
		fd.Rule, fd.Severity, fd.Confidence = "files.miner_script", findings.High, 0.85
		fd.Title = fmt.Sprintf("Miner installer script in a temp directory: %s", Printable(p, 200))
		fd.Description += " It also carries mining indicators: " + strings.Join(why, ", ") + "."
		fd.Evidence.Match = why
	}
	return fd, true
}
