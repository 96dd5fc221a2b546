package checks

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

// utmpRec encodes one struct utmp as glibc writes it on x86_64/arm64.
func utmpRec(typ int16, user, line, host string, t time.Time) []byte {
	b := make([]byte, UtmpSize)
	binary.LittleEndian.PutUint16(b[0:], uint16(typ))
	binary.LittleEndian.PutUint32(b[4:], 4242)
	copy(b[8:40], line)
	copy(b[40:44], "ts/0")
	copy(b[44:76], user)
	copy(b[76:332], host)
	binary.LittleEndian.PutUint32(b[340:], uint32(int32(t.Unix())))
	binary.LittleEndian.PutUint32(b[344:], 500)
	copy(b[348:352], []byte{203, 0, 113, 5})
	return b
}

func utmpFile(recs ...[]byte) string { return string(bytes.Join(recs, nil)) }

func gz(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// authLines writes sshd lines at ISO timestamps from start, one second apart.
func authLines(start time.Time, msgs ...string) string {
	var b strings.Builder
	for i, m := range msgs {
		fmt.Fprintf(&b, "%s web1 sshd[%d]: %s\n", start.Add(time.Duration(i)*time.Second).Format("2006-01-02T15:04:05.000000-07:00"), 1000+i, m)
	}
	return b.String()
}

func repeatMsg(n int, m string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = m
	}
	return out
}

func TestParseUtmp(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	good := utmpRec(utmpUserProcess, "alice", "pts/0", "192.0.2.10", t0)
	recs, err := ParseUtmp(append(append([]byte{}, good...), utmpRec(utmpBootTime, "reboot", "~", "6.1.0", t0)...))
	if err != nil || len(recs) != 2 {
		t.Fatalf("%v %v", recs, err)
	}
	r := recs[0]
	if r.Type != utmpUserProcess || r.PID != 4242 || r.User != "alice" || r.Line != "pts/0" || r.ID != "ts/0" || r.Host != "192.0.2.10" || !r.Time.Equal(t0.Add(500*time.Microsecond)) || r.Addr.String() != "203.0.113.5" {
		t.Fatalf("record %+v", r)
	}
	bad := append([]byte{}, good...)
	binary.LittleEndian.PutUint16(bad, 77)
	recs, err = ParseUtmp(append(append(bad, good...), 1, 2, 3))
	if len(recs) != 1 || err == nil || !strings.Contains(err.Error(), "1 corrupt record(s) skipped (first at offset 0)") || !strings.Contains(err.Error(), "truncated: 3 trailing bytes at offset 768") {
		t.Fatalf("%d records, err %v", len(recs), err)
	}
}

func TestParseAuthLog(t *testing.T) {
	ref := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	text := "Dec 31 23:59:01 h sshd[1]: Invalid user admin from 198.51.100.1 port 4000\n" +
		"Dec 31 23:59:02 h sshd[1]: Failed password for invalid user admin from 198.51.100.1 port 4000 ssh2\n" +
		"Jan  2 10:00:00 h sshd[2]: message repeated 5 times: [ Failed password for root from 198.51.100.1 port 4001 ssh2]\n" +
		"Jan  2 10:00:05 h sshd-session[3]: Accepted publickey for root from 198.51.100.1 port 4002 ssh2: ED25519 SHA256:x\n" +
		"Jan  2 10:00:06 h CRON[4]: pam_unix(cron:session): session opened for user root\n" +
		"2026-01-02T11:00:00.123456+01:00 h sshd[5]: Failed none for bob from 2001:db8::1 port 22 ssh2\n"
	got := ParseAuthLog(text, ref)
	var s []string
	for _, e := range got {
		s = append(s, fmt.Sprintf("%s %v %s@%s x%d L%d", e.Time.Format(time.RFC3339), e.Success, e.User, e.Addr, e.Count, e.Line))
	}
	want := []string{
		"2025-12-31T23:59:01Z false admin@198.51.100.1 x1 L1",
		"2026-01-02T10:00:00Z false root@198.51.100.1 x5 L3",
		"2026-01-02T10:00:05Z true root@198.51.100.1 x1 L4",
		"2026-01-02T10:00:00Z false bob@2001:db8::1 x1 L6",
	}
	if strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
}

func TestLogins(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	attacker := "203.0.113.5"
	brute := append(repeatMsg(25, "Failed password for root from "+attacker+" port 5555 ssh2"), "Accepted password for root from "+attacker+" port 5556 ssh2")
	passwd := "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
	lastlog := func(uid int, at time.Time) string {
		b := make([]byte, (uid+1)*lastlogSize)
		binary.LittleEndian.PutUint32(b[uid*lastlogSize:], uint32(at.Unix()))
		copy(b[uid*lastlogSize+4:], "pts/1")
		copy(b[uid*lastlogSize+36:], "192.0.2.10")
		return string(b)
	}
	tests := []struct {
		name   string
		tree   map[string]string
		mtimes map[string]time.Time
		want   []string // rule/severity/path:line
		warn   string
	}{
		{name: "normal logins", tree: map[string]string{"var/log/auth.log": authLines(now.Add(-2*day),
			append(repeatMsg(3, "Failed password for alice from 192.0.2.10 port 1 ssh2"), "Accepted password for alice from 192.0.2.10 port 2 ssh2")...)}},
		{name: "brute force success", tree: map[string]string{"var/log/auth.log": authLines(now.Add(-day), append([]string{"Accepted publickey for alice from 192.0.2.10 port 1 ssh2"}, brute...)...)},
			want: []string{"accounts.logins.bruteforce_success/high//var/log/auth.log:27"}},
		{name: "failures after the success do not count", tree: map[string]string{"var/log/auth.log": authLines(now.Add(-day), append([]string{"Accepted password for root from " + attacker + " port 1 ssh2"}, brute[:25]...)...)}},
		{name: "invalid-user pairs count once", tree: map[string]string{"var/log/auth.log": authLines(now.Add(-day), append(func() []string {
			var m []string
			for i := 0; i < 15; i++ {
				m = append(m, "Invalid user u"+strconv.Itoa(i)+" from "+attacker+" port 1", "Failed password for invalid user u"+strconv.Itoa(i)+" from "+attacker+" port 1 ssh2")
			}
			return m
		}(), "Accepted password for root from "+attacker+" port 2 ssh2")...)}},
		{name: "repeated message and rotated gz", tree: map[string]string{
			"var/log/auth.log.2.gz": gz(t, authLines(now.Add(-3*day), "message repeated 30 times: [ Failed password for root from "+attacker+" port 5 ssh2]")),
			"var/log/auth.log.1":    authLines(now.Add(-2*day), "Accepted publickey for alice from 192.0.2.10 port 1 ssh2"),
			"var/log/auth.log":      authLines(now.Add(-day), "Accepted password for root from "+attacker+" port 7 ssh2")},
			want: []string{"accounts.logins.bruteforce_success/high//var/log/auth.log:1"}},
		{name: "btmp failures then wtmp success", tree: map[string]string{
			"var/log/btmp": utmpFile(func() [][]byte {
				var r [][]byte
				for i := 0; i < 22; i++ {
					r = append(r, utmpRec(6, "root", "ssh:notty", "198.51.100.9", now.Add(-2*day+time.Duration(i)*time.Second)))
				}
				return r
			}()...),
			"var/log/wtmp": utmpFile(utmpRec(utmpBootTime, "reboot", "~", "6.1", now.Add(-3*day)), utmpRec(utmpUserProcess, "root", "pts/0", "198.51.100.9", now.Add(-2*day+time.Minute)))},
			want: []string{"accounts.logins.bruteforce_success/high//var/log/wtmp:0"}},
		{name: "btmp failures then open session in utmp", tree: map[string]string{
			"var/log/btmp": utmpFile(func() [][]byte {
				var r [][]byte
				for i := 0; i < 20; i++ {
					r = append(r, utmpRec(6, "admin", "ssh:notty", "198.51.100.9", now.Add(-time.Hour+time.Duration(i)*time.Second)))
				}
				return r
			}()...),
			"var/run/utmp": utmpFile(utmpRec(utmpUserProcess, "root", "pts/3", "198.51.100.9", now.Add(-time.Minute)))},
			want: []string{"accounts.logins.bruteforce_success/high//var/run/utmp:0"}},
		{name: "new source", tree: map[string]string{"var/log/auth.log": authLines(now.Add(-5*day), "Accepted publickey for alice from 192.0.2.10 port 1 ssh2") +
			authLines(now.Add(-day), "Accepted publickey for alice from 192.0.2.10 port 1 ssh2", "Accepted password for alice from 198.51.100.77 port 1 ssh2")},
			want: []string{"accounts.logins.new_source/low//var/log/auth.log:3"}},
		{name: "wtmp cleared", tree: map[string]string{"var/log/wtmp": "", "var/log/auth.log": authLines(now.Add(-day), "Accepted publickey for alice from 192.0.2.10 port 1 ssh2")},
			mtimes: map[string]time.Time{"var/log/wtmp": now.Add(-3 * day)},
			want:   []string{"accounts.logins.wtmp_cleared/medium//var/log/wtmp:0"}},
		{name: "wtmp empty after rotation", tree: map[string]string{"var/log/wtmp": "", "var/log/auth.log": authLines(now.Add(-day), "Accepted publickey for alice from 192.0.2.10 port 1 ssh2")},
			mtimes: map[string]time.Time{"var/log/wtmp": now.Add(-time.Hour)}},
		{name: "wtmp truncated", tree: map[string]string{
			"var/log/wtmp":     utmpFile(utmpRec(utmpUserProcess, "alice", "pts/0", "192.0.2.10", now.Add(-day))),
			"var/log/auth.log": authLines(now.Add(-3*day), "Accepted publickey for alice from 192.0.2.10 port 1 ssh2") + authLines(now.Add(-day), "Accepted publickey for alice from 192.0.2.10 port 1 ssh2")},
			want: []string{"accounts.logins.wtmp_truncated/medium//var/log/wtmp:0"}},
		{name: "lastlog login missing from wtmp", tree: map[string]string{"etc/passwd": passwd,
			"var/log/wtmp":    utmpFile(utmpRec(utmpBootTime, "reboot", "~", "6.1", now.Add(-5*day))),
			"var/log/lastlog": lastlog(1000, now.Add(-day))},
			want: []string{"accounts.logins.lastlog_mismatch/medium//var/log/lastlog:0"}},
		{name: "lastlog agrees with wtmp", tree: map[string]string{"etc/passwd": passwd,
			"var/log/wtmp":    utmpFile(utmpRec(utmpBootTime, "reboot", "~", "6.1", now.Add(-5*day)), utmpRec(utmpUserProcess, "alice", "pts/1", "192.0.2.10", now.Add(-day))),
			"var/log/lastlog": lastlog(1000, now.Add(-day))}},
		{name: "auth.log missing under rsyslog", tree: map[string]string{"etc/rsyslog.conf": "auth,authpriv.*\t\t\t/var/log/auth.log\n", "var/log/syslog": "x\n"},
			want: []string{"accounts.logins.log_missing/medium//var/log/auth.log:0"}},
		{name: "auth.log emptied long ago", tree: map[string]string{"var/log/auth.log": "", "etc/rsyslog.d/50-default.conf": "auth,authpriv.* /var/log/auth.log\n"}, mtimes: map[string]time.Time{"var/log/auth.log": now.Add(-3 * day)},
			want: []string{"accounts.logins.log_empty/medium//var/log/auth.log:0"}},
		{name: "empty auth.log nobody writes", tree: map[string]string{"var/log/auth.log": ""}, mtimes: map[string]time.Time{"var/log/auth.log": now.Add(-3 * day)}},
		{name: "stale wtmp beside wtmpdb", tree: map[string]string{"var/log/wtmp": "", "var/lib/wtmpdb/wtmp.db": "SQLite format 3\x00", "var/log/auth.log": authLines(now.Add(-day), "Accepted publickey for alice from 192.0.2.10 port 1 ssh2")},
			mtimes: map[string]time.Time{"var/log/wtmp": now.Add(-30 * day)}},
		{name: "auth.log just rotated", tree: map[string]string{"var/log/auth.log": ""}, mtimes: map[string]time.Time{"var/log/auth.log": now.Add(-time.Hour)}},
		{name: "corrupt wtmp", tree: map[string]string{"var/log/wtmp": utmpFile(utmpRec(utmpBootTime, "reboot", "~", "6.1", now.Add(-5*day))) + "garbage"},
			warn: "/var/log/wtmp: truncated: 7 trailing bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.tree)
			for p, mt := range tc.mtimes {
				if err := os.Chtimes(filepath.Join(root, p), mt, mt); err != nil {
					t.Fatal(err)
				}
			}
			// Non-empty logs were written at the scan time.
			for p, c := range tc.tree {
				if _, ok := tc.mtimes[p]; !ok && c != "" {
					_ = os.Chtimes(filepath.Join(root, p), now, now)
				}
			}
			fs, err := runFile(t, offlineEnv(t, root, now), "accounts.logins")
			if tc.warn != "" {
				if err == nil || !strings.Contains(err.Error(), tc.warn) {
					t.Fatalf("warning %v, want %q", err, tc.warn)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Rule+"/"+f.Severity.String()+"/"+f.Evidence.Path+":"+strconv.Itoa(f.Evidence.Line))
				wantSig := findings.SignalAccount
				if f.Severity == findings.Medium {
					wantSig = findings.SignalIntegrity
				}
				if f.Signal != wantSig {
					t.Fatalf("%s: signal %s", f.Rule, f.Signal)
				}
				if f.Rule == "accounts.logins.bruteforce_success" && (f.Evidence.SrcIP == "" || f.Evidence.User != "root") {
					t.Fatalf("evidence %+v", f.Evidence)
				}
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func FuzzParseUtmp(f *testing.F) {
	f.Add(utmpRec(utmpUserProcess, "alice", "pts/0", "192.0.2.10", time.Unix(1700000000, 0)))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := ParseUtmp(b)
		if len(recs) > len(b)/UtmpSize {
			t.Fatalf("%d records from %d bytes", len(recs), len(b))
		}
		if err == nil && len(b)%UtmpSize != 0 {
			t.Fatal("partial record without error")
		}
		for _, r := range recs {
			if r.Type < 0 || r.Type > utmpMaxType || len(r.User) > 32 || len(r.Host) > 256 {
				t.Fatalf("bad record %+v", r)
			}
		}
	})
}

func FuzzParseAuthLog(f *testing.F) {
	f.Add("Jan  2 10:00:00 h sshd[2]: message repeated 5 times: [ Failed password for root from 198.51.100.1 port 4001 ssh2]\nJan  2 10:00:05 h sshd[3]: Accepted publickey for root from 198.51.100.1 port 4002 ssh2\n")
	f.Add("2026-01-02T11:00:00+01:00 h sshd[5]: Invalid user  from 1.2.3.4 port 9\n")
	f.Fuzz(func(t *testing.T, s string) {
		n := strings.Count(s, "\n") + 1
		for _, e := range ParseAuthLog(s, time.Unix(1700000000, 0)) {
			if e.Line < 1 || e.Line > n || e.Count < 1 {
				t.Fatalf("bad event %+v", e)
			}
		}
	})
}

// TestAccountChecksNormalDebian runs the four checks on a Debian host with
// ordinary admin habits (keys, PostgreSQL, GitLab's forced command, SSH
// scanners that never got in) and wants nothing at medium or above.
func TestAccountChecksNormalDebian(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	k1, _ := testKey(7)
	old := int(now.Add(-500*day).Unix() / 86400)
	var scan []string
	for i := 0; i < 200; i++ {
		scan = append(scan, "Invalid user oracle from 198.51.100.200 port "+strconv.Itoa(40000+i), "Failed password for invalid user oracle from 198.51.100.200 port "+strconv.Itoa(40000+i)+" ssh2")
	}
	scan = append(scan, "Accepted publickey for alice from 192.0.2.10 port 50000 ssh2: ED25519 SHA256:abc")
	tree := map[string]string{
		"etc/passwd":                           debianPasswd + "git:x:998:998::/var/opt/gitlab:/bin/sh\n",
		"etc/shadow":                           debianShadow(old) + fmt.Sprintf("git:!:%d::::::\n", old),
		"etc/group":                            debianGroup,
		"etc/machine-id":                       "0123\n",
		"etc/login.defs":                       "UID_MIN\t\t\t 1000\n",
		"etc/ssh/sshd_config":                  "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem sftp /usr/lib/openssh/sftp-server\n",
		"etc/ssh/sshd_config.d/hardening.conf": "PasswordAuthentication no\nPermitRootLogin prohibit-password\n",
		"root/.ssh/authorized_keys":            k1 + " admin@jump\n",
		"home/alice/.ssh/authorized_keys":      `from="192.0.2.0/24" ` + k1 + " alice@laptop\n",
		"var/opt/gitlab/.ssh/authorized_keys":  `command="/opt/gitlab/embedded/service/gitlab-shell/bin/gitlab-shell key-12",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty ` + k1 + "\n",
		"etc/rsyslog.conf":                     "auth,authpriv.*\t\t\t/var/log/auth.log\n",
		"var/log/auth.log":                     authLines(now.Add(-day), scan...),
		"var/log/wtmp":                         utmpFile(utmpRec(utmpBootTime, "reboot", "~", "6.1.0-27-amd64", now.Add(-10*day)), utmpRec(utmpUserProcess, "alice", "pts/0", "192.0.2.10", now.Add(-day+400*time.Second))),
		"var/log/btmp":                         utmpFile(utmpRec(6, "oracle", "ssh:notty", "198.51.100.200", now.Add(-day))),
		"etc/ld.so.preload":                    "",
		"etc/environment":                      "PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n",
	}
	root := t.TempDir()
	writeTree(t, root, tree)
	for _, p := range []string{"etc/machine-id"} {
		if err := os.Chtimes(filepath.Join(root, p), now.Add(-500*day), now.Add(-500*day)); err != nil {
			t.Fatal(err)
		}
	}
	for p := range tree {
		if strings.Contains(p, "authorized_keys") {
			_ = os.Chmod(filepath.Join(root, p), 0o600)
		}
	}
	env := offlineEnv(t, root, now)
	for _, id := range []string{"accounts.users", "accounts.ssh", "accounts.logins", "preload.library"} {
		fs, err := runFile(t, env, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		for _, f := range fs {
			if f.Severity >= findings.Medium {
				t.Errorf("%s: %s/%s %s (%s:%d)", id, f.Rule, f.Severity, f.Title, f.Evidence.Path, f.Evidence.Line)
			}
		}
	}
}

// TestReadAuthLogBounds: a log larger than the bound is read from its
// newest end, in whole lines, for plain and rotated gzip files alike, and
// what was left out is said; a damaged gzip yields what came before the
// damage, also said.
func TestReadAuthLogBounds(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/log"), 0o755); err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	for i := 0; big.Len() <= maxAuthLogBytes+(2<<20); i++ {
		fmt.Fprintf(&big, "Nov 20 10:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port %d ssh2\n", i)
	}
	last := "Nov 20 11:00:00 h sshd[2]: Accepted password for root from 203.0.113.5 port 1 ssh2\n"
	big.WriteString(last)
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	small := "Nov 20 10:00:00 h sshd[1]: Accepted password for alice from 192.0.2.10 port 2 ssh2\n"
	smallGz := gz(small)
	files := map[string]string{
		"auth.log":      big.String(),
		"auth.log.1":    small,
		"auth.log.2.gz": gz(big.String()),
		"auth.log.3.gz": smallGz,
		"auth.log.4.gz": smallGz[:len(smallGz)-12], // cut inside the trailer
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, "var/log", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := offlineEnv(t, root, time.Now())
	cases := []struct {
		name, partial string
		whole         bool // the whole content came back
	}{
		{"auth.log", "only the last 16 MiB of 18 MiB read", false},
		{"auth.log.1", "", true},
		{"auth.log.2.gz", "only the last 16 MiB of 18 MiB read", false},
		{"auth.log.3.gz", "", true},
		{"auth.log.4.gz", "read up to a damaged part", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, _, partial, err := readAuthLog(env, "/var/log/"+c.name)
			if err != nil {
				t.Fatal(err)
			}
			if (partial == nil) != (c.partial == "") || partial != nil && !strings.Contains(partial.Error(), c.partial) || partial != nil && !strings.Contains(partial.Error(), c.name) {
				t.Errorf("partial %v, want %q", partial, c.partial)
			}
			orig := files[c.name]
			if strings.HasSuffix(c.name, ".gz") {
				orig = map[bool]string{true: small, false: big.String()}[len(orig) < 1000]
			}
			if c.whole {
				if text != orig {
					t.Errorf("text %q, want the whole log", text)
				}
				return
			}
			if len(text) > maxAuthLogBytes || !strings.HasSuffix(text, last) || !strings.HasSuffix(orig, text) || !strings.HasPrefix(text, "Nov 20 10:00:00 ") {
				t.Errorf("text of %d bytes: not the newest whole lines (ends %q, starts %q)", len(text), text[max(0, len(text)-40):], text[:min(40, len(text))])
			}
		})
	}
}
