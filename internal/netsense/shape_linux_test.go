package netsense_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
	"github.com/minerguard/minerguard/internal/testkit/netns"
	"github.com/minerguard/minerguard/internal/testkit/webtraffic"
)

// shapeMiner is one fake miner of the flow-shape test: its dialect, how
// often it finds a share and how often its pool pushes a job (means of
// exponential waits, as real shares and blocks come), on a port of its own.
type shapeMiner struct {
	proto      string
	share, job time.Duration
	port       int
}

// TestFlowShapeOnRealTLS: fake miners speak four pool dialects over TLS
// with an ordinary server name (no SNI or fingerprint can name them) while
// real HTTPS clients browse, download, poll, idle with HTTP/2 pings,
// stream server-sent events, chat and long-poll beside them. Debian's
// tcpdump captures it all in a namespace of the test's own; `net pcap`
// must report every miner by its flow shape and none of the ordinary
// connections. MINERGUARD_SHAPE_SECONDS makes the run longer (the
// measurement in docs/flow-shape.md); the verdict on every connection is
// logged.
func TestFlowShapeOnRealTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	run := 75 * time.Second
	if s := os.Getenv("MINERGUARD_SHAPE_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("MINERGUARD_SHAPE_SECONDS=%q", s)
		}
		run = time.Duration(n) * time.Second
	}
	t.Parallel()
	ns := netns.New(t, "shape") // skips without root or ip(8)
	dir := t.TempDir()
	bin, miner := buildTools(t, dir)

	miners := []shapeMiner{
		{"xmr", 2 * time.Second, 8 * time.Second, 8441},
		{"stratum", 2 * time.Second, 8 * time.Second, 8442},
		{"ethstratum", 3 * time.Second, 6 * time.Second, 8443},
		{"ethproxy", 3 * time.Second, 6 * time.Second, 8444},
	}
	if run >= 5*time.Minute {
		// Slower miners, only seen in long runs: a weak CPU on a pool
		// with a high difficulty, and Monero's 2-minute blocks.
		miners = append(miners, shapeMiner{"xmr", 15 * time.Second, 30 * time.Second, 8445}, shapeMiner{"stratum", 20 * time.Second, 60 * time.Second, 8446})
	}
	for _, m := range miners {
		var pool *fakepool.Pool
		if err := ns.Do(func() (err error) { pool, err = fakepool.ListenTLS(fmt.Sprintf("127.0.0.1:%d", m.port)); return err }); err != nil {
			t.Fatal(err)
		}
		pool.SetJobInterval(m.job, true)
		defer pool.Close()
	}
	// Ordinary traffic on 443; the documented look-alike on 9443.
	servers := map[string]*webtraffic.Server{}
	for _, addr := range []string{"127.0.0.1:443", "127.0.0.1:9443"} {
		var s *webtraffic.Server
		if err := ns.Do(func() (err error) { s, err = webtraffic.Listen(addr); return err }); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		servers[addr] = s
	}

	capture := filepath.Join(dir, "shape.pcap")
	stopDump := netns.Tcpdump(t, ns, "lo", capture, "tcp")

	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var procs []*exec.Cmd
	for _, m := range miners {
		cmd := ns.Exec(context.Background(), miner, "-o", fmt.Sprintf("stratum+ssl://127.0.0.1:%d", m.port), "--sni", "www.example.org",
			"--proto", m.proto, "-u", wallet+"."+m.proto, "--threads", "0", "--share-poisson", "--share-interval", m.share.String(),
			"--max-runtime", (run + time.Minute).String())
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return ns.Dial(network, addr, 5*time.Second)
	}
	var wg sync.WaitGroup
	clientErr := make(chan error, len(webtraffic.Profiles)+1)
	clients := append([]webtraffic.Client{}, webtraffic.Client{Profile: "subscribe", Addr: "127.0.0.1:9443", SNI: "www.example.org", Dial: dial})
	for _, p := range webtraffic.Profiles {
		if p != "subscribe" {
			clients = append(clients, webtraffic.Client{Profile: p, Addr: "127.0.0.1:443", SNI: "www.example.org", Dial: dial})
		}
	}
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil {
				clientErr <- fmt.Errorf("%s: %w", c.Profile, err)
			}
		}()
	}
	wg.Wait()
	for _, p := range procs {
		syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		p.Wait()
	}
	stopDump()
	close(clientErr)
	for err := range clientErr {
		t.Errorf("ordinary client: %v", err)
	}

	// The verdict on every connection, for the record.
	db, err := intel.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := netsense.NewAnalyzer(db)
	var reports []netsense.ShapeReport
	a.ShapeLog = func(r netsense.ShapeReport) { reports = append(reports, r) }
	f, err := os.Open(capture)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ReadCapture(context.Background(), f, capture); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a.Findings()
	sort.Slice(reports, func(i, j int) bool { return reports[i].Server.Port() < reports[j].Server.Port() })
	for _, r := range reports {
		d := r.Details
		t.Logf("shape %-5d %-16s mining=%-5v %-60s c=%s/%s regular=%s answered=%s reply=%s/%s jobs=%s/%s max=%s rate=%s dur=%s",
			r.Server.Port(), r.Client, r.Mining, r.Reason, d["client_messages"], d["client_size"], d["client_regular"], d["answered"],
			d["reply_size"], d["reply_regular"], d["jobs"], d["job_size"], d["max_message"], d["bytes_per_s"], d["duration"])
	}

	rep := netPcap(t, bin, capture)
	flagged := map[int]int{}
	for _, f := range rep.Findings {
		if f.Rule == "net.flow_shape" {
			flagged[f.Evidence.DstPort]++
			if f.Severity != findings.Medium || f.Evidence.Details["jobs"] == "" || f.Evidence.SrcIP != "127.0.0.1" {
				t.Errorf("flow-shape finding: %+v", f)
			}
		} else if f.Evidence.DstPort == 443 || f.Evidence.DstPort > 8000 {
			t.Errorf("unexpected finding on a TLS connection: %s %s", f.Rule, f.Title)
		}
	}
	for _, m := range miners {
		if flagged[m.port] != 1 {
			t.Errorf("%s miner (share %s, job %s) on port %d: %d flow-shape findings, want 1", m.proto, m.share, m.job, m.port, flagged[m.port])
		}
	}
	if flagged[443] != 0 {
		t.Errorf("ordinary HTTPS traffic flagged %d times", flagged[443])
	}
	t.Logf("look-alike (wallet header subscription) flagged: %v", flagged[9443] > 0)
	if t.Failed() {
		var titles []string
		for _, f := range rep.Findings {
			titles = append(titles, f.Rule+" "+f.Title)
		}
		t.Logf("findings:\n%s", strings.Join(titles, "\n"))
	}
}
