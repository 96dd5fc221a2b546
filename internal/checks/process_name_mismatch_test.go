package checks

import (
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
)

// TestNameMismatchDebian: the processes of a normal Debian host produce nothing.
func TestNameMismatchFixture(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"usr/sbin/agetty": "x", "sbin": "->usr/sbin", "usr/sbin/cron": "x", "usr/sbin/sshd": "x",
		"usr/lib/systemd/systemd": "x", "usr/bin/dbus-daemon": "x", "usr/bin/bash": "x",
		"usr/lib/postgresql/15/bin/postgres": "x", "usr/local/go/bin/go": "x", "root/go/bin/gopls": "x",
		"usr/bin/python3.11": "x", "usr/bin/python3": "->python3.11", "usr/bin/vim.basic": "x",
		"usr/bin/vi": "->/etc/alternatives/vi", "etc/alternatives/vi": "->/usr/bin/vim.basic",
		"usr/sbin/rsyslogd": "x", "usr/bin/containerd-shim-runc-v2": "x", "usr/bin/sleep": "x",
		"opt/evil/miner": "x",
	})
	procs := []fakeProc{
		{pid: 1, comm: "systemd", cmdline: []string{"/sbin/init"}, exe: "/usr/lib/systemd/systemd"},
		{pid: 2, comm: "kthreadd", kernel: true},
		{pid: 10, comm: "agetty", cmdline: []string{"/sbin/agetty", "-o", "-p -- \\u", "--noclear", "-", "linux"}, exe: "/usr/sbin/agetty"},
		{pid: 11, comm: "cron", cmdline: []string{"/usr/sbin/cron", "-f"}, exe: "/usr/sbin/cron"},
		{pid: 12, comm: "sshd", cmdline: []string{"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"}, exe: "/usr/sbin/sshd"},
		{pid: 13, comm: "sshd", cmdline: []string{"sshd: alice@pts/0"}, exe: "/usr/sbin/sshd"},
		{pid: 14, comm: "(sd-pam)", cmdline: []string{"(sd-pam)"}, exe: "/usr/lib/systemd/systemd"},
		{pid: 15, comm: "dbus-daemon", cmdline: []string{"@dbus-daemon", "--system"}, exe: "/usr/bin/dbus-daemon"},
		{pid: 16, comm: "bash", cmdline: []string{"-bash"}, exe: "/usr/bin/bash"},
		{pid: 17, comm: "postgres", cmdline: []string{"postgres: 15/main: checkpointer "}, exe: "/usr/lib/postgresql/15/bin/postgres"},
		{pid: 18, comm: "go", cmdline: []string{"go", "test", "./..."}, exe: "/usr/local/go/bin/go"},
		{pid: 19, comm: "gopls", cmdline: []string{"/root/go/bin/gopls"}, exe: "/root/go/bin/gopls"},
		{pid: 20, comm: "python3", cmdline: []string{"python3", "app.py"}, exe: "/usr/bin/python3.11"},
		{pid: 21, comm: "vi", cmdline: []string{"vi", "notes"}, exe: "/usr/bin/vim.basic"},
		{pid: 22, comm: "rsyslogd", cmdline: []string{"/usr/sbin/rsyslogd", "-n", "-iNONE"}, exe: "/usr/sbin/rsyslogd"},
		{pid: 23, comm: "containerd-shim", cmdline: []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "moby"}, exe: "/usr/bin/containerd-shim-runc-v2"},
		{pid: 24, comm: "sleeper", cmdline: []string{"./sleeper"}, exe: "/root/t/sleeper (deleted)"},
		// Disguised: argv[0] and comm say something else.
		{pid: 100, comm: "miner", cmdline: []string{"/usr/sbin/httpd", "-k"}, exe: "/opt/evil/miner"},
		{pid: 101, comm: "kdevtmpfsi", cmdline: []string{"/opt/evil/miner"}, exe: "/opt/evil/miner"},
		{pid: 102, comm: "sleep", cmdline: []string{"nginx: worker process"}, exe: "/usr/bin/sleep"},
	}
	env := procFixture(t, root, procs)
	got := map[int][]string{}
	for _, f := range runOn(t, env, "process.name_mismatch", 0) {
		if f.Severity != findings.Low || f.Signal != findings.SignalDisguise || f.Rule != "process.name_mismatch" {
			t.Errorf("%+v", f)
		}
		got[f.Evidence.PID] = f.Evidence.Match
	}
	want := map[int]int{100: 1, 101: 1, 102: 1}
	for pid, m := range got {
		if want[pid] != len(m) {
			t.Errorf("pid %d: matches %v", pid, m)
		}
	}
	for pid := range want {
		if got[pid] == nil {
			t.Errorf("pid %d not reported", pid)
		}
	}
}

func TestNameMismatchLive(t *testing.T) {
	sleeper := buildSleeper(t)
	renamed := startSleeper(t, sleeper, "httpd")
	comm := startSleeper(t, sleeper, "", "-name", "colord")
	plain := startSleeper(t, sleeper, "")
	env := liveEnv(t)
	want1(t, runOn(t, env, "process.name_mismatch", renamed), "process.name_mismatch", findings.Low, renamed)
	want1(t, runOn(t, env, "process.name_mismatch", comm), "process.name_mismatch", findings.Low, comm)
	if fs := runOn(t, env, "process.name_mismatch", plain); len(fs) != 0 {
		t.Fatalf("plain sleeper: %+v", fs)
	}
	for _, f := range runOn(t, env, "process.name_mismatch", 0) {
		if f.Severity >= findings.Medium {
			t.Errorf("live host: %+v", f)
		}
		if f.Evidence.PID != renamed && f.Evidence.PID != comm {
			t.Logf("live host process reported: pid %d %v exe %s", f.Evidence.PID, f.Evidence.Match, f.Evidence.Exe)
		}
	}
}
