package host

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// socketInode returns the socket inode behind a Go connection or listener,
// read from /proc/self/fd the way the process package reads other pids.
func socketInode(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var link string
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		link, lerr = os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd)))
	}); err != nil {
		t.Fatal(err)
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		t.Fatalf("fd link %q is not a socket", link)
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func TestNetlinkSocketsMatchProcNet(t *testing.T) {
	type want struct {
		name  string
		proto string
		local netip.AddrPort
		rem   netip.AddrPort
		state string
		inode uint64
	}
	var wants []want
	closeLater := func(c interface{ Close() error }) { t.Cleanup(func() { c.Close() }) }

	tcpPair := func(name, network, addr, dialNet string) {
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Skipf("%s: %v", name, err)
		}
		closeLater(ln)
		lnAddr := ln.Addr().(*net.TCPAddr)
		dialAddr := ln.Addr().String()
		if lnAddr.IP.IsUnspecified() {
			dialAddr = "127.0.0.1:" + strconv.Itoa(lnAddr.Port)
		}
		cli, err := net.Dial(dialNet, dialAddr)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(cli)
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		closeLater(srv)
		proto := "tcp"
		if network == "tcp6" || network == "tcp" {
			proto = "tcp6"
		}
		cliProto := "tcp"
		if dialNet == "tcp6" {
			cliProto = "tcp6"
		}
		wants = append(wants,
			want{name + " listener", proto, addrPort(ln.Addr()), netip.AddrPortFrom(zeroAddr(addrPort(ln.Addr()).Addr()), 0), "LISTEN", socketInode(t, ln.(*net.TCPListener))},
			want{name + " client", cliProto, addrPort(cli.LocalAddr()), addrPort(cli.RemoteAddr()), "ESTABLISHED", socketInode(t, cli.(*net.TCPConn))},
			want{name + " accepted", proto, addrPort(srv.LocalAddr()), addrPort(srv.RemoteAddr()), "ESTABLISHED", socketInode(t, srv.(*net.TCPConn))},
		)
	}
	tcpPair("tcp4", "tcp4", "127.0.0.1:0", "tcp4")
	tcpPair("tcp6", "tcp6", "[::1]:0", "tcp6")
	// A dual-stack listener accepts an IPv4 client on an AF_INET6 socket: the
	// kernel reports ::ffff:127.0.0.1, which must come out unmapped.
	tcpPair("dual-stack", "tcp", "[::]:0", "tcp4")

	u4, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(u4)
	wants = append(wants, want{"udp4 unconnected", "udp", addrPort(u4.LocalAddr()), netip.AddrPortFrom(netip.IPv4Unspecified(), 0), "", socketInode(t, u4)})
	u6srv, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	closeLater(u6srv)
	u6, err := net.DialUDP("udp6", nil, u6srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	closeLater(u6)
	wants = append(wants, want{"udp6 connected", "udp6", addrPort(u6.LocalAddr()), addrPort(u6.RemoteAddr()), "ESTABLISHED", socketInode(t, u6)})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nl, err := netlinkSockets(ctx)
	if err != nil {
		t.Fatalf("netlinkSockets: %v", err)
	}
	pn, err := NewLiveProc().procNetSockets()
	if err != nil {
		t.Fatalf("procNetSockets: %v", err)
	}
	byInode := func(socks []Socket, ino uint64) (Socket, bool) {
		for _, s := range socks {
			if s.Inode == ino {
				return s, true
			}
		}
		return Socket{}, false
	}
	for _, w := range wants {
		t.Run(w.name, func(t *testing.T) {
			got, ok := byInode(nl, w.inode)
			if !ok {
				t.Fatalf("netlink: no socket with inode %d (want %s %s)", w.inode, w.proto, w.local)
			}
			exp := Socket{Proto: w.proto, Local: w.local, Remote: w.rem, State: w.state, Inode: w.inode, UID: os.Getuid(), Source: "netlink"}
			if got != exp {
				t.Errorf("netlink got  %+v\nwant %+v", got, exp)
			}
			pg, ok := byInode(pn, w.inode)
			if !ok {
				t.Fatalf("/proc/net: no socket with inode %d", w.inode)
			}
			pg.Source = "netlink"
			if pg != got {
				t.Errorf("/proc/net %+v\nnetlink   %+v", pg, got)
			}
		})
	}
}

func zeroAddr(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

func TestLiveSocketsUsesNetlink(t *testing.T) {
	if _, err := netlinkSockets(context.Background()); err != nil {
		t.Skipf("no sock_diag here (a kernel without inet_diag/udp_diag): %v", err)
	}
	socks, err := NewLiveProc().Sockets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.Source != "netlink" {
			t.Fatalf("live host fell back to %s: %+v", s.Source, s)
		}
	}
}

func TestNetlinkHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := netlinkSockets(ctx); err == nil {
		t.Fatal("want an error for a cancelled context")
	}
}
