package netsense_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// TestTLSMiningOn443: mining over TLS on port 443, the way pools hide in
// web traffic. Debian's tcpdump captures it inside a namespace of its own;
// `net pcap` names the pool from the ClientHello's SNI. A TLS session with
// an ordinary name on the same port raises nothing: without a pool name
// the payload is opaque, and a few seconds are too short for the
// flow-shape detector (TestFlowShapeOnRealTLS) to judge.
func TestTLSMiningOn443(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ns := netns.New(t, "tls") // skips without root or ip(8)
	dir := t.TempDir()
	bin, miner := buildTools(t, dir)
	var pool *fakepool.Pool
	if err := ns.Do(func() (err error) { pool, err = fakepool.ListenTLS("127.0.0.1:443"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	capture := filepath.Join(dir, "tls.pcap")
	stopDump := netns.Tcpdump(t, ns, "lo", capture, "tcp port 443")
	for _, sni := range []string{"pool.supportxmr.com", "www.example.org"} {
		user := wallet + "." + sni[:4]
		m := ns.Exec(context.Background(), miner, "-o", "stratum+ssl://127.0.0.1:443", "--sni", sni, "-u", user,
			"--threads", "0", "--share-interval", "200ms", "--max-runtime", "1m")
		if err := pool.MineUntil(m, user, 2, 20*time.Second); err != nil {
			t.Fatalf("SNI %s over TLS: %v", sni, err)
		}
	}
	stopDump()

	rep := netPcap(t, bin, capture)
	var hits []findings.Finding
	for _, f := range rep.Findings {
		if f.Evidence.DstPort == 443 {
			hits = append(hits, f)
		}
	}
	if len(hits) != 1 || hits[0].Rule != "net.tls_pool_sni" || hits[0].Evidence.SNI != "pool.supportxmr.com" || hits[0].Evidence.DstIP != "127.0.0.1" {
		t.Fatalf("want exactly the pool-SNI session, got %+v", hits)
	}

	// JA3 as Wireshark computes it, for both ClientHellos.
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed: JA3 cross-check skipped")
	}
	tf, err := exec.Command(tshark, "-r", capture, "-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "tls.handshake.extensions_server_name", "-e", "tls.handshake.ja3").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	ja3 := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(tf)), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			ja3[f[0]] = f[1]
		}
	}
	if got := hits[0].Evidence.Details["ja3"]; got == "" || got != ja3["pool.supportxmr.com"] {
		t.Fatalf("JA3 %q, tshark says %q", got, ja3["pool.supportxmr.com"])
	}
	// With the client's fingerprint on the list, the session with an
	// ordinary name is found too.
	list := filepath.Join(dir, "ja3.txt")
	os.WriteFile(list, []byte("# miners' TLS clients\n"+ja3["www.example.org"]+",fakeminer (Go crypto/tls)\n"), 0o600)
	rep = netPcap(t, bin, "--ja3", list, capture)
	found := false
	for _, f := range rep.Findings {
		if f.Rule == "net.tls_miner_ja3" && f.Evidence.SNI == "www.example.org" && f.Evidence.Details["fingerprint_name"] == "fakeminer (Go crypto/tls)" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no JA3 finding for the listed fingerprint: %+v", rep.Findings)
	}
	// The same by JA4, which minerguard puts in every TLS finding's evidence.
	ja4 := hits[0].Evidence.Details["ja4"]
	if !strings.HasPrefix(ja4, "t13d") {
		t.Fatalf("JA4 of Go's ClientHello: %q", ja4)
	}
	os.WriteFile(list, []byte(ja4+" fakeminer by JA4\n"), 0o600)
	rep = netPcap(t, bin, "--tls-fingerprints", list, capture)
	found = false
	for _, f := range rep.Findings {
		found = found || f.Rule == "net.tls_miner_ja4" && f.Evidence.SNI == "www.example.org" && f.Evidence.Details["fingerprint_name"] == "fakeminer by JA4"
	}
	if !found {
		t.Fatalf("no JA4 finding for the listed fingerprint: %+v", rep.Findings)
	}
}
