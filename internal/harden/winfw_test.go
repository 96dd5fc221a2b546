package harden

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
)

func TestParseFirewallRule(t *testing.T) {
	tests := []struct {
		in   string
		want FirewallRule
		err  string
	}{
		{"v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=x|", FirewallRule{Name: "x", Action: "Block", Dir: "In", Active: true, Protocol: 6, LPorts: [][2]uint16{{445, 445}}}, ""},
		{"v2.10|Action=Allow|Active=FALSE|Dir=In|Protocol=17|LPort2_10=135-139|LPort=RPC|Profile=Public|App=%SystemRoot%\\x.exe|Name=@FirewallAPI.dll,-1|EmbedCtxt=@x|",
			FirewallRule{Name: "@FirewallAPI.dll,-1", Action: "Allow", Dir: "In", Protocol: 17, LPorts: [][2]uint16{{135, 139}}, Keywords: []string{"RPC"}, Profiles: []string{"Public"}, Narrowed: []string{"App"}}, ""},
		{"v2.10|Action=Block|Dir=In|", FirewallRule{Action: "Block", Dir: "In", Protocol: -1}, ""},
		{"2.10|Action=Block|", FirewallRule{}, `offset 0: rule does not start with "v"`},
		{"v2.10", FirewallRule{}, "no field after the version"},
		{"vX.1|Action=Block|", FirewallRule{}, "bad version"},
		{"v2.10|Action=Block", FirewallRule{}, "offset 6: field not ended by |"},
		{"v2.10|Action|", FirewallRule{}, `offset 6: field "Action" has no name=value`},
		{"v2.10|Protocol=300|", FirewallRule{}, `offset 6: Protocol "300": want 0-255`},
		{"v2.10|Protocol=+6|", FirewallRule{}, "want 0-255"},
		{"v2.10|Active=yes|", FirewallRule{}, "want TRUE or FALSE"},
		{"v2.10|Dir=In|LPort=139-135|", FirewallRule{}, `offset 13: LPort "139-135"`},
		{"v2.10|LPort=70000|", FirewallRule{}, "want a port"},
		{"v2.10|LPort=|", FirewallRule{}, "want a port"},
		{"v2.10|LPort=a b|", FirewallRule{}, "want a port"},
	}
	for _, tc := range tests {
		got, err := ParseFirewallRule(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestBlockRuleRoundTrip(t *testing.T) {
	ports := []uint16{8220, 445, 135}
	raw, err := blockRule("n", 6, ports)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseFirewallRule(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if !r.blocksInbound(6, p) || r.blocksInbound(17, p) {
			t.Errorf("port %d: blocks tcp %v udp %v", p, r.blocksInbound(6, p), r.blocksInbound(17, p))
		}
	}
	if r.blocksInbound(6, 446) {
		t.Error("rule blocks a port it does not list")
	}
	if _, err := blockRule("a|b", 6, ports); err == nil {
		t.Error("a name with | was accepted")
	}
}

func FuzzParseFirewallRule(f *testing.F) {
	for _, s := range []string{
		"v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=x|",
		"v2.10|Action=Allow|Active=FALSE|Dir=In|Protocol=17|LPort2_10=135-139|LPort=RPC|Profile=Public|App=x|Name=y|",
		"v2.10|", "v|", "v2.10|LPort=0-65535|",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseFirewallRule(s)
		if err != nil {
			return
		}
		for _, p := range r.LPorts {
			if p[0] > p[1] {
				t.Fatalf("range %v accepted", p)
			}
		}
		_ = r.blocksInbound(6, 445)
	})
}

func TestReadJournal(t *testing.T) {
	good := `{"seq":1,"time":"2026-11-23T12:00:00Z","item":"win.rdp","kind":"registry","key":"A\\B","name":"v","existed":true,"type":"dword","dword":0}` + "\n"
	tests := []struct {
		name, text string
		steps      int
		err        string
	}{
		{"one step", good, 1, ""},
		{"torn tail ignored", good + `{"seq":2,"time":"2026-11-23T12:00:00Z","item":"win.r`, 1, ""},
		{"blank lines", "\n" + good + "\n", 1, ""},
		{"bad line", good + "{not json}\n" + good, 0, "j:2:"},
		{"unknown kind", `{"seq":1,"kind":"format-disk"}` + "\n", 0, `j:1: unknown kind "format-disk"`},
		{"unknown field", `{"seq":1,"kind":"guest","extra":1}` + "\n", 0, `unknown field "extra"`},
		{"created key not above", `{"seq":1,"kind":"registry","key":"A\\B","created_key":"A\\C"}` + "\n", 0, "created key"},
		{"service without state", `{"seq":1,"kind":"service","service":"x"}` + "\n", 0, "without service or state"},
		{"registry of unknown type", `{"seq":1,"kind":"registry","key":"K","existed":true,"type":"qword"}` + "\n", 0, `type "qword"`},
	}
	for _, tc := range tests {
		steps, err := parseJournal("j", []byte(tc.text))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || len(steps) != tc.steps {
			t.Errorf("%s: %d steps, %v", tc.name, len(steps), err)
		}
	}
}

func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-11-23T12:00:00Z","item":"win.rdp","kind":"registry","key":"A\\B","name":"v","existed":true,"type":"dword","dword":0}` + "\n"))
	f.Add([]byte(`{"seq":2,"kind":"service","service":"LanmanServer","state":{"start":2,"running":true}}` + "\n"))
	f.Add([]byte(`{"seq":3,"kind":"firewall","rule":"r","key":"K\\L","created_key":"K"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		steps, err := parseJournal("j", b)
		if err != nil {
			return
		}
		// Whatever parses can be restored without a panic.
		fw := weakWindows()
		for _, s := range steps {
			_ = restore(context.Background(), fw.windows(), s)
		}
	})
}

func TestRefreshFailureIsAWarning(t *testing.T) {
	f := weakWindows()
	w := f.windows()
	w.Firewall = RegistryFirewall{Reg: fakeReg{f}, RefreshPolicy: func() error { return errors.New("no refresh here") }}
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ApplyWindows(context.Background(), w, intel.MustLoad(), now, j, ApplyOptions{Only: []string{"win.firewall.high_risk_ports"}})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Status != "changed" || out[1].Status != "warning" || !strings.Contains(out[1].Detail, "no refresh here") {
		t.Errorf("outcomes %+v", out)
	}
	_, warn, err := RollbackWindows(context.Background(), w, dir, now)
	if err != nil || len(warn) != 1 {
		t.Errorf("rollback: %v %v", warn, err)
	}
	if _, err := os.Stat(filepath.Join(dir, JournalName)); !os.IsNotExist(err) {
		t.Error("a refresh warning kept the journal")
	}
}
