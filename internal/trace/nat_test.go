package trace

import (
	"bytes"
	"compress/gzip"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNATLogs(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name, log   string
		outside     netip.AddrPort
		remote      netip.AddrPort
		at          time.Time
		wantInside  netip.AddrPort
		wantFound   bool
		wantSkipped int
	}{
		{
			name: "conntrack -E -o timestamp: new then destroy",
			log: "[1795000000.250000]\t    [NEW] tcp      6 120 SYN_SENT src=10.210.0.2 dst=198.51.100.7 sport=41234 dport=3333 [UNREPLIED] src=198.51.100.7 dst=203.0.113.1 sport=3333 dport=61000\n" +
				"[1795000000.251000]\t [UPDATE] tcp      6 60 SYN_RECV src=10.210.0.2 dst=198.51.100.7 sport=41234 dport=3333 src=198.51.100.7 dst=203.0.113.1 sport=3333 dport=61000\n" +
				"[1795003600.000000]\t[DESTROY] tcp      6 src=10.210.0.2 dst=198.51.100.7 sport=41234 dport=3333 src=198.51.100.7 dst=203.0.113.1 sport=3333 dport=61000 [ASSURED]\n",
			outside: ap("203.0.113.1:61000"), remote: ap("198.51.100.7:3333"), at: time.Unix(1795001000, 0),
			wantInside: ap("10.210.0.2:41234"), wantFound: true,
		},
		{
			name: "conntrack: after the translation ended, the port may be someone else's",
			log: "[1795000000.250000]\t    [NEW] tcp      6 120 SYN_SENT src=10.210.0.2 dst=198.51.100.7 sport=41234 dport=3333 [UNREPLIED] src=198.51.100.7 dst=203.0.113.1 sport=3333 dport=61000\n" +
				"[1795000100.000000]\t[DESTROY] tcp      6 src=10.210.0.2 dst=198.51.100.7 sport=41234 dport=3333 src=198.51.100.7 dst=203.0.113.1 sport=3333 dport=61000\n",
			outside: ap("203.0.113.1:61000"), at: time.Unix(1795009000, 0), wantFound: false,
		},
		{
			name:    "conntrack -L (no timestamps), two clients behind one address",
			log:     "tcp      6 431999 ESTABLISHED src=10.0.0.5 dst=198.51.100.7 sport=50000 dport=443 src=198.51.100.7 dst=203.0.113.1 sport=443 dport=50000 [ASSURED] mark=0 use=1\nudp      17 29 src=10.0.0.6 dst=192.0.2.53 sport=5353 dport=53 src=192.0.2.53 dst=203.0.113.1 sport=53 dport=1024 mark=0 use=1\n",
			outside: ap("203.0.113.1:1024"), wantInside: ap("10.0.0.6:5353"), wantFound: true,
		},
		{
			name: "Cisco ASA built and teardown",
			log: "Nov 30 2026 10:00:00 fw01 : %ASA-6-305011: Built dynamic TCP translation from inside:10.1.2.3/40000 to outside:203.0.113.9/40000\n" +
				"Nov 30 2026 11:00:00 fw01 : %ASA-6-305012: Teardown dynamic TCP translation from inside:10.1.2.3/40000 to outside:203.0.113.9/40000 duration 1:00:00\n",
			outside: ap("203.0.113.9:40000"), at: time.Date(2026, 11, 30, 10, 30, 0, 0, time.UTC),
			wantInside: ap("10.1.2.3:40000"), wantFound: true,
		},
		{
			name:    "FortiGate traffic log",
			log:     `date=2026-11-30 time=10:05:00 devname="fg100" type="traffic" subtype="forward" srcip=10.9.8.7 srcport=52000 dstip=198.51.100.7 dstport=3333 proto=6 transip=203.0.113.20 transport=12345 duration=300 action="close"` + "\n",
			outside: ap("203.0.113.20:12345"), remote: ap("198.51.100.7:3333"), at: time.Date(2026, 11, 30, 10, 2, 0, 0, time.UTC),
			wantInside: ap("10.9.8.7:52000"), wantFound: true,
		},
		{
			name:    "remote must match when both are known",
			log:     `date=2026-11-30 time=10:05:00 srcip=10.9.8.7 srcport=52000 dstip=198.51.100.7 dstport=3333 proto=6 transip=203.0.113.20 transport=12345 duration=300` + "\n",
			outside: ap("203.0.113.20:12345"), remote: ap("198.51.100.8:3333"), wantFound: false,
		},
		{
			name: "a line too long is skipped, the log goes on",
			log: strings.Repeat("\x00", maxNATLine+10) + "\n" +
				`date=2026-11-30 time=10:05:00 srcip=10.9.8.7 srcport=52000 dstip=198.51.100.7 dstport=3333 proto=6 transip=203.0.113.20 transport=12345 duration=300` + "\n",
			outside: ap("203.0.113.20:12345"), at: time.Date(2026, 11, 30, 10, 2, 0, 0, time.UTC),
			wantInside: ap("10.9.8.7:52000"), wantFound: true, wantSkipped: 1,
		},
		{
			name:    "other lines skipped, hostile ones too",
			log:     "kernel: something\n%ASA-6-305011: Built dynamic TCP translation from inside:999.1.1.1/1 to outside:1.2.3.4/5\nsrc=1 sport=2\n",
			outside: ap("1.2.3.4:5"), wantFound: false, wantSkipped: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracer
			skipped, err := tr.AddNATLog(strings.NewReader(tc.log), "nat.log", 2026)
			if err != nil {
				t.Fatal(err)
			}
			if skipped != tc.wantSkipped {
				t.Errorf("skipped %d, want %d", skipped, tc.wantSkipped)
			}
			if long := strings.Count(tc.log, strings.Repeat("\x00", maxNATLine)); len(tr.Warnings) != long ||
				long > 0 && !strings.HasPrefix(tr.Warnings[0], "nat.log: line 1 (offset 0): ") {
				t.Errorf("warnings %q", tr.Warnings)
			}
			got, ok := tr.Untranslate(tc.outside, tc.remote, tc.at)
			if ok != tc.wantFound || ok && got.Inside != tc.wantInside {
				t.Fatalf("Untranslate = %+v %v, want %v %v", got, ok, tc.wantInside, tc.wantFound)
			}
			if ok && !strings.HasPrefix(got.Source, "nat.log:") {
				t.Errorf("source %q", got.Source)
			}
		})
	}
}

// TestNATLogGzip: a rotated, gzipped firewall log is read as it lies.
func TestNATLogGzip(t *testing.T) {
	log := `date=2026-11-30 time=10:05:00 srcip=10.9.8.7 srcport=52000 dstip=198.51.100.7 dstport=3333 proto=6 transip=203.0.113.20 transport=12345 duration=300` + "\n"
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(log))
	w.Close()
	var tr Tracer
	if _, err := tr.AddNATLog(&gz, "forti.log.1.gz", 2026); err != nil {
		t.Fatal(err)
	}
	got, ok := tr.Untranslate(netip.MustParseAddrPort("203.0.113.20:12345"), netip.AddrPort{}, time.Date(2026, 11, 30, 10, 2, 0, 0, time.UTC))
	if !ok || got.Inside != netip.MustParseAddrPort("10.9.8.7:52000") {
		t.Errorf("Untranslate = %+v %v", got, ok)
	}
}

func FuzzAddNATLog(f *testing.F) {
	f.Add("[1795000000.250000] [NEW] tcp 6 120 SYN_SENT src=10.0.0.2 dst=1.2.3.4 sport=1 dport=2 src=1.2.3.4 dst=5.6.7.8 sport=2 dport=3\n")
	f.Add("Nov 30 10:00:00 fw : %ASA-6-305011: Built dynamic UDP translation from inside:10.1.2.3/1 to outside:5.6.7.8/2\n")
	f.Add(`date=x time=y srcip=1.1.1.1 srcport=1 transip=2.2.2.2 transport=2 duration="5` + "\n")
	f.Fuzz(func(t *testing.T, s string) {
		var tr Tracer
		tr.AddNATLog(strings.NewReader(s), "f", 2026)
		tr.Untranslate(netip.MustParseAddrPort("5.6.7.8:3"), netip.AddrPort{}, time.Time{})
	})
}
