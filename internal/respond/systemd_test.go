package respond

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

type fakeSystemd struct{ calls []string }

func (f *fakeSystemd) Stop(_ context.Context, units []string) error {
	f.calls = append(f.calls, "stop "+strings.Join(units, " "))
	return nil
}

func (f *fakeSystemd) Start(_ context.Context, units []string) error {
	f.calls = append(f.calls, "start "+strings.Join(units, " "))
	return nil
}

func (f *fakeSystemd) ReloadUnits(_ context.Context, units []string) error {
	f.calls = append(f.calls, "reload "+strings.Join(units, " "))
	return nil
}

func (f *fakeSystemd) Reload(context.Context) error {
	f.calls = append(f.calls, "daemon-reload")
	return nil
}

// TestSystemdUnitsStoppedBeforeKill: a quarantined unit that systemd still
// has loaded is stopped (without waiting) and forgotten before the kill, so
// Restart=always cannot bring the miner back; undo reloads the restored file.
func TestSystemdUnitsStoppedBeforeKill(t *testing.T) {
	root := t.TempDir()
	fstree.Write(t, root, map[string]string{
		"etc/systemd/system/sysupdate.service": "[Service]\nExecStart=/root/.s/sysupdate\nRestart=always\n",
	}, 0)
	// Files from the fixture, processes from the real /proc (nothing in
	// this plan signals one).
	h, err := host.Fixture(root, "/proc")
	if err != nil {
		t.Fatal(err)
	}
	rep := &findings.Report{Findings: []findings.Finding{{Rule: "persistence.services.miner", Severity: findings.Critical,
		Signal: findings.SignalPersistence, Evidence: findings.Evidence{Path: "/etc/systemd/system/sysupdate.service", Line: 2}}}}
	plan, err := Build(context.Background(), h, rep, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	plan.Actions = append(plan.Actions, Action{Kind: KindKill, Title: "kill"})
	if got := planUnits(plan); !slices.Equal(got, []string{"sysupdate.service"}) {
		t.Fatalf("planUnits = %v", got)
	}
	dir, err := NewRunDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j, err := CreateJournal(dir, plan)
	if err != nil {
		t.Fatal(err)
	}
	sd := &fakeSystemd{}
	a := &Applier{Host: h, Journal: j, Systemd: sd, Sweep: 1}
	if _, err := a.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sd.calls, []string{"stop sysupdate.service", "daemon-reload"}) {
		t.Fatalf("systemd calls %v", sd.calls)
	}
	sd.calls = nil
	if _, err := a.Undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sd.calls, []string{"daemon-reload"}) {
		t.Fatalf("undo systemd calls %v", sd.calls)
	}
}
