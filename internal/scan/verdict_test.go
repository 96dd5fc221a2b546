package scan

import (
	"slices"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

func f(pid int, sig findings.Signal, sev findings.Severity, rule string) findings.Finding {
	return findings.Finding{Rule: rule, Signal: sig, Severity: sev, Confidence: 0.5, Title: rule, Evidence: findings.Evidence{PID: pid, Comm: "x"}}
}

func TestVerdict(t *testing.T) {
	const (
		id   = findings.SignalIdentity
		dis  = findings.SignalDisguise
		net  = findings.SignalNetwork
		res  = findings.SignalResource
		hide = findings.SignalHiding
	)
	tests := []struct {
		name  string
		in    []findings.Finding
		want  findings.Severity
		count int
	}{
		{"cpu alone is low", []findings.Finding{f(10, res, findings.Low, "process.cpu.high")}, findings.Low, 1},
		{"cpu alone never above low", []findings.Finding{f(10, res, findings.High, "odd")}, findings.Low, 1},
		{"info alone is no incident", []findings.Finding{f(10, findings.SignalStatus, findings.Info, "gpu.unavailable")}, findings.Info, 0},
		{"identified miner at least high", []findings.Finding{f(10, id, findings.High, "process.name.miner"), f(10, res, findings.Low, "process.cpu.high")}, findings.High, 1},
		{"identified + pool = critical", []findings.Finding{f(10, id, findings.High, "process.cmdline.stratum_url"), f(10, net, findings.Medium, "network.mining_port")}, findings.Critical, 1},
		{"disguised + pool domain = critical", []findings.Finding{f(10, dis, findings.High, "process.kthread_mimic"), f(10, net, findings.High, "network.pool_domain")}, findings.Critical, 1},
		{"disguised + mining port only = high not critical", []findings.Finding{f(10, dis, findings.Medium, "process.exe_deleted"), f(10, net, findings.Medium, "network.mining_port"), f(10, res, findings.Low, "process.cpu.high")}, findings.High, 1},
		{"identified + disguised = critical", []findings.Finding{f(10, id, findings.High, "process.exe_signature"), f(10, dis, findings.Medium, "process.exe_location")}, findings.Critical, 1},
		{"identified + hiding = critical", []findings.Finding{f(10, id, findings.High, "process.name.miner"), f(10, hide, findings.Medium, "process.preload")}, findings.Critical, 1},
		{"three weak kinds = high", []findings.Finding{f(10, dis, findings.Low, "process.name_mismatch"), f(10, net, findings.Low, "network.mining_port"), f(10, id, findings.Medium, "process.wallet")}, findings.High, 1},
		{"wallet software stays low", []findings.Finding{f(10, id, findings.Low, "process.name.wallet")}, findings.Low, 1},
		{"load on two processes of one interpreter stays apart", []findings.Finding{
			{Rule: "process.cpu.high", Signal: res, Severity: findings.Low, Confidence: 0.3, Evidence: findings.Evidence{PID: 10, Exe: "/opt/tool"}},
			{Rule: "process.cpu.high", Signal: res, Severity: findings.Low, Confidence: 0.3, Evidence: findings.Evidence{PID: 11, Exe: "/opt/tool"}}}, findings.Low, 2},
		{"two processes of one miner binary are one incident", []findings.Finding{
			{Rule: "process.name.miner", Signal: id, Severity: findings.High, Confidence: 0.9, Evidence: findings.Evidence{PID: 10, Exe: "/opt/xmrig"}},
			{Rule: "process.name.miner", Signal: id, Severity: findings.High, Confidence: 0.9, Evidence: findings.Evidence{PID: 11, Exe: "/opt/xmrig"}}}, findings.High, 1},
		{"two processes, two incidents", []findings.Finding{f(10, id, findings.High, "a"), f(11, dis, findings.Medium, "b")}, findings.High, 2},
		{"a file finding is an incident of its own", []findings.Finding{{Rule: "files.miner_binary", Severity: findings.High, Signal: id, Confidence: 0.8, Evidence: findings.Evidence{Path: "/tmp/.x/xmrig"}}}, findings.High, 1},
		{"advice is no incident", []findings.Finding{{Rule: "accounts.ssh.config", Severity: findings.Low, Signal: findings.SignalHardening, Evidence: findings.Evidence{Path: "/etc/ssh/sshd_config"}}}, findings.Info, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := append([]findings.Finding(nil), tc.in...)
			got := BuildIncidents(fs, nil, intel.MustLoad())
			if len(got) != tc.count {
				t.Fatalf("incidents = %d, want %d: %+v", len(got), tc.count, got)
			}
			if tc.count == 0 {
				return
			}
			if got[0].Severity != tc.want {
				t.Errorf("severity = %s, want %s (%+v)", got[0].Severity, tc.want, got[0])
			}
			for _, i := range got[0].Findings {
				if fs[i].Incident != got[0].ID {
					t.Errorf("finding %d not annotated with %s", i, got[0].ID)
				}
			}
			if got[0].Confidence <= 0 || got[0].Confidence > 1 {
				t.Errorf("confidence %v out of range", got[0].Confidence)
			}
		})
	}
}

func TestCorrelation(t *testing.T) {
	ev := func(pid int, path string, paths []string, exe, url string) findings.Evidence {
		return findings.Evidence{PID: pid, Path: path, Paths: paths, Exe: exe, URL: url}
	}
	fs := []findings.Finding{
		// 0: the cron line that (re)starts the miner and downloads the dropper.
		{Rule: "persistence.cron.download_exec", Signal: findings.SignalPersistence, Severity: findings.High, Evidence: ev(0, "/var/spool/cron/crontabs/root", []string{"/tmp/.x/kworkerds", "/bin/sh"}, "", "http://192.0.2.9/lh.sh")},
		// 1: the binary itself.
		{Rule: "files.miner_binary", Signal: findings.SignalIdentity, Severity: findings.High, Evidence: ev(0, "/tmp/.x/kworkerds", nil, "", "")},
		// 2: the running process of that binary, deleted since.
		{Rule: "process.exe_deleted", Signal: findings.SignalDisguise, Severity: findings.Medium, Evidence: ev(4242, "", nil, "/tmp/.x/kworkerds (deleted)", "")},
		// 3: its pool connection.
		{Rule: "network.mining_port", Signal: findings.SignalNetwork, Severity: findings.Medium, Evidence: findings.Evidence{PID: 4242, Remote: "192.0.2.7:3333"}},
		// 4: .bashrc fetching the same dropper URL.
		{Rule: "persistence.startup.download_exec", Signal: findings.SignalPersistence, Severity: findings.High, Evidence: ev(0, "/root/.bashrc", []string{"/bin/bash"}, "", "http://192.0.2.9/lh.sh")},
		// 5: an unrelated cron line that only shares /bin/sh: a separate story.
		{Rule: "persistence.cron.ip_url", Signal: findings.SignalPersistence, Severity: findings.Medium, Evidence: ev(0, "/etc/cron.d/other", []string{"/bin/sh"}, "", "http://198.51.100.1/x")},
		// 6: advice, in no incident.
		{Rule: "accounts.ssh.config", Signal: findings.SignalHardening, Severity: findings.Low, Evidence: ev(0, "/etc/ssh/sshd_config", nil, "", "")},
		// 7: a preload library that hides the binary.
		{Rule: "preload.library.hooks", Signal: findings.SignalHiding, Severity: findings.High, Evidence: ev(0, "/usr/local/lib/libprocesshider.so", []string{"/tmp/.x/kworkerds"}, "", "")},
	}
	got := BuildIncidents(fs, nil, intel.MustLoad())
	if len(got) != 2 {
		t.Fatalf("incidents = %d, want 2: %+v", len(got), got)
	}
	main := got[0]
	if main.Severity != findings.Critical || !slices.Equal(main.Findings, []int{0, 1, 2, 3, 4, 7}) {
		t.Errorf("main incident %s findings %v, want critical [0 1 2 3 4 7]", main.Severity, main.Findings)
	}
	if main.PID != 4242 || !slices.Contains(main.Paths, "/tmp/.x/kworkerds") || slices.Contains(main.Paths, "/bin/sh") {
		t.Errorf("main incident pid %d paths %v", main.PID, main.Paths)
	}
	if other := got[1]; !slices.Equal(other.Findings, []int{5}) || other.Severity != findings.Medium || other.PID != 0 || other.Title != "/etc/cron.d/other: suspicious persistence" {
		t.Errorf("other incident %+v", other)
	}
	if fs[6].Incident != "" {
		t.Errorf("advice got incident %q", fs[6].Incident)
	}
}
