package netsense_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// TestDialectsAcrossVeth: the fake miner speaks each dialect (XMRig's
// Monero protocol, Stratum v1, NiceHash EthereumStratum/1.0.0, eth-proxy)
// to a fake pool on another host — a network namespace across a veth pair —
// while Debian's tcpdump captures the miner's interface. `net pcap` names
// every session with its dialect, worker and both endpoints.
func TestDialectsAcrossVeth(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	host, peer := netns.Pair(t, netns.End{Prefix: "miner", If: "m0", Addr: "10.212.0.2/24"}, netns.End{Prefix: "pool", If: "q0", Addr: "10.212.0.1/24"})
	dir := t.TempDir()
	bin, miner := buildTools(t, dir)

	dialects := []struct{ proto, want string }{
		{"xmr", netsense.DialectXMR}, {"stratum", netsense.DialectStratum1},
		{"ethstratum", netsense.DialectEthStrat}, {"ethproxy", netsense.DialectEthProxy},
	}
	pools := map[string]*fakepool.Pool{}
	for i, d := range dialects {
		// Pools on ordinary and mining ports alike: recognition is by protocol.
		addr := fmt.Sprintf("10.212.0.1:%d", []int{3333, 8080, 4444, 14444}[i])
		err := peer.Do(func() error {
			p, err := fakepool.Listen(addr)
			pools[d.proto] = p
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer pools[d.proto].Close()
	}
	capture := filepath.Join(dir, "veth.pcap")
	stopDump := netns.Tcpdump(t, host, "m0", capture, "tcp")
	for _, d := range dialects {
		user := wallet + "." + d.proto
		m := host.Exec(context.Background(), miner, "-o", "stratum+tcp://"+pools[d.proto].Addr(), "-u", user, "--proto", d.proto,
			"--threads", "0", "--share-interval", "150ms", "--max-runtime", "1m")
		if err := pools[d.proto].MineUntil(m, user, 3, 20*time.Second); err != nil {
			t.Fatalf("%s across the veth: %v", d.proto, err)
		}
	}
	stopDump()

	rep := netPcap(t, bin, capture)
	got := map[string]findings.Evidence{}
	for _, f := range rep.Findings {
		if f.Rule == "net.stratum" {
			got[f.Evidence.Dialect] = f.Evidence
		}
	}
	for _, d := range dialects {
		ev, ok := got[d.want]
		if !ok {
			t.Errorf("%s session not recognised; findings %+v", d.proto, rep.Findings)
			continue
		}
		if ev.SrcIP != "10.212.0.2" || ev.DstIP != "10.212.0.1" || ev.Worker != wallet+"."+d.proto || ev.Details["shares"] == "0" {
			t.Errorf("%s: evidence %+v", d.proto, ev)
		}
	}
	if len(got) != len(dialects) {
		t.Errorf("sessions found: %v", got)
	}
	if t.Failed() {
		b, _ := os.ReadFile(capture)
		os.WriteFile("/tmp/veth-debug.pcap", b, 0o600)
	}
}
