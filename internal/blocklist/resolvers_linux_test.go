package blocklist

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/testkit/dnsclient"
)

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// startDaemon runs a resolver in the foreground until the test ends and
// returns the file its output goes to.
func startDaemon(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	log := filepath.Join(t.TempDir(), "log")
	lf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		lf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s output:\n%s", name, b)
		}
	})
	return log
}

// upstream starts a dnsmasq on loopback that answers every A query with
// 127.0.0.10: the "internet" an allowed name must reach.
func upstream(t *testing.T) int {
	port := freePort(t)
	startDaemon(t, tool(t, "dnsmasq"), "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
		"--listen-address=127.0.0.1", "--bind-interfaces", fmt.Sprintf("--port=%d", port),
		"--address=/#/127.0.0.10", "--pid-file=", "--user=root", "--log-facility=-", "--conf-file=/dev/null")
	return port
}

func query(t *testing.T, server, name string) string {
	t.Helper()
	var got string
	var err error
	for range 50 { // the daemon may still be starting
		if got, err = dnsclient.QueryA(server, name); err == nil {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "error: " + err.Error()
}

// exceptionList is testList with an allowlist: one subdomain of a listed
// pool (an exception) and one whole pool domain (dropped).
func exceptionList(t *testing.T) *List {
	l := testList(t)
	l.ApplyAllow([]string{"gate.extra-pool.example", "supportxmr.com", "192.0.2.7"})
	return l
}

// TestResolversHonourExceptions loads the exported list with allowlist
// exceptions into real resolvers on loopback, forwarding to a fake
// upstream: pools and their subdomains are blocked, an allowed subdomain
// of a pool and an allowed pool resolve through the upstream, as do
// ordinary names.
func TestResolversHonourExceptions(t *testing.T) {
	l := exceptionList(t)
	if len(l.Exceptions) != 1 || l.Exceptions[0] != "gate.extra-pool.example" {
		t.Fatalf("exceptions %v", l.Exceptions)
	}
	cases := func(blocked string) []struct{ name, want string } {
		return []struct{ name, want string }{
			{"extra-pool.example", blocked},
			{"eu.extra-pool.example", blocked},
			{"pool.xmrig.com", blocked},
			{"gate.extra-pool.example", "127.0.0.10"},
			{"a.gate.extra-pool.example", "127.0.0.10"},
			{"supportxmr.com", "127.0.0.10"},
			{"pool.supportxmr.com", "127.0.0.10"},
			{"www.ordinary.org", "127.0.0.10"}, // (not .test: Unbound answers that TLD itself)
		}
	}
	check := func(t *testing.T, server, blocked string) {
		for _, tc := range cases(blocked) {
			if got := query(t, server, tc.name); got != tc.want {
				t.Errorf("%s: %q, want %s", tc.name, got, tc.want)
			}
		}
	}
	t.Run("dnsmasq", func(t *testing.T) {
		up := upstream(t)
		port := freePort(t)
		startDaemon(t, tool(t, "dnsmasq"), "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
			"--listen-address=127.0.0.1", "--bind-interfaces", fmt.Sprintf("--port=%d", port),
			fmt.Sprintf("--server=127.0.0.1#%d", up), "--conf-file="+render(t, l, "dnsmasq"),
			"--pid-file=", "--user=root", "--log-facility=-")
		check(t, fmt.Sprintf("127.0.0.1:%d", port), "0.0.0.0")
	})
	unbound := func(t *testing.T, modules, extra string) {
		bin := tool(t, "unbound")
		up := upstream(t)
		port := freePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "unbound.conf")
		body := fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	username: ""
	chroot: ""
	directory: "%s"
	pidfile: ""
	do-daemonize: no
	use-syslog: no
	logfile: ""
	module-config: "%s"
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	qname-minimisation: no
	cache-max-ttl: 0
%s
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@%d
`, port, dir, modules, extra, up)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, tool(t, "unbound-checkconf"), conf)
		startDaemon(t, bin, "-d", "-c", conf)
		check(t, fmt.Sprintf("127.0.0.1:%d", port), "rcode 3")
	}
	t.Run("unbound-local-zone", func(t *testing.T) {
		unbound(t, "iterator", fmt.Sprintf("include: \"%s\"\n", render(t, l, "unbound")))
	})
	t.Run("unbound-rpz", func(t *testing.T) {
		// Unbound reads the same RPZ zone BIND does; named itself is not
		// needed to see rpz-passthru beat the wildcard above it.
		unbound(t, "respip iterator", fmt.Sprintf("rpz:\n\tname: \"rpz.minerguard.\"\n\tzonefile: \"%s\"\n", render(t, l, "rpz")))
	})
}

// TestBINDHonoursExceptions loads the RPZ zone into a real named on
// loopback (response-policy, forwarding to the fake upstream).
func TestBINDHonoursExceptions(t *testing.T) {
	bin := tool(t, "named")
	l := exceptionList(t)
	up := upstream(t)
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "named.conf")
	body := fmt.Sprintf(`options {
	directory "%[1]s";
	managed-keys-directory "%[1]s";
	session-keyfile "%[1]s/session.key";
	pid-file none;
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion yes;
	allow-query { 127.0.0.1; };
	forwarders { 127.0.0.1 port %[3]d; };
	forward only;
	dnssec-validation no;
	max-cache-ttl 0;
	response-policy { zone "rpz.minerguard"; };
};
controls { };
zone "rpz.minerguard" { type primary; file "%[4]s"; allow-query { none; }; };
`, dir, port, up, render(t, l, "rpz"))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, tool(t, "named-checkconf"), conf)
	log := startDaemon(t, bin, "-g", "-4", "-c", conf)
	// named answers before its policy zones are in force; wait for it.
	for i := 0; ; i++ {
		if b, _ := os.ReadFile(log); strings.Contains(string(b), "rpz.minerguard: reload done: success") {
			break
		}
		if i == 100 {
			t.Fatal("named never put the RPZ zone in force")
		}
		time.Sleep(100 * time.Millisecond)
	}
	server := fmt.Sprintf("127.0.0.1:%d", port)
	for _, tc := range []struct{ name, want string }{
		{"extra-pool.example", "rcode 3"},
		{"eu.extra-pool.example", "rcode 3"},
		{"pool.xmrig.com", "rcode 3"},
		{"gate.extra-pool.example", "127.0.0.10"},
		{"a.gate.extra-pool.example", "127.0.0.10"},
		{"supportxmr.com", "127.0.0.10"},
		{"www.ordinary.org", "127.0.0.10"},
	} {
		if got := query(t, server, tc.name); got != tc.want {
			t.Errorf("%s: %q, want %s", tc.name, got, tc.want)
		}
	}
}

// The exception forms are accepted by the checkers too.
func TestExceptionFormatsAccepted(t *testing.T) {
	l := exceptionList(t)
	run(t, tool(t, "named-checkzone"), "rpz.minerguard", render(t, l, "rpz"))
	run(t, tool(t, "dnsmasq"), "--test", "--conf-file="+render(t, l, "dnsmasq"))
	t.Run("squid", func(t *testing.T) {
		bin := tool(t, "squid")
		dir := t.TempDir()
		inc := render(t, l, "squid")
		if b, _ := os.ReadFile(inc); !strings.Contains(string(b), "http_access deny minerguard_pools !minerguard_allow\n") {
			t.Fatalf("squid: no exception in the deny rule:\n%s", b)
		}
		conf := filepath.Join(dir, "squid.conf")
		body := fmt.Sprintf("http_port 127.0.0.1:3128\ninclude %s\nhttp_access deny all\ncache_log %s/cache.log\npid_filename none\n", inc, dir)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-k", "parse", "-f", conf).CombinedOutput()
		if err != nil || strings.Contains(string(out), "FATAL") || strings.Contains(string(out), "ERROR") {
			t.Fatalf("squid -k parse: %v\n%s", err, out)
		}
	})
}
