package blocklist

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/testkit/dnsclient"
)

// testList is the embedded intel plus networks of both families, so every
// set and clause of every format is exercised.
func testList(t *testing.T) *List {
	t.Helper()
	l := FromIntel(intel.MustLoad())
	l.Add([]string{"extra-pool.example", "bücher-pool.example"}, []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("192.0.2.128/25"),
		netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8:1::/48"),
	})
	return l
}

func render(t *testing.T, l *List, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, l, format); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), format+".conf")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return filepath.Join(dir, name)
			}
		}
		t.Skipf("%s not installed (apt-get install it to check this format)", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// Each format is accepted by the tool that loads it.
func TestFormatsAcceptedByTools(t *testing.T) {
	l := testList(t)
	t.Run("nftables", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("nft -c needs root")
		}
		run(t, tool(t, "nft"), "-c", "-f", render(t, l, "nftables"))
	})
	t.Run("rpz", func(t *testing.T) {
		run(t, tool(t, "named-checkzone"), "rpz.minerguard", render(t, l, "rpz"))
	})
	t.Run("dnsmasq", func(t *testing.T) {
		run(t, tool(t, "dnsmasq"), "--test", "--conf-file="+render(t, l, "dnsmasq"))
	})
	t.Run("unbound", func(t *testing.T) {
		bin := tool(t, "unbound-checkconf")
		inc := render(t, l, "unbound")
		conf := filepath.Join(t.TempDir(), "unbound.conf")
		body := fmt.Sprintf("server:\n\tusername: \"\"\n\tchroot: \"\"\n\tdirectory: \"%s\"\n\tpidfile: \"\"\ninclude: \"%s\"\n", filepath.Dir(conf), inc)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, bin, conf)
	})
	// hosts, domains and ips read back into the same list.
	for _, f := range []string{"hosts", "domains", "ips", "edl-domain", "edl-ip"} {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(render(t, l, f))
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParseList(bytes.NewReader(b), f)
			if err != nil || len(p.Bad) > 0 {
				t.Fatal(err, p.Bad)
			}
			back := &List{}
			back.Add(p.Domains, p.Prefixes)
			if !strings.HasSuffix(f, "ips") && f != "edl-ip" && strings.Join(back.Domains, " ") != strings.Join(l.Domains, " ") {
				t.Errorf("domains differ after a round trip")
			}
			if (f == "ips" || f == "edl-ip") && fmt.Sprint(back.V4, back.V6) != fmt.Sprint(l.V4, l.V6) {
				t.Errorf("networks differ: %v %v, want %v %v", back.V4, back.V6, l.V4, l.V6)
			}
		})
	}
}

// TestDnsmasqBlocksPools loads the exported list into a real dnsmasq on
// loopback (no upstream) and asks it: a pool, a subdomain of a pool, and
// an ordinary name answered locally.
func TestDnsmasqBlocksPools(t *testing.T) {
	bin := tool(t, "dnsmasq")
	conf := render(t, testList(t), "dnsmasq")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	cmd := exec.Command(bin, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
		"--listen-address=127.0.0.1", "--bind-interfaces", fmt.Sprintf("--port=%d", port),
		"--conf-file="+conf, "--address=/normal.test/127.0.0.9", "--pid-file=", "--user=root", "--log-facility=-")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	server := fmt.Sprintf("127.0.0.1:%d", port)
	tests := []struct{ name, want string }{
		{"pool.xmrig.com", "0.0.0.0"},
		{"eu.gulf.moneroocean.stream", "0.0.0.0"},
		{"extra-pool.example", "0.0.0.0"},
		{mustNorm(t, "bücher-pool.example"), "0.0.0.0"},
		{"normal.test", "127.0.0.9"},
	}
	for _, tc := range tests {
		var got string
		var err error
		for range 50 { // dnsmasq may still be starting
			if got, err = dnsclient.QueryA(server, tc.name); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %s", tc.name, got, err, tc.want)
		}
	}
}

// TestRealFeeds reads the real CoinBlockerLists (2018) and NoCoin files
// from ../shared (test input only: AGPL data is never embedded) into one
// list and has nft accept it.
func TestRealFeeds(t *testing.T) {
	files := []string{"coinblocker-2018/list.txt", "coinblocker-2018/hosts", "coinblocker-2018/MiningServerIPList.txt", "nocoin-hosts.txt",
		"coinblocker-2018/list_browser.txt", "nocoin-nocoin.txt", "nocoin-nocoin-ublock.txt"}
	dir := sharedIntel(t, files[0])
	l := FromIntel(intel.MustLoad())
	for _, f := range files {
		fh, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseList(fh, f)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		t.Logf("%s: %d lines, %d entries, %d bad, %d adblock rules ignored", f, p.Lines, len(p.Domains)+len(p.Prefixes), p.BadLines, p.Ignored)
		if p.BadLines > p.Lines/100 {
			t.Errorf("%s: %d of %d lines unreadable, e.g. %v", f, p.BadLines, p.Lines, p.Bad[:min(3, len(p.Bad))])
		}
		l.Add(p.Domains, p.Prefixes)
	}
	if len(l.Domains) < 500 || len(l.V4) < 10 {
		t.Fatalf("only %d domains and %d IPv4 networks from the feeds", len(l.Domains), len(l.V4))
	}
	t.Logf("%d domains, %d IPv4, %d IPv6 networks", len(l.Domains), len(l.V4), len(l.V6))
	if os.Geteuid() == 0 {
		run(t, tool(t, "nft"), "-c", "-f", render(t, l, "nftables"))
	}
	run(t, tool(t, "named-checkzone"), "rpz.minerguard", render(t, l, "rpz"))
}

func mustNorm(t *testing.T, d string) string {
	t.Helper()
	n, err := NormalizeDomain(d)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// netns runs a command in a throwaway network namespace, so ipset and
// iptables-restore touch nothing of the host.
func netns(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	ip := tool(t, "ip")
	ns := fmt.Sprintf("mgbl%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	defer exec.Command(ip, "netns", "delete", ns).Run()
	cmd := exec.Command(ip, append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func TestFirewallFormatsInNetns(t *testing.T) {
	l := testList(t)
	read := func(f string) string {
		b, err := os.ReadFile(render(t, l, f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Run("ipset", func(t *testing.T) {
		netns(t, read("ipset"), tool(t, "ipset"), "restore")
	})
	t.Run("iptables", func(t *testing.T) {
		netns(t, read("iptables"), tool(t, "iptables-restore"), "--test")
	})
	t.Run("ip6tables", func(t *testing.T) {
		netns(t, read("ip6tables"), tool(t, "ip6tables-restore"), "--test")
	})
	t.Run("squid", func(t *testing.T) {
		bin := tool(t, "squid")
		dir := t.TempDir()
		conf := filepath.Join(dir, "squid.conf")
		body := fmt.Sprintf("http_port 127.0.0.1:3128\ninclude %s\nhttp_access deny all\ncache_log %s/cache.log\npid_filename none\n", render(t, l, "squid"), dir)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-k", "parse", "-f", conf).CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("FATAL")) || bytes.Contains(out, []byte("ERROR")) {
			t.Fatalf("squid -k parse: %v\n%s", err, out)
		}
	})
}

// Windows and RouterOS have no validator here: check that every network
// and port is in a rule and that the scripts remove their old rules first.
func TestScriptFormats(t *testing.T) {
	l := testList(t)
	for _, f := range []string{"powershell", "netsh", "mikrotik"} {
		b, err := os.ReadFile(render(t, l, f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, p := range append(append([]netip.Prefix{}, l.V4...), l.V6...) {
			if !strings.Contains(s, p.String()) {
				t.Errorf("%s: %s missing", f, p)
			}
		}
		if f != "mikrotik" && !strings.Contains(s, "3333") {
			t.Errorf("%s: mining ports missing", f)
		}
		first := map[string]string{"powershell": "Remove-NetFirewallRule", "netsh": "delete rule", "mikrotik": "remove [find"}[f]
		if i, j := strings.Index(s, first), strings.Index(s, map[string]string{"powershell": "New-NetFirewallRule", "netsh": "add rule", "mikrotik": "add list="}[f]); i < 0 || j < 0 || i > j {
			t.Errorf("%s: old rules are not removed before new ones are added", f)
		}
	}
}

// sharedIntel finds shared/data/intel in a parent directory (the main
// checkout and the worktrees sit at different depths) or skips.
func sharedIntel(t *testing.T, probe string) string {
	t.Helper()
	dir := filepath.Join("shared", "data", "intel")
	for range 5 {
		dir = filepath.Join("..", dir)
		if _, err := os.Stat(filepath.Join(dir, probe)); err == nil {
			return dir
		}
	}
	t.Skip("shared/data/intel not present in a parent directory")
	return ""
}
