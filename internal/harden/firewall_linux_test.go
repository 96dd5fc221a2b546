package harden_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/cli"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// TestMain lets a test run the real command line inside a network
// namespace by starting this binary again there.
func TestMain(m *testing.M) {
	netns.TestMain(m, func(args []string) int { return cli.Main(args, os.Stdout, os.Stderr) })
}

func serve(t *testing.T, ns *netns.NS, addr string) {
	t.Helper()
	ln, err := ns.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hi\n")
			c.Close()
		}
	}()
}

func reachable(ns *netns.NS, addr string) bool {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 700*time.Millisecond)
		return err
	})
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(700 * time.Millisecond))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "hi\n"
}

func ruleset(t *testing.T, ns *netns.NS) string {
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (Debian: apt-get install nftables)")
	}
	out, err := ns.Exec(context.Background(), nft, "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v %s", err, out)
	}
	return string(out)
}

// TestHardenFirewallApplyRollback is the firewall half of the harden
// acceptance test: in a namespace whose host listens on 445 and 3333,
// `harden --apply` makes both unreachable from a peer (other ports stay
// open) and blocks the host's outbound mining port; `--rollback` makes
// them reachable again and leaves the ruleset exactly as before.
func TestHardenFirewallApplyRollback(t *testing.T) {
	h, p := netns.Pair(t, netns.End{Prefix: "hard", If: "h0", Addr: "10.203.0.1/24"}, netns.End{Prefix: "peer", If: "p0", Addr: "10.203.0.2/24"})
	for _, a := range []string{"10.203.0.1:445", "10.203.0.1:3333", "10.203.0.1:8080"} {
		serve(t, h, a)
	}
	serve(t, p, "10.203.0.2:3333") // a "pool" the host could reach
	// Another firewall's table that harden must not touch.
	if out, err := h.Exec(context.Background(), "nft", "add", "table", "inet", "filter").CombinedOutput(); err != nil {
		t.Skipf("nft add table: %v %s", err, out)
	}
	before := ruleset(t, h)
	want := map[string]bool{"10.203.0.1:445": true, "10.203.0.1:3333": true, "10.203.0.1:8080": true}
	for a, w := range want {
		if reachable(p, a) != w {
			t.Fatalf("before apply: %s reachable = %v", a, !w)
		}
	}
	if !reachable(h, "10.203.0.2:3333") {
		t.Fatal("before apply: the host cannot reach the peer's 3333")
	}
	state := t.TempDir()
	only := "ports.high_risk,firewall.egress_mining"
	code, out := h.Run(t, nil, "harden", "--only", only)
	if code != 1 || !strings.Contains(out, "FAIL  ports.high_risk") {
		t.Fatalf("audit before: exit %d\n%s", code, out)
	}
	if code, out = h.Run(t, nil, "harden", "--only", only, "--apply", "--yes", "--state-dir", state); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	for a, w := range map[string]bool{"10.203.0.1:445": false, "10.203.0.1:3333": false, "10.203.0.1:8080": true} {
		if got := reachable(p, a); got != w {
			t.Errorf("after apply: %s reachable = %v, want %v", a, got, w)
		}
	}
	if reachable(h, "10.203.0.2:3333") {
		t.Error("after apply: the host still reaches a mining port outbound")
	}
	if code, out = h.Run(t, nil, "harden", "--only", only); code != 0 {
		t.Errorf("audit after apply: exit %d\n%s", code, out)
	}
	if code, out = h.Run(t, nil, "harden", "--rollback", "--state-dir", state); code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	for a := range want {
		if !reachable(p, a) {
			t.Errorf("after rollback: %s unreachable", a)
		}
	}
	if !reachable(h, "10.203.0.2:3333") {
		t.Error("after rollback: outbound 3333 still blocked")
	}
	if after := ruleset(t, h); after != before {
		t.Errorf("ruleset after rollback differs:\n--- before\n%s\n--- after\n%s", before, after)
	}
}
