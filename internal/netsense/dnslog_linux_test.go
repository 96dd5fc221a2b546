package netsense

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/testkit/dnsclient"
)

// TestDnsmasqQueryLog: Debian's dnsmasq answers test queries on loopback
// with log-queries on; its real log is then read like any resolver log.
func TestDnsmasqQueryLog(t *testing.T) {
	bin := "/usr/sbin/dnsmasq"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("dnsmasq not installed (apt-get install dnsmasq-base)")
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "dnsmasq.log")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	cmd := exec.Command(bin, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--listen-address=127.0.0.1",
		"--bind-interfaces", fmt.Sprintf("--port=%d", port), "--address=/#/127.0.0.9", "--log-queries", "--log-facility="+logFile,
		"--pid-file=", "--user=root", "--conf-file=/dev/null")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	server := fmt.Sprintf("127.0.0.1:%d", port)
	for _, name := range []string{"pool.xmrig.com", "gulf.moneroocean.stream", "www.example.org", "pool.xmrig.com"} {
		var err error
		for range 50 {
			if _, err = dnsclient.QueryA(server, name); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := NewAnalyzer(intel.MustLoad())
	matched, _, err := a.ReadDNSLog(context.Background(), f, logFile)
	if err != nil || matched != 4 {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("matched %d queries (want 4), err %v; log:\n%s", matched, err, b)
	}
	got := map[string]uint64{}
	for _, fi := range a.Findings() {
		if fi.Evidence.SrcIP != "127.0.0.1" {
			t.Errorf("client %q", fi.Evidence.SrcIP)
		}
		got[fi.Evidence.Domain] = fi.Evidence.Packets
	}
	if len(got) != 2 || got["pool.xmrig.com"] != 2 || got["gulf.moneroocean.stream"] != 1 {
		t.Errorf("findings by domain %v, want pool.xmrig.com x2 and gulf.moneroocean.stream", got)
	}
}
