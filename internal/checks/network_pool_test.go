package checks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
)

// The test binary doubles as the "miner": started with poolChildEnv set to
// "MODE ADDR" it dials (tcp, udp) or listens on ADDR, says "ready" and holds
// the socket until its stdin closes. An init function rather than TestMain
// keeps other test files of the package free to define their own.
const poolChildEnv = "MINERGUARD_TEST_POOL_CHILD"

func init() {
	v := os.Getenv(poolChildEnv)
	if v == "" {
		return
	}
	mode, addr, _ := strings.Cut(v, " ")
	var c io.Closer
	var err error
	switch mode {
	case "tcp", "udp":
		c, err = net.Dial(mode, addr)
	case "listen":
		c, err = net.Listen("tcp", addr)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	c.Close()
	os.Exit(0)
}

// startPoolChild runs the test binary as a child with the given argv and
// waits until its socket is open.
func startPoolChild(t *testing.T, mode, addr string, argv ...string) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Args = argv
	cmd.Env = append(os.Environ(), poolChildEnv+"="+mode+" "+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("child %v: %q %v", argv, line, err)
	}
	return cmd.Process.Pid
}

// listenOn opens a TCP listener on ip at the first free port of ports (0
// means any); the test is skipped when all are busy.
func listenOn(t *testing.T, ip string, ports ...uint16) netip.AddrPort {
	t.Helper()
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(int(p))))
		if err != nil {
			continue
		}
		ap := ln.Addr().(*net.TCPAddr).AddrPort()
		listeners[ap] = ln
		t.Cleanup(func() { ln.Close(); delete(listeners, ap) })
		return ap
	}
	t.Skipf("no free port among %v on %s", ports, ip)
	return netip.AddrPort{}
}

// listeners holds the test's own listeners so one can be handed over.
var listeners = map[netip.AddrPort]net.Listener{}

func closeListener(t *testing.T, ap netip.AddrPort) {
	t.Helper()
	ln, ok := listeners[ap]
	if !ok {
		t.Fatalf("no listener on %s", ap)
	}
	ln.Close()
	delete(listeners, ap)
}

// freePort returns a port nothing listens on and that is not a mining port,
// so a finding can only come from the rule under test.
func freePort(t *testing.T, db *intel.DB, ip string) uint16 {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Skipf("%s: %v", ip, err)
		}
		p := ln.Addr().(*net.TCPAddr).AddrPort().Port()
		ln.Close()
		if _, mining := db.Port(p); !mining {
			return p
		}
	}
	t.Fatal("no free non-mining port")
	return 0
}

// testPoolIntel is the embedded intel with test pool addresses added.
func testPoolIntel(t *testing.T, ips ...string) *intel.DB {
	t.Helper()
	dir := filepath.Join("..", "intel", "data")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := fstest.MapFS{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "pools.json" {
			var pools map[string]any
			if err := json.Unmarshal(b, &pools); err != nil {
				t.Fatal(err)
			}
			var list []any
			for _, ip := range ips {
				list = append(list, map[string]any{"cidr": ip, "category": "pool", "source": "test"})
			}
			pools["ips"] = list
			if b, err = json.Marshal(pools); err != nil {
				t.Fatal(err)
			}
		}
		m["data/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	db, err := intel.LoadFS(m, "data")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// splitHost is a host made of a fixture root filesystem and a (live)
// process view, so /etc/hosts can be a fixture while sockets are real.
type splitHost struct {
	fs   *host.RootFS
	proc host.Proc
}

func (h splitHost) Root() string    { return h.fs.Dir() }
func (h splitHost) FS() host.FS     { return h.fs }
func (h splitHost) Proc() host.Proc { return h.proc }

func newSplitHost(t *testing.T, root string, proc host.Proc) splitHost {
	t.Helper()
	fsys, err := host.NewRootFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return splitHost{fs: fsys, proc: proc}
}

// hidingProc hides one pid from the /proc listing, as a process-hiding
// rootkit does; everything else is the live /proc.
type hidingProc struct {
	host.Proc
	hide int
}

func (h hidingProc) PIDs() ([]int, error) {
	pids, err := h.Proc.PIDs()
	out := pids[:0]
	for _, p := range pids {
		if p != h.hide {
			out = append(out, p)
		}
	}
	return out, err
}

// denyFDProc refuses /proc/PID/fd of one pid, as the kernel does for
// another user's processes when minerguard does not run as root.
type denyFDProc struct {
	host.Proc
	deny int
}

func (d denyFDProc) ReadDir(pid int, name string) ([]fs.DirEntry, error) {
	if pid == d.deny && name == "fd" {
		return nil, &fs.PathError{Op: "open", Path: "/proc/" + strconv.Itoa(pid) + "/fd", Err: fs.ErrPermission}
	}
	return d.Proc.ReadDir(pid, name)
}

func runPoolCheck(t *testing.T, h host.Host, db *intel.DB) []findings.Finding {
	t.Helper()
	ctx := context.Background()
	procs, err := process.Snapshot(ctx, h.Proc())
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(h, db, procs, nil)
	out, err := checkNetworkPool(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNetworkPool(t *testing.T) {
	base := testPoolIntel(t, "127.0.0.3", "fd00:3::/64")
	strong := []uint16{}
	for _, p := range base.Ports {
		if p.Weight == "strong" {
			strong = append(strong, p.Port)
		}
	}
	hostsRoot := t.TempDir()
	if err := os.MkdirAll(filepath.Join(hostsRoot, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := "127.0.0.1 localhost\n# blocklists map pools to 0.0.0.0\n0.0.0.0 xmrpool.eu\n127.0.0.2 pool.xmrig.com mypool.example.test # fake pool\n::1 ip6-localhost\n"
	if err := os.WriteFile(filepath.Join(hostsRoot, "etc", "hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	live := host.NewLiveProc()

	type want struct {
		rule   string
		sev    findings.Severity
		remote string // "" for listeners
		local  string
		proto  string
		domain string
		noPID  bool
	}
	tests := []struct {
		name string
		// setup opens the "pool" and starts the child; it returns the
		// host to scan, the child pid and what must be found (nil: nothing).
		setup func(t *testing.T) (host.Host, int, *want)
	}{
		{"strong mining port on 127.0.0.1", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.1", strong...)
			pid := startPoolChild(t, "tcp", ap.String(), "worker", "--threads", "2")
			return newSplitHost(t, "/", live), pid, &want{rule: "network.mining_port", sev: findings.Medium, remote: ap.String(), proto: "tcp"}
		}},
		{"strong mining port on ::1", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "::1", strong...)
			pid := startPoolChild(t, "tcp", ap.String(), "worker")
			return newSplitHost(t, "/", live), pid, &want{rule: "network.mining_port", sev: findings.Medium, remote: "[::1]:" + strconv.Itoa(int(ap.Port())), proto: "tcp6"}
		}},
		{"weak mining port over connected udp", func(t *testing.T) (host.Host, int, *want) {
			pid := startPoolChild(t, "udp", "127.0.0.1:9999", "worker")
			return newSplitHost(t, "/", live), pid, &want{rule: "network.mining_port", sev: findings.Low, remote: "127.0.0.1:9999", proto: "udp"}
		}},
		{"listed pool domain via the host's /etc/hosts", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.2", freePort(t, base, "127.0.0.2"))
			pid := startPoolChild(t, "tcp", ap.String(), "xmrig", "-o", "stratum+tcp://wallet.worker@POOL.xmrig.com:"+strconv.Itoa(int(ap.Port())), "-k")
			return newSplitHost(t, hostsRoot, live), pid, &want{rule: "network.pool_domain", sev: findings.High, remote: ap.String(), proto: "tcp", domain: "pool.xmrig.com"}
		}},
		{"the pool its own command line names, on an ordinary port", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.1", freePort(t, base, "127.0.0.1"))
			pid := startPoolChild(t, "tcp", ap.String(), "updater", "-o", ap.String(), "-k")
			return newSplitHost(t, "/", live), pid, &want{rule: "network.declared_pool", sev: findings.High, remote: ap.String(), proto: "tcp"}
		}},
		{"a different endpoint than the one named", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.1", freePort(t, base, "127.0.0.1"))
			pid := startPoolChild(t, "tcp", ap.String(), "updater", "-o", "127.0.0.1:1", "-k")
			return newSplitHost(t, "/", live), pid, nil
		}},
		{"unlisted name with a mining keyword", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.2", freePort(t, base, "127.0.0.2"))
			pid := startPoolChild(t, "tcp", ap.String(), "app", "--url=mypool.example.test:"+strconv.Itoa(int(ap.Port())))
			return newSplitHost(t, hostsRoot, live), pid, &want{rule: "network.pool_domain_keyword", sev: findings.Medium, remote: ap.String(), proto: "tcp", domain: "mypool.example.test"}
		}},
		{"pool domain named with another port is not this connection", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.2", freePort(t, base, "127.0.0.2"))
			pid := startPoolChild(t, "tcp", ap.String(), "xmrig", "-o", "pool.xmrig.com:1")
			return newSplitHost(t, hostsRoot, live), pid, nil
		}},
		{"pool domain is not resolved from the real /etc/hosts of a fixture-less host", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.2", freePort(t, base, "127.0.0.2"))
			empty := t.TempDir()
			pid := startPoolChild(t, "tcp", ap.String(), "xmrig", "-o", "pool.xmrig.com:"+strconv.Itoa(int(ap.Port())))
			return newSplitHost(t, empty, live), pid, nil
		}},
		{"listed pool address", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.3", freePort(t, base, "127.0.0.3"))
			pid := startPoolChild(t, "tcp", ap.String(), "kworker")
			return newSplitHost(t, "/", live), pid, &want{rule: "network.pool_ip", sev: findings.High, remote: ap.String(), proto: "tcp"}
		}},
		{"pool address held by a hidden process", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.3", freePort(t, base, "127.0.0.3"))
			pid := startPoolChild(t, "tcp", ap.String(), "kworker")
			return newSplitHost(t, "/", hidingProc{Proc: live, hide: pid}), pid, &want{rule: "network.unowned_pool_connection", sev: findings.High, remote: ap.String(), proto: "tcp", noPID: true}
		}},
		{"pool address held by a process whose descriptors are unreadable", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.3", freePort(t, base, "127.0.0.3"))
			pid := startPoolChild(t, "tcp", ap.String(), "kworker")
			return newSplitHost(t, "/", denyFDProc{Proc: live, deny: pid}), pid, &want{rule: "network.pool_ip", sev: findings.High, remote: ap.String(), proto: "tcp", noPID: true}
		}},
		{"stratum proxy listening on a mining port", func(t *testing.T) (host.Host, int, *want) {
			// Find a free mining port, then let the child listen there itself.
			ap := listenOn(t, "127.0.0.1", strong...)
			closeListener(t, ap)
			pid := startPoolChild(t, "listen", ap.String(), "xmrig-proxy")
			return newSplitHost(t, "/", live), pid, &want{rule: "network.mining_port_listener", sev: findings.Low, local: ap.String(), proto: "tcp"}
		}},
		{"ordinary connection", func(t *testing.T) (host.Host, int, *want) {
			ap := listenOn(t, "127.0.0.1", freePort(t, base, "127.0.0.1"))
			pid := startPoolChild(t, "tcp", ap.String(), "curl", "http://example.test/")
			return newSplitHost(t, "/", live), pid, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, pid, w := tt.setup(t)
			got := runPoolCheck(t, h, base)
			var mine []findings.Finding
			for _, f := range got {
				if f.Evidence.PID == pid || w != nil && w.noPID && f.Rule == w.rule && f.Evidence.Remote == w.remote {
					mine = append(mine, f)
				}
			}
			if w == nil {
				if len(mine) != 0 {
					t.Fatalf("want no finding for pid %d, got %+v", pid, mine)
				}
				return
			}
			if len(mine) != 1 {
				t.Fatalf("want one %s finding for pid %d, got %d: %+v", w.rule, pid, len(mine), mine)
			}
			f := mine[0]
			if f.Rule != w.rule || f.Severity != w.sev || f.Signal != findings.SignalNetwork {
				t.Errorf("rule/severity/signal = %s/%s/%s, want %s/%s/network", f.Rule, f.Severity, f.Signal, w.rule, w.sev)
			}
			wantPID := pid
			if w.noPID {
				wantPID = 0
			}
			if f.Evidence.PID != wantPID {
				t.Errorf("pid = %d, want %d", f.Evidence.PID, wantPID)
			}
			if f.Evidence.Remote != w.remote || f.Evidence.Protocol != w.proto || f.Evidence.Domain != w.domain {
				t.Errorf("remote/proto/domain = %q/%q/%q, want %q/%q/%q", f.Evidence.Remote, f.Evidence.Protocol, f.Evidence.Domain, w.remote, w.proto, w.domain)
			}
			if !w.noPID && (f.Evidence.Exe == "" || f.Evidence.Cmdline == "") {
				t.Errorf("process evidence missing: %+v", f.Evidence)
			}
			if w.noPID && (f.Evidence.UID == nil || *f.Evidence.UID != os.Getuid() || f.Evidence.Details["inode"] == "") {
				t.Errorf("hidden owner's uid/inode missing: %+v", f.Evidence)
			}
			if w.local != "" && f.Evidence.Local != w.local {
				t.Errorf("local = %q, want %q", f.Evidence.Local, w.local)
			}
		})
	}
}

func TestPoolTargets(t *testing.T) {
	env := &Env{Intel: intel.MustLoad()}
	tests := []struct {
		argv []string
		want []poolTarget
	}{
		{[]string{"xmrig", "-o", "stratum+tcp://pool.supportxmr.com:3333", "-u", "4A..."}, []poolTarget{{host: "pool.supportxmr.com", port: 3333}}},
		{[]string{"m", "--url=stratum+ssl://w.1@Eu.Pool.Example.:443/path"}, []poolTarget{{host: "eu.pool.example", port: 443}}},
		{[]string{"m", "--url=pool.example:14444"}, []poolTarget{{host: "pool.example", port: 14444}}},
		{[]string{"m", "-o", "gulf.moneroocean.stream:10128", "-o", "gulf.moneroocean.stream:10128"}, []poolTarget{{host: "gulf.moneroocean.stream", port: 10128}}},
		// No port and no scheme: as ambiguous as gcc -o out.o, so not a pool.
		{[]string{"m", "-o", "pool.example"}, nil},
		{[]string{"m", "-o", "192.0.2.1:3333", "-o", "[2001:db8::1]:3333"}, []poolTarget{{"192.0.2.1", 3333, netip.MustParseAddr("192.0.2.1")}, {"2001:db8::1", 3333, netip.MustParseAddr("2001:db8::1")}}},
		{[]string{"m", "-o", "bad host.example:1", "-o", "pool.example:99999"}, nil},
		{[]string{"m", "-o"}, nil},
		{[]string{"curl", "http://pool.example/"}, nil},
	}
	for _, tt := range tests {
		got := poolTargets(env, tt.argv)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("poolTargets(%q) = %v, want %v", tt.argv, got, tt.want)
		}
	}
}

func TestParseHosts(t *testing.T) {
	got := ParseHosts([]byte("# c\n127.0.0.1\tlocalhost Pool.Example.\n::ffff:10.0.0.1 mapped\nfe80::1%eth0 zoned\nnot-an-ip name\n10.0.0.2 pool.example # dup name\n"))
	want := map[string]string{
		"localhost":    "[127.0.0.1]",
		"pool.example": "[127.0.0.1 10.0.0.2]",
		"mapped":       "[10.0.0.1]",
		"zoned":        "[fe80::1]",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for n, w := range want {
		if fmt.Sprint(got[n]) != w {
			t.Errorf("%s = %v, want %s", n, got[n], w)
		}
	}
}

// FuzzParseHosts: /etc/hosts belongs to the host under inspection.
func FuzzParseHosts(f *testing.F) {
	f.Add("127.0.0.1 localhost\n::1 ip6-localhost # x\n")
	f.Fuzz(func(t *testing.T, s string) {
		for n, addrs := range ParseHosts([]byte(s)) {
			for _, a := range addrs {
				if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
					t.Fatalf("%q: %s -> %v", s, n, a)
				}
			}
		}
	})
}

// countFDProc counts reads of /proc/PID/fd and shows only the sockets of
// one local port, so other tests' sockets cannot make a host "suspect".
type countFDProc struct {
	host.Proc
	n    *atomic.Int64
	port uint16
}

func (c countFDProc) Sockets(ctx context.Context) ([]host.Socket, error) {
	all, err := c.Proc.Sockets(ctx)
	var out []host.Socket
	for _, s := range all {
		if s.Local.Port() == c.port || s.Remote.Port() == c.port {
			out = append(out, s)
		}
	}
	return out, err
}

func (c countFDProc) ReadDir(pid int, name string) ([]fs.DirEntry, error) {
	if name == "fd" {
		c.n.Add(1)
	}
	return c.Proc.ReadDir(pid, name)
}

// TestNetworkPoolReadsFDsOnlyWhenNeeded: joining sockets to processes reads
// every fd table; a host with no suspicious socket must not pay for it,
// and one with a suspicious socket must still get its owner.
func TestNetworkPoolReadsFDsOnlyWhenNeeded(t *testing.T) {
	db := intel.MustLoad()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if _, mining := db.Port(uint16(port)); mining {
		t.Skip("ephemeral port is a mining port")
	}
	plain := startPoolChild(t, "tcp", ln.Addr().String(), "browser")
	var n atomic.Int64
	h := newSplitHost(t, "/", countFDProc{Proc: host.NewLiveProc(), n: &n, port: uint16(port)})
	for _, f := range runPoolCheck(t, h, db) {
		if f.Evidence.PID == plain {
			t.Errorf("ordinary connection reported: %+v", f)
		}
	}
	declared := startPoolChild(t, "tcp", ln.Addr().String(), "updater", "-o", ln.Addr().String())
	clean := n.Load()
	n.Store(0)
	var got []findings.Finding
	for _, f := range runPoolCheck(t, h, db) {
		if f.Evidence.PID == declared {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Rule != "network.declared_pool" {
		t.Fatalf("declared pool connection: %+v", got)
	}
	if n.Load() == 0 {
		t.Error("owner found without reading fd tables?")
	}
	if clean != 0 {
		t.Errorf("no suspicious socket, yet %d fd tables were read", clean)
	}
}
