package scan

import (
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
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
		{"two processes, two incidents", []findings.Finding{f(10, id, findings.High, "a"), f(11, dis, findings.Medium, "b")}, findings.High, 2},
		{"no pid, no incident", []findings.Finding{{Rule: "x", Severity: findings.High, Signal: id}}, findings.Info, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := append([]findings.Finding(nil), tc.in...)
			got := BuildIncidents(fs, nil)
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
