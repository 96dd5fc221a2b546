package netsense_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// TestCaptureOnAnyInterface: `tcpdump -i any`, the usual way to capture on
// a host with several interfaces, writes Linux cooked captures (version 2,
// link type 276, since libpcap 1.10); the session in it is found.
func TestCaptureOnAnyInterface(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ns := netns.New(t, "any")
	dir := t.TempDir()
	bin, miner := buildTools(t, dir)
	var pool *fakepool.Pool
	if err := ns.Do(func() (err error) { pool, err = fakepool.Listen("127.0.0.1:3333"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	capture := filepath.Join(dir, "any.pcap")
	stopDump := netns.Tcpdump(t, ns, "any", capture, "tcp port 3333")
	user := wallet + ".any"
	m := ns.Exec(context.Background(), miner, "-o", "stratum+tcp://127.0.0.1:3333", "-u", user, "--proto", "xmr",
		"--threads", "0", "--share-interval", "150ms", "--max-runtime", "1m")
	if err := pool.MineUntil(m, user, 3, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	stopDump()
	head := make([]byte, 24)
	if f, err := os.Open(capture); err == nil {
		f.Read(head)
		f.Close()
	}
	link := binary.LittleEndian.Uint32(head[20:])
	t.Logf("tcpdump -i any wrote link type %d", link)

	rep := netPcap(t, bin, capture)
	found := false
	for _, f := range rep.Findings {
		if f.Rule == "net.stratum" && f.Evidence.Dialect == netsense.DialectXMR && f.Evidence.Worker == user && f.Evidence.DstPort == 3333 {
			found = true
		}
	}
	if !found || len(rep.Warnings) != 0 {
		t.Errorf("link type %d: session found %v, warnings %q, findings %s", link, found, rep.Warnings, fmt.Sprint(rep.Findings))
	}
}
