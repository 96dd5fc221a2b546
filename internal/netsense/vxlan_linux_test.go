package netsense_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// TestMiningInsideVXLAN: the fake miner reaches its pool through a VXLAN
// overlay (the kernel's own vxlan devices, over a veth between two
// namespaces); Debian's tcpdump and `net live` watch only the underlay,
// as a data-centre sensor on the physical network would. Both `net pcap`
// on the capture and `net live` (its kernel filter, then the decoder)
// read the session inside the encapsulation and name the overlay
// addresses.
func TestMiningInsideVXLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	host, peer := netns.Pair(t, netns.End{Prefix: "vxa", If: "u0", Addr: "10.215.0.1/24"}, netns.End{Prefix: "vxb", If: "u1", Addr: "10.215.0.2/24"})
	for _, side := range []struct {
		ns            *netns.NS
		dev, local    string
		remote, inner string
	}{{host, "u0", "10.215.0.1", "10.215.0.2", "10.216.0.1/24"}, {peer, "u1", "10.215.0.2", "10.215.0.1", "10.216.0.2/24"}} {
		if out, err := side.ns.Exec(context.Background(), "ip", "link", "add", "vx42", "type", "vxlan", "id", "42", "local", side.local,
			"remote", side.remote, "dstport", "4789", "dev", side.dev).CombinedOutput(); err != nil {
			t.Skipf("no VXLAN in this kernel: %v: %s", err, out)
		}
		side.ns.IP(t, "addr", "add", side.inner, "dev", "vx42")
		side.ns.IP(t, "link", "set", "vx42", "up")
	}
	host.WaitAddrs(t)
	peer.WaitAddrs(t)
	dir := t.TempDir()
	bin, miner := buildTools(t, dir)

	var pool *fakepool.Pool
	if err := peer.Do(func() (err error) { pool, err = fakepool.Listen("10.216.0.2:3333"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	capture := filepath.Join(dir, "underlay.pcap")
	stopDump := netns.Tcpdump(t, host, "u0", capture, "udp port 4789")
	liveReport := filepath.Join(dir, "live.json")
	live := host.Exec(context.Background(), bin, "net", "live", "-i", "u0", "-f", "json", "-o", liveReport)
	stderr, err := live.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer live.Process.Kill()
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "capturing on u0") {
	}
	go io.Copy(io.Discard, stderr)
	user := wallet + ".vxlan"
	m := host.Exec(context.Background(), miner, "-o", "stratum+tcp://10.216.0.2:3333", "-u", user, "--proto", "xmr",
		"--threads", "0", "--share-interval", "150ms", "--max-runtime", "1m")
	if err := pool.MineUntil(m, user, 3, 20*time.Second); err != nil {
		t.Fatalf("across the VXLAN overlay: %v", err)
	}
	stopDump()
	live.Process.Signal(syscall.SIGINT)
	live.Wait()

	liveOut, err := os.ReadFile(liveReport)
	if err != nil {
		t.Fatalf("net live wrote no report: %v", err)
	}
	var liveRep findings.Report
	if err := json.Unmarshal(liveOut, &liveRep); err != nil {
		t.Fatalf("net live report: %v\n%s", err, liveOut)
	}
	for what, rep := range map[string]findings.Report{"net pcap": netPcap(t, bin, capture), "net live": liveRep} {
		var hit *findings.Evidence
		for i, f := range rep.Findings {
			if f.Rule == "net.stratum" {
				hit = &rep.Findings[i].Evidence
			}
		}
		if hit == nil {
			t.Errorf("%s: no mining session found inside VXLAN: %+v", what, rep.Findings)
			continue
		}
		if hit.SrcIP != "10.216.0.1" || hit.DstIP != "10.216.0.2" || hit.DstPort != 3333 || hit.Dialect != netsense.DialectXMR || hit.Worker != user {
			t.Errorf("%s: session %s -> %s:%d %s %s, want the overlay's 10.216.0.1 -> 10.216.0.2:3333 monero-xmrig %s", what, hit.SrcIP, hit.DstIP, hit.DstPort, hit.Dialect, hit.Worker, user)
		}
	}
}
