package trace

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// TestConntrackNATTrace: a client behind a masquerading router connects to
// a "pool"; the pool sees only the router's address. The router's real
// conntrack event log (Debian's conntrack -E) traces the pool's view of the
// connection back to the client's inside address and port.
func TestConntrackNATTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ct, err := exec.LookPath("conntrack")
	if err != nil {
		t.Skip("conntrack not installed (Debian: apt-get install conntrack)")
	}
	client, router, pool := netns.New(t, "cli"), netns.New(t, "nat"), netns.New(t, "pool")
	netns.Veth(t, client, "c0", router, "r0")
	netns.Veth(t, router, "r1", pool, "p0")
	client.IP(t, "addr", "add", "10.210.0.2/24", "dev", "c0")
	client.IP(t, "route", "add", "default", "via", "10.210.0.1")
	router.IP(t, "addr", "add", "10.210.0.1/24", "dev", "r0")
	router.IP(t, "addr", "add", "10.211.0.1/24", "dev", "r1")
	pool.IP(t, "addr", "add", "10.211.0.2/24", "dev", "p0")
	ctx := context.Background()
	for _, args := range [][]string{
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"nft", "add table ip nat"},
		{"nft", "add chain ip nat post { type nat hook postrouting priority 100 ; }"},
		{"nft", "add rule ip nat post oifname r1 masquerade"},
	} {
		if out, err := router.Exec(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Skipf("router setup %v: %v %s", args, err, out)
		}
	}
	ln, err := pool.Listen("tcp", "10.211.0.2:3333")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := make(chan netip.AddrPort, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		seen <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
		c.Write([]byte("ok\n"))
		time.Sleep(200 * time.Millisecond)
		c.Close()
	}()

	var events bytes.Buffer
	ev := router.Exec(ctx, ct, "-E", "-o", "timestamp", "-p", "tcp")
	ev.Stdout = &events
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // conntrack subscribes to events
	c, err := client.Dial("tcp", "10.211.0.2:3333", 3*time.Second)
	if err != nil {
		t.Fatalf("client cannot reach the pool through the NAT: %v", err)
	}
	inside := c.LocalAddr().(*net.TCPAddr).AddrPort()
	outside := <-seen
	buf := make([]byte, 3)
	c.Read(buf)
	at := time.Now()
	c.Close()
	time.Sleep(500 * time.Millisecond)
	ev.Process.Kill()
	ev.Wait()
	if outside.Addr() != netip.MustParseAddr("10.211.0.1") {
		t.Fatalf("the pool saw %s, not the router: no NAT happened", outside)
	}
	log := events.String()
	if !strings.Contains(log, "[NEW]") {
		t.Fatalf("no conntrack events:\n%s", log)
	}
	var tr Tracer
	if _, err := tr.AddNATLog(strings.NewReader(log), "conntrack.log", 0); err != nil {
		t.Fatal(err)
	}
	got, ok := tr.Untranslate(outside, netip.MustParseAddrPort("10.211.0.2:3333"), at)
	if !ok || got.Inside != inside {
		t.Fatalf("Untranslate(%s) = %+v %v, want inside %s\nlog:\n%s", outside, got, ok, inside, log)
	}
	if got.Start.IsZero() || got.Proto != "tcp" {
		t.Errorf("translation %+v lacks its time or protocol", got)
	}
}
