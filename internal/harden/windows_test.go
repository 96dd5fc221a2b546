package harden

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/intel"
)

var winIDs = []string{"win.smb.server", "win.smb.autoshare", "win.rdp", "win.firewall.high_risk_ports", "win.defender.realtime", "win.defender.signatures", "win.password.min_length", "win.accounts.guest"}

func ft(t time.Time) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(t.UnixNano()/100)+116444736000000000)
	return string(b[:])
}

// weakWindows is a workstation as the seeds find it: sharing, RDP on, no
// port rule, a profile's firewall off, Defender turned off by policy,
// old signatures, no password length, Guest on.
func weakWindows() *fakeWin {
	f := newFakeWin()
	f.set(`SOFTWARE\Policies\Microsoft`, "", regVal{})
	f.services[svcServer] = ServiceState{Start: StartAutomatic, Running: true}
	f.services["MpsSvc"] = ServiceState{Start: StartAutomatic, Running: true}
	f.setDWORD(keyLanmanParams, "Size", 1)
	f.setDWORD(keyTS, valDenyTS, 0)
	f.setString(keyFwLocalRule, "FPS-SMB-In-TCP", "v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|App=System|Name=@FirewallAPI.dll,-28502|")
	f.setDWORD(keyFwLocal+`\StandardProfile`, "EnableFirewall", 0)
	f.setDWORD(keyFwLocal+`\PublicProfile`, "EnableFirewall", 1)
	f.setDWORD(keyDefenderPol, valDisableAS, 1)
	f.setDWORD(keyDefenderPolRTP, valDisableRTM, 1)
	f.setDWORD(keyDefenderRTP, valDisableRTM, 1)
	f.setString(keyDefenderSig, "AVSignatureVersion", "1.403.1234.0")
	f.set(keyDefenderSig, "SignaturesLastUpdated", regVal{Type: "binary", Bin: ft(now.Add(-30 * 24 * time.Hour))})
	f.minLen = 0
	f.guest = GuestAccount{Name: "Invité", Enabled: true}
	return f
}

func auditWin(t *testing.T, w *Windows, only ...string) map[string]Result {
	t.Helper()
	rs, err := AuditWindows(context.Background(), w, intel.MustLoad(), now, only, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Result{}
	for _, r := range rs {
		out[r.ID] = r
	}
	return out
}

func TestWindowsAuditWeak(t *testing.T) {
	got := auditWin(t, weakWindows().windows())
	want := map[string]Status{
		"win.smb.server": Warn, "win.smb.autoshare": Fail, "win.rdp": Fail, "win.firewall.high_risk_ports": Fail,
		"win.defender.realtime": Fail, "win.defender.signatures": Fail, "win.password.min_length": Fail, "win.accounts.guest": Fail,
	}
	if len(got) != len(want) {
		t.Errorf("%d results, want %d", len(got), len(want))
	}
	for id, st := range want {
		r := got[id]
		if r.Status != st || r.Change == "" || r.Why == "" {
			t.Errorf("%s: %s %q change=%q, want %s with a change", id, r.Status, r.Evidence, r.Change, st)
		}
	}
	for id, sub := range map[string]string{
		"win.smb.autoshare":            "AutoShareWks=absent, AutoShareServer=absent",
		"win.rdp":                      "fDenyTSConnections=0",
		"win.firewall.high_risk_ports": "TCP 135,136,137,138,139,445,3333,4444,5555,8220 not blocked inbound; UDP 135,136,137,138,139,445,3333,4444,5555,8220 not blocked inbound; firewall off: PrivateProfile",
		"win.defender.realtime":        `Windows Defender\DisableAntiSpyware=1`,
		"win.defender.signatures":      "1.403.1234.0, updated 2026-10-24T12:00:00Z (30 days ago)",
		"win.password.min_length":      "minimum password length 0",
		"win.accounts.guest":           "Invité (RID 501) is enabled",
	} {
		if !strings.Contains(got[id].Evidence, sub) {
			t.Errorf("%s evidence %q lacks %q", id, got[id].Evidence, sub)
		}
	}
	if !strings.Contains(got["win.firewall.high_risk_ports"].Change, "-LocalPort 135,136,137,138,139,445,3333,4444,5555,8220") {
		t.Errorf("firewall change: %q", got["win.firewall.high_risk_ports"].Change)
	}
}

func TestWindowsAuditCases(t *testing.T) {
	tests := []struct {
		name  string
		id    string
		setup func(f *fakeWin)
		want  Status
		ev    string
	}{
		{"rdp policy wins over local deny", "win.rdp", func(f *fakeWin) {
			f.setDWORD(keyTS, valDenyTS, 1)
			f.setDWORD(keyTSPolicy, valDenyTS, 0)
		}, Fail, "policy fDenyTSConnections=0"},
		{"rdp policy deny", "win.rdp", func(f *fakeWin) { f.setDWORD(keyTSPolicy, valDenyTS, 1) }, Pass, ""},
		{"rdp value of another type", "win.rdp", func(f *fakeWin) { f.setString(keyTS, valDenyTS, "1") }, Warn, "unexpected value type"},
		{"seed's manual TCP rule with a range, UDP missing", "win.firewall.high_risk_ports", func(f *fakeWin) {
			f.setString(keyFwLocalRule, "{1D3D9A42-0000}", "v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort2_10=135-139|LPort=445|LPort=3333|LPort=4444|LPort=5555|LPort=8220|Name=高危端口|")
			f.setDWORD(keyFwLocal+`\StandardProfile`, "EnableFirewall", 1)
		}, Fail, `blocked by "高危端口" (local); UDP 135,136,137,138,139,445,3333,4444,5555,8220 not blocked inbound`},
		{"rules that do not count: inactive, app-bound, one profile, outbound", "win.firewall.high_risk_ports", func(f *fakeWin) {
			f.setString(keyFwLocalRule, "a", "v2.10|Action=Block|Active=FALSE|Dir=In|LPort=445|Name=off|")
			f.setString(keyFwLocalRule, "b", "v2.10|Action=Block|Active=TRUE|Dir=In|LPort=445|App=C:\\x.exe|Name=app|")
			f.setString(keyFwLocalRule, "c", "v2.10|Action=Block|Active=TRUE|Dir=In|LPort=445|Profile=Public|Name=public|")
			f.setString(keyFwLocalRule, "d", "v2.10|Action=Block|Active=TRUE|Dir=Out|LPort=445|Name=out|")
			f.setDWORD(keyFwLocal+`\StandardProfile`, "EnableFirewall", 1)
		}, Fail, "TCP 135,136,137,138,139,445,3333"},
		{"one any-protocol any-port block rule on all profiles", "win.firewall.high_risk_ports", func(f *fakeWin) {
			f.setString(keyFwPolicyRule, "all", "v2.10|Action=Block|Active=TRUE|Dir=In|Profile=Domain|Profile=Private|Profile=Public|Name=block all|")
			f.setDWORD(keyFwLocal+`\StandardProfile`, "EnableFirewall", 1)
		}, Pass, `blocked by "block all" (policy)`},
		{"policy turns a profile off", "win.firewall.high_risk_ports", func(f *fakeWin) {
			f.setString(keyFwPolicyRule, "all", "v2.10|Action=Block|Active=TRUE|Dir=In|Name=block all|")
			f.setDWORD(keyFwLocal+`\StandardProfile`, "EnableFirewall", 1)
			f.setDWORD(keyFwPolicy+`\DomainProfile`, "EnableFirewall", 0)
		}, Fail, "firewall off: DomainProfile"},
		{"a broken rule string is reported, the rest still judged", "win.firewall.high_risk_ports", func(f *fakeWin) {
			f.setString(keyFwLocalRule, "bad", "v2.10|Action=Block|Protocol=999|")
		}, Warn, "Protocol \"999\": want 0-255"},
		{"defender not installed", "win.defender.realtime", func(f *fakeWin) {
			for k := range f.keys {
				if strings.Contains(k, "windows defender") {
					delete(f.keys, k)
					delete(f.vals, k)
				}
			}
		}, Warn, "not installed"},
		{"defender values 0", "win.defender.realtime", func(f *fakeWin) {
			f.setDWORD(keyDefenderPol, valDisableAS, 0)
			f.setDWORD(keyDefenderPolRTP, valDisableRTM, 0)
			f.setDWORD(keyDefenderRTP, valDisableRTM, 0)
		}, Pass, ""},
		{"fresh signatures", "win.defender.signatures", func(f *fakeWin) {
			f.set(keyDefenderSig, "SignaturesLastUpdated", regVal{Type: "binary", Bin: ft(now.Add(-36 * time.Hour))})
		}, Pass, "(1 days ago)"},
		{"signature time truncated", "win.defender.signatures", func(f *fakeWin) {
			f.set(keyDefenderSig, "SignaturesLastUpdated", regVal{Type: "binary", Bin: "abc"})
		}, Warn, "3 bytes"},
		{"server disabled and stopped", "win.smb.server", func(f *fakeWin) { f.services[svcServer] = ServiceState{Start: StartDisabled} }, Pass, ""},
		{"server disabled but still running", "win.smb.server", func(f *fakeWin) { f.services[svcServer] = ServiceState{Start: StartDisabled, Running: true} }, Warn, "start=disabled, running"},
		{"no server service", "win.smb.server", func(f *fakeWin) { delete(f.services, svcServer) }, Pass, "not installed"},
		{"password length 10", "win.password.min_length", func(f *fakeWin) { f.minLen = 10 }, Pass, ""},
		{"password length 9", "win.password.min_length", func(f *fakeWin) { f.minLen = 9 }, Fail, "length 9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := weakWindows()
			tc.setup(f)
			r := auditWin(t, f.windows(), tc.id)[tc.id]
			if r.Status != tc.want || !strings.Contains(r.Evidence, tc.ev) {
				t.Errorf("%s %q, want %s with %q", r.Status, r.Evidence, tc.want, tc.ev)
			}
		})
	}
}

func applyWin(t *testing.T, f *fakeWin, dir string, opt ApplyOptions) ([]Outcome, error) {
	t.Helper()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	return ApplyWindows(context.Background(), f.windows(), intel.MustLoad(), now, j, opt)
}

func TestApplyRollbackRestoresEverything(t *testing.T) {
	f := weakWindows()
	before := f.state()
	dir := t.TempDir()

	out, err := applyWin(t, f, dir, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, o := range out {
		st[o.ID] = o.Status
	}
	if st["win.smb.server"] != "skipped" || st["win.defender.signatures"] != "skipped" || st["win.rdp"] != "changed" || st["win.accounts.guest"] != "changed" {
		t.Errorf("default apply: %+v", out)
	}
	if f.services[svcServer].Running == false {
		t.Error("opt-in Server service was stopped without --only")
	}
	// The opt-in item, named; everything else already passes now.
	if _, err := applyWin(t, f, dir, ApplyOptions{Only: winIDs}); err != nil {
		t.Fatal(err)
	}
	for id, r := range auditWin(t, f.windows()) {
		if r.Status != Pass && id != "win.defender.signatures" {
			t.Errorf("after apply %s: %s %q", id, r.Status, r.Evidence)
		}
	}
	if f.refresh == 0 {
		t.Error("the firewall policy was not refreshed")
	}
	raw, _ := fakeReg{f}.GetString(keyFwPolicyRule, fwRuleUDP)
	if raw != "v2.10|Action=Block|Active=TRUE|Dir=In|Protocol=17|LPort=135|LPort=136|LPort=137|LPort=138|LPort=139|LPort=445|LPort=3333|LPort=4444|LPort=5555|LPort=8220|Name=minerguard high-risk ports (UDP)|Desc=Added by minerguard harden; remove with minerguard harden --rollback|" {
		t.Errorf("UDP rule %q", raw)
	}
	// A second apply changes nothing and journals nothing.
	steps, _ := ReadJournal(filepath.Join(dir, JournalName))
	if out, err := applyWin(t, f, dir, ApplyOptions{Only: winIDs}); err != nil {
		t.Fatal(err)
	} else {
		for _, o := range out {
			if o.Status == "changed" {
				t.Errorf("second apply changed %s", o.ID)
			}
		}
	}
	if again, _ := ReadJournal(filepath.Join(dir, JournalName)); len(again) != len(steps) {
		t.Errorf("second apply journaled %d steps", len(again)-len(steps))
	}

	done, _, err := RollbackWindows(context.Background(), f.windows(), dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != len(steps) {
		t.Errorf("restored %d of %d steps", len(done), len(steps))
	}
	if got := f.state(); got != before {
		t.Errorf("rollback did not restore the machine:\n%s", diffLines(before, got))
	}
	if _, err := os.Stat(filepath.Join(dir, JournalName)); !os.IsNotExist(err) {
		t.Errorf("journal still in place after a full rollback: %v", err)
	}
	if _, _, err := RollbackWindows(context.Background(), f.windows(), dir, now); err == nil || !strings.Contains(err.Error(), "nothing to roll back") {
		t.Errorf("second rollback: %v", err)
	}
}

// TestApplyFailureMidway fails the n-th change of an apply for every n: the
// journal must always let rollback put back exactly what was there.
func TestApplyFailureMidway(t *testing.T) {
	total := func() int {
		f := weakWindows()
		f.budget = 1 << 30
		if _, err := applyWin(t, f, t.TempDir(), ApplyOptions{Only: winIDs}); err != nil {
			t.Fatal(err)
		}
		return 1<<30 - f.budget
	}()
	if total < 12 {
		t.Fatalf("only %d changes in a full apply", total)
	}
	for n := 0; n < total; n++ {
		f := weakWindows()
		before := f.state()
		dir := t.TempDir()
		f.budget = n
		out, err := applyWin(t, f, dir, ApplyOptions{Only: winIDs})
		if err == nil || !strings.Contains(err.Error(), "--rollback") {
			t.Fatalf("n=%d: apply did not fail: %v %+v", n, err, out)
		}
		if last := out[len(out)-1]; last.Status != "failed" || !strings.Contains(last.Detail, "injected") {
			t.Errorf("n=%d: last outcome %+v", n, last)
		}
		f.budget = -1
		if _, _, err := RollbackWindows(context.Background(), f.windows(), dir, now); err != nil {
			t.Fatalf("n=%d: rollback: %v", n, err)
		}
		if got := f.state(); got != before {
			t.Errorf("n=%d: rollback did not restore:\n%s", n, diffLines(before, got))
		}
	}
}

func TestRollbackFailureKeepsJournal(t *testing.T) {
	f := weakWindows()
	before := f.state()
	dir := t.TempDir()
	if _, err := applyWin(t, f, dir, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	f.budget = 2
	if _, _, err := RollbackWindows(context.Background(), f.windows(), dir, now); err == nil {
		t.Fatal("rollback with failing restores reported success")
	}
	if _, err := os.Stat(filepath.Join(dir, JournalName)); err != nil {
		t.Fatalf("journal gone after a partial rollback: %v", err)
	}
	f.budget = -1
	if _, _, err := RollbackWindows(context.Background(), f.windows(), dir, now); err != nil {
		t.Fatal(err)
	}
	if got := f.state(); got != before {
		t.Errorf("second rollback did not restore:\n%s", diffLines(before, got))
	}
}

func TestApplyRDPFromRemoteSession(t *testing.T) {
	f := weakWindows()
	f.remote = true
	out, err := applyWin(t, f, t.TempDir(), ApplyOptions{Only: []string{"win.rdp"}})
	if err == nil || !strings.Contains(out[0].Detail, "Remote Desktop session") {
		t.Fatalf("RDP turned off from an RDP session: %v %+v", err, out)
	}
	if v, _ := (fakeReg{f}).GetDWORD(keyTS, valDenyTS); v != 0 {
		t.Error("fDenyTSConnections changed")
	}
	if _, err := applyWin(t, f, t.TempDir(), ApplyOptions{Only: []string{"win.rdp"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	if v, _ := (fakeReg{f}).GetDWORD(keyTS, valDenyTS); v != 1 {
		t.Error("--force did not turn RDP off")
	}
}

func TestApplyRefusesValueOfAnotherType(t *testing.T) {
	f := weakWindows()
	f.setString(keyLanmanParams, "AutoShareWks", "1")
	before := f.state()
	_, err := applyWin(t, f, t.TempDir(), ApplyOptions{Only: []string{"win.smb.autoshare"}})
	if err == nil || !strings.Contains(err.Error(), "unexpected value type") {
		t.Fatalf("err %v", err)
	}
	if f.state() != before {
		t.Error("a value of another type was overwritten")
	}
}

func diffLines(a, b string) string {
	am, bm := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		am[l] = true
	}
	for _, l := range strings.Split(b, "\n") {
		bm[l] = true
	}
	var out []string
	for l := range am {
		if !bm[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range bm {
		if !am[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
