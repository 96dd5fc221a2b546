package checks

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:    "files.webminer",
		Title: "Browser-mining scripts and miner executables in web roots",
		Description: "Reads the web roots (/var/www, /srv, /usr/share/nginx/html and the root/DocumentRoot directives of " +
			"nginx and Apache) for CoinHive-style loaders, scripts from NoCoin-listed hosts, mining WebSocket proxies and " +
			"cryptonight WebAssembly, undoing string concatenation, escapes and atob(); and for executables dropped there.",
		Needs:   NeedsFS,
		Default: true,
	}, checkWebMiner)
}

// parseWebRoots extracts the document roots from an nginx ("root PATH;")
// or Apache ("DocumentRoot PATH") configuration. Paths with variables
// ($document_root, ${APACHE_ROOT}) cannot be resolved offline and are
// skipped.
func parseWebRoots(kind string, data []byte) []string {
	var out []string
	add := func(v string) {
		v = strings.Trim(v, `"'`)
		if v == "" || !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "$\x00\n") {
			return
		}
		out = append(out, path.Clean(v))
	}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		switch kind {
		case "nginx":
			// Statements end at ';' and blocks open at '{': "server { root /x; }".
			for _, stmt := range strings.FieldsFunc(line, func(r rune) bool { return r == ';' || r == '{' || r == '}' }) {
				f := strings.Fields(stmt)
				if len(f) >= 2 && f[0] == "root" {
					add(f[1])
				}
			}
		case "apache":
			f := strings.Fields(line)
			if len(f) >= 2 && strings.EqualFold(f[0], "DocumentRoot") {
				add(strings.Join(f[1:], " "))
			}
		}
	}
	return out
}

// webRoots lists the static roots and those the web servers' configs name.
func webRoots(env *Env, fi *filesIntel) []string {
	fsys := env.Host.FS()
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, r := range fi.Web.Roots {
		add(r)
	}
	read := func(kind string, cfg string) {
		files := []string{cfg}
		if st, err := fsys.Stat(cfg); err == nil && st.IsDir() {
			files = nil
			ents, _ := fsys.ReadDir(cfg)
			for _, e := range ents {
				files = append(files, path.Join(cfg, e.Name()))
			}
		}
		for _, f := range files {
			b, err := readBounded(fsys, f, fi.Web.MaxFileSize)
			if err != nil {
				continue
			}
			for _, r := range parseWebRoots(kind, b) {
				add(r)
			}
		}
	}
	for _, c := range fi.Web.NginxConfigs {
		read("nginx", c)
	}
	for _, c := range fi.Web.ApacheConfigs {
		read("apache", c)
	}
	return out
}

var (
	hexEscRE    = regexp.MustCompile(`\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\u\{([0-9a-fA-F]{1,6})\}`)
	concatRE    = regexp.MustCompile(`["'\x60]\s*\+\s*["'\x60]`)
	bracketRE   = regexp.MustCompile(`\[\s*["'\x60]([A-Za-z_$][\w$]*)["'\x60]\s*\]`)
	atobRE      = regexp.MustCompile(`(?i)atob\(\s*["'\x60]([A-Za-z0-9+/=\s]{8,})["'\x60]\s*\)`)
	charCodeRE  = regexp.MustCompile(`(?i)fromcharcode\(\s*((?:\d{1,5}\s*,\s*)*\d{1,5})\s*\)`)
	webHostRE   = regexp.MustCompile(`(?:\b(https?|wss?):)?//([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)(?::(\d{1,5}))?`)
	maxDecoded  = 1 << 20
	webSnippets = 160
)

// webNormalize undoes the obfuscation browser-miner loaders use so plain
// patterns match: escapes (\x43, \u0043), string concatenation
// ("coin"+"hive"), bracket member access (a["Anonymous"] -> a.Anonymous),
// String.fromCharCode lists and atob('...') literals, whose decoded text is
// appended. Base64 is decoded before lower-casing. The result is lower-case; base is the length of the part that
// corresponds to the file itself (before appended decodings).
func webNormalize(b []byte) (text string, base int) {
	s := normalizeOnce(string(b))
	base = len(s)
	var extra strings.Builder
	for _, m := range atobRE.FindAllStringSubmatch(s, 64) {
		raw := strings.Join(strings.Fields(m[1]), "")
		dec, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(raw, "="))
		}
		if err == nil && extra.Len()+len(dec) < maxDecoded {
			extra.WriteString("\n")
			extra.WriteString(strings.ToLower(normalizeOnce(string(dec))))
		}
	}
	for _, m := range charCodeRE.FindAllStringSubmatch(s, 64) {
		var d strings.Builder
		for _, n := range strings.Split(m[1], ",") {
			v, err := strconv.Atoi(strings.TrimSpace(n))
			if err == nil && v > 0 && v < 0x110000 {
				d.WriteRune(rune(v))
			}
		}
		if extra.Len()+d.Len() < maxDecoded {
			extra.WriteString("\n")
			extra.WriteString(strings.ToLower(normalizeOnce(d.String())))
		}
	}
	s = strings.ToLower(s)
	return s + extra.String(), base
}

func normalizeOnce(s string) string {
	s = hexEscRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := hexEscRE.FindStringSubmatch(m)
		h := sub[1] + sub[2] + sub[3]
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil || v == 0 || v > 0x10ffff || v < 0x20 && v != '\n' && v != '\t' {
			return m
		}
		return string(rune(v))
	})
	s = concatRE.ReplaceAllString(s, "")
	s = bracketRE.ReplaceAllString(s, ".$1")
	return s
}

// webAnalysis is what one page or script contains.
type webAnalysis struct {
	strong, weak []string // pattern ids
	hosts        []string // listed hosts referenced
	urls         []string
	scriptPaths  []string
	line         int
	lines        []int // every line a loader or listed host is on (the file's own text)
	snippet      string
	blocklist    bool // it names so many listed hosts it is a blocklist
}

func (a *webAnalysis) loader() bool { return len(a.strong) > 0 || len(a.hosts) > 0 }

// analyzeWeb scans one file's bytes.
func analyzeWeb(env *Env, fi *filesIntel, b []byte) webAnalysis {
	text, base := webNormalize(b)
	var a webAnalysis
	first := -1
	lineSeen := map[int]bool{}
	at := func(i int) {
		if first < 0 || i < first {
			first = i
		}
		if i < base {
			if n := 1 + strings.Count(text[:i], "\n"); !lineSeen[n] && len(lineSeen) < 64 {
				lineSeen[n] = true
				a.lines = append(a.lines, n)
			}
		}
	}
	for _, p := range fi.Web.Patterns {
		loc := p.re.FindStringIndex(text)
		if loc == nil {
			continue
		}
		if p.Strength == "strong" {
			a.strong = append(a.strong, p.ID)
			for _, l := range p.re.FindAllStringIndex(text, 64) {
				at(l[0])
			}
		} else {
			a.weak = append(a.weak, p.ID)
		}
	}
	seenHost := map[string]bool{}
	for _, m := range webHostRE.FindAllStringSubmatchIndex(text, 4096) {
		scheme, host := sub(text, m, 1), sub(text, m, 2)
		listed, ok := fi.webHost(host)
		if !ok {
			if d, dok := env.Intel.Domain(host); dok && (d.Category == "browser-miner" || d.Category == "pool") {
				listed, ok = d.Domain, true
			}
		}
		if ok {
			if !seenHost[listed] {
				seenHost[listed] = true
				a.hosts = append(a.hosts, listed)
				a.urls = append(a.urls, text[m[0]:m[1]])
			}
			at(m[0])
			continue
		}
		if (scheme == "ws" || scheme == "wss") && sub(text, m, 3) != "" {
			if port, err := strconv.ParseUint(sub(text, m, 3), 10, 16); err == nil {
				if p, pok := env.Intel.Port(uint16(port)); pok && p.Weight == "strong" && !containsString(a.weak, "ws-mining-port") {
					a.weak = append(a.weak, "ws-mining-port")
				}
			}
		}
	}
	if len(a.hosts) >= fi.Web.BlocklistHosts || countListedHosts(env, fi, text, fi.Web.BlocklistHosts) >= fi.Web.BlocklistHosts {
		a.blocklist = true
	}
	for _, sp := range fi.Web.ScriptPaths {
		for i := 0; i < len(text); {
			j := strings.Index(text[i:], sp)
			if j < 0 {
				break
			}
			j += i
			e := j + len(sp)
			if (j == 0 || strings.IndexByte(`/'"`, text[j-1]) >= 0 || sp[0] == '-') && (e == len(text) || strings.IndexByte(`'"?#) `, text[e]) >= 0) {
				a.scriptPaths = append(a.scriptPaths, sp)
				break
			}
			i = j + 1
		}
	}
	if first >= 0 {
		if first < base {
			a.line = 1 + strings.Count(text[:first], "\n")
		}
		s := strings.LastIndexByte(text[:first], '\n') + 1
		e := strings.IndexByte(text[first:], '\n')
		if e < 0 {
			e = len(text)
		} else {
			e += first
		}
		if e-s > webSnippets {
			s, e = max(s, first-webSnippets/4), min(e, first+webSnippets)
		}
		a.snippet = Printable(strings.TrimSpace(text[s:e]), 300)
	}
	return a
}

var bareHostRE = regexp.MustCompile(`[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+`)

// countListedHosts counts the distinct listed hosts a text names anywhere
// (quoted, bare), stopping at limit: many of them make a filter list or a
// security plugin's signatures, not a loader.
func countListedHosts(env *Env, fi *filesIntel, text string, limit int) int {
	seen := map[string]bool{}
	for _, m := range bareHostRE.FindAllString(text, 1<<16) {
		h, ok := fi.webHost(m)
		if !ok {
			if d, dok := env.Intel.Domain(m); dok && d.Category == "browser-miner" {
				h, ok = d.Domain, true
			}
		}
		if ok && !seen[h] {
			seen[h] = true
			if len(seen) >= limit {
				break
			}
		}
	}
	return len(seen)
}

func sub(s string, m []int, n int) string {
	if 2*n+1 >= len(m) || m[2*n] < 0 {
		return ""
	}
	return s[m[2*n]:m[2*n+1]]
}

// wasmName returns the strength of a miner-like .wasm file name ("" none).
func wasmName(fi *filesIntel, name string) string {
	n := strings.ToLower(name)
	best := ""
	for _, w := range fi.Web.WasmNames {
		if strings.Contains(n, w.Text) && (best == "" || w.Strength == "strong") {
			best = w.Strength
		}
	}
	return best
}

func checkWebMiner(ctx context.Context, env *Env) ([]findings.Finding, error) {
	fi, err := loadFilesIntel(env.Intel)
	if err != nil {
		return nil, err
	}
	fsys := env.Host.FS()
	w := newWalker(fsys, fi.Search.MaxEntries, fi.Search.SkipDirs)
	var out []findings.Finding
	loaderDirs := map[string][]string{} // dir -> loader files
	type wasm struct{ path, strength string }
	var wasms []wasm
	for _, root := range webRoots(env, fi) {
		w.walk(ctx, root, walkLimits{maxDepth: fi.Search.MaxDepth}, func(p string, d fs.DirEntry, _ int) {
			info, err := d.Info()
			if err != nil || info.Size() == 0 {
				return
			}
			if strings.EqualFold(path.Ext(p), ".wasm") {
				if s := wasmName(fi, d.Name()); s != "" {
					wasms = append(wasms, wasm{p, s})
				}
				return
			}
			if f, ok := webExecutable(env, p, info); ok {
				out = append(out, f)
				return
			}
			if !hasExt(d.Name(), fi.Web.Extensions) || info.Size() > fi.Web.MaxFileSize {
				return
			}
			b, err := readBounded(fsys, p, fi.Web.MaxFileSize)
			if err != nil {
				return
			}
			a := analyzeWeb(env, fi, b)
			if f, ok := webFinding(p, info.Size(), a); ok {
				out = append(out, f)
				if a.loader() && !a.blocklist {
					loaderDirs[path.Dir(p)] = append(loaderDirs[path.Dir(p)], p)
				}
			}
		})
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	for _, wm := range wasms {
		loaders := loaderDirs[path.Dir(wm.path)]
		f := findings.Finding{
			Rule: "files.webminer_wasm", Signal: findings.SignalIdentity,
			Evidence:    findings.Evidence{Path: wm.path, Paths: loaders, Details: map[string]string{"name_strength": wm.strength}},
			Remediation: "Remove the module and the page code that loads it; find how it was planted (CMS plugin, upload, stolen credentials).",
		}
		switch {
		case len(loaders) > 0:
			f.Severity, f.Confidence = findings.High, 0.85
			f.Title = fmt.Sprintf("Mining WebAssembly %s beside a browser-miner loader", Printable(wm.path, 200))
			f.Description = fmt.Sprintf("%s has a mining algorithm's name and sits next to %s, which loads a browser miner.", Printable(wm.path, 400), Printable(strings.Join(loaders, ", "), 400))
		case wm.strength == "strong":
			f.Severity, f.Confidence = findings.Medium, 0.5
			f.Title = fmt.Sprintf("WebAssembly module named like a miner: %s", Printable(wm.path, 200))
			f.Description = fmt.Sprintf("%s is named after a mining algorithm; browser miners ship their hashing code as such modules.", Printable(wm.path, 400))
		default:
			continue // argon2.wasm, hash.wasm: password hashing and checksums
		}
		f.Evidence.SHA256 = fileSHA256(fsys, wm.path)
		out = append(out, f)
	}
	if w.truncated {
		out = append(out, searchTruncated("files.webminer", fi.Search.MaxEntries))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Evidence.Path < out[j].Evidence.Path })
	return out, nil
}

// webFinding turns an analysis into a finding: a loader API or a listed
// host is high; two weak signs (throttle option, miner.start(), a mining
// WebSocket) are medium; one weak sign or a file-name match alone is low.
func webFinding(p string, size int64, a webAnalysis) (findings.Finding, bool) {
	f := findings.Finding{
		Rule: "files.webminer", Signal: findings.SignalIdentity,
		Evidence: findings.Evidence{Path: p, Size: size, Line: a.line, Content: a.snippet, Details: map[string]string{}},
		Remediation: "Remove the script from the site, then find how it got there (CMS plugin, theme, upload, " +
			"stolen FTP or admin credentials) and rotate those credentials.",
	}
	var match []string
	match = append(match, a.strong...)
	for _, h := range a.hosts {
		match = append(match, "host:"+h)
	}
	match = append(match, a.weak...)
	for _, s := range a.scriptPaths {
		match = append(match, "script:"+s)
	}
	f.Evidence.Match = match
	if len(a.lines) > 1 {
		sort.Ints(a.lines)
		ls := make([]string, len(a.lines))
		for i, n := range a.lines {
			ls[i] = strconv.Itoa(n)
		}
		// Every line that loads or starts the miner, for clean to remove.
		f.Evidence.Details["lines"] = strings.Join(ls, ",")
	}
	if len(a.hosts) > 0 {
		f.Evidence.Domain = a.hosts[0]
		f.Evidence.URL = Printable(a.urls[0], 300)
	}
	switch {
	case a.blocklist:
		return f, false // a filter list or a security plugin's database
	case a.loader():
		f.Severity, f.Confidence = findings.High, 0.9
		f.Title = fmt.Sprintf("Browser-mining script in web root: %s", Printable(p, 200))
		f.Description = fmt.Sprintf("%s loads a browser miner (%s): every visitor's CPU mines for whoever owns the site key.", Printable(p, 400), strings.Join(match, ", "))
	case len(a.weak)+min(len(a.scriptPaths), 1) >= 2:
		f.Severity, f.Confidence = findings.Medium, 0.6
		f.Title = fmt.Sprintf("Likely browser-mining code in web root: %s", Printable(p, 200))
		f.Description = fmt.Sprintf("%s has several signs of browser-miner code (%s).", Printable(p, 400), strings.Join(match, ", "))
	case len(a.scriptPaths) > 0 || len(a.weak) > 0:
		f.Severity, f.Confidence = findings.Low, 0.3
		f.Title = fmt.Sprintf("Possible browser-mining reference in web root: %s", Printable(p, 200))
		f.Description = fmt.Sprintf("%s has one weak sign of browser mining (%s); it may be unrelated.", Printable(p, 400), strings.Join(match, ", "))
	default:
		return f, false
	}
	return f, true
}

// webExecutable reports executables in a web root: with miner signatures
// high; an executable-mode ELF medium (a dropped payload); a non-executable
// ELF low (a download offered by the site). PE files without signatures
// are ordinary Windows downloads.
func webExecutable(env *Env, p string, info fs.FileInfo) (findings.Finding, bool) {
	if info.Size() < 64 {
		return findings.Finding{}, false
	}
	f, err := env.Host.FS().Open(p)
	if err != nil {
		return findings.Finding{}, false
	}
	defer f.Close()
	head := readHead(f, headerSize)
	if len(head) < 4 || !(bytes.HasPrefix(head, []byte("\x7fELF")) || head[0] == 'M' && head[1] == 'Z') {
		return findings.Finding{}, false
	}
	k := classifyExe(head, f)
	if k == exeNone {
		return findings.Finding{}, false
	}
	res, _ := env.Exes.ScanFile(f)
	fd := findings.Finding{
		Signal:   findings.SignalIdentity,
		Evidence: findings.Evidence{Path: p, Size: info.Size(), Details: map[string]string{"type": k.String(), "mode": info.Mode().String()}},
		Remediation: "A web server has no reason to hold programs it runs; find the upload or web shell that dropped it, " +
			"stop what runs it, keep a copy for the report and remove it.",
	}
	exec := info.Mode().Perm()&0o111 != 0
	switch {
	case res != nil && res.Matched:
		fd.Rule, fd.Severity, fd.Confidence = "files.webroot_miner", findings.High, 0.9
		fd.Evidence.Match = res.Signatures
		if len(res.Families) > 0 {
			fd.Evidence.Family = res.Families[0]
		}
		fd.Title = fmt.Sprintf("Miner executable in web root: %s", Printable(p, 200))
		fd.Description = fmt.Sprintf("%s is a %s carrying mining signatures (%s) inside a web root, where web shells drop payloads.", Printable(p, 400), k, strings.Join(res.Signatures, ", "))
	case k == exeELF && exec:
		fd.Rule, fd.Severity, fd.Confidence = "files.webroot_executable", findings.Medium, 0.6
		fd.Signal = findings.SignalDisguise
		fd.Title = fmt.Sprintf("Executable program in web root: %s", Printable(p, 200))
		fd.Description = fmt.Sprintf("%s is an executable %s inside a web root; no miner signature was found in it.", Printable(p, 400), k)
	case k == exeELF:
		fd.Rule, fd.Severity, fd.Confidence = "files.webroot_executable", findings.Low, 0.3
		fd.Signal = findings.SignalDisguise
		fd.Title = fmt.Sprintf("Linux program in web root: %s", Printable(p, 200))
		fd.Description = fmt.Sprintf("%s is a %s inside a web root (not executable; perhaps a download the site offers).", Printable(p, 400), k)
	default:
		return fd, false
	}
	fd.Evidence.SHA256 = fileSHA256(env.Host.FS(), p)
	return fd, true
}

// parseNoCoinList reads the NoCoin list in its hosts ("0.0.0.0 host") or
// Adblock ("||host^$opts", "/path.js$opts") format, returning the hosts
// blocked whole and the script and WebAssembly file paths it blocks.
// Exception rules (@@) and rules with wildcards are not indicators.
func parseNoCoinList(data []byte) (hosts, paths []string) {
	hs, ps := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' || line[0] == '[' || strings.HasPrefix(line, "@@") {
			continue
		}
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "0.0.0.0" || f[0] == "127.0.0.1") {
			hs[strings.ToLower(f[1])] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "||"); ok {
			i := 0
			for i < len(rest) && (isAlnum(rest[i]) || rest[i] == '.' || rest[i] == '-') {
				i++
			}
			h, tail := strings.ToLower(rest[:i]), rest[i:]
			if tail == "" || tail == "^" || strings.HasPrefix(tail, "^$") || strings.HasPrefix(tail, "$") {
				hs[h] = true
			}
			continue
		}
		if line[0] == '/' || line[0] == '-' {
			r, _, _ := strings.Cut(line, "$")
			if strings.ContainsAny(r, "*?^") {
				continue
			}
			r = strings.ToLower(r)
			if strings.HasSuffix(r, ".js") || strings.HasSuffix(r, ".wasm") {
				ps[strings.TrimLeft(r, "/")] = true
			}
		}
	}
	for h := range hs {
		h = strings.Trim(h, ".")
		if strings.Contains(h, ".") {
			hosts = append(hosts, h)
		}
	}
	for p := range ps {
		paths = append(paths, p)
	}
	sort.Strings(hosts)
	sort.Strings(paths)
	return hosts, paths
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
