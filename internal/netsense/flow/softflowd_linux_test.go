package flow

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

func softflowd(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/softflowd", "/usr/bin/softflowd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("softflowd not installed (apt-get install softflowd)")
	return ""
}

// exportPcap has Debian's softflowd read a capture and export its flows
// in NetFlow version v to a collector on loopback; it returns what the
// collector decoded.
func exportPcap(t *testing.T, bin, pcap, version string) ([]Record, Stats) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var recs []Record
	c := &Collector{Conn: conn, Dec: NewDecoder(Limits{}), OnRecord: func(r Record) { recs = append(recs, r) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	dir := t.TempDir()
	// -a: flow times from the capture, not the clock; -d: foreground.
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	pcap, _ = filepath.Abs(pcap)
	// softflowd 1.1.0 never exits after a capture when its control socket
	// path is longer than 12 characters: short relative names, run in dir.
	cmd := exec.CommandContext(sctx, bin, "-r", pcap, "-n", conn.LocalAddr().String(), "-v", version, "-a", "-d", "-p", "pid", "-c", "ctl")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		cancel()
		<-done
		t.Fatalf("softflowd: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // the last datagrams are in the socket buffer
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Errors > 0 {
		t.Errorf("%d datagrams failed to decode", c.Errors)
	}
	return recs, c.Dec.Stats
}

// sharedPcap finds shared/data/pcap/name in a directory above the
// package: the checkout's sibling in the main tree, further up in a
// worktree.
func sharedPcap(t *testing.T, name string) string {
	t.Helper()
	dir, _ := filepath.Abs(".")
	for {
		p := filepath.Join(dir, "shared", "data", "pcap", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Skipf("shared capture %s not present above the package", name)
		}
		dir = up
	}
}

// TestSoftflowdRealCapture: a real mining capture (a host mining bitcoin
// against a pool on port 3333, with its NTP, DNS, HTTP and HTTPS) goes
// through softflowd in NetFlow v5, v9 and IPFIX; the pool connection is
// reported and nothing else is.
func TestSoftflowdRealCapture(t *testing.T) {
	bin := softflowd(t)
	pcap := sharedPcap(t, "bitcoin-mining.pcap")
	for _, v := range []string{"5", "9", "10"} {
		t.Run("v"+v, func(t *testing.T) {
			recs, st := exportPcap(t, bin, pcap, v)
			if st.Records == 0 || st.Malformed != 0 || st.TemplateMisses != st.Resolved {
				t.Fatalf("stats %+v", st)
			}
			a := newAnalyzer(t, nil)
			for _, r := range recs {
				a.Add(r)
			}
			got := summary(a.Findings())
			want := []string{
				"net.flow_mining_port medium 10.0.2.15->113.21.199.11:3333",
				"net.flow_mining_port medium 10.0.2.15->74.84.128.158:3333",
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("findings %v, want %v", got, want)
			}
			// With the pool's address in a feed, it is a pool connection.
			a = newAnalyzer(t, nil)
			a.AddPoolNets(PoolNet{Prefix: netip.MustParsePrefix("74.84.128.158/32"), Source: "test-feed", Category: "pool"})
			for _, r := range recs {
				a.Add(r)
			}
			fs := a.Findings()
			if len(fs) == 0 || fs[0].Rule != "net.flow_pool_ip" || fs[0].Severity != findings.High || fs[0].Evidence.SrcIP != "10.0.2.15" ||
				fs[0].Evidence.Packets < 100 || fs[0].Evidence.FirstSeen.Year() != 2018 {
				t.Errorf("with feed: %v", summary(fs))
			}
		})
	}
}

// TestSoftflowdFakeMiner: the project's fake miner speaks Stratum to the
// fake pool on a mining port on loopback while tcpdump captures; softflowd
// turns the capture into IPFIX for the collector.
func TestSoftflowdFakeMiner(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := softflowd(t)
	if os.Geteuid() != 0 {
		t.Skip("capturing on lo needs root")
	}
	db := intel.MustLoad()
	var pool *fakepool.Pool
	// From the end of the list: 3333 is what other packages' end-to-end
	// tests wait for.
	for i := len(db.Ports) - 1; i >= 0; i-- {
		p := db.Ports[i]
		if p.Weight != "strong" {
			continue
		}
		if l, err := fakepool.Listen(fmt.Sprintf("127.0.0.1:%d", p.Port)); err == nil {
			pool = l
			break
		}
	}
	if pool == nil {
		t.Skip("no strong mining port free on 127.0.0.1")
	}
	defer pool.Close()
	dir := t.TempDir()
	miner := filepath.Join(dir, "fakeminer")
	if out, err := exec.Command("go", "build", "-o", miner, "../../testkit/fakeminer").CombinedOutput(); err != nil {
		t.Fatalf("build fakeminer: %v\n%s", err, out)
	}
	capture := filepath.Join(dir, "miner.pcap")
	stopDump := netns.Tcpdump(t, nil, "lo", capture, fmt.Sprintf("tcp port %d", pool.Port()))
	user := "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A.rig7"
	m := exec.Command(miner, "-o", "stratum+tcp://"+pool.Addr(), "-u", user, "--proto", "stratum", "--share-interval", "100ms", "--max-runtime", "1m")
	if err := pool.MineUntil(m, user, 3, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	stopDump()

	recs, _ := exportPcap(t, bin, capture, "10")
	a := newAnalyzer(t, db)
	for _, r := range recs {
		a.Add(r)
	}
	fs := a.Findings()
	if len(fs) != 1 || fs[0].Rule != "net.flow_mining_port" || fs[0].Evidence.DstIP != "127.0.0.1" || fs[0].Evidence.DstPort != pool.Port() ||
		fs[0].Evidence.Packets < 6 || fs[0].Evidence.Details["connections"] != "1" {
		t.Errorf("findings %v %+v", summary(fs), fs)
	}
}
