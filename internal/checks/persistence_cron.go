package checks

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/shellscan"
)

func init() {
	registerFunc(Info{
		ID:          "persistence.cron",
		Title:       "Cron jobs, at jobs and systemd timers",
		Description: "Reads system and user crontabs, /etc/cron.d, the cron.hourly/daily/weekly/monthly scripts, anacrontab, at jobs and systemd timers, and judges every command: download-and-execute, encoded payloads, programs in temp or hidden directories, miners and pools, literal IP URLs, killing of competing miners.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkCron)
}

const cronCheck = "persistence.cron"

// cronTables are crontab files: system ones carry a user field.
var cronTables = []struct {
	dir    string // a directory of crontabs, or "" for file
	file   string
	system bool
}{
	{file: "/etc/crontab", system: true},
	{dir: "/etc/cron.d", system: true},
	{dir: "/var/spool/cron/crontabs"}, // Debian, user = file name
	{dir: "/var/spool/cron"},          // RHEL, user = file name
	{dir: "/var/spool/cron/tabs"},     // SUSE
}

// cronScriptDirs hold scripts run-parts runs; at job directories hold
// shell scripts atd runs.
var cronScriptDirs = []string{
	"/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly", "/etc/cron.yearly",
	"/var/spool/cron/atjobs", "/var/spool/at", "/var/spool/atjobs",
}

func checkCron(ctx context.Context, env *Env) ([]findings.Finding, error) {
	an, err := shellscan.New(env.Intel)
	if err != nil {
		return nil, err
	}
	var out []findings.Finding
	warn := func(p string, err error) { out = append(out, persistWarning(cronCheck, p, err)) }
	for _, t := range cronTables {
		files := []string{t.file}
		if t.dir != "" {
			files = nil
			es, err := listDir(env, t.dir)
			if err != nil {
				warn(t.dir, err)
				continue
			}
			for _, e := range es {
				if e.IsDir() || strings.HasPrefix(e.Name(), ".placeholder") {
					continue
				}
				files = append(files, path.Join(t.dir, e.Name()))
			}
		}
		for _, f := range files {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			user := ""
			if !t.system {
				user = path.Base(f)
			}
			out = append(out, cronTable(env, an, f, t.system, user, warn)...)
		}
	}
	out = append(out, cronTable(env, an, "/etc/anacrontab", false, "root", warn)...)
	for _, d := range cronScriptDirs {
		es, err := listDir(env, d)
		if err != nil {
			warn(d, err)
			continue
		}
		for _, e := range es {
			if e.IsDir() || e.Name() == ".SEQ" || strings.HasPrefix(e.Name(), ".placeholder") {
				continue
			}
			p := path.Join(d, e.Name())
			b, _, err := readHostText(env, p)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					warn(p, err)
				}
				continue
			}
			what := "cron script"
			if strings.Contains(d, "at") && !strings.HasPrefix(d, "/etc/") {
				what = "at job"
			}
			text := string(b)
			site := persistSite{check: cronCheck, prefix: cronCheck, what: what, path: p, lines: strings.Split(text, "\n")}
			out = append(out, persistFindings(site, an.Analyze(text))...)
		}
	}
	out = append(out, cronTimers(ctx, env, an, warn)...)
	return out, nil
}

// cronTable judges every entry of one crontab.
func cronTable(env *Env, an *shellscan.Analyzer, p string, system bool, user string, warn func(string, error)) []findings.Finding {
	b, _, err := readHostText(env, p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			warn(p, err)
		}
		return nil
	}
	var entries []CronEntry
	if p == "/etc/anacrontab" {
		entries = ParseAnacrontab(string(b))
	} else {
		entries = ParseCrontab(string(b), system)
	}
	lines := strings.Split(string(b), "\n")
	var out []findings.Finding
	for _, e := range entries {
		u := user
		if e.User != "" {
			u = e.User
		}
		site := persistSite{
			check: cronCheck, prefix: cronCheck, what: "cron job", path: p, line: e.Line, user: Printable(u, 64),
			lines: lines, details: map[string]string{"schedule": Printable(e.Schedule, 128)}, escalate: e.EveryMinute,
		}
		if e.Env {
			// SHELL=/tmp/x or BASH_ENV=/tmp/.x/rc runs that file for every job.
			site.what = "cron environment"
			if k, why, ok := an.PathKind(e.Command); ok && strings.HasPrefix(e.Command, "/") {
				out = append(out, persistFindings(site, shellscan.Result{Reasons: []shellscan.Reason{{Kind: k, Line: e.Line, Match: e.Command, Detail: why}}, Paths: []string{e.Command}})...)
			}
			continue
		}
		out = append(out, persistFindings(site, an.Analyze(e.Command))...)
	}
	return out
}

// CronEntry is one job (or one environment setting that affects jobs) of
// a crontab.
type CronEntry struct {
	Line     int
	Schedule string // "*/5 * * * *", "@reboot", anacron's "1 5 job-id"
	User     string // system crontabs only
	Command  string
	// EveryMinute: the minute field fires every minute.
	EveryMinute bool
	// Env marks a SHELL/BASH_ENV/ENV setting; Command holds its value.
	Env bool
}

// cronEnvKeys are variables whose value cron runs for every job.
var cronEnvKeys = map[string]bool{"SHELL": true, "BASH_ENV": true, "ENV": true}

// ParseCrontab parses crontab(5) text: comments, NAME=value lines, five
// time fields or an @keyword, a user field when system is true, then the
// command, whose first unescaped % starts its standard input. Lines that
// are none of these are skipped, as cron skips them.
func ParseCrontab(text string, system bool) []CronEntry {
	var out []CronEntry
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := cronEnv(line); ok {
			if cronEnvKeys[k] {
				out = append(out, CronEntry{Line: i + 1, Schedule: k, Command: v, Env: true})
			}
			continue
		}
		n := 5
		if line[0] == '@' {
			n = 1
		}
		if system {
			n++
		}
		fields, rest := cronFields(line, n)
		if len(fields) < n || strings.TrimSpace(rest) == "" {
			continue
		}
		sched := fields
		e := CronEntry{Line: i + 1}
		if system {
			sched, e.User = fields[:n-1], fields[n-1]
		}
		if !validSchedule(sched) {
			continue
		}
		e.Schedule = strings.Join(sched, " ")
		e.EveryMinute = len(sched) == 5 && (sched[0] == "*" || sched[0] == "*/1" || sched[0] == "0-59") || sched[0] == "@every_minute"
		if e.Command = cronCommand(rest); e.Command == "" {
			continue // only standard input: nothing to run
		}
		out = append(out, e)
	}
	return out
}

// ParseAnacrontab parses anacrontab(5): period, delay, job id, command.
func ParseAnacrontab(text string) []CronEntry {
	var out []CronEntry
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := cronEnv(line); ok {
			if cronEnvKeys[k] {
				out = append(out, CronEntry{Line: i + 1, Schedule: k, Command: v, Env: true})
			}
			continue
		}
		fields, rest := cronFields(line, 3)
		if len(fields) < 3 || strings.TrimSpace(rest) == "" {
			continue
		}
		out = append(out, CronEntry{Line: i + 1, Schedule: strings.Join(fields, " "), Command: strings.TrimSpace(rest)})
	}
	return out
}

// cronEnv recognises "NAME = value" lines (quotes around value removed).
func cronEnv(line string) (string, string, bool) {
	k, v, ok := strings.Cut(line, "=")
	if !ok {
		return "", "", false
	}
	k = strings.TrimSpace(k)
	if k == "" || !isAssignmentName(k) {
		return "", "", false
	}
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return k, v, true
}

func isAssignmentName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// cronFields splits off n blank-separated fields, returning the rest.
func cronFields(line string, n int) ([]string, string) {
	var fields []string
	rest := line
	for len(fields) < n {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			fields = append(fields, rest)
			rest = ""
			break
		}
		fields = append(fields, rest[:i])
		rest = rest[i:]
	}
	return fields, strings.TrimSpace(rest)
}

var cronKeywords = map[string]bool{"@reboot": true, "@yearly": true, "@annually": true, "@monthly": true, "@weekly": true, "@daily": true, "@midnight": true, "@hourly": true, "@every_minute": true}

func validSchedule(f []string) bool {
	if len(f) == 1 {
		return cronKeywords[strings.ToLower(f[0])]
	}
	for _, x := range f {
		for _, c := range strings.ToLower(x) {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || strings.ContainsRune("*/,-~", c)) {
				return false
			}
		}
	}
	return true
}

// cronCommand cuts the command at its first unescaped % (the rest is
// standard input) and unescapes \%.
func cronCommand(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if s[i] == '%' {
			break
		}
		b.WriteByte(s[i])
	}
	return strings.TrimSpace(b.String())
}

// cronTimers judges the service each systemd timer starts.
func cronTimers(ctx context.Context, env *Env, an *shellscan.Analyzer, warn func(string, error)) []findings.Finding {
	units := loadUnits(env, warn)
	var out []findings.Finding
	names := make([]string, 0, len(units.byName))
	for n := range units.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !strings.HasSuffix(n, ".timer") || ctx.Err() != nil {
			continue
		}
		for _, timer := range units.byName[n] {
			svc := units.timerTarget(timer)
			for _, u := range units.byName[svc] {
				det := map[string]string{"timer": timer.path}
				if on := timer.values("Timer", "OnCalendar", "OnBootSec", "OnUnitActiveSec", "OnActiveSec", "OnStartupSec"); len(on) > 0 {
					det["schedule"] = Printable(strings.Join(on, "; "), 256)
				}
				out = append(out, judgeUnit(an, u, cronCheck, cronCheck, "systemd timer service", det)...)
			}
		}
	}
	return out
}

// unitExecKeys are the [Service] keys whose values systemd runs.
var unitExecKeys = []string{"ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost", "ExecCondition"}

// judgeUnit analyses every command line of a unit.
func judgeUnit(an *shellscan.Analyzer, u *unitFile, check, prefix, what string, details map[string]string) []findings.Finding {
	var out []findings.Finding
	for _, kv := range u.entries {
		if !isExecKey(kv.key) && !(kv.section == "Desktop Entry" && kv.key == "Exec") {
			continue
		}
		cmd := unitCommand(kv.value)
		if cmd == "" {
			continue
		}
		site := persistSite{check: check, prefix: prefix, what: what, path: u.path, line: kv.line, content: kv.key + "=" + kv.value, details: details, user: u.value("Service", "User")}
		out = append(out, persistFindings(site, an.Analyze(cmd))...)
	}
	return out
}

func isExecKey(k string) bool {
	for _, x := range unitExecKeys {
		if k == x {
			return true
		}
	}
	return false
}

// unitCommand strips systemd's command prefixes (-, @, +, !, !!, :) and
// "%%" escapes; the rest reads like a shell command.
func unitCommand(v string) string {
	v = strings.TrimSpace(v)
	for v != "" && strings.ContainsRune("-@+!:|", rune(v[0])) {
		if v[0] == '@' {
			// @/path argv0 args: argv0 is only a name.
			v = v[1:]
			f := strings.Fields(v)
			if len(f) >= 2 {
				v = f[0] + " " + strings.Join(f[2:], " ")
			}
			continue
		}
		v = v[1:]
	}
	return strings.ReplaceAll(strings.TrimSpace(v), "%%", "%")
}
