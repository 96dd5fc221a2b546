package checks

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:          "accounts.ssh",
		Title:       "SSH authorized keys and sshd configuration",
		Description: "Reads every user's authorized_keys (and sshd's AuthorizedKeysFile): forced commands that download or start miners, keys planted in system accounts, world-writable key files; and sshd_config settings that let intruders in (root login, empty passwords).",
		Needs:       NeedsFS,
		Default:     true,
	}, checkSSHKeys)
}

// AuthorizedKey is one parsed authorized_keys line; the key itself is kept
// only as its fingerprint.
type AuthorizedKey struct {
	Options     []string // raw "name" or "name=value" (value unquoted)
	Type        string
	Fingerprint string // SHA256:base64, as ssh-keygen -l prints
	Comment     string
}

// Option returns the unquoted value of option name.
func (k AuthorizedKey) Option(name string) (string, bool) {
	for _, o := range k.Options {
		n, v, _ := strings.Cut(o, "=")
		if strings.EqualFold(n, name) {
			return v, true
		}
	}
	return "", false
}

// Summary describes the key without its key material.
func (k AuthorizedKey) Summary() string {
	s := k.Type + " " + k.Fingerprint
	if k.Comment != "" {
		s += " " + k.Comment
	}
	if len(k.Options) > 0 {
		s = strings.Join(k.Options, ",") + " " + s
	}
	return s
}

func isKeyType(s string) bool {
	switch {
	case s == "ssh-rsa", s == "ssh-dss", s == "ssh-ed25519", s == "ssh-ed448",
		strings.HasPrefix(s, "ecdsa-sha2-"), strings.HasPrefix(s, "sk-ecdsa-sha2-"),
		strings.HasPrefix(s, "sk-ssh-ed25519"), strings.HasSuffix(s, "-cert-v01@openssh.com"):
		return true
	}
	return false
}

// splitOptions splits an options field at unquoted commas and unquotes
// values; an unterminated quote is an error.
func splitOptions(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQ && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			inQ = !inQ
		case c == ',' && !inQ:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if inQ {
		return nil, errors.New("unterminated quote in options")
	}
	return append(out, cur.String()), nil
}

// ParseAuthorizedKey parses one non-comment authorized_keys line.
func ParseAuthorizedKey(line string) (AuthorizedKey, error) {
	var k AuthorizedKey
	line = strings.TrimSpace(line)
	first := line
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		first = line[:i]
	}
	rest := line
	if !isKeyType(first) {
		// An options field runs to the first whitespace outside quotes.
		inQ, end := false, -1
		for i := 0; i < len(line) && end < 0; i++ {
			switch c := line[i]; {
			case c == '\\' && inQ && i+1 < len(line):
				i++
			case c == '"':
				inQ = !inQ
			case (c == ' ' || c == '\t') && !inQ:
				end = i
			}
		}
		if end < 0 {
			return k, errors.New("no key after options")
		}
		opts, err := splitOptions(line[:end])
		if err != nil {
			return k, err
		}
		k.Options = opts
		rest = strings.TrimSpace(line[end:])
	}
	f := strings.Fields(rest)
	if len(f) < 2 {
		return k, errors.New("want key type and key")
	}
	if !isKeyType(f[0]) {
		return k, fmt.Errorf("unknown key type %q", Printable(f[0], 40))
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return k, fmt.Errorf("key is not base64: %v", err)
	}
	if len(blob) < 4 || int(binary.BigEndian.Uint32(blob)) > len(blob)-4 || string(blob[4:4+binary.BigEndian.Uint32(blob)]) != f[0] {
		return k, errors.New("key blob does not match its type")
	}
	sum := sha256.Sum256(blob)
	k.Type = f[0]
	k.Fingerprint = "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	k.Comment = strings.Join(f[2:], " ")
	return k, nil
}

// SSHDDirective is one sshd_config keyword with where it came from.
type SSHDDirective struct {
	Key, Value string // key lower-cased
	File       string
	Line       int
	Match      string // the Match criteria it falls under, "" when global
}

// ParseSSHDConfig parses sshd_config text (without following Include).
func ParseSSHDConfig(text, file string) []SSHDDirective {
	var out []SSHDDirective
	match := ""
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		key, val := l, ""
		if j := strings.IndexAny(l, " \t="); j >= 0 {
			key, val = l[:j], strings.TrimSpace(strings.TrimLeft(l[j:], " \t="))
		}
		key = strings.ToLower(key)
		if key == "" {
			continue // "=value" with no keyword: sshd rejects it too
		}
		if key == "match" {
			match = val
			if strings.EqualFold(val, "all") {
				match = ""
			}
			continue
		}
		out = append(out, SSHDDirective{Key: key, Value: strings.Trim(val, `"`), File: file, Line: i + 1, Match: match})
	}
	return out
}

// readSSHDConfig reads sshd_config and its Include files (globs, relative
// to /etc/ssh), bounded in depth and guarded against cycles.
func readSSHDConfig(env *Env, file, match string, depth int, seen map[string]bool, warns *[]error) []SSHDDirective {
	if depth > 8 || seen[file] {
		*warns = append(*warns, fmt.Errorf("%s: Include loop or too deep", file))
		return nil
	}
	seen[file] = true
	b, _, err := readText(env, file)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			*warns = append(*warns, err)
		}
		return nil
	}
	var out []SSHDDirective
	for _, d := range ParseSSHDConfig(string(b), file) {
		if match != "" && d.Match == "" {
			d.Match = match
		}
		if d.Key != "include" {
			out = append(out, d)
			continue
		}
		for _, pat := range strings.Fields(d.Value) {
			if !strings.HasPrefix(pat, "/") {
				pat = "/etc/ssh/" + pat
			}
			dir, base := path.Split(pat)
			es, err := env.Host.FS().ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range es {
				if ok, _ := path.Match(base, e.Name()); ok && !e.IsDir() {
					out = append(out, readSSHDConfig(env, dir+e.Name(), d.Match, depth+1, seen, warns)...)
				}
			}
		}
	}
	return out
}

// sshdWeakness is a setting value worth advice.
type sshdWeakness struct {
	rule  string
	sev   findings.Severity
	title string
	desc  string
	fix   string
}

func checkSSHKeys(_ context.Context, env *Env) ([]findings.Finding, error) {
	ai, err := loadAccountsIntel(env)
	if err != nil {
		return nil, err
	}
	var warns []error
	var out []findings.Finding

	conf := readSSHDConfig(env, "/etc/ssh/sshd_config", "", 0, map[string]bool{}, &warns)
	global := map[string]SSHDDirective{}
	for _, d := range conf {
		if _, set := global[d.Key]; !set && d.Match == "" {
			// sshd uses the first value it reads for a keyword.
			global[d.Key] = d
		}
	}
	for _, d := range conf {
		if d.Match != "" || global[d.Key] == d {
			if w, ok := sshdWeak(d, ai); ok {
				ev := findings.Evidence{Path: d.File, Line: d.Line, Content: Printable(d.Key+" "+d.Value, 256)}
				desc := w.desc
				if d.Match != "" {
					ev.Details = map[string]string{"match": Printable(d.Match, 256)}
					desc += " (only for connections matching \"" + Printable(d.Match, 128) + "\")"
				}
				out = append(out, findings.Finding{Rule: w.rule, Severity: w.sev, Signal: findings.SignalHardening,
					Title: w.title, Description: desc, Evidence: ev, Remediation: w.fix, Confidence: 0.9})
			}
		}
	}

	// Authorized key files.
	patterns := []string{".ssh/authorized_keys", ".ssh/authorized_keys2"}
	if d, ok := global["authorizedkeysfile"]; ok && d.Value != "" {
		patterns = append(patterns, strings.Fields(d.Value)...)
	}
	pb, _, err := readText(env, "/etc/passwd")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return out, Warn(warns...)
		}
		return out, errors.Join(append(warns, err)...)
	}
	users, _ := ParsePasswd(pb, "/etc/passwd")
	sysMax := systemUIDMax(env, ai)
	done := map[string]bool{}
	for _, u := range users {
		home := path.Clean("/" + u.Home)
		for _, p := range patterns {
			if p == "none" {
				continue
			}
			f := strings.NewReplacer("%%", "%", "%h", home, "%u", u.Name, "%U", strconv.Itoa(u.UID)).Replace(p)
			if strings.HasPrefix(f, "~/") {
				f = home + f[1:]
			}
			if !strings.HasPrefix(f, "/") {
				f = home + "/" + f
			}
			f = path.Clean(f)
			if done[f] {
				continue
			}
			done[f] = true
			out = append(out, scanKeyFile(env, ai, u, f, sysMax, &warns)...)
		}
	}
	return out, Warn(warns...)
}

func sshdWeak(d SSHDDirective, ai *accountsIntel) (sshdWeakness, bool) {
	v := strings.ToLower(d.Value)
	switch d.Key {
	case "permitrootlogin":
		if v == "yes" {
			return sshdWeakness{"accounts.sshd.permit_root_login", findings.Low, "sshd allows root to log in with a password",
				"PermitRootLogin yes lets anyone who guesses root's password log in as root: the usual entry of mining botnets that brute-force SSH.",
				"Set PermitRootLogin prohibit-password (or no) and log in as a user."}, true
		}
	case "passwordauthentication":
		if v == "yes" {
			return sshdWeakness{"accounts.sshd.password_authentication", findings.Info, "sshd accepts passwords",
				"PasswordAuthentication yes exposes every account with a weak password to brute force.",
				"Prefer keys (PasswordAuthentication no), or rate-limit with fail2ban."}, true
		}
	case "permitemptypasswords":
		if v == "yes" {
			return sshdWeakness{"accounts.sshd.permit_empty_passwords", findings.Low, "sshd lets accounts with empty passwords log in",
				"PermitEmptyPasswords yes lets any account without a password log in over the network.",
				"Set PermitEmptyPasswords no."}, true
		}
	case "maxauthtries":
		if n, err := strconv.Atoi(v); err == nil && ai.MaxAuthTries > 0 && n > ai.MaxAuthTries {
			return sshdWeakness{"accounts.sshd.max_auth_tries", findings.Info, fmt.Sprintf("sshd allows %d authentication attempts per connection", n),
				fmt.Sprintf("MaxAuthTries above %d makes password guessing cheaper.", ai.MaxAuthTries),
				"Lower MaxAuthTries (the default is 6)."}, true
		}
	}
	return sshdWeakness{}, false
}

// keyCommandHits names what a forced command does that matters: downloads
// code, names a mining URL or a known miner.
func keyCommandHits(env *Env, ai *accountsIntel, cmd string) []string {
	var hits []string
	lc := strings.ToLower(cmd)
	for _, t := range ai.DownloadTools {
		if strings.Contains(t, "/") {
			if strings.Contains(lc, t) {
				hits = append(hits, "download: "+t)
			}
			continue
		}
		if regexp.MustCompile(`(^|[^a-z0-9_.-])` + regexp.QuoteMeta(t) + `([^a-z0-9_-]|$)`).MatchString(lc) {
			hits = append(hits, "download: "+t)
		}
	}
	if s, ok := env.Intel.StratumURL(cmd); ok {
		hits = append(hits, "mining URL: "+s)
	}
	for _, w := range strings.FieldsFunc(cmd, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ';' || r == '|' || r == '&' || r == '\'' || r == '"'
	}) {
		if p, ok := env.Intel.Program(w); ok && p.Kind != "wallet" {
			hits = append(hits, "program: "+p.Name)
			break
		}
	}
	return hits
}

func scanKeyFile(env *Env, ai *accountsIntel, u PasswdEntry, file string, sysMax int, warns *[]error) []findings.Finding {
	st, err := env.Host.FS().Stat(file)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			*warns = append(*warns, err)
		}
		return nil
	}
	if !st.Mode().IsRegular() {
		return nil
	}
	uid := u.UID
	base := findings.Evidence{Path: file, User: Printable(u.Name, 64), UID: &uid}
	var out []findings.Finding
	if st.Mode().Perm()&0o002 != 0 {
		ev := base
		ev.Details = map[string]string{"mode": fmt.Sprintf("%04o", st.Mode().Perm())}
		out = append(out, findings.Finding{Rule: "accounts.ssh.writable", Severity: findings.Medium, Signal: findings.SignalAccount,
			Title:       fmt.Sprintf("%s is world-writable", Printable(file, 256)),
			Description: "Any local user can add a key to this file and log in as " + Printable(u.Name, 64) + ".",
			Evidence:    ev, Remediation: "chmod 600 the file (sshd's StrictModes also refuses it); check it for keys you do not know.", Confidence: 0.8})
	}
	dir := path.Dir(file)
	if dst, err := env.Host.FS().Stat(dir); err == nil && dst.Mode().Perm()&0o002 != 0 && dst.Mode()&fs.ModeSticky == 0 {
		ev := base
		ev.Path = dir
		ev.Details = map[string]string{"mode": fmt.Sprintf("%04o", dst.Mode().Perm())}
		out = append(out, findings.Finding{Rule: "accounts.ssh.writable", Severity: findings.Medium, Signal: findings.SignalAccount,
			Title:       fmt.Sprintf("%s (holding %s) is world-writable", Printable(dir, 256), path.Base(file)),
			Description: "Any local user can replace the key file in this directory and log in as " + Printable(u.Name, 64) + ".",
			Evidence:    ev, Remediation: "chmod 700 the directory.", Confidence: 0.8})
	}
	b, truncated, err := readText(env, file)
	if err != nil {
		*warns = append(*warns, err)
		return out
	}
	if truncated {
		*warns = append(*warns, fmt.Errorf("%s: larger than %d bytes, rest not read", file, maxTextFile))
	}
	var keys []string
	for i, l := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, err := ParseAuthorizedKey(t)
		if err != nil {
			*warns = append(*warns, fmt.Errorf("%s:%d: %v", file, i+1, err))
			continue
		}
		keys = append(keys, Printable(k.Summary(), 512))
		cmd, ok := k.Option("command")
		if !ok {
			continue
		}
		if hits := keyCommandHits(env, ai, cmd); len(hits) > 0 {
			ev := base
			ev.Line, ev.Content, ev.Match, ev.Cmdline = i+1, Printable(k.Summary(), 1024), hits, Printable(cmd, 1024)
			ev.URL, ev.Domain, ev.Paths = commandRefs(cmd)
			out = append(out, findings.Finding{Rule: "accounts.ssh.key_command", Severity: findings.High, Signal: findings.SignalAccount,
				Title:       fmt.Sprintf("SSH key of %s forces a command that %s", Printable(u.Name, 64), strings.Join(hits, ", ")),
				Description: "Every login with this key runs the command in its command= option. Mining botnets plant keys whose forced command re-downloads and starts the miner.",
				Evidence:    ev, Remediation: "Remove the key line, and the files the command fetched; find how the key was added.", Confidence: 0.85})
		}
	}
	if len(keys) == 0 {
		return out
	}
	sort.Strings(keys)
	ev := base
	ev.Match = keys
	sev, rule := findings.Info, "accounts.ssh.keys"
	title := fmt.Sprintf("%s holds %d key(s) for %s", Printable(file, 256), len(keys), Printable(u.Name, 64))
	desc := "Inventory of keys that can log in; compare the fingerprints with the keys you issued."
	if u.UID != 0 && u.UID <= sysMax && !inList(ai.SystemKeyAllow, u.Name) {
		sev, rule = findings.Medium, "accounts.ssh.system_key"
		title = fmt.Sprintf("System account %s (uid %d) has SSH keys in %s", Printable(u.Name, 64), u.UID, Printable(file, 256))
		desc = "Service accounts do not log in; a key in one is a backdoor that survives password changes of real users."
	}
	out = append(out, findings.Finding{Rule: rule, Severity: sev, Signal: findings.SignalAccount, Title: title, Description: desc, Evidence: ev,
		Remediation: "Remove keys nobody can account for.", Confidence: 0.6})
	return out
}

var (
	cmdURL  = regexp.MustCompile(`(?i)\b(?:https?|ftp|tftp|stratum[a-z0-9+]*)://[^\s'"|;&)]+`)
	cmdPath = regexp.MustCompile(`(?:^|[\s'"=;|&(])(/[^\s'"|;&)]+)`)
)

// commandRefs pulls the first download URL, its host and the absolute
// paths a forced command names, so the engine can tie the key to the
// files it drops or runs.
func commandRefs(cmd string) (url, domain string, paths []string) {
	if u := cmdURL.FindString(cmd); u != "" {
		url = Printable(u, 1024)
		h := u[strings.Index(u, "://")+3:]
		if i := strings.IndexAny(h, "/?#"); i >= 0 {
			h = h[:i]
		}
		if i := strings.LastIndex(h, "@"); i >= 0 {
			h = h[i+1:]
		}
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		domain = Printable(strings.Trim(h, "[]"), 256)
	}
	seen := map[string]bool{}
	for _, m := range cmdPath.FindAllStringSubmatch(cmd, -1) {
		p := path.Clean(m[1])
		if !seen[p] && !strings.HasPrefix(p, "/dev/") {
			seen[p] = true
			paths = append(paths, Printable(p, 1024))
		}
	}
	return url, domain, paths
}

// SSHDGlobal returns the effective global sshd settings of the host (the
// first value of each keyword wins, as sshd reads them; Match blocks are
// left out), following Include files.
func SSHDGlobal(env *Env) (map[string]SSHDDirective, []error) {
	var warns []error
	out := map[string]SSHDDirective{}
	for _, d := range readSSHDConfig(env, "/etc/ssh/sshd_config", "", 0, map[string]bool{}, &warns) {
		if _, seen := out[d.Key]; !seen && d.Match == "" {
			out[d.Key] = d
		}
	}
	return out, warns
}
