package shellscan

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/minercfg"
)

// maxBudget bounds the commands analysed for one Analyze call, recursion
// into substitutions and decoded payloads included.
const maxBudget = 50000

// script analyses one piece of shell text.
func (st *state) script(text string, c ctx) {
	if c.depth > maxDepth || st.budget > maxBudget {
		return
	}
	a := st.a
	if c.scanURLs {
		st.scanURLs(stripComments(text), c)
	}
	cmds := lex(text)
	st.budget += len(cmds)
	downloaded := map[string]string{} // file -> source
	fetched, sleeps := false, false
	loopLine := 0
	for i := 0; i < len(cmds); {
		// A pipeline is the run of commands joined by "|".
		j := i
		for j < len(cmds)-1 && cmds[j].op == "|" {
			j++
		}
		var stages []stage
		for k := i; k <= j; k++ {
			stages = append(stages, a.normalize(&cmds[k]))
		}
		i = j + 1
		line := stages[0].cmd.line
		lc := c
		if lc.line == 0 {
			lc.line = line
		}
		fetchAt, fetchMatch, renamed := -1, "", false
		for k, s := range stages {
			if s.cmd.keyword == "while" || s.cmd.keyword == "until" {
				if endless(s) {
					loopLine = lc.line
				}
			}
			if s.base == "sleep" {
				sleeps = true
			}
			if m, r, ok := a.fetch(s); ok {
				fetched = true
				if out := downloadOutput(s, c.cwd); out != "" {
					downloaded[out] = m
					st.addPath(out)
				} else if fetchAt < 0 {
					fetchAt, fetchMatch, renamed = k, m, r
				}
			}
			st.command(s, lc, c, downloaded)
			if s.base == "cd" && len(s.words) == 2 {
				if d := resolve(s.words[1], c.cwd); strings.HasPrefix(d, "/") {
					c.cwd = d
				}
			}
			// Fetched text piped into a shell is run.
			if k > 0 && fetchAt >= 0 && fetchAt < k && st.a.sink(s) {
				detail := "downloads " + fetchMatch + " and pipes it into " + s.base
				if renamed {
					detail = "downloads " + fetchMatch + " with " + stages[fetchAt].base + " (not a known download tool: a renamed curl/wget) and pipes it into " + s.base
				}
				st.add(Reason{Kind: DownloadExec, Match: fetchMatch, Detail: detail}, lc)
			}
		}
		if c.execOut && fetchAt >= 0 {
			st.add(Reason{Kind: DownloadExec, Match: fetchMatch, Detail: "runs the output of a download of " + fetchMatch}, lc)
		}
		st.decodes(stages, lc, c)
		st.killLine(stages, lc)
	}
	if loopLine > 0 && fetched && sleeps {
		st.add(Reason{Kind: Loop, Match: "while", Detail: "endless loop that downloads again after sleeping"}, ctx{line: loopLine, dec: c.dec})
	}
}

// endless reports whether a while/until condition never ends.
func endless(s stage) bool {
	if len(s.words) == 0 {
		return false
	}
	w := s.words[0]
	if s.cmd.keyword == "until" {
		return w == "false"
	}
	return w == "true" || w == ":" || (w == "[" || w == "test") && len(s.words) >= 2 && (s.words[1] == "1" || s.words[1] == "true")
}

// sink reports whether a stage runs what it reads on stdin.
func (a *Analyzer) sink(s stage) bool {
	if s.base == "" {
		return false
	}
	if a.isShell(s.base) || a.isInterp(s.base) {
		mode, arg := a.shellMode(s)
		return mode == "stdin" || mode == "file" && (arg == "/dev/stdin" || arg == "/dev/fd/0")
	}
	if (s.base == "source" || s.base == ".") && len(s.words) > 1 {
		return s.words[1] == "/dev/stdin" || s.words[1] == "/dev/fd/0"
	}
	return false
}

// command judges one command: what it runs, where from, and the code it
// hands to shells.
func (st *state) command(s stage, lc, c ctx, downloaded map[string]string) {
	a := st.a
	sub := lc
	sub.depth++
	sub.scanURLs = false
	sub.execOut = false
	// Substitutions run first; one in command position is run as code.
	for _, body := range s.cmd.subs {
		sc := sub
		if len(s.cmd.words) > 0 && strings.Contains(s.cmd.words[0], body) && (strings.HasPrefix(s.cmd.words[0], "$(") || strings.HasPrefix(s.cmd.words[0], "`")) {
			sc.execOut = true
		}
		st.script(body, sc)
	}
	if s.base == "" {
		return
	}
	var execs []string
	if strings.Contains(s.words[0], "/") {
		execs = append(execs, s.words[0])
	}
	switch {
	case a.isShell(s.base) || a.isInterp(s.base) || s.base == "su" || s.base == "runuser":
		mode, arg := a.shellMode(s)
		switch mode {
		case "code":
			sc := sub
			sc.cwd = c.cwd
			if a.isInterp(s.base) {
				st.oneLiner(s, arg, lc, c)
			} else {
				st.script(arg, sc)
			}
		case "file":
			if strings.HasPrefix(arg, "<(") {
				if m, ok := a.textFetches(strings.TrimSuffix(arg[2:], ")"), 0); ok {
					st.add(Reason{Kind: DownloadExec, Match: m, Detail: s.base + " runs a script downloaded from " + m}, lc)
				}
			} else if s.base != "su" && s.base != "runuser" {
				execs = append(execs, arg)
			}
		case "stdin":
			for _, r := range s.cmd.redirs {
				if r.op == "<<" || r.op == "<<<" {
					st.script(r.target, sub)
				}
			}
		}
	case s.base == "eval":
		st.script(strings.Join(s.args(), " "), sub)
	case (s.base == "source" || s.base == ".") && len(s.words) > 1:
		arg := s.words[1]
		if strings.HasPrefix(arg, "<(") {
			if m, ok := a.textFetches(strings.TrimSuffix(arg[2:], ")"), 0); ok {
				st.add(Reason{Kind: DownloadExec, Match: m, Detail: "sources a script downloaded from " + m}, lc)
			}
		} else if p := resolve(arg, c.cwd); dotfileInHome(p) {
			// ". /home/bob/.bash_aliases": shells source dotfiles all day.
			st.addPath(p)
		} else {
			execs = append(execs, arg)
		}
	case a.attrs[s.base]:
		st.attr(s, lc, c)
	case s.base == "chmod":
		for _, w := range s.args() {
			if p := resolve(w, c.cwd); strings.HasPrefix(p, "/") && !strings.HasPrefix(w, "-") && !strings.HasPrefix(w, "+") {
				st.addPath(p)
			}
		}
	}
	for _, e := range execs {
		p := resolve(e, c.cwd)
		if p == "" {
			continue
		}
		if src, ok := downloaded[p]; ok {
			st.add(Reason{Kind: DownloadExec, Match: src, Detail: "downloads " + src + " to " + p + " and runs it"}, lc)
		}
		if !strings.HasPrefix(p, "/") {
			continue
		}
		st.addPath(p)
		st.judgePath(p, lc)
	}
	// A known miner run by name from PATH, or named by a script.
	if prog, ok := a.db.Program(s.base); ok && !strings.Contains(s.words[0], "/") {
		st.add(Reason{Kind: Miner, Match: s.base, Detail: "runs " + prog.Name + " (" + prog.Kind + ")"}, lc)
	}
	if !a.kills[s.base] {
		st.pools(s, lc)
	}
}

// JudgePath is what the analyzer says about running the program at p.
func (st *state) judgePath(p string, lc ctx) {
	a := st.a
	if prog, ok := a.db.Program(path.Base(p)); ok {
		st.add(Reason{Kind: Miner, Match: p, Detail: "runs " + prog.Name + " (" + prog.Kind + ")"}, lc)
	}
	if k, why, ok := a.PathKind(p); ok {
		st.add(Reason{Kind: k, Match: p, Detail: why}, lc)
	}
}

// PathKind says whether running p is running from a temp directory
// (TempExec) or a hidden one (HiddenExec), with why.
func (a *Analyzer) PathKind(p string) (Kind, string, bool) {
	if d, ok := a.db.InTempDir(p); ok {
		if _, allowed := a.db.TempExeAllowed(p); !allowed {
			return TempExec, "runs " + p + " from the temp directory " + d, true
		}
	}
	if comp, ok := intel.HiddenComponent(p); ok && !a.hiddenAllowed(p) {
		return HiddenExec, "runs " + p + " from the hidden path component " + strconv.Quote(comp), true
	}
	return "", "", false
}

// hiddenAllowed reports whether the hidden part of p is a well-known
// tool directory (~/.local/bin, ~/.acme.sh).
func (a *Analyzer) hiddenAllowed(p string) bool {
	parts := strings.Split(p, "/")
	for i, c := range parts {
		if c == "" || !strings.HasPrefix(c, ".") {
			continue
		}
		rel := strings.Join(parts[i:], "/")
		if _, ok := a.db.HiddenDirAllowed(rel); ok {
			return true
		}
		for _, d := range a.cfg.HiddenDirAllow {
			if rel == d || strings.HasPrefix(rel, d+"/") {
				return true
			}
		}
		return false
	}
	return false
}

// pools reports pool URLs and wallets in a command's arguments.
func (st *state) pools(s stage, lc ctx) {
	a := st.a
	for _, u := range minercfg.PoolsFromArgs(s.words, a.db).URLs {
		if u.Stratum {
			st.add(Reason{Kind: Miner, Match: u.URL, Detail: "names the mining pool " + u.URL}, lc)
		} else if d, ok := a.db.Domain(u.Host); ok && d.Category != "" {
			st.add(Reason{Kind: Miner, Match: u.URL, Detail: "names " + u.Host + " (" + d.Category + ")"}, lc)
		}
	}
	// Wallets are short words; a megabyte blob is not searched whole.
	var short []string
	for _, w := range s.words {
		if len(w) <= 1024 {
			short = append(short, w)
		}
	}
	for _, w := range a.db.FindWallets(strings.Join(short, " ")) {
		if w.Strength == "strong" {
			st.add(Reason{Kind: Miner, Match: w.Address, Detail: "names a " + w.Name + " wallet"}, lc)
		}
	}
}

// oneLiner judges interpreter code given with -c/-e.
func (st *state) oneLiner(s stage, code string, lc, c ctx) {
	a := st.a
	if containsAny(code, a.cfg.FetchMarkers) && containsAny(code, a.cfg.ExecMarkers) && strings.Contains(code, "://") {
		m := urlRE.FindString(code)
		if m == "" {
			m = s.base
		}
		st.add(Reason{Kind: DownloadExec, Match: m, Detail: s.base + " one-liner fetches " + m + " and runs it"}, lc)
	}
	if strings.Contains(code, "b64decode") || strings.Contains(code, "decode_base64") || strings.Contains(code, "base64_decode") || strings.Contains(code, "unpack(\"m") {
		for _, blob := range b64Blob.FindAllString(code, 4) {
			if dec, ok := decode(blob, "base64"); ok {
				st.decoded(dec, "decodes base64 in a "+s.base+" one-liner", true, lc, c)
			}
		}
	}
}

var b64Blob = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)

// decodes finds payloads that a pipeline decodes: echo X | base64 -d,
// base64 -d <<< X, printf '\x..'.
func (st *state) decodes(stages []stage, lc, c ctx) {
	a := st.a
	// sinkAfter[k]: a later stage runs what stage k writes.
	sinkAfter := make([]bool, len(stages))
	for k := len(stages) - 2; k >= 0; k-- {
		sinkAfter[k] = sinkAfter[k+1] || a.sink(stages[k+1])
	}
	for k, s := range stages {
		ran := c.execOut && k == len(stages)-1 || sinkAfter[k]
		if d, ok := a.decoders[s.base]; ok && decodeFlag(s, d) {
			var payloads []string
			for _, r := range s.cmd.redirs {
				if r.op == "<<<" || r.op == "<<" {
					payloads = append(payloads, r.target)
				}
			}
			if k > 0 {
				if p, ok := echoed(stages[k-1]); ok {
					payloads = append(payloads, p)
				}
			}
			for _, p := range payloads {
				if dec, ok := decode(p, d.Encoding); ok {
					st.decoded(dec, "decodes "+d.Encoding+" with "+s.base, ran, lc, c)
				}
			}
			continue
		}
		if s.base == "printf" || s.base == "echo" {
			p, _ := echoed(s)
			if strings.Count(p, `\x`) >= 4 || strings.Count(p, `\`) >= 8 && octalRun.MatchString(p) {
				st.decoded(unescapeAll(p), "decodes escaped bytes with "+s.base, ran, lc, c)
			}
		}
	}
}

var octalRun = regexp.MustCompile(`(\\[0-7]{3}){4}`)

// decoded judges a decoded payload and reports it when it is run or is
// itself suspicious.
func (st *state) decoded(dec, how string, ran bool, lc, c ctx) {
	before := len(st.reasons)
	if c.dec < maxDecodes && isText(dec) {
		dc := lc
		dc.dec = c.dec + 1
		dc.depth = c.depth + 1
		dc.scanURLs = true
		dc.execOut = false
		dc.cwd = c.cwd
		st.script(dec, dc)
	}
	if ran || len(st.reasons) > before {
		detail := how
		if ran {
			detail += " and runs the result"
		}
		st.add(Reason{Kind: Encoded, Match: clip(dec, 256), Detail: detail, Decoded: clip(dec, 4096)}, lc)
	}
}

func isText(s string) bool {
	if s == "" {
		return false
	}
	bad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\n' && c != '\t' && c != '\r' || c == 0x7f {
			bad++
		}
	}
	return bad*20 < len(s)
}

// decodeFlag reports whether a decoder stage is decoding (not encoding).
func decodeFlag(s stage, d Decoder) bool {
	args := strings.Join(s.args(), " ")
	if s.base == "openssl" && !strings.Contains(args, "base64") && !strings.Contains(args, "-a") {
		return false
	}
	for _, w := range s.args() {
		for _, f := range d.Flags {
			if w == f {
				return true
			}
		}
	}
	return false
}

// echoed returns the text an echo/printf/cat-here-string stage writes.
func echoed(s stage) (string, bool) {
	switch s.base {
	case "echo", "printf":
		var parts []string
		for _, w := range s.args() {
			if len(parts) == 0 && strings.HasPrefix(w, "-") && len(w) <= 3 {
				continue
			}
			parts = append(parts, w)
		}
		if s.base == "printf" && len(parts) > 1 && strings.Contains(parts[0], "%") {
			parts = parts[1:]
		}
		return strings.Join(parts, " "), len(parts) > 0
	case "cat":
		for _, r := range s.cmd.redirs {
			if r.op == "<<" || r.op == "<<<" {
				return r.target, true
			}
		}
	}
	return "", false
}

// unescapeAll expands printf/echo -e escapes.
func unescapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\\' {
			t, n := unescape(s[i:])
			b.WriteString(t)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// maxPayload bounds an encoded payload before decoding.
const maxPayload = 256 << 10

// decode decodes an encoded payload leniently (whitespace, missing
// padding, URL alphabet).
func decode(p, enc string) (string, bool) {
	if len(p) > maxPayload {
		p = p[:maxPayload]
	}
	p = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == '"' || r == '\'' {
			return -1
		}
		return r
	}, p)
	if p == "" {
		return "", false
	}
	switch enc {
	case "base64":
		t := strings.TrimRight(p, "=")
		for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := e.DecodeString(t); err == nil {
				return string(b), true
			}
		}
	case "base32":
		t := strings.TrimRight(strings.ToUpper(p), "=")
		if b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(t); err == nil {
			return string(b), true
		}
	case "hex":
		t := strings.TrimPrefix(strings.ReplaceAll(p, `\x`, ""), "0x")
		if b, err := hex.DecodeString(t); err == nil {
			return string(b), true
		}
	}
	return "", false
}

// killLine reports a pipeline that kills other miners.
func (st *state) killLine(stages []stage, lc ctx) {
	a := st.a
	killer := ""
	for _, s := range stages {
		if a.kills[s.base] {
			killer = s.base
		}
	}
	if killer == "" {
		return
	}
	var words []string
	for _, s := range stages {
		words = append(words, s.words...)
		for _, sub := range s.cmd.subs {
			for _, c := range lex(sub) {
				words = append(words, c.words...)
			}
		}
	}
	for _, w := range words {
		if strings.HasPrefix(w, "-") {
			continue
		}
		lw := strings.ToLower(w)
		for _, comp := range a.cfg.Competitors {
			if strings.Contains(lw, comp) {
				st.add(Reason{Kind: KillCompetition, Match: comp, Detail: killer + " kills processes matching " + strconv.Quote(w) + " (another miner)"}, lc)
				return
			}
		}
		for _, f := range strings.FieldsFunc(lw, func(r rune) bool {
			return r == '|' || r == '\'' || r == '"' || r == '(' || r == ')' || r == ' ' || r == '/'
		}) {
			if prog, ok := a.db.Program(f); ok && (prog.Kind == "miner" || prog.Kind == "malware") {
				st.add(Reason{Kind: KillCompetition, Match: f, Detail: killer + " kills " + prog.Name + " (another miner)"}, lc)
				return
			}
		}
		if p, ok := strings.CutPrefix(lw, ":"); ok {
			if n, err := strconv.ParseUint(p, 10, 16); err == nil {
				if port, ok := a.db.Port(uint16(n)); ok && port.Weight == "strong" {
					st.add(Reason{Kind: KillCompetition, Match: w, Detail: killer + " kills whatever uses the mining port " + p}, lc)
					return
				}
			}
		}
	}
}

// attr reports chattr changing the immutable or append-only flag.
func (st *state) attr(s stage, lc, c ctx) {
	op := ""
	var files []string
	for _, w := range s.args() {
		if len(w) > 1 && (w[0] == '-' || w[0] == '+' || w[0] == '=') && strings.Trim(w[1:], "aAcCdDeEFijmPsStTux") == "" {
			if strings.ContainsAny(w[1:], "ia") {
				op = w
			}
			continue
		}
		if p := resolve(w, c.cwd); strings.HasPrefix(p, "/") {
			files = append(files, p)
		}
	}
	if op == "" {
		return
	}
	for _, f := range files {
		st.addPath(f)
	}
	what := "unlocks"
	if op[0] != '-' {
		what = "locks"
	}
	st.add(Reason{Kind: AttrChange, Match: s.base + " " + op, Detail: s.base + " " + op + " " + what + " " + strings.Join(files, " ")}, lc)
}

// scanURLs collects URLs and judges their hosts.
func (st *state) scanURLs(text string, c ctx) {
	a := st.a
	if len(text) > maxText {
		text = text[:maxText]
	}
	for _, loc := range urlRE.FindAllStringIndex(text, 256) {
		u := text[loc[0]:loc[1]]
		lc := c
		if lc.line == 0 {
			lc.line = 1 + strings.Count(text[:loc[0]], "\n")
		}
		if !st.urls[u] && len(st.urlList) < 64 {
			st.urls[u] = true
			st.urlList = append(st.urlList, u)
		}
		host := urlHost(u)
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsUnspecified() {
				continue
			}
			weak := ip.IsPrivate() || ip.IsLinkLocalUnicast()
			st.add(Reason{Kind: IPURL, Match: u, Detail: "URL with a literal IP address " + host, Weak: weak}, lc)
		} else if d, ok := a.db.Domain(host); ok {
			st.add(Reason{Kind: Miner, Match: u, Detail: "names " + host + " (" + d.Category + ")"}, lc)
		}
	}
	if sch, ok := a.db.StratumURL(text); ok {
		i := strings.Index(asciiLower(text), sch)
		end := i
		for end < len(text) && !strings.ContainsRune(" \t\n'\"|;&)", rune(text[end])) {
			end++
		}
		lc := c
		if lc.line == 0 {
			lc.line = 1 + strings.Count(text[:i], "\n")
		}
		st.add(Reason{Kind: Miner, Match: text[i:end], Detail: "names a mining pool URL"}, lc)
	}
}

// urlHost returns the lower-cased host of a URL.
func urlHost(u string) string {
	_, rest, _ := strings.Cut(u, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j > 0 {
			return strings.ToLower(rest[1:j])
		}
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return strings.ToLower(rest)
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay valid.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// stripComments blanks comment lines (keeping line numbers), so a URL in
// a comment is not judged.
func stripComments(text string) string {
	if !strings.Contains(text, "#") {
		return text
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), "#") {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// dotfileInHome reports a hidden file directly in a home directory.
func dotfileInHome(p string) bool {
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	home := dir == "/root" || strings.HasPrefix(dir, "/home/") && strings.Count(dir, "/") == 2
	_, hiddenDir := intel.HiddenComponent(dir)
	return home && strings.HasPrefix(name, ".") && !hiddenDir
}
