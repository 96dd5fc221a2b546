package harden

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/blocklist"
	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/firewall"
	"github.com/minerguard/minerguard/internal/respond"
)

// Fixes turns the items that did not pass into the changes that put them
// right, as response actions: `harden --apply` runs them through the same
// journal as `clean`, so `--rollback` restores every file byte for byte.
// Items minerguard cannot fix itself (installing a package, fetching
// signatures) become advice.
func Fixes(ctx context.Context, env *checks.Env, results []Result) []respond.Action {
	var out []respond.Action
	sshd := false
	for _, r := range results {
		if r.Status != Fail && r.Status != Warn {
			continue
		}
		fix, ok := linuxFixes[r.ID]
		if ok && strings.HasPrefix(r.ID, "ssh.") {
			sshd = true
		}
		if !ok {
			if r.Change != "" {
				out = append(out, advise(r, r.Change))
			}
			continue
		}
		for _, a := range fix(ctx, env, r) {
			a.Rules = []string{r.ID}
			a.Severity = findings.Medium
			if a.Title == "" {
				a.Title = r.Title
			}
			out = append(out, a)
		}
	}
	// sshd reads its configuration on reload; the unit's reload runs
	// `sshd -t` first, so a broken file never stops the server.
	if sshd && env.Host.Proc() != nil && slices.ContainsFunc(out, func(a respond.Action) bool {
		return a.Kind == respond.KindConfigure && strings.Contains(a.Path, "/ssh/")
	}) {
		unit := "sshd.service"
		if _, err := env.Host.FS().Stat("/lib/systemd/system/ssh.service"); err == nil {
			unit = "ssh.service"
		}
		out = append(out, respond.Action{Kind: respond.KindReloadUnits, Units: []string{unit}, Title: "reload " + unit, Rules: []string{"ssh"}, Severity: findings.Medium})
	}
	return out
}

func advise(r Result, text string) respond.Action {
	return respond.Action{Kind: respond.KindAdvise, Title: r.ID + ": " + r.Title, Advice: text, Rules: []string{r.ID}, Severity: findings.Medium}
}

type fixFunc func(ctx context.Context, env *checks.Env, r Result) []respond.Action

var linuxFixes = map[string]fixFunc{
	"ssh.root_login": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		return sshdSet(env, r, "PermitRootLogin", "prohibit-password")
	},
	"ssh.max_auth_tries": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		return sshdSet(env, r, "MaxAuthTries", "3")
	},
	"ssh.password_auth": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		// Turning passwords off locks out everyone without a key: only
		// when some account has one.
		if !anyAuthorizedKey(env) {
			return []respond.Action{advise(r, "no account has an SSH key yet; give the administrators keys first, then: "+r.Change)}
		}
		return append(sshdSet(env, r, "PasswordAuthentication", "no"), sshdSet(env, r, "KbdInteractiveAuthentication", "no")...)
	},
	"password.min_length": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		c, err := loadConfig(env)
		if err != nil {
			return []respond.Action{advise(r, err.Error())}
		}
		const conf = "/etc/security/pwquality.conf"
		want := fmt.Sprintf("minlen = %d", c.MinPasswordLen)
		a := respond.Action{Kind: respond.KindConfigure, Path: conf, Title: fmt.Sprintf("set %s in %s", want, conf), Create: true}
		if b, err := env.Host.FS().ReadFile(conf); err == nil {
			re := regexp.MustCompile(`^\s*minlen\s*=`)
			for n, l := range strings.Split(string(b), "\n") {
				if re.MatchString(l) {
					a.Edits = append(a.Edits, respond.LineEdit{Line: n + 1, Old: []byte(strings.TrimSuffix(l, "\r")), New: []byte(want)})
				}
			}
		}
		if len(a.Edits) == 0 {
			a.Append = []byte("# minerguard harden: the seeds' minimum password length\n" + want + "\n")
		}
		out := []respond.Action{a}
		if !pwqualityInPAM(env) {
			out = append(out, advise(r, "pam_pwquality is not in the PAM stack: install libpam-pwquality (Debian) or libpwquality (RHEL) so the setting takes effect"))
		}
		return out
	},
	"accounts.empty_password": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		b, err := env.Host.FS().ReadFile("/etc/shadow")
		if err != nil {
			return []respond.Action{advise(r, err.Error())}
		}
		a := respond.Action{Kind: respond.KindConfigure, Path: "/etc/shadow", Title: "lock accounts with an empty password"}
		for n, l := range strings.Split(string(b), "\n") {
			f := strings.Split(strings.TrimSuffix(l, "\r"), ":")
			if len(f) > 1 && f[0] != "" && f[1] == "" {
				f[1] = "!"
				a.Edits = append(a.Edits, respond.LineEdit{Line: n + 1, Old: []byte(strings.TrimSuffix(l, "\r")), New: []byte(strings.Join(f, ":"))})
			}
		}
		if len(a.Edits) == 0 {
			return nil
		}
		return []respond.Action{a}
	},
	"accounts.shared": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		groups, err := sharedUIDs(env)
		if err != nil {
			return []respond.Action{advise(r, err.Error())}
		}
		var out []respond.Action
		var others []string
		for _, g := range groups {
			for i, name := range g.names {
				if i == 0 && !(g.uid == 0 && name != "root") {
					continue // the original owner of the uid keeps it
				}
				if g.uid != 0 || name == "root" {
					others = append(others, name)
					continue
				}
				if a := respond.LockAccount(env.Host.FS(), name); len(a.Edits) > 0 {
					out = append(out, a)
				}
			}
		}
		if len(others) > 0 {
			out = append(out, advise(r, "give these accounts their own uid (usermod -u) or remove them: "+strings.Join(others, ", ")))
		}
		return out
	},
	"remote.services": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		c, err := loadConfig(env)
		if err != nil {
			return []respond.Action{advise(r, err.Error())}
		}
		var out []respond.Action
		var units []string
		for _, l := range enabledRemote(env, c) {
			// Removing the link is what `systemctl disable` does.
			out = append(out, respond.Action{Kind: respond.KindQuarantine, Path: l, Title: "disable " + path.Base(l)})
			units = append(units, path.Base(l))
		}
		if len(units) > 0 && env.Host.Proc() != nil {
			out = append(out, respond.Action{Kind: respond.KindStopUnits, Units: units, Title: "stop " + strings.Join(units, ", ")})
		}
		return out
	},
	"ports.high_risk": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		c, err := loadConfig(env)
		if err != nil || env.Host.Proc() == nil {
			return []respond.Action{advise(r, r.Change)}
		}
		return []respond.Action{{Kind: respond.KindFirewall, Title: fmt.Sprintf("drop inbound TCP/UDP %v (nftables table inet %s)", c.HighRiskPorts, HardenTable),
			Firewall: &firewall.Ruleset{Table: HardenTable, InboundBlockPorts: slices.Clone(c.HighRiskPorts)}}}
	},
	"firewall.egress_mining": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		if env.Host.Proc() == nil {
			return nil
		}
		l := blocklist.FromIntel(env.Intel)
		addrs := append(slices.Clone(l.V4), l.V6...)
		return []respond.Action{{Kind: respond.KindFirewall, Title: fmt.Sprintf("drop outbound mining ports %v and %d pool networks (nftables table inet %s)", l.Ports, len(addrs), HardenTable),
			Firewall: &firewall.Ruleset{Table: HardenTable, BlockPorts: slices.Clone(l.Ports), BlockAddrs: addrs}}}
	},
	"logs.journald": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		c, err := loadConfig(env)
		if err != nil {
			return []respond.Action{advise(r, err.Error())}
		}
		j, ok := journald(env)
		if !ok {
			return nil
		}
		// Settings are changed in the file that decides them; what no file
		// sets goes into the main file's [Journal] section.
		var out []respond.Action
		set := func(key, value string, needed bool) {
			if !needed {
				return
			}
			cur, found := j[strings.ToLower(key)]
			want := key + "=" + value
			if found {
				out = append(out, respond.Action{Kind: respond.KindConfigure, Path: cur.file, Title: fmt.Sprintf("set %s in %s", want, cur.file),
					Edits: []respond.LineEdit{{Line: cur.line, Old: []byte(cur.raw), New: []byte(want)}}})
				return
			}
			out = append(out, respond.Action{Kind: respond.KindConfigure, Path: "/etc/systemd/journald.conf", Title: "set " + want + " in /etc/systemd/journald.conf",
				Append: []byte("# minerguard harden: keep the journal six months\n[Journal]\n" + want + "\n")})
		}
		_, dirErr := env.Host.FS().Stat("/var/log/journal")
		st := j["storage"].value
		set("Storage", "persistent", st == "volatile" || st == "none" || ((st == "" || st == "auto") && dirErr != nil))
		short := false
		if r := j["maxretentionsec"]; r.value != "" {
			d, err := systemdSpan(r.value)
			short = err != nil || d > 0 && d < time.Duration(c.LogRetentionDay)*24*time.Hour
		}
		set("MaxRetentionSec", fmt.Sprintf("%dday", c.LogRetentionDay), short)
		if env.Host.Proc() != nil && len(out) > 0 {
			out = append(out, respond.Action{Kind: respond.KindReloadUnits, Units: []string{"systemd-journald.service"}, Title: "restart systemd-journald"})
		}
		return out
	},
	"updates.automatic": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		// Only switching on what is installed: minerguard installs nothing.
		fsys := env.Host.FS()
		if _, err := fsys.Stat("/usr/bin/unattended-upgrade"); err != nil {
			return []respond.Action{advise(r, r.Change)}
		}
		const conf = "/etc/apt/apt.conf.d/20auto-upgrades"
		a := respond.Action{Kind: respond.KindConfigure, Path: conf, Create: true, Title: "turn on unattended-upgrades in " + conf}
		b, _ := fsys.ReadFile(conf)
		re := regexp.MustCompile(`^\s*APT::Periodic::(Update-Package-Lists|Unattended-Upgrade)\s+"[^"]*"\s*;`)
		seen := map[string]bool{}
		for n, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSuffix(l, "\r")
			if m := re.FindStringSubmatch(l); m != nil {
				seen[m[1]] = true
				a.Edits = append(a.Edits, respond.LineEdit{Line: n + 1, Old: []byte(l), New: []byte(fmt.Sprintf("APT::Periodic::%s \"1\";", m[1]))})
			}
		}
		for _, k := range []string{"Update-Package-Lists", "Unattended-Upgrade"} {
			if !seen[k] {
				a.Append = append(a.Append, fmt.Sprintf("APT::Periodic::%s \"1\";\n", k)...)
			}
		}
		return []respond.Action{a}
	},
	"logs.retention": func(_ context.Context, env *checks.Env, r Result) []respond.Action {
		c, err := loadConfig(env)
		if err != nil {
			return []respond.Action{advise(r, err.Error())}
		}
		return logrotateFix(env, r, c.LogRetentionDay)
	},
}

// sshdSet sets a global sshd directive: the line that now decides it is
// replaced where it is (a drop-in that overrides the main file included);
// when no file sets it, it goes at the top of sshd_config, before any
// Match block.
func sshdSet(env *checks.Env, r Result, key, value string) []respond.Action {
	want := key + " " + value
	s, _ := checks.SSHDGlobal(env)
	if d, ok := s[strings.ToLower(key)]; ok && d.File != "" && d.Line > 0 {
		if strings.EqualFold(d.Value, value) {
			return nil
		}
		b, err := env.Host.FS().ReadFile(d.File)
		if err != nil {
			return []respond.Action{advise(r, err.Error())}
		}
		lines := strings.Split(string(b), "\n")
		if d.Line > len(lines) {
			return []respond.Action{advise(r, fmt.Sprintf("%s changed since it was read", d.File))}
		}
		old := strings.TrimSuffix(lines[d.Line-1], "\r")
		return []respond.Action{{Kind: respond.KindConfigure, Path: d.File, Title: fmt.Sprintf("set %s in %s", want, d.File),
			Edits: []respond.LineEdit{{Line: d.Line, Old: []byte(old), New: []byte(want)}}}}
	}
	return []respond.Action{{Kind: respond.KindConfigure, Path: "/etc/ssh/sshd_config", Title: "set " + want + " in /etc/ssh/sshd_config",
		Prepend: []byte("# minerguard harden\n" + want + "\n")}}
}

// anyAuthorizedKey reports an account that can log in with a key.
func anyAuthorizedKey(env *checks.Env) bool {
	fsys := env.Host.FS()
	dirs := []string{"/root"}
	if es, err := fsys.ReadDir("/home"); err == nil {
		for _, e := range es {
			dirs = append(dirs, path.Join("/home", e.Name()))
		}
	}
	for _, d := range dirs {
		for _, f := range []string{".ssh/authorized_keys", ".ssh/authorized_keys2"} {
			b, err := fsys.ReadFile(path.Join(d, f))
			if err != nil {
				continue
			}
			for _, l := range bytes.Split(b, []byte("\n")) {
				if l = bytes.TrimSpace(l); len(l) > 0 && l[0] != '#' {
					return true
				}
			}
		}
	}
	return false
}

func pwqualityInPAM(env *checks.Env) bool {
	for _, f := range []string{"/etc/pam.d/common-password", "/etc/pam.d/system-auth", "/etc/pam.d/password-auth"} {
		if b, err := env.Host.FS().ReadFile(f); err == nil && regexp.MustCompile(`(?m)^\s*password\s+\S+\s+pam_(pwquality|cracklib)\.so`).Match(b) {
			return true
		}
	}
	return false
}

// logrotateFix raises the rotate count of the rule that keeps the system
// log so its period times the count covers the retention.
func logrotateFix(env *checks.Env, r Result, days int) []respond.Action {
	if r.Path == "" {
		return []respond.Action{advise(r, r.Change)}
	}
	b, err := env.Host.FS().ReadFile(r.Path)
	if err != nil {
		return []respond.Action{advise(r, err.Error())}
	}
	period := 7
	if bb, err := env.Host.FS().ReadFile("/etc/logrotate.conf"); err == nil {
		period = periodDays(strings.Split(string(bb), "{")[0], period)
	}
	period = periodDays(string(b), period)
	want := (days + period - 1) / period
	rotRe := regexp.MustCompile(`^(\s*)rotate\s+(\d+)\s*$`)
	a := respond.Action{Kind: respond.KindConfigure, Path: r.Path, Title: fmt.Sprintf("keep %d rotations (%d days) in %s", want, want*period, r.Path)}
	for n, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if m := rotRe.FindStringSubmatch(l); m != nil {
			if k, _ := strconv.Atoi(m[2]); k < want {
				a.Edits = append(a.Edits, respond.LineEdit{Line: n + 1, Old: []byte(l), New: []byte(fmt.Sprintf("%srotate %d", m[1], want))})
			}
		}
	}
	if len(a.Edits) == 0 {
		return []respond.Action{advise(r, r.Change)}
	}
	return []respond.Action{a}
}

func periodDays(text string, def int) int {
	for _, l := range strings.Split(text, "\n") {
		switch strings.TrimSpace(l) {
		case "daily":
			def = 1
		case "weekly":
			def = 7
		case "monthly":
			def = 30
		case "yearly":
			def = 365
		}
	}
	return def
}
