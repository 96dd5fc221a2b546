package shellscan

import (
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/minerguard/minerguard/internal/intel"
)

// Kind is what a reason says about a command.
type Kind string

// Kinds of reasons.
const (
	// DownloadExec: fetched content is run (curl|sh, bash -c "$(curl)",
	// download to a file that is then executed, a one-liner that fetches
	// and runs code).
	DownloadExec Kind = "download_exec"
	// Encoded: an encoded payload is decoded and run, or decodes to
	// something that is itself suspicious. Reason.Decoded holds the text.
	Encoded Kind = "encoded"
	// TempExec: runs a program or script from a temp directory.
	TempExec Kind = "temp_exec"
	// HiddenExec: runs a program from a hidden directory or file.
	HiddenExec Kind = "hidden_exec"
	// IPURL: a URL with a literal IP address (Weak for private ranges).
	IPURL Kind = "ip_url"
	// Miner: runs a known miner or mining malware, or names a pool
	// (stratum URL, pool domain) or a wallet.
	Miner Kind = "miner"
	// KillCompetition: kills other miners by name or pool port.
	KillCompetition Kind = "kill_competition"
	// AttrChange: chattr on files (unlocking cron files, locking its own).
	AttrChange Kind = "attr_change"
	// Loop: an endless loop that downloads again and again.
	Loop Kind = "loop"
)

// Reason is one suspicious thing found in the text.
type Reason struct {
	Kind Kind
	// Line is the 1-based line of the analysed text it was found on.
	Line int
	// Match is the word, URL or name that triggered it.
	Match  string
	Detail string
	// Decoded is the decoded payload (Encoded only), cut at 4 KiB.
	Decoded string
	// Weak marks the lesser variant (a private-range IP URL).
	Weak bool
	// Depth is how many decodings deep it was found (0: the text itself).
	Depth int
}

// Result is everything Analyze found.
type Result struct {
	Reasons []Reason
	// Paths are absolute host paths the text runs, downloads to or
	// changes, sorted.
	Paths []string
	// URLs are the URLs it names, in order of appearance.
	URLs []string
}

// Has reports whether a reason of kind k was found.
func (r Result) Has(k Kind) bool {
	for _, x := range r.Reasons {
		if x.Kind == k {
			return true
		}
	}
	return false
}

// Analyzer judges shell text with one intel set; it is safe for
// concurrent use.
type Analyzer struct {
	db                                            *intel.DB
	cfg                                           *Config
	shells, interps, downloaders, wrappers, kills set
	attrs                                         set
	decoders                                      map[string]Decoder
}

type set map[string]bool

func newSet(l []string) set {
	s := set{}
	for _, v := range l {
		s[v] = true
	}
	return s
}

// New builds an Analyzer from db's persistence section.
func New(db *intel.DB) (*Analyzer, error) {
	cfg, err := LoadConfig(db)
	if err != nil {
		return nil, err
	}
	a := &Analyzer{
		db: db, cfg: cfg,
		shells: newSet(cfg.Shells), interps: newSet(cfg.Interpreters), downloaders: newSet(cfg.Downloaders),
		wrappers: newSet(cfg.Wrappers), kills: newSet(cfg.KillCommands), attrs: newSet(cfg.AttrCommands),
		decoders: map[string]Decoder{},
	}
	for _, d := range cfg.Decoders {
		a.decoders[d.Command] = d
	}
	return a, nil
}

// maxDecodes bounds how many decodings deep payloads are followed.
const maxDecodes = 3

// Analyze judges a text: one command line or a whole script.
func (a *Analyzer) Analyze(text string) Result {
	st := &state{a: a, seen: map[string]bool{}, paths: map[string]bool{}, urls: map[string]bool{}}
	st.script(text, ctx{scanURLs: true})
	var res Result
	res.Reasons = st.reasons
	for p := range st.paths {
		res.Paths = append(res.Paths, p)
	}
	sort.Strings(res.Paths)
	res.URLs = st.urlList
	return res
}

type state struct {
	a       *Analyzer
	reasons []Reason
	seen    map[string]bool
	paths   map[string]bool
	urls    map[string]bool
	urlList []string
	budget  int // commands analysed, bounded across recursion
}

// ctx is where a piece of text sits.
type ctx struct {
	depth int
	// line, when set, is the outer line every reason is reported on.
	line int
	// dec is how many decodings deep the text is.
	dec int
	// execOut says the text's output is run (a $(...) in command position).
	execOut  bool
	scanURLs bool
	// cwd is the directory relative paths resolve against.
	cwd string
}

func (st *state) add(r Reason, c ctx) {
	if c.line > 0 {
		r.Line = c.line
	}
	r.Depth = c.dec
	r.Match = clip(r.Match, 512)
	key := string(r.Kind) + "\x00" + r.Match + "\x00" + strconv.Itoa(r.Line)
	if st.seen[key] {
		return
	}
	st.seen[key] = true
	st.reasons = append(st.reasons, r)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func (st *state) addPath(p string) {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "/proc/") || len(st.paths) > 256 {
		return
	}
	if _, tmp := st.a.db.InTempDir(p); strings.HasPrefix(p, "/dev/") && !tmp {
		return // /dev/null, /dev/stdin: no files
	}
	st.paths[path.Clean(p)] = true
}

// stage is one command of a pipeline after wrappers are removed.
type stage struct {
	cmd   *command
	words []string // command word first
	base  string   // base name of the command word
}

func (s stage) args() []string {
	if len(s.words) < 2 {
		return nil
	}
	return s.words[1:]
}

// wrapperValueFlags are the getopt options of each wrapper that take a
// value (sudo -u USER, nice -n 19, timeout -s KILL, xargs -I %): they are
// the programs' own spellings, not indicators, so they live here.
var wrapperValueFlags = map[string]set{
	"sudo":        {"-u": true, "-g": true, "-C": true, "-D": true, "-h": true, "-p": true, "-r": true, "-t": true, "-U": true},
	"doas":        {"-u": true, "-C": true},
	"nice":        {"-n": true},
	"ionice":      {"-c": true, "-n": true, "-p": true},
	"timeout":     {"-s": true, "-k": true},
	"xargs":       {"-I": true, "-n": true, "-P": true, "-L": true, "-d": true, "-E": true, "-s": true, "-a": true},
	"exec":        {"-a": true},
	"env":         {"-u": true, "-C": true},
	"taskset":     {"-c": true},
	"stdbuf":      {"-i": true, "-o": true, "-e": true},
	"flock":       {"-w": true, "-E": true},
	"runuser":     {"-u": true, "-g": true, "-G": true},
	"systemd-cat": {"-t": true, "-p": true},
	"chrt":        {"-p": true},
}

// normalize strips assignments and wrappers from a command's words.
func (a *Analyzer) normalize(c *command) stage {
	w := c.words
	for len(w) > 0 && isAssignment(w[0]) {
		w = w[1:]
	}
	for guard := 0; len(w) > 0 && guard < 16; guard++ {
		b := path.Base(w[0])
		switch {
		case b == "busybox" && len(w) > 1:
			w = w[1:]
			continue
		case !a.wrappers[b] && b != "xargs":
			return stage{cmd: c, words: w, base: b}
		}
		w = w[1:]
		for len(w) > 0 {
			x := w[0]
			switch {
			case x == "--":
				w = w[1:]
			case wrapperValueFlags[b][x] && len(w) > 1:
				w = w[2:]
				continue
			case strings.HasPrefix(x, "-") && len(x) > 1, isAssignment(x), isDuration(x):
				w = w[1:]
				continue
			}
			break
		}
		if (b == "flock" || b == "sg") && len(w) > 0 {
			// flock FILE CMD, sg GROUP CMD: the first operand is no command.
			w = w[1:]
			if len(w) > 1 && (w[0] == "-c" || w[0] == "--command") {
				w = append([]string{"sh"}, w...)
			}
		}
	}
	if len(w) == 0 {
		return stage{cmd: c}
	}
	return stage{cmd: c, words: w, base: path.Base(w[0])}
}

func isAssignment(w string) bool {
	i := strings.IndexByte(w, '=')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := w[j]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isDuration(w string) bool {
	w = strings.TrimRight(w, "smhd")
	if w == "" {
		return false
	}
	_, err := strconv.ParseFloat(w, 64)
	return err == nil
}

// versioned reports whether base is name or name followed by a version
// ("python3.11", "perl5.36").
func versioned(base string, names set) bool {
	if names[base] {
		return true
	}
	n := strings.TrimRight(base, "0123456789.")
	return n != base && names[n]
}

func (a *Analyzer) isShell(b string) bool  { return a.shells[b] }
func (a *Analyzer) isInterp(b string) bool { return versioned(b, a.interps) }

// shellMode says how a shell or interpreter stage gets its code: from a
// -c/-e string, from a script file, or from stdin.
func (a *Analyzer) shellMode(s stage) (mode, arg string) {
	interp := a.isInterp(s.base)
	args := s.args()
	for i := 0; i < len(args); i++ {
		x := args[i]
		if x == "-" || x == "-s" || x == "--" {
			return "stdin", ""
		}
		if strings.HasPrefix(x, "-") && len(x) > 1 && !strings.HasPrefix(x, "--") {
			letters := x[1:]
			code := strings.ContainsAny(letters, "c")
			if interp {
				code = strings.ContainsAny(letters, "ceEr") && !strings.HasPrefix(x, "-M") && !strings.HasPrefix(x, "-I")
				if strings.HasPrefix(x, "-m") {
					return "module", ""
				}
			}
			if code {
				if i+1 < len(args) {
					return "code", args[i+1]
				}
				return "code", ""
			}
			if interp && (x == "-W" || x == "-X" || x == "-I") && i+1 < len(args) {
				i++
			}
			continue
		}
		if strings.HasPrefix(x, "--") {
			continue
		}
		return "file", x
	}
	return "stdin", ""
}

var urlRE = regexp.MustCompile(`(?i)\b(?:https?|ftp|tftp)://[^\s'"<>|;&()\x60\\]+`)

func hasURL(w string) bool { return urlRE.MatchString(w) }

// fetch reports whether a stage downloads, and what names the source.
func (a *Analyzer) fetch(s stage) (match string, renamed bool, ok bool) {
	if s.base == "" {
		return "", false, false
	}
	url := ""
	for _, w := range s.args() {
		if m := urlRE.FindString(w); m != "" {
			url = m
			break
		}
	}
	if a.downloaders[s.base] {
		if url == "" {
			return s.words[0], false, true
		}
		return url, false, true
	}
	if a.isInterp(s.base) {
		if mode, code := a.shellMode(s); mode == "code" && containsAny(code, a.cfg.FetchMarkers) && (hasURL(code) || strings.Contains(code, "://")) {
			if m := urlRE.FindString(code); m != "" {
				return m, false, true
			}
			return s.base, false, true
		}
		return "", false, false
	}
	if url != "" && !a.isShell(s.base) && s.base != "echo" && s.base != "printf" {
		return url, true, true
	}
	return "", false, false
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// textFetches reports whether a piece of shell text downloads something
// to its output.
func (a *Analyzer) textFetches(text string, depth int) (string, bool) {
	if depth > maxDepth {
		return "", false
	}
	for _, c := range lex(text) {
		s := a.normalize(&c)
		if m, _, ok := a.fetch(s); ok && !writesFile(s) {
			return m, true
		}
		for _, sub := range c.subs {
			if m, ok := a.textFetches(sub, depth+1); ok {
				return m, true
			}
		}
	}
	return "", false
}

// downloadOutput returns where a downloader stage writes its file, "" for
// stdout.
func writesFile(s stage) bool { return downloadOutput(s, "") != "" }

func downloadOutput(s stage, cwd string) string {
	args := s.args()
	out := ""
	url := ""
	wgetLike := strings.HasPrefix(s.base, "wget")
	for i := 0; i < len(args); i++ {
		x := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case hasURL(x) && url == "":
			url = urlRE.FindString(x)
		case x == "-o" && !wgetLike, x == "--output", x == "-O" && wgetLike, x == "--output-document":
			out = next()
		case strings.HasPrefix(x, "--output=") || strings.HasPrefix(x, "--output-document="):
			_, out, _ = strings.Cut(x, "=")
		case strings.HasPrefix(x, "-") && !strings.HasPrefix(x, "--") && len(x) > 2:
			// Clusters: -qO- , -qO FILE, -fsSLo FILE, -oFILE.
			letter := "o"
			if wgetLike {
				letter = "O"
			}
			if k := strings.Index(x, letter); k > 0 {
				if rest := x[k+1:]; rest != "" {
					out = rest
				} else {
					out = next()
				}
			}
		case x == "-O" && !wgetLike:
			// curl -O saves under the URL's name.
			out = "\x00remote"
		case x == "-P" && wgetLike:
			cwd = next()
		}
	}
	if wgetLike && out == "" && url != "" {
		out = "\x00remote"
	}
	for _, r := range s.cmd.redirs {
		if r.op == ">" || r.op == ">>" {
			out = r.target
		}
	}
	if out == "\x00remote" {
		if url == "" {
			return ""
		}
		u := strings.SplitN(url, "?", 2)[0]
		b := path.Base(u)
		if b == "" || b == "/" || b == "." || strings.HasSuffix(u, "/") || strings.Count(u, "/") < 3 {
			b = "index.html"
		}
		out = b
	}
	if out == "-" || out == "/dev/stdout" {
		return ""
	}
	return resolve(out, cwd)
}

// resolve makes a path absolute against cwd ("" when it cannot).
func resolve(p, cwd string) string {
	if p == "" {
		return ""
	}
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	if strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "$HOME/") || strings.HasPrefix(p, "${HOME}/") || strings.Contains(p, "$") {
		return ""
	}
	if cwd == "" {
		return "./" + path.Clean(p)
	}
	return path.Join(cwd, p)
}
