package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:          "accounts.users",
		Title:       "Suspicious local accounts (/etc/passwd, /etc/shadow, /etc/group)",
		Description: "Extra uid 0 accounts, empty passwords on accounts that can log in, duplicate uids, login shells on system accounts, and accounts created recently (in administrative groups above all): what intruders add to keep access to a mining host.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkAccounts)
}

// accountsIntel is intel data/accounts.json, shared by the account, key,
// login and preload-library checks.
type accountsIntel struct {
	Comment            string   `json:"comment"`
	Shells             []string `json:"shells"`
	SystemUIDMax       int      `json:"system_uid_max"`
	SystemShellAllow   []string `json:"system_shell_allow"`
	SystemKeyAllow     []string `json:"system_key_allow"`
	PrivilegedGroups   []string `json:"privileged_groups"`
	RecentDays         int      `json:"recent_days"`
	YoungSystemDays    int      `json:"young_system_days"`
	SystemAgeFiles     []string `json:"system_age_files"`
	DownloadTools      []string `json:"download_tools"`
	BruteForceFailures int      `json:"brute_force_failures"`
	EmptyLogGraceHours int      `json:"empty_log_grace_hours"`
	MaxAuthTries       int      `json:"max_auth_tries"`
	HookSymbols        []string `json:"hook_symbols"`
	LibraryDirs        []string `json:"library_dirs"`
	LibNames           []string `json:"lib_names"`
}

func loadAccountsIntel(env *Env) (*accountsIntel, error) {
	var ai accountsIntel
	if err := env.Intel.Section("accounts", &ai); err != nil {
		return nil, err
	}
	if ai.RecentDays <= 0 || ai.BruteForceFailures <= 0 || ai.SystemUIDMax <= 0 {
		return nil, errors.New("intel accounts.json: recent_days, brute_force_failures and system_uid_max must be positive")
	}
	return &ai, nil
}

func inList(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// readText reads a bounded host text file (see readHostText).
func readText(env *Env, name string) ([]byte, bool, error) { return readHostText(env, name) }

// PasswdEntry is one /etc/passwd line.
type PasswdEntry struct {
	Name, Password  string
	UID, GID        int
	Gecos, Home, Sh string
	Line            int
	Raw             string
}

// ShadowEntry is one /etc/shadow line; LastChange is days since the epoch
// (-1 when empty).
type ShadowEntry struct {
	Name, Hash string
	LastChange int
	Line       int
}

// GroupEntry is one /etc/group line.
type GroupEntry struct {
	Name    string
	GID     int
	Members []string
	Line    int
}

// lineWarn names a malformed line.
func lineWarn(file string, line int, format string, a ...any) error {
	return fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, a...))
}

// splitLines yields non-empty, non-comment lines with 1-based numbers.
func splitLines(b []byte, fn func(n int, line string)) {
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		fn(i+1, l)
	}
}

// ParsePasswd parses passwd text; malformed lines are skipped with a
// warning naming file:line. NIS "+"/"-" lines are skipped silently.
func ParsePasswd(b []byte, file string) ([]PasswdEntry, []error) {
	var out []PasswdEntry
	var warns []error
	splitLines(b, func(n int, l string) {
		if l[0] == '+' || l[0] == '-' {
			return
		}
		f := strings.Split(l, ":")
		if len(f) != 7 {
			warns = append(warns, lineWarn(file, n, "want 7 fields, got %d", len(f)))
			return
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || uid < 0 || gid < 0 || f[0] == "" {
			warns = append(warns, lineWarn(file, n, "bad name, uid or gid"))
			return
		}
		out = append(out, PasswdEntry{Name: f[0], Password: f[1], UID: uid, GID: gid, Gecos: f[4], Home: f[5], Sh: f[6], Line: n, Raw: l})
	})
	return out, warns
}

// ParseShadow parses shadow text (9 fields; fewer than 3 is malformed).
func ParseShadow(b []byte, file string) ([]ShadowEntry, []error) {
	var out []ShadowEntry
	var warns []error
	splitLines(b, func(n int, l string) {
		if l[0] == '+' || l[0] == '-' {
			return
		}
		f := strings.Split(l, ":")
		if len(f) < 3 || f[0] == "" {
			warns = append(warns, lineWarn(file, n, "want 9 fields, got %d", len(f)))
			return
		}
		e := ShadowEntry{Name: f[0], Hash: f[1], LastChange: -1, Line: n}
		if f[2] != "" {
			d, err := strconv.Atoi(f[2])
			if err != nil || d < 0 {
				warns = append(warns, lineWarn(file, n, "bad last-change field %q", Printable(f[2], 32)))
			} else {
				e.LastChange = d
			}
		}
		out = append(out, e)
	})
	return out, warns
}

// ParseGroup parses group text.
func ParseGroup(b []byte, file string) ([]GroupEntry, []error) {
	var out []GroupEntry
	var warns []error
	splitLines(b, func(n int, l string) {
		if l[0] == '+' || l[0] == '-' {
			return
		}
		f := strings.Split(l, ":")
		if len(f) != 4 || f[0] == "" {
			warns = append(warns, lineWarn(file, n, "want 4 fields, got %d", len(f)))
			return
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil || gid < 0 {
			warns = append(warns, lineWarn(file, n, "bad gid %q", Printable(f[2], 32)))
			return
		}
		g := GroupEntry{Name: f[0], GID: gid, Line: n}
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.Members = append(g.Members, m)
			}
		}
		out = append(out, g)
	})
	return out, warns
}

// isLoginShell says whether a passwd shell field gives an interactive login.
func (ai *accountsIntel) isLoginShell(sh string) bool {
	sh = strings.TrimSpace(sh)
	if sh == "" {
		// login(1) uses /bin/sh for an empty shell field.
		return true
	}
	return inList(ai.Shells, path.Base(sh))
}

// systemUIDMax is UID_MIN-1 from /etc/login.defs, or the intel default.
func systemUIDMax(env *Env, ai *accountsIntel) int {
	b, _, err := readText(env, "/etc/login.defs")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) == 2 && f[0] == "UID_MIN" {
				if v, err := strconv.Atoi(f[1]); err == nil && v > 0 {
					return v - 1
				}
			}
		}
	}
	return ai.SystemUIDMax
}

// systemInstalled estimates when the system was installed: the oldest of
// the intel's dating files and of shadow's password-change days for
// system accounts (set when their packages created them).
func systemInstalled(env *Env, ai *accountsIntel, shadow []ShadowEntry) time.Time {
	var oldest time.Time
	consider := func(t time.Time) {
		if t.IsZero() || t.Unix() <= 86400 {
			return
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	for _, p := range ai.SystemAgeFiles {
		if st, err := env.Host.FS().Lstat(p); err == nil {
			consider(st.ModTime())
		}
	}
	for _, s := range shadow {
		if s.LastChange > 0 {
			consider(time.Unix(int64(s.LastChange)*86400, 0))
		}
	}
	return oldest
}

func checkAccounts(_ context.Context, env *Env) ([]findings.Finding, error) {
	ai, err := loadAccountsIntel(env)
	if err != nil {
		return nil, err
	}
	var warns []error
	pb, _, err := readText(env, "/etc/passwd")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Skipped("no /etc/passwd")
		}
		return nil, err
	}
	users, w := ParsePasswd(pb, "/etc/passwd")
	warns = append(warns, w...)
	var shadow []ShadowEntry
	if sb, _, err := readText(env, "/etc/shadow"); err == nil {
		shadow, w = ParseShadow(sb, "/etc/shadow")
		warns = append(warns, w...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		warns = append(warns, err)
	}
	var groups []GroupEntry
	if gb, _, err := readText(env, "/etc/group"); err == nil {
		groups, w = ParseGroup(gb, "/etc/group")
		warns = append(warns, w...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		warns = append(warns, err)
	}
	shadowBy := map[string]ShadowEntry{}
	for _, s := range shadow {
		if _, dup := shadowBy[s.Name]; !dup {
			shadowBy[s.Name] = s
		}
	}
	sysMax := systemUIDMax(env, ai)
	var out []findings.Finding
	acct := func(rule string, sev findings.Severity, u PasswdEntry, file string, line int, content, title, desc, fix string, conf float64) {
		uid := u.UID
		out = append(out, findings.Finding{
			Rule: rule, Severity: sev, Signal: findings.SignalAccount,
			Title: title, Description: desc, Remediation: fix, Confidence: conf,
			Evidence: findings.Evidence{Path: file, Line: line, Content: Printable(content, 512), User: Printable(u.Name, 64), UID: &uid},
		})
	}
	byUID := map[int][]PasswdEntry{}
	for _, u := range users {
		byUID[u.UID] = append(byUID[u.UID], u)
		name := Printable(u.Name, 64)
		login := ai.isLoginShell(u.Sh)
		s, hasShadow := shadowBy[u.Name]
		switch {
		case u.UID != 0 || u.Name == "root":
		case !login && (strings.HasPrefix(u.Password, "!") || hasShadow && strings.HasPrefix(s.Hash, "!")):
			// Locked (by `minerguard clean` or usermod -L) and without a
			// shell: contained, but still to be removed once investigated.
			acct("accounts.uid0", findings.Low, u, "/etc/passwd", u.Line, u.Raw,
				fmt.Sprintf("Locked account %s has uid 0", name),
				"A second uid 0 account, locked and without a login shell; it no longer logs in but keeps root's uid.",
				"Delete the account (userdel) once the investigation no longer needs it.", 0.9)
		default:
			acct("accounts.uid0", findings.High, u, "/etc/passwd", u.Line, u.Raw,
				fmt.Sprintf("Account %s has uid 0 (root powers)", name),
				"Only root should have uid 0. A second uid 0 account is a classic backdoor: it logs in with its own password and is root.",
				"Lock or delete the account (usermod -L, userdel) after checking who created it (auth logs, shadow change date).", 0.9)
		}
		switch {
		case !login:
		case u.Password == "":
			acct("accounts.empty_password", findings.High, u, "/etc/passwd", u.Line, u.Raw,
				fmt.Sprintf("Account %s has no password and a login shell", name),
				"The password field in /etc/passwd is empty, so the account logs in without a password.",
				"Set a password or lock the account (passwd -l).", 0.9)
		case u.Password == "x" && hasShadow && s.Hash == "":
			acct("accounts.empty_password", findings.High, u, "/etc/shadow", s.Line, s.Name+":"+s.Hash+":...",
				fmt.Sprintf("Account %s has an empty password in /etc/shadow and a login shell", name),
				"The password hash in /etc/shadow is empty, so the account may log in without a password.",
				"Set a password or lock the account (passwd -l).", 0.85)
		}
		if login && u.UID != 0 && u.UID <= sysMax && !inList(ai.SystemShellAllow, u.Name) {
			acct("accounts.system_shell", findings.Medium, u, "/etc/passwd", u.Line, u.Raw,
				fmt.Sprintf("System account %s (uid %d) has the login shell %s", name, u.UID, Printable(u.Sh, 64)),
				"System accounts run services and normally have /usr/sbin/nologin. Giving one a shell (and a password or key) is a quiet way to keep access.",
				"Set the shell back to /usr/sbin/nologin (usermod -s) unless the account's package needs it.", 0.6)
		}
	}
	uids := make([]int, 0, len(byUID))
	for id := range byUID {
		uids = append(uids, id)
	}
	sort.Ints(uids)
	for _, id := range uids {
		us := byUID[id]
		if len(us) < 2 || id == 0 {
			continue
		}
		names := make([]string, len(us))
		for i, u := range us {
			names[i] = Printable(u.Name, 64)
		}
		acct("accounts.duplicate_uid", findings.Medium, us[1], "/etc/passwd", us[1].Line, us[1].Raw,
			fmt.Sprintf("uid %d is shared by %s", id, strings.Join(names, ", ")),
			"Accounts sharing a uid share every file and process; a duplicate of a service or user account is a way to act as it under another name and password.",
			"Give each account its own uid or remove the extra one.", 0.6)
	}

	// Recently created accounts.
	installed := systemInstalled(env, ai, shadow)
	young := !installed.IsZero() && env.Now.Sub(installed) < time.Duration(ai.YoungSystemDays)*24*time.Hour
	window := time.Duration(ai.RecentDays) * 24 * time.Hour
	privOf := map[string][]string{}
	gidName := map[int]string{}
	for _, g := range groups {
		gidName[g.GID] = g.Name
		if !inList(ai.PrivilegedGroups, g.Name) {
			continue
		}
		for _, m := range g.Members {
			privOf[m] = append(privOf[m], g.Name)
		}
	}
	for _, u := range users {
		if u.UID == 0 {
			continue
		}
		s, hasShadow := shadowBy[u.Name]
		usable := u.Password != "x" && u.Password != "*" && !strings.HasPrefix(u.Password, "!") ||
			hasShadow && !strings.HasPrefix(s.Hash, "!") && !strings.HasPrefix(s.Hash, "*")
		if !ai.isLoginShell(u.Sh) && !usable {
			// Package-made service accounts: no shell, no password.
			continue
		}
		var pwTime time.Time
		if hasShadow && s.LastChange > 0 {
			pwTime = time.Unix(int64(s.LastChange)*86400, 0)
		}
		pwRecent := !pwTime.IsZero() && env.Now.Sub(pwTime) < window+24*time.Hour && !pwTime.After(env.Now.Add(24*time.Hour))
		homeBorn, btimeOK := time.Time{}, false
		if u.Home != "" && u.Home != "/" {
			if rp, err := env.Host.FS().RealPath(u.Home); err == nil {
				homeBorn, btimeOK = birthTime(rp)
			}
		}
		homeRecent := btimeOK && env.Now.Sub(homeBorn) < window
		hasPwDate := !pwTime.IsZero()
		switch {
		case hasPwDate && !pwRecent:
			// The password dates from before the window: an old account
			// (a home recreated by a restore or disk move is not new).
			continue
		case hasPwDate && btimeOK && !homeRecent:
			// A password changed on an account whose home is old.
			continue
		case !hasPwDate && !homeRecent:
			continue
		}
		priv := privOf[u.Name]
		if g, ok := gidName[u.GID]; ok && inList(ai.PrivilegedGroups, g) && !inList(priv, g) {
			priv = append(priv, g)
		}
		sev := findings.Low
		rule := "accounts.recent"
		what := "was created"
		if !btimeOK {
			what = "had its password set"
		}
		when := pwTime
		if btimeOK {
			when = homeBorn
		}
		desc := fmt.Sprintf("The account %s within %d days of the scan (%s). Intruders add accounts to keep access; check that someone here created it.", what, ai.RecentDays, when.UTC().Format("2006-01-02"))
		if len(priv) > 0 {
			rule = "accounts.recent_privileged"
			// Only a home directory born in the window proves the account
			// is new; a recent password alone may be a routine change.
			if btimeOK {
				sev = findings.Medium
			}
			desc += " It is in the administrative group(s) " + strings.Join(priv, ", ") + "."
		}
		if young {
			sev = findings.Info
			desc += " The system itself is young (installed " + installed.UTC().Format("2006-01-02") + "), so new accounts are expected."
		}
		title := fmt.Sprintf("Account %s %s recently", Printable(u.Name, 64), what)
		if len(priv) > 0 {
			title += " and is in " + strings.Join(priv, ", ")
		}
		file, line, content := "/etc/passwd", u.Line, u.Raw
		if hasShadow && pwRecent {
			file, line, content = "/etc/shadow", s.Line, s.Name+":<hash>:"+strconv.Itoa(s.LastChange)
		}
		acct(rule, sev, u, file, line, content,
			title,
			desc, "Confirm who created the account; if nobody did, lock it, remove its keys and review its logins.", 0.5)
	}
	return out, Warn(warns...)
}
