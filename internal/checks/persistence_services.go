package checks

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/shellscan"
)

func init() {
	registerFunc(Info{
		ID:          "persistence.services",
		Title:       "Services and start-up files",
		Description: "Reads systemd units (system and per-user, with drop-ins and .wants links), SysV init scripts and rc links, rc.local, shell profiles and rc files, /etc/environment and XDG autostart entries, and judges every command they run: downloads run as code, encoded payloads, programs in temp or hidden directories, miners, and unit binaries no package owns.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkServices)
}

const servicesCheck = "persistence.services"

// systemUnitDirs are systemd's unit search path, highest precedence first.
var systemUnitDirs = []string{
	"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system",
	"/etc/systemd/user", "/usr/lib/systemd/user", "/lib/systemd/user",
}

// userUnitDirs are relative to a home directory.
var userUnitDirs = []string{".config/systemd/user", ".local/share/systemd/user"}

// unitEntry is one key=value of a unit (or .desktop) file.
type unitEntry struct {
	section, key, value string
	line                int
}

type unitFile struct {
	name    string // unit name ("foo.service")
	path    string // host path of the file read
	dropin  bool
	entries []unitEntry
}

func (u *unitFile) value(section, key string) string {
	v := ""
	for _, e := range u.entries {
		if e.section == section && e.key == key {
			v = e.value
		}
	}
	return v
}

func (u *unitFile) values(section string, keys ...string) []string {
	var out []string
	for _, e := range u.entries {
		if e.section != section {
			continue
		}
		for _, k := range keys {
			if e.key == k && e.value != "" {
				out = append(out, k+"="+e.value)
			}
		}
	}
	return out
}

// ParseUnit parses systemd unit or .desktop syntax: [Section] headers,
// Key=Value, comments (# and ;), and lines continued by a trailing
// backslash (joined with a space, as systemd does). Malformed lines are
// skipped; each entry carries the line it starts on.
func ParseUnit(text string) []unitEntry {
	var out []unitEntry
	section := ""
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
			if strings.HasPrefix(next, "#") || strings.HasPrefix(next, ";") {
				continue
			}
			line = strings.TrimSuffix(line, "\\") + " " + next
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out = append(out, unitEntry{section: section, key: strings.TrimSpace(k), value: strings.TrimSpace(v), line: start})
	}
	return out
}

// unitSet is every unit file found on the host.
type unitSet struct {
	byName map[string][]*unitFile
	// enabled maps a unit name to the .wants/.requires links naming it.
	enabled map[string][]string
	// links are rc*.d-style or .wants links whose target lies outside the
	// unit directories (judged as programs).
	names []string
}

func (s *unitSet) add(u *unitFile) {
	if _, ok := s.byName[u.name]; !ok {
		s.names = append(s.names, u.name)
	}
	s.byName[u.name] = append(s.byName[u.name], u)
}

// timerTarget is the unit a timer starts (Unit= or the same name).
func (s *unitSet) timerTarget(t *unitFile) string {
	if v := t.value("Timer", "Unit"); v != "" {
		return v
	}
	return strings.TrimSuffix(t.name, ".timer") + ".service"
}

var unitSuffix = regexp.MustCompile(`\.(service|timer|socket|path|target|mount)$`)

// loadUnits reads every unit in the system and user unit directories.
// Files reached twice (/lib and /usr/lib on merged-/usr systems, links
// in /etc) are read once.
func loadUnits(env *Env, warn func(string, error)) *unitSet {
	s := &unitSet{byName: map[string][]*unitFile{}, enabled: map[string][]string{}}
	// Files reached twice are recognised by identity (os.SameFile on the
	// FileInfo), since the live root does not resolve links itself.
	seen := map[string][]fs.FileInfo{}
	dirs := append([]string(nil), systemUnitDirs...)
	for _, h := range homeDirs(env) {
		for _, d := range userUnitDirs {
			dirs = append(dirs, path.Join(h, d))
		}
	}
	var outside []string
	read := func(p, name string, dropin bool) {
		st, err := env.Host.FS().Stat(p)
		if err != nil {
			return
		}
		key := path.Base(p)
		for _, o := range seen[key] {
			if os.SameFile(o, st) {
				return
			}
		}
		seen[key] = append(seen[key], st)
		b, _, err := readHostText(env, p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				warn(p, err)
			}
			return
		}
		s.add(&unitFile{name: name, path: p, dropin: dropin, entries: ParseUnit(string(b))})
	}
	for _, d := range dirs {
		es, err := listDir(env, d)
		if err != nil {
			warn(d, err)
			continue
		}
		for _, e := range es {
			p := path.Join(d, e.Name())
			st, err := env.Host.FS().Stat(p)
			if err != nil {
				continue // dangling link or masked to a missing file
			}
			switch {
			case st.IsDir() && (strings.HasSuffix(e.Name(), ".wants") || strings.HasSuffix(e.Name(), ".requires") || strings.HasSuffix(e.Name(), ".upholds")):
				links, _ := listDir(env, p)
				for _, l := range links {
					lp := path.Join(p, l.Name())
					s.enabled[l.Name()] = append(s.enabled[l.Name()], lp)
					if t, err := env.Host.FS().Readlink(lp); err == nil && strings.HasPrefix(t, "/") && !inUnitDirs(t, dirs) && t != "/dev/null" {
						outside = append(outside, lp)
					}
				}
			case st.IsDir() && strings.HasSuffix(e.Name(), ".d"):
				confs, _ := listDir(env, p)
				for _, c := range confs {
					if strings.HasSuffix(c.Name(), ".conf") {
						read(path.Join(p, c.Name()), strings.TrimSuffix(e.Name(), ".d"), true)
					}
				}
			case st.Mode().IsRegular() && unitSuffix.MatchString(e.Name()):
				if t, err := env.Host.FS().Readlink(p); err == nil && t == "/dev/null" {
					continue // masked
				}
				read(p, e.Name(), false)
			}
		}
	}
	for _, lp := range outside {
		read(lp, path.Base(lp), false)
	}
	sort.Strings(s.names)
	return s
}

func inUnitDirs(p string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// profileFiles are shell start-up files; userProfiles are relative to a
// home directory.
var (
	profileFiles = []string{"/etc/profile", "/etc/bash.bashrc", "/etc/bashrc", "/etc/zsh/zshrc", "/etc/zsh/zprofile", "/etc/zshrc", "/etc/zprofile", "/etc/csh.cshrc", "/etc/rc.local", "/etc/rc.d/rc.local"}
	profileDirs  = []string{"/etc/profile.d"}
	userProfiles = []string{".bashrc", ".profile", ".bash_profile", ".bash_login", ".bash_logout", ".zshrc", ".zprofile", ".zshenv", ".zlogin", ".cshrc", ".tcshrc"}
)

func checkServices(ctx context.Context, env *Env) ([]findings.Finding, error) {
	an, err := shellscan.New(env.Intel)
	if err != nil {
		return nil, err
	}
	var out []findings.Finding
	warn := func(p string, err error) { out = append(out, persistWarning(servicesCheck, p, err)) }
	units := loadUnits(env, warn)
	timerOwned := map[string]bool{}
	for _, n := range units.names {
		if strings.HasSuffix(n, ".timer") {
			for _, t := range units.byName[n] {
				timerOwned[units.timerTarget(t)] = true
			}
		}
	}
	pkgs := newPackageFiles(env)
	for _, n := range units.names {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if !strings.HasSuffix(n, ".service") || timerOwned[n] {
			continue // timers' services are persistence.cron's
		}
		for _, u := range units.byName[n] {
			det := map[string]string{"unit": n, "enabled": "no"}
			if links := units.enabled[n]; len(links) > 0 {
				det["enabled"] = "yes"
				det["enabled_by"] = Printable(strings.Join(links, " "), 1024)
			}
			if r := u.value("Service", "Restart"); r != "" {
				det["restart"] = Printable(r, 64)
			}
			out = append(out, judgeUnit(an, u, servicesCheck, servicesCheck, "systemd unit", det)...)
			out = append(out, unpackagedUnit(env, pkgs, u, det)...)
		}
	}
	out = append(out, sysvScripts(env, an, warn)...)
	// Shell start-up files run for every login shell or interactive shell.
	var files []string
	files = append(files, profileFiles...)
	for _, d := range profileDirs {
		es, err := listDir(env, d)
		if err != nil {
			warn(d, err)
		}
		for _, e := range es {
			if !e.IsDir() {
				files = append(files, path.Join(d, e.Name()))
			}
		}
	}
	homes := homeDirs(env)
	for _, h := range homes {
		for _, f := range userProfiles {
			files = append(files, path.Join(h, f))
		}
	}
	for _, f := range files {
		b, _, err := readHostText(env, f)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				warn(f, err)
			}
			continue
		}
		text := string(b)
		what := "start-up file"
		if strings.HasSuffix(f, "rc.local") {
			what = "rc.local"
		}
		site := persistSite{check: servicesCheck, prefix: "persistence.startup", what: what, path: f, lines: strings.Split(text, "\n")}
		out = append(out, persistFindings(site, an.Analyze(text))...)
		out = append(out, preloadLines(f, text, an)...)
	}
	if b, _, err := readHostText(env, "/etc/environment"); err == nil {
		out = append(out, preloadLines("/etc/environment", string(b), an)...)
	}
	// XDG autostart entries run at every graphical login.
	adirs := []string{"/etc/xdg/autostart"}
	for _, h := range homes {
		adirs = append(adirs, path.Join(h, ".config/autostart"))
	}
	for _, d := range adirs {
		es, _ := listDir(env, d)
		for _, e := range es {
			if !strings.HasSuffix(e.Name(), ".desktop") {
				continue
			}
			p := path.Join(d, e.Name())
			b, _, err := readHostText(env, p)
			if err != nil {
				continue
			}
			u := &unitFile{name: e.Name(), path: p, entries: ParseUnit(string(b))}
			for i := range u.entries {
				// Field codes (%f, %U) are file arguments, not shell.
				u.entries[i].value = desktopFieldCode.ReplaceAllString(u.entries[i].value, "")
			}
			out = append(out, judgeUnit(an, u, servicesCheck, "persistence.startup", "autostart entry", nil)...)
		}
	}
	return out, nil
}

var desktopFieldCode = regexp.MustCompile(`%[fFuUdDnNickvm]`)

// sysvScripts judges /etc/init.d scripts and rc*.d links that lead
// anywhere but /etc/init.d.
func sysvScripts(env *Env, an *shellscan.Analyzer, warn func(string, error)) []findings.Finding {
	var out []findings.Finding
	es, err := listDir(env, "/etc/init.d")
	if err != nil {
		warn("/etc/init.d", err)
	}
	for _, e := range es {
		p := path.Join("/etc/init.d", e.Name())
		b, _, err := readHostText(env, p)
		if err != nil {
			continue
		}
		text := string(b)
		site := persistSite{check: servicesCheck, prefix: servicesCheck, what: "init script", path: p, lines: strings.Split(text, "\n")}
		out = append(out, persistFindings(site, an.Analyze(text))...)
	}
	for _, d := range []string{"/etc/rc0.d", "/etc/rc1.d", "/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d", "/etc/rc5.d", "/etc/rc6.d", "/etc/rcS.d", "/etc/rc.d/rc3.d", "/etc/rc.d/rc5.d"} {
		links, _ := listDir(env, d)
		for _, l := range links {
			lp := path.Join(d, l.Name())
			t, err := env.Host.FS().Readlink(lp)
			if err != nil {
				continue
			}
			target := t
			if !strings.HasPrefix(t, "/") {
				target = path.Join(d, t)
			}
			if strings.HasPrefix(target, "/etc/init.d/") || strings.HasPrefix(target, "/etc/rc.d/init.d/") {
				continue
			}
			site := persistSite{check: servicesCheck, prefix: servicesCheck, what: "rc link", path: lp, line: -1, content: lp + " -> " + t}
			res := an.Analyze(target)
			out = append(out, persistFindings(site, res)...)
		}
	}
	return out
}

// preloadLines reports LD_PRELOAD set in a start-up file or
// /etc/environment: every program started from it loads the library.
func preloadLines(p, text string, an *shellscan.Analyzer) []findings.Finding {
	var out []findings.Finding
	for i, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		l = strings.TrimPrefix(l, "export ")
		v, ok := strings.CutPrefix(strings.TrimSpace(l), "LD_PRELOAD=")
		if !ok {
			continue
		}
		libs := ParsePreloadList(strings.Trim(v, `"'`), false)
		if len(libs) == 0 {
			continue
		}
		out = append(out, findings.Finding{
			Rule:        "persistence.startup.ld_preload",
			Check:       servicesCheck,
			Severity:    findings.High,
			Signal:      findings.SignalHiding,
			Title:       p + " sets LD_PRELOAD=" + Printable(strings.Join(libs, ":"), 256),
			Description: "Every program started from this environment loads the library first; user-space rootkits that hide miners from ps and top are installed this way.",
			Evidence:    findings.Evidence{Path: p, Line: i + 1, Content: Printable(line, 2048), Paths: libs},
			Remediation: "Identify the library (package ownership, sha256); if it is not yours remove the line and the library.",
			Confidence:  0.8,
		})
	}
	return out
}

// packageFiles is the set of files dpkg installed, read once from
// /var/lib/dpkg/info/*.list; nil when the host has no dpkg database.
type packageFiles map[string]bool

func newPackageFiles(env *Env) packageFiles {
	es, err := listDir(env, "/var/lib/dpkg/info")
	if err != nil || len(es) == 0 {
		return nil
	}
	set := packageFiles{}
	for _, e := range es {
		if !strings.HasSuffix(e.Name(), ".list") {
			continue
		}
		b, _, err := readHostText(env, path.Join("/var/lib/dpkg/info", e.Name()))
		if err != nil {
			continue
		}
		for len(b) > 0 {
			var l []byte
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				l, b = b[:i], b[i+1:]
			} else {
				l, b = b, nil
			}
			// Docs, locales and headers (most of every package) are never
			// a unit or a program a unit starts: not worth a map entry.
			if len(l) == 0 || l[0] != '/' || bytes.HasPrefix(l, []byte("/usr/share/")) || bytes.HasPrefix(l, []byte("/usr/include/")) {
				continue
			}
			set[string(l)] = true
		}
	}
	if len(set) == 0 {
		return nil
	}
	return set
}

// owns reports whether a package installed p, allowing for merged /usr
// (/bin/sh packaged as /usr/bin/sh or the other way round) and links.
func (s packageFiles) owns(env *Env, p string) bool {
	cands := []string{p}
	if r, ok := strings.CutPrefix(p, "/usr"); ok {
		cands = append(cands, r)
	} else {
		cands = append(cands, "/usr"+p)
	}
	if real, err := env.Host.FS().RealPath(p); err == nil && env.Host.Root() != "" {
		rel := strings.TrimPrefix(real, strings.TrimSuffix(env.Host.Root(), "/"))
		if strings.HasPrefix(rel, "/") && rel != p {
			cands = append(cands, rel)
		}
	}
	for _, c := range cands {
		if s[c] {
			return true
		}
	}
	return false
}

// unpackagedUnit hints at a unit whose ExecStart binary no package owns.
func unpackagedUnit(env *Env, pkgs packageFiles, u *unitFile, det map[string]string) []findings.Finding {
	if pkgs == nil || pkgs.owns(env, u.path) {
		// A packaged unit's program comes from its package's dependencies.
		return nil
	}
	for _, kv := range u.entries {
		if kv.section != "Service" || kv.key != "ExecStart" {
			continue
		}
		f := strings.Fields(unitCommand(kv.value))
		if len(f) == 0 || !strings.HasPrefix(f[0], "/") || pkgs.owns(env, f[0]) {
			continue
		}
		if _, err := env.Host.FS().Stat(f[0]); err != nil {
			continue // nothing there to run
		}
		d := map[string]string{}
		for k, v := range det {
			d[k] = v
		}
		return []findings.Finding{{
			Rule:        "persistence.services.unpackaged",
			Check:       servicesCheck,
			Severity:    findings.Low,
			Signal:      findings.SignalPersistence,
			Title:       "systemd unit " + u.path + " runs " + Printable(f[0], 256) + ", which no package installed",
			Description: "The unit's program was installed by hand (or by something else). Locally built and vendor software looks like this; so does a miner installed as a service.",
			Evidence:    findings.Evidence{Path: u.path, Line: kv.line, Content: Printable(kv.key+"="+kv.value, 2048), Paths: []string{f[0]}, Details: d},
			Remediation: "Confirm the program is one you installed.",
			Confidence:  0.3,
		}}
	}
	return nil
}
