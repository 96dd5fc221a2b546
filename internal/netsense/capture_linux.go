package netsense

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Capture is an AF_PACKET socket on one interface: pure Go, no libpcap.
type Capture struct {
	fd       int
	iface    string
	loopback bool
	Link     layers.LinkType
	stats    CaptureStats
}

// captureSnap is the most of a frame kept: enough for jumbo frames and
// GRO-merged loopback segments.
const captureSnap = 256 << 10

// ethFilter is the kernel filter for Ethernet-framed interfaces: IPv4 and
// IPv6 TCP and UDP (mining sessions, DNS, VXLAN), GRE (tunnels, ERSPAN
// mirrors), and VLAN-tagged, PPPoE-session and MPLS frames for the
// decoder; ARP, LLDP, STP and the rest never leave the kernel.
func ethFilter() ([]bpf.RawInstruction, error) {
	const accept, drop = captureSnap, 0
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},                                  // 0: ethertype
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800, SkipTrue: 8},           // 1: IPv4 -> 10
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x86dd, SkipTrue: 11},          // 2: IPv6 -> 14
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8100, SkipTrue: 14},          // 3: VLAN -> 18 accept
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x88a8, SkipTrue: 13},          // 4: QinQ -> 18
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x9100, SkipTrue: 12},          // 5: QinQ (old) -> 18
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8864, SkipTrue: 11},          // 6: PPPoE session -> 18
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8847, SkipTrue: 10},          // 7: MPLS -> 18
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8848, SkipTrue: 9},           // 8: MPLS multicast -> 18
		bpf.RetConstant{Val: drop},                                          // 9
		bpf.LoadAbsolute{Off: 23, Size: 1},                                  // 10: IPv4 protocol
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 6},                // 11: TCP -> 18
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipTrue: 5},               // 12: UDP -> 18
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 47, SkipTrue: 4, SkipFalse: 5}, // 13: GRE -> 18, else 19
		bpf.LoadAbsolute{Off: 20, Size: 1},                                  // 14: IPv6 next header
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 2},                // 15: TCP -> 18
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipTrue: 1},               // 16: UDP -> 18
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 47, SkipFalse: 1},              // 17: GRE -> 18, else 19
		bpf.RetConstant{Val: accept},                                        // 18
		bpf.RetConstant{Val: drop},                                          // 19
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenCapture opens a capture on iface with the kernel filter attached
// before the socket is bound, so no unfiltered frame is ever queued.
func OpenCapture(iface string) (*Capture, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	c := &Capture{iface: iface, loopback: ifi.Flags&net.FlagLoopback != 0}
	arphrd := 1
	if b, err := os.ReadFile("/sys/class/net/" + iface + "/type"); err == nil {
		arphrd, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	switch arphrd {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		c.Link = layers.LinkTypeEthernet
	case unix.ARPHRD_NONE, unix.ARPHRD_SIT, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_IPGRE:
		c.Link = layers.LinkTypeRaw // tun and tunnels carry bare IP
	default:
		return nil, fmt.Errorf("interface %s: link type %d is not supported (Ethernet, loopback, tun)", iface, arphrd)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("capture on %s needs root or CAP_NET_RAW: %w", iface, err)
		}
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	c.fd = fd
	if c.Link == layers.LinkTypeEthernet {
		prog, err := ethFilter()
		if err != nil {
			c.Close()
			return nil, err
		}
		filter := make([]unix.SockFilter, len(prog))
		for i, ins := range prog {
			filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
			c.Close()
			return nil, fmt.Errorf("capture on %s: attach filter: %w", iface, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		c.Close()
		return nil, fmt.Errorf("capture on %s: bind: %w", iface, err)
	}
	// A receive timeout lets Run notice cancellation on a quiet link.
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		c.Close()
		return nil, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	return c, nil
}

// Run reads frames until ctx ends, handing each to fn. The frame is only
// valid during the call.
func (c *Capture) Run(ctx context.Context, fn func(data []byte, ts time.Time)) error {
	buf := make([]byte, captureSnap)
	for ctx.Err() == nil {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("capture on %s: %w", c.iface, err)
		}
		// Loopback shows every packet twice, outgoing and incoming; keep one.
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && c.loopback && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		fn(buf[:n], time.Now())
	}
	return nil
}

// Stats returns the kernel's counters so far: frames that passed the
// filter and frames dropped because the socket buffer was full.
func (c *Capture) Stats() (CaptureStats, error) {
	st, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return c.stats, err
	}
	// The kernel resets its counters on every read.
	c.stats.Packets += uint64(st.Packets)
	c.stats.Drops += uint64(st.Drops)
	return c.stats, nil
}

// Close releases the socket.
func (c *Capture) Close() error {
	if c.fd <= 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}
