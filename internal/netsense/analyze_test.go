package netsense

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

func sharedPcap(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "data", "pcap", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared capture not present: %v", err)
	}
	return p
}

func analyze(t *testing.T, path string) []findings.Finding {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := NewAnalyzer(intel.MustLoad())
	if err := a.ReadCapture(context.Background(), f, path); err != nil {
		t.Fatal(err)
	}
	if len(a.Errors) > 0 {
		t.Errorf("capture errors: %v", a.Errors)
	}
	return a.Findings()
}

// want is one finding a capture must produce.
type want struct {
	rule, dialect, dst, worker, domain string
	sev                                findings.Severity
}

func has(fs []findings.Finding, w want) bool {
	for _, f := range fs {
		e := f.Evidence
		dst := ""
		if e.DstIP != "" {
			dst = e.DstIP + ":" + itoa(e.DstPort)
		}
		if f.Rule == w.rule && f.Severity == w.sev && (w.dialect == "" || e.Dialect == w.dialect) &&
			(w.dst == "" || dst == w.dst) && (w.worker == "" || e.Worker == w.worker) && (w.domain == "" || e.Domain == w.domain) {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// TestSharedCaptures: the four real captures from the zeek-cryptomining
// package are recognised with the right dialect and endpoints.
func TestSharedCaptures(t *testing.T) {
	tests := []struct {
		file string
		want []want
	}{
		{"bitcoin-mining.pcap", []want{
			{rule: "net.stratum", dialect: DialectStratum1, dst: "74.84.128.158:3333", worker: "broatcast", sev: findings.Critical},
			{rule: "net.stratum", dialect: DialectGetwork, dst: "113.21.199.11:3333", domain: "us1.bitminter.com:3333", sev: findings.High},
		}},
		{"bitcoin-mining-in-progress.pcap", []want{
			{rule: "net.stratum", dialect: DialectStratum1, dst: "74.84.128.158:3333", sev: findings.High},
		}},
		{"coinhive-stratum.pcap", []want{
			{rule: "net.stratum", dialect: DialectXMR, dst: "192.110.160.114:3333", worker: "46WNbmwXpYxiBpkbHjAgjC65cyzAxtaaBQjcGpAZquhBKw2r8NtPQniEgMJcwFMCZzSBrEJtmPsTR54MoGBDbjTi2W1XmgM", sev: findings.Critical},
			{rule: "net.dns_pool", domain: "coinhive.com", sev: findings.High},
			{rule: "net.tls_pool_sni", dst: "104.20.208.59:443", domain: "coinhive.com", sev: findings.High},
		}},
		{"coinhive.pcap", []want{
			{rule: "net.dns_pool", domain: "authedmine.com", sev: findings.High},
			{rule: "net.tls_pool_sni", dst: "37.187.167.83:443", domain: "ws027.authedmine.com", sev: findings.High},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			fs := analyze(t, sharedPcap(t, tc.file))
			for _, w := range tc.want {
				if !has(fs, w) {
					t.Errorf("missing %+v", w)
				}
			}
			if fs[0].Evidence.SrcIP != "10.0.2.15" {
				t.Errorf("source %q, want the capturing host 10.0.2.15", fs[0].Evidence.SrcIP)
			}
			inc := Incidents(fs)
			if len(inc) != 1 || inc[0].Severity != fs[0].Severity {
				t.Errorf("incidents %+v: want one per mining host", inc)
			}
		})
	}
}

func TestSessionDialects(t *testing.T) {
	tests := []struct {
		name, msgs, dialect, worker string
		shares                      int
	}{
		{"xmr any key order", `{"params":{"agent":"XMRig/6.21","login":"44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A","pass":"x"},"method":"login","id":1}
{"id":2,"method":"submit","params":{"id":"1","job_id":"a","nonce":"00","result":"ff"}}`, DialectXMR, "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A", 1},
		{"stratum v1 spaced", `{ "id" : 1 , "method" : "mining.subscribe", "params" : ["cgminer/4.10"] }
{"id":2,"method":"mining.authorize","params":["wallet.rig1","x"]}
{"id":3,"method":"mining.submit","params":["wallet.rig1","j","00","5b","00"]}`, DialectStratum1, "wallet.rig1", 1},
		{"nicehash ethereumstratum", `{"id":1,"method":"mining.subscribe","params":["MinerName/1.0.0","EthereumStratum/1.0.0"]}`, DialectEthStrat, "", 0},
		{"ethproxy", `{"worker":"","jsonrpc":"2.0","params":["0xabc.rig","x"],"id":2,"method":"eth_submitLogin"}
{"id":3,"method":"eth_submitWork","params":["0x1","0x2","0x3"]}`, DialectEthProxy, "0xabc.rig", 1},
		{"not mining", `{"id":1,"method":"textDocument/hover","params":{}}
{"jsonrpc":"2.0","result":{"ok":true},"id":1}`, "", "", 0},
	}
	for _, tc := range tests {
		var s Session
		for _, l := range bytes.Split([]byte(tc.msgs), []byte("\n")) {
			s.Feed(l)
		}
		if s.Dialect != tc.dialect || s.Worker != tc.worker || s.Shares != tc.shares {
			t.Errorf("%s: %+v", tc.name, s)
		}
	}
}

// Lines split across segments and arriving out of order still parse.
func TestReassemblyOutOfOrder(t *testing.T) {
	var d direction
	d.add(100, nil, true)
	msg := []byte(`{"id":1,"method":"mining.authorize","params":["w.1","x"]}` + "\n")
	a, b, c := msg[:10], msg[10:30], msg[30:]
	var got [][]byte
	got = append(got, d.messages(d.add(101+30, c, false))...)
	got = append(got, d.messages(d.add(101, a, false))...)
	got = append(got, d.messages(d.add(101, a, false))...) // retransmission
	got = append(got, d.messages(d.add(101+10, b, false))...)
	if len(got) != 1 || !bytes.Equal(got[0], bytes.TrimSpace(msg)) {
		t.Fatalf("got %q", got)
	}
}

func FuzzSessionFeed(f *testing.F) {
	f.Add([]byte(`{"id":1,"method":"login","params":{"login":"x","algo":["rx/0"]}}`))
	f.Add([]byte(`{"method":"mining.subscribe","params":[1,2]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Session
		s.Feed(b)
		if len(s.Worker) > 256 {
			t.Fatal("worker not bounded")
		}
	})
}

func FuzzClientHelloSNI(f *testing.F) {
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) { ClientHelloSNI(b) })
}

func FuzzWebSocketFrames(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'z', 'a', 'x', 'h', 'n'})
	f.Fuzz(func(t *testing.T, b []byte) { wsFrames(b, true) })
}

func FuzzReadCapture(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "data", "pcap", "bitcoin-mining-in-progress.pcap")); err == nil {
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add([]byte("\xd4\xc3\xb2\xa1\x02\x00\x04\x00"))
	db := intel.MustLoad() // once: loading per input made the fuzzer crawl
	f.Fuzz(func(t *testing.T, b []byte) {
		a := NewAnalyzer(db)
		_ = a.ReadCapture(context.Background(), bytes.NewReader(b), "fuzz")
		a.Findings()
	})
}

// BenchmarkAnalyzeCaptures: throughput over the four real captures.
func BenchmarkAnalyzeCaptures(b *testing.B) {
	var data [][]byte
	total := 0
	for _, n := range []string{"bitcoin-mining.pcap", "bitcoin-mining-in-progress.pcap", "coinhive-stratum.pcap", "coinhive.pcap"} {
		d, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "data", "pcap", n))
		if err != nil {
			b.Skip(err)
		}
		data = append(data, d)
		total += len(d)
	}
	db := intel.MustLoad()
	b.SetBytes(int64(total))
	for i := 0; i < b.N; i++ {
		a := NewAnalyzer(db)
		for _, d := range data {
			if err := a.ReadCapture(context.Background(), bytes.NewReader(d), "bench"); err != nil {
				b.Fatal(err)
			}
		}
		if len(a.Findings()) == 0 {
			b.Fatal("nothing found")
		}
	}
}

// A segment the capture lost costs its own message only: what follows the
// gap is still read when the flow ends.
func TestReassemblyLostSegment(t *testing.T) {
	var d direction
	d.add(0, nil, true)
	lines := []string{
		`{"id":1,"method":"mining.subscribe","params":["m/1"]}`,
		`{"id":2,"method":"mining.authorize","params":["w.1","x"]}`,
		`{"id":3,"method":"mining.submit","params":["w.1","j","00","5b","00"]}`,
		`{"id":4,"method":"mining.submit","params":["w.1","j","01","5b","00"]}`,
	}
	var s Session
	seq := uint32(1)
	for i, l := range lines {
		b := []byte(l + "\n")
		if i != 1 { // the authorize segment never made it into the capture
			for _, m := range d.messages(d.add(seq, b, false)) {
				s.Feed(m)
			}
		}
		seq += uint32(len(b))
	}
	if s.Shares != 0 {
		t.Fatalf("data behind the gap was read before the flow ended")
	}
	d.flush(func(b []byte) {
		for _, m := range d.messages(b) {
			s.Feed(m)
		}
	})
	if s.Shares != 2 || s.Dialect != DialectStratum1 || d.lost != len(lines[1])+1 {
		t.Errorf("after flush: %+v lost %d", s, d.lost)
	}
}

// collect is a sink that keeps copies of the messages it is handed.
type collect [][]byte

func (c *collect) Feed(b []byte) bool { *c = append(*c, append([]byte(nil), b...)); return true }

// messages feeds in-order bytes and returns the complete messages.
func (d *direction) messages(data []byte) [][]byte {
	var c collect
	d.feed(data, &c)
	return c
}

// TestShapeOnSharedCaptures: on the public captures the flow-shape
// detector agrees with content where a connection lasted long enough to
// judge: the encrypted Coinhive WebSocket (found by its SNI) and the
// Stratum session of bitcoin-mining.pcap have a miner's shape; the web
// traffic beside them does not, and no connection is flagged by shape
// alone.
func TestShapeOnSharedCaptures(t *testing.T) {
	mining := map[string]bool{}
	for _, n := range []string{"bitcoin-mining.pcap", "bitcoin-mining-in-progress.pcap", "coinhive-stratum.pcap", "coinhive.pcap"} {
		path := sharedPcap(t, n)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		a := NewAnalyzer(intel.MustLoad())
		a.ShapeLog = func(r ShapeReport) {
			if r.Mining {
				mining[n+" "+r.Server.String()] = true
			}
		}
		if err := a.ReadCapture(context.Background(), f, path); err != nil {
			t.Fatal(err)
		}
		f.Close()
		for _, fd := range a.Findings() {
			if fd.Rule == "net.flow_shape" {
				t.Errorf("%s: flagged by shape alone: %s", n, fd.Title)
			}
		}
	}
	for _, k := range []string{"coinhive.pcap 37.187.167.83:443", "bitcoin-mining.pcap 74.84.128.158:3333"} {
		if !mining[k] {
			t.Errorf("%s: not mining-shaped", k)
		}
		delete(mining, k)
	}
	if len(mining) > 0 {
		t.Errorf("other connections judged mining-shaped: %v", mining)
	}
}
