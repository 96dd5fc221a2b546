package harden

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
)

func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func audit(t *testing.T, h host.Host, now time.Time) map[string]Result {
	t.Helper()
	env := checks.NewEnv(h, intel.MustLoad(), nil, nil)
	env.Now = now
	out := map[string]Result{}
	for _, r := range Audit(context.Background(), env, nil, nil) {
		out[r.ID] = r
	}
	return out
}

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestAuditWeakAndHardenedRoots(t *testing.T) {
	weak := tree(t, map[string]string{
		"etc/ssh/sshd_config":                 "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nMaxAuthTries 10\n",
		"etc/systemd/journald.conf":           "[Journal]\n#Storage=auto\nMaxRetentionSec=1month\n",
		"etc/passwd":                          "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n",
		"etc/ssh/sshd_config.d/50-cloud.conf": "PasswordAuthentication yes\n",
		"etc/shadow":                          "root:$y$j9T$abc:19000:0:99999:7:::\nguest::19000:0:99999:7:::\n",
		"etc/security/pwquality.conf":         "# minlen = 8\nminlen = 8\n",
		"etc/systemd/system/sockets.target.wants/telnet.socket":   "",
		"etc/systemd/system/multi-user.target.wants/xrdp.service": "",
		"etc/logrotate.conf":                 "weekly\nrotate 4\n",
		"etc/logrotate.d/rsyslog":            "/var/log/syslog\n/var/log/auth.log\n{\n\trotate 4\n\tweekly\n}\n",
		"var/lib/clamav/daily.cld":           "x",
		"etc/apt/apt.conf.d/20auto-upgrades": "APT::Periodic::Update-Package-Lists \"1\";\n",
	})
	old := now.Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(filepath.Join(weak, "var/lib/clamav/daily.cld"), old, old); err != nil {
		t.Fatal(err)
	}
	h, _ := host.Offline(weak)
	got := audit(t, h, now)
	want := map[string]Status{
		"ssh.root_login": Fail, "ssh.password_auth": Fail, "ssh.max_auth_tries": Warn, "password.min_length": Fail,
		"accounts.empty_password": Fail, "remote.services": Fail, "logs.retention": Fail, "av.signatures": Fail,
		"updates.automatic": Fail, "ports.high_risk": NA, "firewall.egress_mining": NA, "logs.journald": Fail, "accounts.shared": Fail,
	}
	for id, st := range want {
		if got[id].Status != st {
			t.Errorf("weak %s: %s (%s), want %s", id, got[id].Status, got[id].Evidence, st)
		}
		if st == Fail && got[id].Change == "" {
			t.Errorf("weak %s: a failure without the change to make", id)
		}
	}
	if got["ssh.password_auth"].Path != "/etc/ssh/sshd_config" || got["accounts.empty_password"].Evidence != "empty password: guest" {
		t.Errorf("evidence: %+v %+v", got["ssh.password_auth"], got["accounts.empty_password"])
	}
	if got["logs.retention"].Evidence != "about 35 days kept (/etc/logrotate.d/rsyslog)" {
		t.Errorf("retention: %q", got["logs.retention"].Evidence)
	}

	hard := tree(t, map[string]string{
		"etc/ssh/sshd_config":                 "PermitRootLogin prohibit-password\nPasswordAuthentication no\nMaxAuthTries 3\nMatch User backup\n  PasswordAuthentication yes\n",
		"etc/systemd/journald.conf":           "[Journal]\nStorage=persistent\n",
		"etc/passwd":                          "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nbin:x:1:1::/bin:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\n",
		"etc/systemd/journald.conf.d/50.conf": "[Journal]\nMaxRetentionSec=1y\n",
		"etc/shadow":                          "root:$y$j9T$abc:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
		"etc/pam.d/common-password":           "password requisite pam_pwquality.so retry=3 minlen=12\n",
		"etc/logrotate.d/rsyslog":             "/var/log/syslog\n{\n\trotate 30\n\tweekly\n}\n",
		"var/lib/clamav/daily.cld":            "x",
		"etc/apt/apt.conf.d/20auto-upgrades":  "APT::Periodic::Unattended-Upgrade \"1\";\n",
	})
	fresh := now.Add(-24 * time.Hour)
	os.Chtimes(filepath.Join(hard, "var/lib/clamav/daily.cld"), fresh, fresh)
	h, _ = host.Offline(hard)
	for id, r := range audit(t, h, now) {
		if r.Status != Pass && !((id == "ports.high_risk" || id == "firewall.egress_mining") && r.Status == NA) {
			t.Errorf("hardened %s: %s (%s)", id, r.Status, r.Evidence)
		}
	}
}

// fakeSockets is a live-looking host whose only sockets are given.
type fakeSockets struct {
	host.Proc
	socks []host.Socket
}

func (f fakeSockets) Sockets(context.Context) ([]host.Socket, error) { return f.socks, nil }

type liveish struct {
	fsys host.FS
	proc host.Proc
}

func (l liveish) Root() string    { return "/" }
func (l liveish) FS() host.FS     { return l.fsys }
func (l liveish) Proc() host.Proc { return l.proc }

func TestHighRiskPortListeners(t *testing.T) {
	fsys, _ := host.NewRootFS(t.TempDir())
	ap := netip.MustParseAddrPort
	tests := []struct {
		socks []host.Socket
		want  Status
	}{
		{[]host.Socket{{Proto: "tcp", Local: ap("0.0.0.0:445"), State: "LISTEN"}}, Fail},
		{[]host.Socket{{Proto: "tcp6", Local: ap("[::]:3333"), State: "LISTEN"}}, Fail},
		{[]host.Socket{{Proto: "tcp", Local: ap("127.0.0.1:3333"), State: "LISTEN"}}, Pass},
		{[]host.Socket{{Proto: "tcp", Local: ap("0.0.0.0:22"), State: "LISTEN"}, {Proto: "tcp", Local: ap("10.0.0.5:51000"), Remote: ap("10.0.0.9:445"), State: "ESTABLISHED"}}, Pass},
	}
	for _, tc := range tests {
		h := liveish{fsys: fsys, proc: fakeSockets{Proc: host.NewLiveProc(), socks: tc.socks}}
		env := checks.NewEnv(h, intel.MustLoad(), nil, nil)
		r := Audit(context.Background(), env, []string{"ports.high_risk"}, nil)
		if len(r) != 1 || r[0].Status != tc.want {
			t.Errorf("%v: %+v, want %s", tc.socks, r, tc.want)
		}
	}
}

func TestSystemdSpan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"180day", 180 * 24 * time.Hour, false},
		{"6month", 6 * 2629800 * time.Second, false},
		{"1y 2w", 31557600*time.Second + 14*24*time.Hour, false},
		{"3600", time.Hour, false},
		{"infinity", 0, false},
		{"", 0, false},
		{"5 fortnights", 0, true},
		{"day", 0, true},
	} {
		got, err := systemdSpan(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("systemdSpan(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func FuzzSystemdSpan(f *testing.F) {
	for _, s := range []string{"180day", "1y 2w", "3600", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { systemdSpan(s) })
}

// TestEDRAgentCounts: an installed EDR agent (from the intel list) counts
// as antivirus when there is no ClamAV database; nothing at all warns.
func TestEDRAgentCounts(t *testing.T) {
	for _, tc := range []struct {
		tree map[string]string
		want Status
	}{
		{map[string]string{"opt/CrowdStrike/falcond": "\x7fELF"}, Pass},
		{map[string]string{"opt/sophos-spl/bin/x": "x"}, Pass},
		{map[string]string{"opt/other/agent": "x"}, Warn},
	} {
		h, _ := host.Offline(tree(t, tc.tree))
		if got := audit(t, h, now)["av.signatures"]; got.Status != tc.want {
			t.Errorf("%v: %s (%s), want %s", tc.tree, got.Status, got.Evidence, tc.want)
		}
	}
}
