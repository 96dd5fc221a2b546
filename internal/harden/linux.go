package harden

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/blocklist"
	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/firewall"
)

// config is harden.json.
type config struct {
	Comment         string   `json:"comment"`
	HighRiskPorts   []uint16 `json:"high_risk_ports"`
	RemoteServices  []string `json:"remote_services"`
	MinPasswordLen  int      `json:"min_password_length"`
	LogRetentionDay int      `json:"log_retention_days"`
	AVMaxAgeDays    int      `json:"av_max_age_days"`
	EDRAgents       []struct {
		Name string `json:"name"`
		Path string `json:"path"`
	} `json:"edr_agents"`
}

func loadConfig(env *checks.Env) (config, error) {
	var c config
	err := env.Intel.Section("harden", &c)
	return c, err
}

func cfgOr(env *checks.Env, fail func(error) Result, do func(config) Result) Result {
	c, err := loadConfig(env)
	if err != nil {
		return fail(err)
	}
	return do(c)
}

func warnErr(err error) Result { return Result{Status: Warn, Evidence: err.Error()} }

var linuxItems = []linItem{
	{"ssh.root_login", "SSH does not accept root passwords", "Brute-forced root logins over SSH are how most mining malware enters Linux servers.",
		func(_ context.Context, env *checks.Env) Result {
			s, ok := sshd(env)
			if !ok {
				return Result{Status: NA, Evidence: "no /etc/ssh/sshd_config"}
			}
			d, set := s["permitrootlogin"]
			v := strings.ToLower(d.Value)
			switch {
			case set && (v == "no" || v == "prohibit-password" || v == "without-password" || v == "forced-commands-only"):
				return Result{Status: Pass, Evidence: fmt.Sprintf("PermitRootLogin %s (%s:%d)", d.Value, d.File, d.Line), Path: d.File}
			case !set:
				return Result{Status: Pass, Evidence: "PermitRootLogin not set: OpenSSH's default is prohibit-password", Path: "/etc/ssh/sshd_config"}
			}
			return Result{Status: Fail, Evidence: fmt.Sprintf("PermitRootLogin %s (%s:%d)", d.Value, d.File, d.Line), Path: d.File,
				Change: fmt.Sprintf("set `PermitRootLogin prohibit-password` in %s, then `systemctl reload ssh`", d.File)}
		}},
	{"ssh.password_auth", "SSH uses keys, not passwords", "The seeds ask for key authentication on Linux servers: passwords can be guessed, keys cannot.",
		func(_ context.Context, env *checks.Env) Result {
			s, ok := sshd(env)
			if !ok {
				return Result{Status: NA, Evidence: "no /etc/ssh/sshd_config"}
			}
			d, set := s["passwordauthentication"]
			if set && strings.EqualFold(d.Value, "no") {
				return Result{Status: Pass, Evidence: fmt.Sprintf("PasswordAuthentication no (%s:%d)", d.File, d.Line), Path: d.File}
			}
			ev := "PasswordAuthentication not set: OpenSSH's default is yes"
			if set {
				ev = fmt.Sprintf("PasswordAuthentication %s (%s:%d)", d.Value, d.File, d.Line)
			}
			return Result{Status: Fail, Evidence: ev, Path: "/etc/ssh/sshd_config",
				Change: "after every user has a key: set `PasswordAuthentication no` and `KbdInteractiveAuthentication no` in /etc/ssh/sshd_config, then `systemctl reload ssh`"}
		}},
	{"ssh.max_auth_tries", "SSH limits authentication attempts", "Few attempts per connection slow password guessing down.",
		func(_ context.Context, env *checks.Env) Result {
			s, ok := sshd(env)
			if !ok {
				return Result{Status: NA, Evidence: "no /etc/ssh/sshd_config"}
			}
			d, set := s["maxauthtries"]
			n := 6
			if set {
				if v, err := strconv.Atoi(d.Value); err == nil {
					n = v
				}
			}
			if n <= 4 {
				return Result{Status: Pass, Evidence: fmt.Sprintf("MaxAuthTries %d", n)}
			}
			return Result{Status: Warn, Evidence: fmt.Sprintf("MaxAuthTries %d", n), Path: "/etc/ssh/sshd_config", Change: "set `MaxAuthTries 3` in /etc/ssh/sshd_config"}
		}},
	{"password.min_length", "Passwords have at least 10 characters", "The seeds ask for 10 or more characters; short passwords fall to brute force.",
		func(_ context.Context, env *checks.Env) Result {
			return cfgOr(env, warnErr, func(c config) Result {
				minlen, where := 0, ""
				if b, err := env.Host.FS().ReadFile("/etc/security/pwquality.conf"); err == nil {
					if m := regexp.MustCompile(`(?m)^\s*minlen\s*=\s*(\d+)`).FindStringSubmatch(string(b)); m != nil {
						minlen, _ = strconv.Atoi(m[1])
						where = "/etc/security/pwquality.conf"
					}
				}
				for _, f := range []string{"/etc/pam.d/common-password", "/etc/pam.d/system-auth", "/etc/pam.d/password-auth"} {
					if b, err := env.Host.FS().ReadFile(f); err == nil {
						if m := regexp.MustCompile(`(?m)^\s*password\s+\S+\s+pam_(?:pwquality|cracklib)\.so.*\bminlen=(\d+)`).FindStringSubmatch(string(b)); m != nil {
							minlen, _ = strconv.Atoi(m[1])
							where = f
						}
					}
				}
				if minlen >= c.MinPasswordLen {
					return Result{Status: Pass, Evidence: fmt.Sprintf("minlen=%d in %s", minlen, where), Path: where}
				}
				ev := "no pam_pwquality minimum length is configured"
				if where != "" {
					ev = fmt.Sprintf("minlen=%d in %s", minlen, where)
				}
				return Result{Status: Fail, Evidence: ev, Path: where,
					Change: fmt.Sprintf("install libpam-pwquality (Debian) and set `minlen = %d` in /etc/security/pwquality.conf", c.MinPasswordLen)}
			})
		}},
	{"accounts.empty_password", "No account has an empty password", "An account without a password is an open door for anyone who reaches the host.",
		func(_ context.Context, env *checks.Env) Result {
			b, err := env.Host.FS().ReadFile("/etc/shadow")
			if err != nil {
				return Result{Status: Warn, Evidence: "cannot read /etc/shadow: " + err.Error()}
			}
			var empty []string
			for _, l := range strings.Split(string(b), "\n") {
				f := strings.Split(l, ":")
				if len(f) > 1 && f[0] != "" && f[1] == "" {
					empty = append(empty, f[0])
				}
			}
			if len(empty) == 0 {
				return Result{Status: Pass, Evidence: "every shadow entry has a password or a lock", Path: "/etc/shadow"}
			}
			return Result{Status: Fail, Evidence: "empty password: " + strings.Join(empty, ", "), Path: "/etc/shadow",
				Change: "lock them: `passwd -l USER` for each (or set a password)"}
		}},
	{"accounts.shared", "No two accounts share a uid", "Accounts that share a uid share every file and process; an extra uid-0 account is root under another name and password — a classic miner backdoor.",
		func(_ context.Context, env *checks.Env) Result {
			groups, err := sharedUIDs(env)
			if errors.Is(err, fs.ErrNotExist) {
				return Result{Status: NA, Evidence: "no /etc/passwd"}
			}
			if err != nil {
				return Result{Status: Warn, Evidence: "cannot read /etc/passwd: " + err.Error()}
			}
			if len(groups) == 0 {
				return Result{Status: Pass, Evidence: "every account has its own uid", Path: "/etc/passwd"}
			}
			var ev []string
			for _, g := range groups {
				ev = append(ev, fmt.Sprintf("uid %d: %s", g.uid, strings.Join(g.names, ", ")))
			}
			return Result{Status: Fail, Evidence: strings.Join(ev, "; "), Path: "/etc/passwd",
				Change: "lock the extra uid-0 accounts (passwd -l, shell /usr/sbin/nologin) and give other shared accounts their own uid"}
		}},
	{"remote.services", "No needless remote-access service is enabled", "Telnet, rsh, FTP and VNC/RDP services are common ways in; the seeds ask to turn off what is not needed.",
		func(_ context.Context, env *checks.Env) Result {
			return cfgOr(env, warnErr, func(c config) Result {
				var on []string
				for _, l := range enabledRemote(env, c) {
					on = append(on, path.Base(l))
				}
				if len(on) == 0 {
					return Result{Status: Pass, Evidence: "none of " + strings.Join(c.RemoteServices, ", ") + " is enabled"}
				}
				return Result{Status: Fail, Evidence: "enabled: " + strings.Join(on, ", "),
					Change: "`systemctl disable --now " + strings.Join(on, " ") + "` unless the service is needed"}
			})
		}},
	{"logs.retention", "System logs are kept for six months", "Regulators and incident response need the logs (the seeds: at least six months).",
		func(_ context.Context, env *checks.Env) Result {
			return cfgOr(env, warnErr, func(c config) Result {
				days, where, ok := logRetention(env)
				if !ok {
					return Result{Status: Warn, Evidence: "no logrotate rule for syslog/messages/auth.log/secure found"}
				}
				if days >= c.LogRetentionDay {
					return Result{Status: Pass, Evidence: fmt.Sprintf("about %d days kept (%s)", days, where), Path: where}
				}
				return Result{Status: Fail, Evidence: fmt.Sprintf("about %d days kept (%s)", days, where), Path: where,
					Change: fmt.Sprintf("in %s use `weekly` with `rotate %d` (or `daily` with `rotate %d`)", where, (c.LogRetentionDay+6)/7, c.LogRetentionDay)}
			})
		}},
	{"logs.journald", "The systemd journal is kept on disk for six months", "journald keeps logs in memory only (Storage=volatile, or auto without /var/log/journal) or deletes them early (MaxRetentionSec); then the evidence of an intrusion is gone after a reboot or a few weeks.",
		func(_ context.Context, env *checks.Env) Result {
			return cfgOr(env, warnErr, func(c config) Result {
				j, ok := journald(env)
				if !ok {
					return Result{Status: NA, Evidence: "no /etc/systemd/journald.conf (systemd-journald not installed)"}
				}
				var bad []string
				storage := j["storage"]
				_, persistentDir := env.Host.FS().Stat("/var/log/journal")
				switch {
				case storage.value == "volatile" || storage.value == "none":
					bad = append(bad, fmt.Sprintf("Storage=%s (%s)", storage.value, storage.file))
				case (storage.value == "" || storage.value == "auto") && persistentDir != nil:
					bad = append(bad, "Storage=auto without /var/log/journal: the journal lives in memory")
				}
				if r := j["maxretentionsec"]; r.value != "" {
					if d, err := systemdSpan(r.value); err != nil {
						bad = append(bad, fmt.Sprintf("MaxRetentionSec=%s (%s): %v", r.value, r.file, err))
					} else if d > 0 && d < time.Duration(c.LogRetentionDay)*24*time.Hour {
						bad = append(bad, fmt.Sprintf("MaxRetentionSec=%s (%s) deletes entries after %d days", r.value, r.file, int(d.Hours()/24)))
					}
				}
				if len(bad) == 0 {
					return Result{Status: Pass, Evidence: "persistent journal, no retention limit under six months", Path: "/etc/systemd/journald.conf"}
				}
				return Result{Status: Fail, Evidence: strings.Join(bad, "; "), Path: "/etc/systemd/journald.conf",
					Change: fmt.Sprintf("set `Storage=persistent` and `MaxRetentionSec=%dday` (or remove a shorter limit) in /etc/systemd/journald.conf, then `systemctl restart systemd-journald`", c.LogRetentionDay)}
			})
		}},
	{"av.signatures", "Antivirus signatures are current", "The seeds ask for antivirus with real-time protection and current signatures.",
		func(_ context.Context, env *checks.Env) Result {
			return cfgOr(env, warnErr, func(c config) Result {
				var newest time.Time
				var file string
				for _, f := range []string{"daily.cld", "daily.cvd", "main.cvd", "main.cld"} {
					if st, err := env.Host.FS().Stat("/var/lib/clamav/" + f); err == nil && st.ModTime().After(newest) {
						newest, file = st.ModTime(), "/var/lib/clamav/"+f
					}
				}
				if file == "" {
					for _, a := range c.EDRAgents {
						if _, err := env.Host.FS().Stat(a.Path); err == nil {
							return Result{Status: Pass, Evidence: fmt.Sprintf("%s is installed (%s); its console keeps its signatures", a.Name, a.Path), Path: a.Path}
						}
					}
					return Result{Status: Warn, Evidence: "no ClamAV signature database and no known EDR agent found",
						Change: "install an antivirus/EDR; with ClamAV: `apt-get install clamav clamav-freshclam` and keep freshclam running"}
				}
				age := int(env.Now.Sub(newest).Hours() / 24)
				if age <= c.AVMaxAgeDays {
					return Result{Status: Pass, Evidence: fmt.Sprintf("%s is %d days old", file, age), Path: file}
				}
				return Result{Status: Fail, Evidence: fmt.Sprintf("%s is %d days old", file, age), Path: file, Change: "run `freshclam` and make sure clamav-freshclam is enabled"}
			})
		}},
	{"updates.automatic", "Security updates install automatically", "Unpatched services are the other way miners get in.",
		func(_ context.Context, env *checks.Env) Result {
			fsys := env.Host.FS()
			if es, err := fsys.ReadDir("/etc/apt/apt.conf.d"); err == nil {
				for _, e := range es {
					b, err := fsys.ReadFile("/etc/apt/apt.conf.d/" + e.Name())
					if err == nil && regexp.MustCompile(`APT::Periodic::Unattended-Upgrade\s+"(1|true)"`).Match(b) {
						return Result{Status: Pass, Evidence: "unattended-upgrades enabled in /etc/apt/apt.conf.d/" + e.Name(), Path: "/etc/apt/apt.conf.d/" + e.Name()}
					}
				}
				return Result{Status: Fail, Evidence: "APT::Periodic::Unattended-Upgrade is not enabled",
					Change: "`apt-get install unattended-upgrades && dpkg-reconfigure -plow unattended-upgrades`"}
			}
			if _, err := fsys.Stat("/etc/systemd/system/timers.target.wants/dnf-automatic-install.timer"); err == nil {
				return Result{Status: Pass, Evidence: "dnf-automatic-install.timer enabled"}
			}
			if _, err := fsys.Stat("/etc/dnf"); err == nil {
				return Result{Status: Fail, Evidence: "dnf-automatic is not enabled", Change: "`dnf install dnf-automatic && systemctl enable --now dnf-automatic-install.timer`"}
			}
			return Result{Status: NA, Evidence: "neither apt nor dnf found"}
		}},
	{"ports.high_risk", "Nothing listens on the high-risk ports", "The seeds block inbound 135-139, 445, 3333, 4444, 5555 and 8220: SMB worms and mining botnets use them.",
		func(ctx context.Context, env *checks.Env) Result {
			return cfgOr(env, warnErr, func(c config) Result {
				if env.Host.Proc() == nil {
					return Result{Status: NA, Evidence: "offline root: listening sockets cannot be seen"}
				}
				socks, err := env.Sockets(ctx)
				if err != nil && len(socks) == 0 {
					return warnErr(err)
				}
				risky := map[uint16]bool{}
				for _, p := range c.HighRiskPorts {
					risky[p] = true
				}
				var open []string
				for _, s := range socks {
					if s.State == "LISTEN" && risky[s.Local.Port()] && !s.Local.Addr().IsLoopback() {
						open = append(open, s.Local.String())
					}
				}
				if len(open) == 0 {
					return Result{Status: Pass, Evidence: "no socket listens on a high-risk port outside loopback"}
				}
				if rs, ok, err := firewall.Read(ctx, HardenTable); err == nil && ok && coversPorts(rs.InboundBlockPorts, c.HighRiskPorts) {
					return Result{Status: Pass, Evidence: fmt.Sprintf("listening: %s; inbound dropped by nftables table inet %s", strings.Join(open, ", "), HardenTable)}
				}
				return Result{Status: Fail, Evidence: "listening: " + strings.Join(open, ", "),
					Change: fmt.Sprintf("stop the service, or drop inbound TCP/UDP %v in nftables table inet %s (harden --apply does)", c.HighRiskPorts, HardenTable)}
			})
		}},
	{"firewall.egress_mining", "Outbound traffic to mining pools and ports is blocked", "A miner that gets in still needs its pool: blocking pool addresses and mining ports on the way out stops the mining, and the blocked attempts show up in counters.",
		func(ctx context.Context, env *checks.Env) Result {
			if env.Host.Proc() == nil {
				return Result{Status: NA, Evidence: "offline root: the running firewall cannot be seen"}
			}
			l := blocklist.FromIntel(env.Intel)
			var have []uint16
			for _, t := range []string{HardenTable, firewall.DefaultTable} {
				rs, ok, err := firewall.Read(ctx, t)
				if err != nil && !errors.Is(err, firewall.ErrForeign) {
					return Result{Status: Warn, Evidence: err.Error()}
				}
				if ok {
					have = append(have, rs.BlockPorts...)
				}
			}
			if coversPorts(have, l.Ports) {
				return Result{Status: Pass, Evidence: fmt.Sprintf("mining ports %v dropped outbound by minerguard's nftables tables", l.Ports)}
			}
			return Result{Status: Fail, Evidence: "no minerguard nftables table drops the mining ports outbound",
				Change: fmt.Sprintf("drop outbound TCP/UDP %v and the %d pool networks in nftables table inet %s (harden --apply does; `minerguard blocklist` exports the same for other firewalls)", l.Ports, len(l.V4)+len(l.V6), HardenTable)}
		}},
}

// journaldSetting is one journald.conf key's effective value and where.
type journaldSetting struct {
	value, file string
	line        int
	raw         string
}

// journald reads journald.conf and its drop-ins (later files win, as
// systemd reads them), keys lower-cased.
func journald(env *checks.Env) (map[string]journaldSetting, bool) {
	fsys := env.Host.FS()
	files := []string{"/etc/systemd/journald.conf"}
	if _, err := fsys.Stat(files[0]); err != nil {
		return nil, false
	}
	for _, d := range []string{"/usr/lib/systemd/journald.conf.d", "/etc/systemd/journald.conf.d", "/run/systemd/journald.conf.d"} {
		es, err := fsys.ReadDir(d)
		if err != nil {
			continue
		}
		var names []string
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".conf") {
				names = append(names, path.Join(d, e.Name()))
			}
		}
		sort.Strings(names)
		files = append(files, names...)
	}
	out := map[string]journaldSetting{}
	for _, f := range files {
		b, err := fsys.ReadFile(f)
		if err != nil {
			continue
		}
		for n, l := range strings.Split(string(b), "\n") {
			raw := strings.TrimSuffix(l, "\r")
			t := strings.TrimSpace(raw)
			if t == "" || t[0] == '#' || t[0] == ';' || t[0] == '[' {
				continue
			}
			k, v, ok := strings.Cut(t, "=")
			if !ok {
				continue
			}
			out[strings.ToLower(strings.TrimSpace(k))] = journaldSetting{value: strings.ToLower(strings.TrimSpace(v)), file: f, line: n + 1, raw: raw}
		}
	}
	return out, true
}

// systemdSpan parses a systemd time span ("6month", "180d", "1y 2w"); a
// bare number is seconds.
func systemdSpan(s string) (time.Duration, error) {
	units := map[string]time.Duration{"": time.Second, "s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute, "h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour, "w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
		"month": 2629800 * time.Second, "months": 2629800 * time.Second, "M": 2629800 * time.Second,
		"y": 31557600 * time.Second, "year": 31557600 * time.Second, "years": 31557600 * time.Second}
	var total time.Duration
	rest := strings.TrimSpace(s)
	if rest == "" || rest == "infinity" {
		return 0, nil
	}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q is not a time span", s)
		}
		n, _ := strconv.Atoi(rest[:i])
		rest = strings.TrimLeft(rest[i:], " ")
		j := 0
		for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
			j++
		}
		u, ok := units[rest[:j]]
		if !ok {
			return 0, fmt.Errorf("%q: unknown unit %q", s, rest[:j])
		}
		total += time.Duration(n) * u
		rest = strings.TrimLeft(rest[j:], " ")
	}
	return total, nil
}

type uidGroup struct {
	uid   int
	names []string // in /etc/passwd order; the first is the original
}

// sharedUIDs lists uids that more than one passwd entry uses.
func sharedUIDs(env *checks.Env) ([]uidGroup, error) {
	b, err := env.Host.FS().ReadFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	users, _ := checks.ParsePasswd(b, "/etc/passwd") // the accounts check reports bad lines
	by := map[int]*uidGroup{}
	var order []int
	for _, u := range users {
		if strings.HasSuffix(u.Sh, "/nologin") || strings.HasSuffix(u.Sh, "/false") {
			continue // cannot log in: shares nothing a person could use
		}
		g := by[u.UID]
		if g == nil {
			g = &uidGroup{uid: u.UID}
			by[u.UID] = g
			order = append(order, u.UID)
		}
		g.names = append(g.names, u.Name)
	}
	var out []uidGroup
	for _, uid := range order {
		if g := by[uid]; len(g.names) > 1 {
			out = append(out, *g)
		}
	}
	return out, nil
}

// enabledRemote lists the .wants links that enable a needless
// remote-access service.
func enabledRemote(env *checks.Env, c config) []string {
	var links []string
	for _, dir := range []string{"/etc/systemd/system/multi-user.target.wants", "/etc/systemd/system/sockets.target.wants", "/etc/systemd/system/graphical.target.wants"} {
		es, err := env.Host.FS().ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range es {
			for _, g := range c.RemoteServices {
				if ok, _ := path.Match(g, e.Name()); ok {
					links = append(links, path.Join(dir, e.Name()))
					break
				}
			}
		}
	}
	return links
}

// HardenTable is the nftables table harden --apply installs.
const HardenTable = "minerguard_harden"

func coversPorts(have, want []uint16) bool {
	for _, p := range want {
		if !slices.Contains(have, p) {
			return false
		}
	}
	return len(want) > 0
}

func sshd(env *checks.Env) (map[string]checks.SSHDDirective, bool) {
	if _, err := env.Host.FS().Stat("/etc/ssh/sshd_config"); err != nil {
		return nil, false
	}
	s, _ := checks.SSHDGlobal(env)
	return s, true
}

// logRetention estimates how many days of the main system log logrotate
// keeps: rotate count × period, from the rule naming the log (falling
// back to logrotate.conf's defaults).
func logRetention(env *checks.Env) (days int, where string, ok bool) {
	fsys := env.Host.FS()
	defaults := map[string]string{"period": "weekly", "rotate": "4"}
	parse := func(text string, into map[string]string) {
		for _, l := range strings.Split(text, "\n") {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "daily", "weekly", "monthly", "yearly":
				into["period"] = f[0]
			case "rotate", "maxage":
				if len(f) > 1 {
					into[f[0]] = f[1]
				}
			}
		}
	}
	if b, err := fsys.ReadFile("/etc/logrotate.conf"); err == nil {
		parse(strings.Split(string(b), "{")[0], defaults)
	}
	compute := func(m map[string]string) int {
		per := map[string]int{"daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}[m["period"]]
		n, _ := strconv.Atoi(m["rotate"])
		d := per * (n + 1)
		if a, err := strconv.Atoi(m["maxage"]); err == nil && a < d {
			d = a
		}
		return d
	}
	es, err := fsys.ReadDir("/etc/logrotate.d")
	if err != nil {
		return 0, "", false
	}
	logRe := regexp.MustCompile(`(?s)((?:/var/log/(?:syslog|messages|auth\.log|secure)\s*)+)\{(.*?)\}`)
	for _, e := range es {
		p := "/etc/logrotate.d/" + e.Name()
		b, err := fsys.ReadFile(p)
		if err != nil {
			continue
		}
		if m := logRe.FindStringSubmatch(string(b)); m != nil {
			rule := map[string]string{"period": defaults["period"], "rotate": defaults["rotate"]}
			parse(m[2], rule)
			return compute(rule), p, true
		}
	}
	return 0, "", false
}
