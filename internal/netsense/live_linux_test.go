package netsense

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

const xmrWallet = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

// TestLiveCaptureOfFakeMiner: the project's fake miner talks to the fake
// pool on loopback in each dialect while Debian's tcpdump captures the
// traffic; the capture is then analysed like any other.
func TestLiveCaptureOfFakeMiner(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	miner := filepath.Join(dir, "fakeminer")
	if out, err := exec.Command("go", "build", "-o", miner, "../testkit/fakeminer").CombinedOutput(); err != nil {
		t.Fatalf("build fakeminer: %v\n%s", err, out)
	}
	for _, proto := range []string{"xmr", "stratum"} {
		t.Run(proto, func(t *testing.T) {
			pool, err := fakepool.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			capture := filepath.Join(dir, proto+".pcap")
			stopDump := netns.Tcpdump(t, nil, "lo", capture, fmt.Sprintf("tcp port %d", pool.Port()))
			user := xmrWallet + ".rig7"
			m := exec.Command(miner, "-o", "stratum+tcp://"+pool.Addr(), "-u", user, "--proto", proto, "--share-interval", "100ms", "--max-runtime", "1m")
			if err := pool.MineUntil(m, user, 3, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			stopDump()

			fs := analyze(t, capture)
			var hit *findings.Finding
			for i := range fs {
				if fs[i].Rule == "net.stratum" {
					hit = &fs[i]
				}
			}
			if hit == nil {
				t.Fatalf("no mining session found in the capture: %+v", fs)
			}
			wantDialect := DialectXMR
			if proto == "stratum" {
				wantDialect = DialectStratum1
			}
			e := hit.Evidence
			if hit.Severity != findings.Critical || e.Dialect != wantDialect || e.Worker != user || e.Wallet != xmrWallet ||
				e.DstIP != "127.0.0.1" || e.DstPort != pool.Port() || e.Details["shares"] == "0" {
				t.Errorf("finding %s %+v", hit.Severity, e)
			}
		})
	}
}
