package netsense_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
)

// TestTLSMiningOn443: mining over TLS on port 443, the way pools hide in
// web traffic. Debian's tcpdump captures it inside a namespace of its own;
// `net pcap` names the pool from the ClientHello's SNI. A TLS session with
// an ordinary name on the same port raises nothing: without a pool name
// the payload is opaque (the flow-shape detector is not built yet).
func TestTLSMiningOn443(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (apt-get install tcpdump)")
	}
	ns := newNetns(t, "tls")
	dir := t.TempDir()
	bin, miner := buildTools(t, dir)
	var pool *fakepool.Pool
	inNetns(t, ns, func() {
		if pool, err = fakepool.ListenTLS("127.0.0.1:443"); err != nil {
			t.Fatal(err)
		}
	})
	defer pool.Close()

	capture := filepath.Join(dir, "tls.pcap")
	dump := exec.Command("ip", "netns", "exec", ns, tcpdump, "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w", capture, "tcp port 443")
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	defer dump.Process.Kill()
	time.Sleep(700 * time.Millisecond) // tcpdump attaches its filter
	for _, sni := range []string{"pool.supportxmr.com", "www.example.org"} {
		user := wallet + "." + sni[:4]
		m := exec.Command("ip", "netns", "exec", ns, miner, "-o", "stratum+ssl://127.0.0.1:443", "--sni", sni, "-u", user,
			"--threads", "0", "--share-interval", "200ms", "--max-runtime", "1m")
		m.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := pool.WaitShares(ctx, user, 2)
		cancel()
		syscall.Kill(-m.Process.Pid, syscall.SIGKILL)
		m.Wait()
		if err != nil {
			t.Fatalf("miner with SNI %s never submitted over TLS: %v", sni, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	dump.Process.Signal(syscall.SIGINT)
	dump.Wait()

	out, _ := exec.Command(bin, "net", "pcap", "-f", "json", "--fail-on", "none", capture).Output()
	var rep findings.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	var hits []findings.Finding
	for _, f := range rep.Findings {
		if f.Evidence.DstPort == 443 {
			hits = append(hits, f)
		}
	}
	if len(hits) != 1 || hits[0].Rule != "net.tls_pool_sni" || hits[0].Evidence.SNI != "pool.supportxmr.com" || hits[0].Evidence.DstIP != "127.0.0.1" {
		t.Fatalf("want exactly the pool-SNI session, got %+v", hits)
	}
}
