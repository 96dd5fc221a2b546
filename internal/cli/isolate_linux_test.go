package cli

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/firewall"
	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// TestMain lets the isolate test run the real command line as its own
// process inside a network namespace.
func TestMain(m *testing.M) {
	netns.TestMain(m, func(args []string) int { return Main(args, os.Stdout, os.Stderr) })
}

// lab is a host namespace joined to a peer namespace that holds a pool
// and a management host.
type lab struct {
	host, peer *netns.NS
}

const (
	hostIP  = "10.201.0.1"
	poolIP  = "10.201.0.2"
	mgmtIP  = "10.201.0.3"
	pool6IP = "fd00:201::2"
	dialTO  = 700 * time.Millisecond
)

// echo serves a banner then echoes lines, until the test ends.
func echo(t *testing.T, l net.Listener) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "hi\n")
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "%s\n", sc.Text())
				}
			}()
		}
	}()
}

func newLab(t *testing.T) *lab {
	l := &lab{host: netns.New(t, "host"), peer: netns.New(t, "peer")}
	netns.Veth(t, l.host, "h0", l.peer, "p0")
	l.host.IP(t, "addr", "add", hostIP+"/24", "dev", "h0")
	l.host.IP(t, "addr", "add", "fd00:201::1/64", "dev", "h0", "nodad")
	l.peer.IP(t, "addr", "add", poolIP+"/24", "dev", "p0")
	l.peer.IP(t, "addr", "add", mgmtIP+"/24", "dev", "p0")
	l.peer.IP(t, "addr", "add", pool6IP+"/64", "dev", "p0", "nodad")
	l.host.WaitAddrs(t)
	l.peer.WaitAddrs(t)
	for _, a := range []string{poolIP + ":3333", "[" + pool6IP + "]:3333", mgmtIP + ":2222", mgmtIP + ":3333", mgmtIP + ":4000"} {
		ln, err := l.peer.Listen("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		echo(t, ln)
	}
	ln, err := l.host.Listen("tcp", hostIP+":22")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, ln)
	return l
}

// dial connects from ns (from local when set) and reads the banner.
func dial(ns *netns.NS, local, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: dialTO}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(dialTO))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hi\n" {
		c.Close()
		return nil, fmt.Errorf("banner %q: %v", line, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// reach asserts whether addr answers from ns.
func reach(t *testing.T, ns *netns.NS, local, addr string, want bool) {
	t.Helper()
	c, err := dial(ns, local, addr)
	if c != nil {
		c.Close()
	}
	if got := err == nil; got != want {
		t.Errorf("%s -> %s reachable = %v (%v), want %v", cmp.Or(local, ns.Name), addr, got, err, want)
	}
}

// alive asserts whether an open connection still carries data.
func alive(t *testing.T, c net.Conn, what string, want bool) {
	t.Helper()
	c.SetDeadline(time.Now().Add(dialTO))
	defer c.SetDeadline(time.Time{})
	_, err := fmt.Fprintf(c, "ping\n")
	var line string
	if err == nil {
		line, err = bufio.NewReader(c).ReadString('\n')
	}
	if got := err == nil && line == "ping\n"; got != want {
		t.Errorf("established %s alive = %v (%q %v), want %v", what, got, line, err, want)
	}
}

func nftList(t *testing.T, ns *netns.NS) string {
	t.Helper()
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Log("nft not installed: cross-check skipped (Debian: apt-get install nftables)")
		return ""
	}
	out, _ := ns.Exec(context.Background(), nft, "list", "ruleset").CombinedOutput()
	return string(out)
}

// TestIsolate is the acceptance test of `minerguard isolate`: a host
// namespace with a pool and a management host on the other end of a veth.
func TestIsolate(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	state, intelDir := t.TempDir(), t.TempDir()
	common := []string{"--state-dir", state, "--intel-dir", intelDir}
	report := filepath.Join(t.TempDir(), "report.json")
	rep := `{"findings": [{"rule": "network.pool_ip", "severity": "critical", "signal": "network",
		"evidence": {"remote": "` + poolIP + `:3333"}}], "incidents": []}`
	if err := os.WriteFile(report, []byte(rep), 0o600); err != nil {
		t.Fatal(err)
	}
	// A minerguard table that was there before (say, an earlier blocklist):
	// undo must bring back exactly this.
	before := firewall.Ruleset{BlockAddrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.9/32")}, InboundBlockPorts: []uint16{445}}
	if err := firewall.Apply(ctx, before, firewall.WithNetNS(l.host.Path)); err != nil {
		t.Fatalf("installing the earlier table: %v", err)
	}

	// Before: everything answers.
	reach(t, l.host, "", poolIP+":3333", true)
	reach(t, l.host, "", "["+pool6IP+"]:3333", true)
	reach(t, l.host, "", mgmtIP+":2222", true)
	reach(t, l.host, "", mgmtIP+":3333", true)
	reach(t, l.peer, poolIP, hostIP+":22", true)
	mgmt, err := dial(l.host, "", mgmtIP+":2222")
	if err != nil {
		t.Fatal(err)
	}
	defer mgmt.Close()
	miner, err := dial(l.host, "", poolIP+":3333")
	if err != nil {
		t.Fatal(err)
	}
	defer miner.Close()

	t.Run("pools", func(t *testing.T) {
		code, out := l.host.Run(t, nil, append([]string{"isolate", "--from", report, "--block", pool6IP}, common...)...)
		if code != 0 || !strings.Contains(out, "applied;") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		reach(t, l.host, "", poolIP+":3333", false)
		reach(t, l.host, "", "["+pool6IP+"]:3333", false)
		reach(t, l.host, "", mgmtIP+":3333", false) // mining port, from the intel
		reach(t, l.host, "", mgmtIP+":2222", true)
		reach(t, l.peer, mgmtIP, hostIP+":22", true)
		reach(t, l.peer, poolIP, hostIP+":22", false) // inbound from the pool
		alive(t, miner, "miner connection", false)
		alive(t, mgmt, "management connection", true)
		if s := nftList(t, l.host); s != "" && (!strings.Contains(s, poolIP) || !strings.Contains(s, pool6IP) || !strings.Contains(s, "3333") ||
			!regexp.MustCompile(`ip daddr @block4 counter packets [1-9]`).MatchString(s)) {
			t.Errorf("nft list lacks the pool or the drops were not counted:\n%s", s)
		}
	})

	t.Run("all refused without allow", func(t *testing.T) {
		code, out := l.host.Run(t, nil, append([]string{"isolate", "--mode", "all"}, common...)...)
		if code != ExitError || !strings.Contains(out, "--mode all without --allow") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		reach(t, l.host, "", mgmtIP+":4000", true) // nothing changed
	})

	t.Run("all", func(t *testing.T) {
		ssh := "SSH_CONNECTION=" + mgmtIP + " 50022 " + hostIP + " 22"
		code, out := l.host.Run(t, []string{ssh}, append([]string{"isolate", "--mode", "all", "--allow", mgmtIP + ":2222"}, common...)...)
		if code != 0 || !strings.Contains(out, "allowing your SSH session: "+mgmtIP+" to local port 22") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		reach(t, l.host, "", mgmtIP+":2222", true)
		reach(t, l.host, "", mgmtIP+":4000", false)
		reach(t, l.host, "", poolIP+":3333", false)
		reach(t, l.peer, mgmtIP, hostIP+":22", true) // the SSH session's client
		reach(t, l.peer, poolIP, hostIP+":22", false)
		alive(t, mgmt, "management connection", true)
		if s := nftList(t, l.host); s != "" && !strings.Contains(s, mgmtIP+" . 2222") {
			t.Errorf("nft list lacks the allowed endpoint:\n%s", s)
		}
	})

	t.Run("status", func(t *testing.T) {
		code, out := l.host.Run(t, nil, append([]string{"isolate", "--status"}, common...)...)
		for _, want := range []string{"chain isolate_in {", mgmtIP + " . 2222", "isolated (--mode all) since", "--undo restores the table as it was before (1 networks, 0 ports, isolate false)"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
			}
		}
	})

	t.Run("undo", func(t *testing.T) {
		code, out := l.host.Run(t, nil, append([]string{"isolate", "--undo"}, common...)...)
		if code != 0 || !strings.Contains(out, "restored table inet minerguard") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		got, ok, err := firewall.Read(ctx, firewall.DefaultTable, firewall.WithNetNS(l.host.Path))
		if err != nil || !ok || !got.Equal(before) {
			t.Fatalf("after undo: %+v %v %v, want %+v", got, ok, err, before)
		}
		reach(t, l.host, "", poolIP+":3333", true)
		reach(t, l.host, "", "["+pool6IP+"]:3333", true)
		reach(t, l.host, "", mgmtIP+":4000", true)
		reach(t, l.peer, poolIP, hostIP+":22", true)
		alive(t, mgmt, "management connection", true)
		if _, err := os.Stat(filepath.Join(state, "isolate-minerguard.json")); !os.IsNotExist(err) {
			t.Errorf("state left after undo: %v", err)
		}
		code, out = l.host.Run(t, nil, append([]string{"isolate", "--undo"}, common...)...)
		if code != ExitError || !strings.Contains(out, "nothing to undo") {
			t.Errorf("second undo: exit %d:\n%s", code, out)
		}
	})

	// The same from outside the namespace, through --netns, with no
	// minerguard table before.
	t.Run("netns flag", func(t *testing.T) {
		if err := firewall.Remove(ctx, firewall.DefaultTable, firewall.WithNetNS(l.host.Path)); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"isolate", "--netns", l.host.Path, "--block", poolIP}, common...)
		if code, out, errs := run(t, args...); code != 0 {
			t.Fatalf("exit %d:\n%s%s", code, out, errs)
		}
		reach(t, l.host, "", poolIP+":3333", false)
		if code, out, errs := run(t, append([]string{"isolate", "--undo", "--netns", l.host.Path}, common...)...); code != 0 || !strings.Contains(out, "removed table inet minerguard") {
			t.Fatalf("undo: exit %d:\n%s%s", code, out, errs)
		}
		if _, ok, err := firewall.Read(ctx, firewall.DefaultTable, firewall.WithNetNS(l.host.Path)); ok || err != nil {
			t.Fatalf("table after undo: %v %v", ok, err)
		}
		reach(t, l.host, "", poolIP+":3333", true)
	})
}

func TestIsolateFlags(t *testing.T) {
	dir := t.TempDir()
	common := []string{"--state-dir", dir, "--intel-dir", dir, "--dry-run"}
	tests := []struct {
		args []string
		env  string
		code int
		want string
	}{
		{[]string{"--mode", "nope"}, "", ExitError, `--mode "nope": want pools or all`},
		{[]string{"--allow", "10.0.0.1"}, "", ExitError, "--allow is for --mode all"},
		{[]string{"--mode", "all", "--allow", "host:22"}, "", ExitError, `--allow: endpoint "host:22"`},
		{[]string{"--block", "10.0.0.0/33"}, "", ExitError, "--block: not an address"},
		{[]string{"--block-port", "70000"}, "", ExitError, "--block-port 70000"},
		{[]string{"--from", "/nonexistent.json"}, "", ExitError, "--from: open /nonexistent.json"},
		{[]string{"--table", "a b"}, "", ExitError, "--table: table name"},
		{[]string{"--undo", "--block", "10.0.0.1"}, "", ExitError, "--undo and --status take no"},
		{[]string{"--block", "10.0.0.0/8"}, "10.1.2.3 5000 10.0.0.1 22", ExitError, "the address of your SSH session"},
		{[]string{"--block", "10.0.0.0/8", "--force"}, "10.1.2.3 5000 10.0.0.1 22", ExitOK, "blocking 10.1.2.3, the address of your SSH session (--force)"},
		{[]string{"--mode", "all", "--force"}, "", ExitOK, "dry run: nothing applied"},
		{[]string{"--mode", "all", "--allow", "[2001:db8::5]:22"}, "2001:db8::9 5000 2001:db8::1 2222", ExitOK, "2001:db8::5 . 22, 2001:db8::9 . 2222"},
		{[]string{"--mode", "all", "--allow", "10.0.0.5"}, "garbage", ExitOK, "$SSH_CONNECTION \"garbage\": want 4 fields"},
		{[]string{"--block-port", "9999"}, "", ExitOK, "9999"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Setenv("SSH_CONNECTION", tt.env)
			code, out, errs := run(t, append(append([]string{"isolate"}, tt.args...), common...)...)
			if code != tt.code || !strings.Contains(out+errs, tt.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, tt.code, tt.want, out, errs)
			}
		})
	}
}

// TestIsolateWithoutCapNetAdmin runs the command line without
// CAP_NET_ADMIN (root minus that capability, via setpriv) and expects the
// error to say what is missing.
func TestIsolateWithoutCapNetAdmin(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed (Debian: util-linux)")
	}
	ns := netns.New(t, "nocap")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"isolate", "--status", "--state-dir", dir},
		{"isolate", "--block", "192.0.2.1", "--state-dir", dir, "--intel-dir", dir},
	} {
		out, err := ns.Command(args, setpriv, "--bounding-set", "-net_admin", "--inh-caps", "-net_admin").CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != ExitError || !strings.Contains(string(out), "permission denied (changing or reading nftables needs root or CAP_NET_ADMIN)") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	// Nothing was saved for an undo of a change that never happened.
	if _, err := os.Stat(filepath.Join(dir, "isolate-minerguard.json")); !os.IsNotExist(err) {
		t.Errorf("state written: %v", err)
	}
}
