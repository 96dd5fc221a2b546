package netsense

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"

	"github.com/minerguard/minerguard/internal/intel"
)

func TestDNSLogFormats(t *testing.T) {
	tests := []struct {
		format, log, client, query string
	}{
		{"dnsmasq", "Nov 23 20:40:01 dnsmasq[1234]: query[A] pool.xmrig.com from 10.1.2.3\n", "10.1.2.3", "pool.xmrig.com"},
		{"dnsmasq extra", "Nov 23 20:40:01 dnsmasq[1234]: 17 10.1.2.3/41234 query[AAAA] gulf.moneroocean.stream from 10.1.2.3\n", "10.1.2.3", "gulf.moneroocean.stream"},
		{"bind", "23-Nov-2026 20:40:01.123 queries: info: client @0x7f3c 10.1.2.4#53422 (xmr.nanopool.org): query: xmr.nanopool.org IN A +E(0)K (10.0.0.1)\n", "10.1.2.4", "xmr.nanopool.org"},
		{"unbound", "[1763930401] unbound[812:0] info: 2001:db8::5 auto.c3pool.com. A IN\n", "2001:db8::5", "auto.c3pool.com"},
		{"windows", "11/23/2026 8:40:01 PM 0E88 PACKET  000001D2 UDP Rcv 10.1.2.6      a1b2   Q [0001   D   NOERROR] A      (4)pool(10)supportxmr(3)com(0)\n", "10.1.2.6", "pool.supportxmr.com"},
		{"zeek tsv", "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\n1763930401.5\tC1\t10.1.2.7\t5353\t10.0.0.1\t53\tudp\t1\t-\tpool.minexmr.com\n", "10.1.2.7", "pool.minexmr.com"},
		{"zeek json", `{"ts":1763930401.5,"uid":"C1","id.orig_h":"10.1.2.8","id.orig_p":5353,"id.resp_h":"10.0.0.1","id.resp_p":53,"query":"xmr-eu1.nanopool.org"}` + "\n", "10.1.2.8", "xmr-eu1.nanopool.org"},
		{"eve v1", `{"timestamp":"2026-11-23T20:40:01.000000+0000","event_type":"dns","src_ip":"10.1.2.9","dest_ip":"10.0.0.1","dns":{"type":"query","rrname":"coinhive.com","rrtype":"A"}}` + "\n", "10.1.2.9", "coinhive.com"},
		{"eve v2", `{"timestamp":"2026-11-23T20:40:01.000000+0000","event_type":"dns","src_ip":"10.1.2.10","dns":{"version":2,"queries":[{"rrname":"authedmine.com","rrtype":"A"}]}}` + "\n", "10.1.2.10", "authedmine.com"},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			a := NewAnalyzer(intel.MustLoad())
			matched, skipped, err := a.ReadDNSLog(context.Background(), strings.NewReader(tc.log+"garbage line\n"), tc.format)
			if err != nil || matched != 1 || skipped != 1 {
				t.Fatalf("matched %d skipped %d err %v", matched, skipped, err)
			}
			fs := a.Findings()
			if len(fs) != 1 || fs[0].Rule != "net.dns_pool" || fs[0].Evidence.SrcIP != tc.client || fs[0].Evidence.Domain != tc.query {
				t.Fatalf("findings %+v", fs)
			}
		})
	}
}

// TestDNSLogCorruptRegion: a log with a region of NUL bytes and no
// newline (what a crash leaves in a syslog file), or any line longer than
// a megabyte, loses that line only: the queries before and after it are
// found, and the warning names the file, line and offset.
func TestDNSLogCorruptRegion(t *testing.T) {
	before := "Dec  1 03:00:00 dnsmasq[12]: query[A] pool.supportxmr.com from 10.0.0.5\n"
	after := "Dec  1 03:00:01 dnsmasq[12]: query[A] xmr.2miners.com from 10.0.0.6\n"
	for _, junk := range []string{strings.Repeat("\x00", 2<<20), strings.Repeat("A", maxLogLine+1)} {
		a := NewAnalyzer(intel.MustLoad())
		matched, skipped, err := a.ReadDNSLog(context.Background(), strings.NewReader(before+junk+"\n"+after), "/var/log/dnsmasq.log")
		if err != nil || matched != 2 || skipped != 1 {
			t.Fatalf("matched %d skipped %d err %v", matched, skipped, err)
		}
		clients := map[string]bool{}
		for _, f := range a.Findings() {
			clients[f.Evidence.SrcIP] = true
		}
		if !clients["10.0.0.5"] || !clients["10.0.0.6"] {
			t.Errorf("clients %v, want both sides of the junk", clients)
		}
		want := fmt.Sprintf("/var/log/dnsmasq.log: line 2 (offset %d): %d bytes, longer than %d: skipped", len(before), len(junk)+1, maxLogLine)
		if len(a.Errors) != 1 || a.Errors[0] != want {
			t.Errorf("warnings %q, want %q", a.Errors, want)
		}
	}
}

// TestDNSLogGzip: rotated logs are read gzipped as they lie; one cut short
// (copied while written, a full disk) yields what it holds and says where
// it stopped.
func TestDNSLogGzip(t *testing.T) {
	var plain strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&plain, "Dec  1 03:00:00 dnsmasq[12]: query[A] host%d.example.org from 10.0.0.9\n", i)
	}
	plain.WriteString("Dec  1 03:00:01 dnsmasq[12]: query[A] pool.supportxmr.com from 10.0.0.5\n")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(plain.String()))
	w.Close()
	a := NewAnalyzer(intel.MustLoad())
	matched, _, err := a.ReadDNSLog(context.Background(), bytes.NewReader(gz.Bytes()), "dnsmasq.log.2.gz")
	if err != nil || matched != 2001 || len(a.Findings()) != 1 || len(a.Errors) != 0 {
		t.Fatalf("gzip: matched %d err %v findings %d warnings %q", matched, err, len(a.Findings()), a.Errors)
	}
	cut := NewAnalyzer(intel.MustLoad())
	matched, _, err = cut.ReadDNSLog(context.Background(), bytes.NewReader(gz.Bytes()[:gz.Len()/2]), "dnsmasq.log.3.gz")
	if err != nil || matched == 0 || matched >= 2001 || len(cut.Errors) != 1 || !strings.HasPrefix(cut.Errors[0], "dnsmasq.log.3.gz: after line ") ||
		!strings.HasSuffix(cut.Errors[0], "unexpected EOF: the rest was not read") {
		t.Errorf("cut gzip: matched %d err %v warnings %q", matched, err, cut.Errors)
	}
}

func FuzzDNSLogLine(f *testing.F) {
	f.Add("dnsmasq[1]: query[A] a.example from 1.2.3.4")
	f.Add(`{"event_type":"dns","dns":{"queries":[{}]}}`)
	f.Add("UDP Rcv 1.2.3.4 x Q [x] A (3)abc(0)")
	db := intel.MustLoad()
	f.Fuzz(func(t *testing.T, s string) {
		a := NewAnalyzer(db)
		_, _, _ = a.ReadDNSLog(context.Background(), strings.NewReader(s), "fuzz")
		a.Findings()
	})
}

func eveLines(client, name string, times []time.Time) string {
	var b strings.Builder
	for _, t := range times {
		fmt.Fprintf(&b, `{"timestamp":"%s","event_type":"dns","src_ip":"%s","dns":{"type":"query","rrname":"%s"}}`+"\n", t.Format("2006-01-02T15:04:05.000000-0700"), client, name)
	}
	return b.String()
}

func TestTimingOffHoursAndBeacon(t *testing.T) {
	night := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC) // a Tuesday, 02:00
	var beacon, irregular []time.Time
	for i := range 8 {
		beacon = append(beacon, night.Add(time.Duration(i)*5*time.Minute+time.Duration(i%2)*3*time.Second))
	}
	day := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, m := range []int{0, 3, 40, 41, 95, 200, 202, 300} {
		irregular = append(irregular, day.Add(time.Duration(m)*time.Minute))
	}
	a := NewAnalyzer(intel.MustLoad())
	a.Work = WorkHours{Start: 8, End: 20, Weekdays: true, Loc: time.UTC}
	log := eveLines("10.9.0.1", "pool.supportxmr.com", beacon) + eveLines("10.9.0.2", "xmr.nanopool.org", irregular)
	if _, _, err := a.ReadDNSLog(context.Background(), strings.NewReader(log), "eve.json"); err != nil {
		t.Fatal(err)
	}
	got := map[string]findings.Finding{}
	for _, f := range a.Findings() {
		got[f.Rule+" "+f.Evidence.SrcIP] = f
	}
	if f, ok := got["net.off_hours 10.9.0.1"]; !ok || f.Evidence.Details["off_hours"] != "8" {
		t.Errorf("night lookups not flagged off-hours: %+v", got)
	}
	if f, ok := got["net.beacon 10.9.0.1"]; !ok || f.Evidence.Details["period"] != "5m0s" {
		t.Errorf("5-minute beacon not found: %+v", f)
	}
	for _, r := range []string{"net.off_hours 10.9.0.2", "net.beacon 10.9.0.2"} {
		if _, ok := got[r]; ok {
			t.Errorf("%s: daytime irregular lookups flagged", r)
		}
	}
	if _, ok := got["net.dns_pool 10.9.0.2"]; !ok {
		t.Error("the lookups themselves must still be reported")
	}
}

// dnsmasqRE is the expression dnsmasqQuery replaces (it was the dnsmasq
// entry of dnsLogLines): the parser must agree with it on every line.
var dnsmasqRE = regexp.MustCompile(`dnsmasq\[\d+\]: (?:\d+ )?(?:[0-9a-fA-F.:]+/\d+ )?query\[[A-Za-z0-9]+\] (\S+) from ([0-9a-fA-F.:]+)`)

func TestDnsmasqQueryParser(t *testing.T) {
	tests := []struct{ line, client, query string }{
		{"Nov 23 20:40:01 dnsmasq[1234]: query[A] pool.xmrig.com from 10.1.2.3", "10.1.2.3", "pool.xmrig.com"},
		{"Nov 23 20:40:01 dnsmasq[1234]: 17 10.1.2.3/41234 query[AAAA] gulf.moneroocean.stream from 10.1.2.3", "10.1.2.3", "gulf.moneroocean.stream"},
		{"dnsmasq[1]: 17 query[A] a.example from fd00::1", "fd00::1", "a.example"},
		{"dnsmasq[1]: ::1/5 query[TXT] a.example from ::1#53", "::1", "a.example"},
		{"dnsmasq[x]: query[A] a from 1.2.3.4 dnsmasq[2]: query[A] b from 5.6.7.8", "5.6.7.8", "b"},
		{"Nov 23 20:40:01 dnsmasq[1234]: forwarded pool.xmrig.com to 10.0.0.1", "", ""},
		{"Nov 23 20:40:01 dnsmasq[1234]: reply pool.xmrig.com is 1.2.3.4", "", ""},
		{"dnsmasq[1]: query[A]  a from 1.2.3.4", "", ""},
		{"dnsmasq[1]: query[] a from 1.2.3.4", "", ""},
		{"dnsmasq[1]: query[A] a from zz", "", ""},
	}
	for _, tc := range tests {
		c, q, ok := dnsmasqQuery([]byte(tc.line))
		if ok != (tc.client != "") || string(c) != tc.client || string(q) != tc.query {
			t.Errorf("%q: %q %q %v, want %q %q", tc.line, c, q, ok, tc.client, tc.query)
		}
		checkAgainstRE(t, tc.line)
	}
}

func checkAgainstRE(t *testing.T, line string) {
	t.Helper()
	c, q, ok := dnsmasqQuery([]byte(line))
	m := dnsmasqRE.FindStringSubmatch(line)
	if ok != (m != nil) || m != nil && (m[2] != string(c) || m[1] != string(q)) {
		t.Errorf("%q: parser %q %q %v, regexp %q", line, c, q, ok, m)
	}
}

func FuzzDnsmasqQuery(f *testing.F) {
	f.Add("Nov 23 20:40:01 dnsmasq[1234]: 17 10.1.2.3/41234 query[AAAA] gulf.moneroocean.stream from 10.1.2.3")
	f.Add("dnsmasq[1]: 1/2 query[A] x from a:b")
	f.Add("dnsmasq[1]: dnsmasq[2]: query[A] x from 1")
	f.Fuzz(func(t *testing.T, line string) { checkAgainstRE(t, line) })
}

func FuzzParseAddrBytes(f *testing.F) {
	for _, s := range []string{"10.1.2.3", "010.1.2.3", "1.2.3", "1.2.3.4.", "256.1.1.1", "::1", "fd00::1%eth0", "", "1..2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := netip.ParseAddr(s)
		got, ok := parseAddrBytes([]byte(s))
		if ok != (err == nil) || ok && got != want {
			t.Errorf("%q: %v %v, ParseAddr %v %v", s, got, ok, want, err)
		}
	})
}

// otherFormat is a hand-written test for the need literals of
// dnsLogLines: it must agree with looking for each of them.
func FuzzOtherFormat(f *testing.F) {
	for _, l := range dnsLogLines {
		f.Add("x" + string(l.need) + "y")
	}
	f.Add("Nov  2 00:00:00 dnsmasq[812]: forwarded ads.maps20.org to 10.0.0.1")
	f.Add("a Rcv Rcv: info:query:  Rcv")
	f.Fuzz(func(t *testing.T, line string) {
		want := false
		for _, l := range dnsLogLines {
			want = want || strings.Contains(line, string(l.need))
		}
		if got := otherFormat([]byte(line)); got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	})
}
