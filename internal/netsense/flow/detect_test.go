package flow

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/netsense"
)

var utcWork = netsense.WorkHours{Start: 8, End: 20, Weekdays: true, Loc: time.UTC}

func newAnalyzer(t *testing.T, db *intel.DB) *Analyzer {
	t.Helper()
	if db == nil {
		db = intel.MustLoad()
	}
	a, err := NewAnalyzer(db)
	if err != nil {
		t.Fatal(err)
	}
	a.Work = utcWork
	return a
}

func analyzeFiles(t *testing.T, a *Analyzer, files ...string) []findings.Finding {
	t.Helper()
	for _, f := range files {
		recs, _ := readFixture(t, filepath.Join("testdata", f))
		for _, r := range recs {
			a.Add(r)
		}
	}
	return a.Findings()
}

// summary renders findings as "rule severity src->dst" lines, sorted.
func summary(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s->%s:%d", f.Rule, f.Severity, f.Evidence.SrcIP, f.Evidence.DstIP, f.Evidence.DstPort))
	}
	sort.Strings(out)
	return out
}

func TestDetectZeek(t *testing.T) {
	want := []string{
		"net.flow_beacon medium 10.0.0.23->198.51.100.20:3333",
		"net.flow_long_lived low 10.0.0.31->192.0.2.66:8443",
		"net.flow_long_lived medium 10.0.0.23->198.51.100.20:14444",
		"net.flow_mining_port medium 10.0.0.23->198.51.100.20:14444",
		"net.flow_mining_port medium 10.0.0.23->198.51.100.20:3333",
		"net.flow_off_hours medium 10.0.0.23->198.51.100.20:3333",
	}
	for _, file := range []string{"zeek/conn.log", "zeek/conn.json"} {
		t.Run(file, func(t *testing.T) {
			fs := analyzeFiles(t, newAnalyzer(t, nil), file)
			if got := summary(fs); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, f := range fs {
				e := f.Evidence
				if e.FirstSeen == nil || e.LastSeen == nil || e.Packets == 0 || e.Bytes == 0 || e.Protocol != "tcp" || e.Details["exporters"] != file && !strings.HasSuffix(e.Details["exporters"], file) {
					t.Errorf("%s: evidence %+v", f.Rule, e)
				}
				switch f.Rule {
				case "net.flow_beacon":
					if e.Details["period"] != "10m0s" || e.Details["connections"] != "7" {
						t.Errorf("beacon details %v", e.Details)
					}
				case "net.flow_long_lived":
					if e.DstPort == 14444 && (e.Details["connection_duration"] != "2h0m0s" || e.SrcPort != 51234) {
						t.Errorf("long-lived details %v", e.Details)
					}
				case "net.flow_off_hours":
					if e.Details["off_hours"] != "7" {
						t.Errorf("off-hours details %v", e.Details)
					}
				}
			}
			// Working hours that cover the night remove the off-hours finding only.
			a := newAnalyzer(t, nil)
			a.Work = netsense.WorkHours{Start: 0, End: 24, Loc: time.UTC}
			if got := summary(analyzeFiles(t, a, file)); len(got) != len(want)-1 || strings.Contains(strings.Join(got, " "), "off_hours") {
				t.Errorf("round-the-clock work hours: %v", got)
			}
		})
	}
}

func TestDetectEVEAndFeedPools(t *testing.T) {
	fs := analyzeFiles(t, newAnalyzer(t, nil), "eve/eve.json")
	if got := summary(fs); len(got) != 1 || got[0] != "net.flow_mining_port low 10.0.0.50->203.0.113.77:4444" {
		t.Errorf("without feed: %v", got)
	}
	a := newAnalyzer(t, nil)
	a.AddPoolNets(PoolNet{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Source: "campus", Category: "pool"})
	fs = analyzeFiles(t, a, "eve/eve.json")
	if got := summary(fs); len(got) != 1 || got[0] != "net.flow_pool_ip high 10.0.0.50->203.0.113.77:4444" {
		t.Fatalf("with feed: %v", got)
	}
	if d := fs[0].Evidence.Details; d["pool_source"] != "campus" || d["pool_category"] != "pool" {
		t.Errorf("details %v", d)
	}
}

// TestIntelPoolAddresses: addresses in pools.json (the embedded set
// carries none, feeds do) are judged too.
func TestIntelPoolAddresses(t *testing.T) {
	dir := filepath.Join("..", "..", "intel", "data")
	files := fstest.MapFS{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "pools.json" {
			b = bytes.Replace(b, []byte(`"ips": []`), []byte(`"ips": [{"cidr": "198.51.100.0/24", "category": "pool", "source": "minerguard"}]`), 1)
		}
		files["data/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	db, err := intel.LoadFS(files, "data")
	if err != nil {
		t.Fatal(err)
	}
	if len(db.IPs) != 1 {
		t.Fatalf("pools.json ips not replaced: %v", db.IPs)
	}
	got := summary(analyzeFiles(t, newAnalyzer(t, db), "zeek/conn.log"))
	if !contains(got, "net.flow_pool_ip high 10.0.0.23->198.51.100.20:3333") || !contains(got, "net.flow_pool_ip high 10.0.0.23->198.51.100.20:14444") ||
		contains(got, "net.flow_mining_port medium 10.0.0.23->198.51.100.20:3333") {
		t.Errorf("%v", got)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestNoFalseAlarms: ordinary HTTP, HTTPS, DNS, NTP and SSH traffic —
// long sessions, periodic queries and monitoring at night included —
// yields no finding, from Zeek, EVE and NetFlow alike.
func TestNoFalseAlarms(t *testing.T) {
	a := newAnalyzer(t, nil)
	if fs := analyzeFiles(t, a, "ordinary/conn.log", "ordinary/eve.json"); len(fs) != 0 {
		t.Errorf("false alarms: %v", summary(fs))
	}
	// The same conversations as unidirectional NetFlow records, both
	// directions, server side first in half of them.
	recs, _ := readFixture(t, filepath.Join("testdata", "ordinary", "conn.log"))
	a = newAnalyzer(t, nil)
	for i, r := range recs {
		fwd, rev := r, r
		fwd.Oriented, rev.Oriented = false, false
		rev.Src, rev.Dst, rev.SrcPort, rev.DstPort = r.Dst, r.Src, r.DstPort, r.SrcPort
		if i%2 == 0 {
			fwd, rev = rev, fwd
		}
		a.Add(fwd)
		a.Add(rev)
	}
	if fs := a.Findings(); len(fs) != 0 {
		t.Errorf("false alarms from NetFlow: %v", summary(fs))
	}
}

func TestOrientation(t *testing.T) {
	at := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		rec      Record
		client   string
		dst      string
		wantRule string
	}{
		{"pool port answers", Record{Src: netip.MustParseAddr("198.51.100.9"), SrcPort: 3333, Dst: netip.MustParseAddr("10.0.0.7"), DstPort: 50123, Proto: 6}, "10.0.0.7", "198.51.100.9:3333", "net.flow_mining_port"},
		{"client sends", Record{Src: netip.MustParseAddr("10.0.0.7"), SrcPort: 50123, Dst: netip.MustParseAddr("198.51.100.9"), DstPort: 3333, Proto: 6}, "10.0.0.7", "198.51.100.9:3333", "net.flow_mining_port"},
		// Oriented records (Zeek, EVE) are trusted: a remote host that
		// opened a connection to local port 3333 is the client.
		{"oriented inbound", Record{Src: netip.MustParseAddr("198.51.100.9"), SrcPort: 50123, Dst: netip.MustParseAddr("10.0.0.7"), DstPort: 3333, Proto: 6, Oriented: true}, "198.51.100.9", "10.0.0.7:3333", "net.flow_mining_port"},
		{"udp 3333 is no Stratum", Record{Src: netip.MustParseAddr("10.0.0.7"), SrcPort: 50123, Dst: netip.MustParseAddr("198.51.100.9"), DstPort: 3333, Proto: 17}, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAnalyzer(t, nil)
			tc.rec.First, tc.rec.Last, tc.rec.Packets, tc.rec.Bytes = at, at.Add(time.Minute), 10, 1000
			a.Add(tc.rec)
			fs := a.Findings()
			if tc.wantRule == "" {
				if len(fs) != 0 {
					t.Errorf("%v", summary(fs))
				}
				return
			}
			if len(fs) != 1 || fs[0].Rule != tc.wantRule || fs[0].Evidence.SrcIP != tc.client ||
				netip.AddrPortFrom(netip.MustParseAddr(fs[0].Evidence.DstIP), uint16(fs[0].Evidence.DstPort)).String() != tc.dst {
				t.Errorf("%v", summary(fs))
			}
		})
	}
}

func TestRankAndIncidents(t *testing.T) {
	a := newAnalyzer(t, nil)
	a.AddPoolNets(PoolNet{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Source: "campus", Category: "pool"})
	fs := analyzeFiles(t, a, "zeek/conn.log", "eve/eve.json")
	r := Rank(fs)
	if len(r) != 3 || r[0].SrcIP != "10.0.0.50" || r[1].SrcIP != "10.0.0.23" || r[2].SrcIP != "10.0.0.31" ||
		r[1].Findings != 5 || len(r[1].Remotes) != 2 || r[1].Severity != findings.Medium {
		t.Errorf("rank %+v", r)
	}
	in := netsense.Incidents(fs)
	if len(in) != 3 || in[0].Severity != findings.High || !strings.Contains(in[1].Title, "10.0.0.23") || !strings.Contains(in[2].Title, "10.0.0.31") {
		for _, i := range in {
			t.Errorf("incident %s %s", i.Severity, i.Title)
		}
	}
}

func TestConversationLimit(t *testing.T) {
	a := newAnalyzer(t, nil)
	a.rules.MaxConversations = 2
	at := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		a.Add(Record{Src: netip.MustParseAddr("10.0.0.1"), SrcPort: 40000, Dst: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), DstPort: 3333, Proto: 6, First: at, Last: at})
	}
	if a.Conversations() != 2 || a.Dropped != 3 || a.Records != 5 {
		t.Errorf("conversations %d dropped %d records %d", a.Conversations(), a.Dropped, a.Records)
	}
}

// TestRulesData: flows.json loads, and no ordinary port is a mining port.
func TestRulesData(t *testing.T) {
	r, err := LoadRules(intel.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint16]bool{}
	for _, p := range r.OrdinaryPorts {
		have[p.Port] = true
	}
	for _, p := range []uint16{22, 53, 80, 443} {
		if !have[p] {
			t.Errorf("ordinary port %d missing", p)
		}
	}
}

func TestGlobalBudgets(t *testing.T) {
	a := newAnalyzer(t, nil)
	a.rules.MaxConnectionsTotal, a.rules.MaxRecordTimes = 3, 4
	at := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	for i := range 6 {
		a.Add(Record{Src: netip.MustParseAddr("10.0.0.1"), SrcPort: uint16(40000 + i), Dst: netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 2)}), DstPort: 3333, Proto: 6, First: at, Last: at})
	}
	if a.conns != 3 || a.times != 4 || a.Conversations() != 2 {
		t.Errorf("connections %d times %d conversations %d", a.conns, a.times, a.Conversations())
	}
	// Findings still come for every conversation.
	if got := summary(a.Findings()); len(got) != 2 {
		t.Errorf("%v", got)
	}
}
