package netsense

import (
	"context"
	"strings"
	"testing"

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

func FuzzDNSLogLine(f *testing.F) {
	f.Add("dnsmasq[1]: query[A] a.example from 1.2.3.4")
	f.Add(`{"event_type":"dns","dns":{"queries":[{}]}}`)
	f.Add("UDP Rcv 1.2.3.4 x Q [x] A (3)abc(0)")
	f.Fuzz(func(t *testing.T, s string) {
		a := NewAnalyzer(intel.MustLoad())
		_, _, _ = a.ReadDNSLog(context.Background(), strings.NewReader(s), "fuzz")
		a.Findings()
	})
}
