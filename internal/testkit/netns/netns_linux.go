package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NS is a named network namespace (`ip netns add`), deleted when the test ends.
type NS struct {
	Name string
	Path string // /run/netns/NAME, for setns and nftables.WithNetNS
	ip   string
}

// Available skips t unless it runs as root with ip(8) and network
// namespaces; it returns the ip binary.
func Available(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (run the tests as root)")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"} {
			if _, err := os.Stat(p); err == nil {
				ip = p
			}
		}
	}
	if ip == "" {
		t.Skip("ip(8) not installed (Debian: apt-get install iproute2)")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		t.Skipf("network namespaces unavailable: %v", err)
	}
	return ip
}

// New creates a namespace with loopback up; prefix keeps names readable
// in `ip netns list` while a test runs.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	ip := Available(t)
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("mg-%s-%s", prefix, hex.EncodeToString(r[:]))
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable: ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	n := &NS{Name: name, Path: filepath.Join("/run/netns", name), ip: ip}
	t.Cleanup(func() {
		if out, err := exec.Command(ip, "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	n.IP(t, "link", "set", "lo", "up")
	return n
}

// IP runs `ip -n NAME args...`, failing the test on error.
func (n *NS) IP(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(n.ip, append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
}

// Exec runs a command inside the namespace (`ip netns exec`).
func (n *NS) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, n.ip, append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Veth joins a and b with a veth pair named aIf/bIf, both up.
func Veth(t testing.TB, a *NS, aIf string, b *NS, bIf string) {
	t.Helper()
	a.IP(t, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	a.IP(t, "link", "set", aIf, "up")
	b.IP(t, "link", "set", bIf, "up")
}

// End is one side of Pair: a namespace name prefix, its interface and
// that interface's address (CIDR).
type End struct{ Prefix, If, Addr string }

// Pair makes two namespaces joined by a veth pair with an address on each
// end, and returns once the addresses can be bound.
func Pair(t testing.TB, a, b End) (*NS, *NS) {
	t.Helper()
	na, nb := New(t, a.Prefix), New(t, b.Prefix)
	Veth(t, na, a.If, nb, b.If)
	na.IP(t, "addr", "add", a.Addr, "dev", a.If)
	nb.IP(t, "addr", "add", b.Addr, "dev", b.If)
	na.WaitAddrs(t)
	nb.WaitAddrs(t)
	return na, nb
}

// Do runs fn on an OS thread switched into the namespace; sockets fn
// creates stay in the namespace after it returns and may be used from any
// goroutine.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(n.Path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		// Only a thread back in its own namespace may serve other
		// goroutines; otherwise it stays locked and exits with this one.
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// Listen opens a listener inside the namespace.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// Dial connects from inside the namespace.
func (n *NS) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var err error
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// WaitAddrs waits until no address of the namespace is tentative (IPv6
// duplicate address detection), so tests can bind to them.
func (n *NS) WaitAddrs(t testing.TB) {
	t.Helper()
	for range 50 {
		out, err := exec.Command(n.ip, "-n", n.Name, "addr").CombinedOutput()
		if err != nil {
			t.Fatalf("ip -n %s addr: %v: %s", n.Name, err, out)
		}
		if !strings.Contains(string(out), "tentative") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("addresses in %s stay tentative", n.Name)
}
