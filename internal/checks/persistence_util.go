package checks

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/shellscan"
)

// maxTextFile bounds the bytes read from one cron file, unit or script.
const maxTextFile = 4 << 20

// readHostText reads a regular host file, at most maxTextFile bytes
// (longer files are cut, and truncated says so). host.FS refuses FIFOs and
// devices, so a planted FIFO cannot stall the scan; directories are refused
// here.
func readHostText(env *Env, name string) (data []byte, truncated bool, err error) {
	f, err := env.Host.FS().Open(name)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, false, fmt.Errorf("%s: is a directory", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTextFile+1))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxTextFile {
		return b[:maxTextFile], true, nil
	}
	return b, false, nil
}

// listDir lists a host directory; a missing one is empty.
func listDir(env *Env, dir string) ([]fs.DirEntry, error) {
	es, err := env.Host.FS().ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	return es, err
}

// homeDirs lists users' home directories, each once, sorted: those in the
// host's /etc/passwd (root's included), plus /root and every directory in
// /home — an offline root's passwd may be gone while the homes remain, and
// users created by malware still get a directory there.
func homeDirs(env *Env) []string {
	fsys := env.Host.FS()
	seen := map[string]bool{}
	var out []string
	addDir := func(h string) {
		if st, err := fsys.Lstat(h); err == nil && st.IsDir() && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	addDir("/root")
	if ents, err := fsys.ReadDir("/home"); err == nil {
		for _, d := range ents {
			if d.IsDir() {
				addDir(path.Join("/home", d.Name()))
			}
		}
	}
	b, _, err := readHostText(env, "/etc/passwd")
	if err != nil {
		sort.Strings(out)
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		h := path.Clean(f[5])
		if !strings.HasPrefix(h, "/") || h == "/" || seen[h] || strings.HasPrefix(h, "/proc") || strings.HasPrefix(h, "/dev") {
			continue
		}
		seen[h] = true
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// persistRule maps an analyser reason to a rule suffix, severity and
// title. Severities are those of the reason alone; the scan engine
// combines findings about the same files.
var persistRule = map[shellscan.Kind]struct {
	suffix string
	sev    findings.Severity
	title  string
	conf   float64
}{
	shellscan.Miner:           {"miner", findings.Critical, "starts a cryptocurrency miner", 0.9},
	shellscan.DownloadExec:    {"download_exec", findings.High, "downloads code and runs it", 0.85},
	shellscan.Encoded:         {"encoded", findings.High, "runs an encoded payload", 0.85},
	shellscan.TempExec:        {"temp_exec", findings.High, "runs a program from a temp directory", 0.8},
	shellscan.HiddenExec:      {"hidden_exec", findings.High, "runs a program from a hidden path", 0.7},
	shellscan.KillCompetition: {"kill_competition", findings.High, "kills other miners", 0.85},
	shellscan.Loop:            {"loop", findings.High, "re-downloads in an endless loop", 0.8},
	shellscan.AttrChange:      {"attr_change", findings.Medium, "changes immutable/append-only file attributes", 0.6},
	shellscan.IPURL:           {"ip_url", findings.Medium, "fetches from a literal IP address", 0.5},
}

// persistSite is where a piece of analysed text lives.
type persistSite struct {
	check, prefix string // check id, rule prefix ("persistence.cron")
	what          string // "cron job", "systemd unit", ... for titles
	path          string
	lines         []string // the file's lines, for Content
	line          int      // when set, every finding is on this line (-1: a link, no line)
	content       string   // when set, the Content of every finding
	user          string
	details       map[string]string
	// escalate raises medium findings to high (an every-minute schedule).
	escalate bool
}

// persistFindings turns an analysis into findings: one per line and
// reason kind, matches merged.
func persistFindings(site persistSite, res shellscan.Result) []findings.Finding {
	type key struct {
		line int
		kind shellscan.Kind
	}
	groups := map[key][]shellscan.Reason{}
	var order []key
	for _, r := range res.Reasons {
		k := key{r.Line, r.Kind}
		if site.line > 0 {
			k.line = site.line
		} else if site.line < 0 {
			k.line = 0
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []findings.Finding
	for _, k := range order {
		rs := groups[k]
		m := persistRule[k.kind]
		sev := m.sev
		weak := true
		for _, r := range rs {
			weak = weak && r.Weak
		}
		if weak {
			sev = findings.Low
		}
		conf := m.conf
		if site.escalate {
			if sev == findings.Medium {
				sev = findings.High
			}
			conf = min(conf+0.1, 1)
		}
		ev := findings.Evidence{Path: site.path, Line: k.line, User: site.user, Paths: res.Paths}
		switch {
		case site.content != "":
			ev.Content = Printable(site.content, 2048)
		case k.line >= 1 && k.line <= len(site.lines):
			ev.Content = Printable(site.lines[k.line-1], 2048)
		}
		details := map[string]string{}
		for kk, v := range site.details {
			details[kk] = v
		}
		var why []string
		for _, r := range rs {
			ev.Match = append(ev.Match, Printable(r.Match, 512))
			why = append(why, r.Detail)
			if r.Decoded != "" && details["decoded"] == "" {
				details["decoded"] = Printable(r.Decoded, 4096)
			}
			if ev.URL == "" && strings.Contains(r.Match, "://") && !strings.ContainsAny(r.Match, " \t|;") {
				ev.URL = Printable(r.Match, 2048)
			}
		}
		if ev.URL == "" && (k.kind == shellscan.DownloadExec || k.kind == shellscan.Encoded) && len(res.URLs) > 0 {
			ev.URL = Printable(res.URLs[0], 2048)
		}
		if ev.URL != "" {
			ev.Domain = urlHostOf(ev.URL)
		}
		details["reason"] = Printable(strings.Join(why, "; "), 2048)
		ev.Details = details
		where := site.path
		if k.line > 0 {
			where = fmt.Sprintf("%s:%d", site.path, k.line)
		}
		out = append(out, findings.Finding{
			Rule:     site.prefix + "." + m.suffix,
			Check:    site.check,
			Severity: sev,
			Signal:   findings.SignalPersistence,
			Title:    site.what + " " + Printable(where, 512) + " " + m.title,
			Description: "A " + site.what + " runs this command every time it fires: " + Printable(strings.Join(why, "; "), 512) +
				". Cryptojacking droppers (Kinsing, WatchDog, TeamTNT, Rocke, 8220) persist this way to re-install the miner after it is removed.",
			Evidence:    ev,
			Remediation: "Check who added the entry and what it runs; if it is not yours, remove it and the files it names, and look for the miner it installs (see findings with the same paths).",
			Confidence:  conf,
		})
	}
	return out
}

func urlHostOf(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j > 0 {
			return rest[1:j]
		}
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return strings.ToLower(rest)
}

// persistWarning is a status finding for a file that could not be read
// or parsed, so the report says what was not looked at.
func persistWarning(check, p string, err error) findings.Finding {
	return findings.Finding{
		Rule:        check + ".unreadable",
		Check:       check,
		Severity:    findings.Info,
		Signal:      findings.SignalStatus,
		Title:       "could not read " + Printable(p, 256),
		Description: Printable(err.Error(), 512),
		Evidence:    findings.Evidence{Path: p},
		Confidence:  1,
	}
}
