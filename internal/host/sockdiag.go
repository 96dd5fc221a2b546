package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Netlink and sock_diag wire constants (linux/netlink.h, linux/sock_diag.h,
// linux/inet_diag.h). They are spelled out here rather than taken from
// x/sys/unix so the reply parser builds, and is fuzzed, on every platform.
const (
	nlmsgHdrLen       = 16
	nlmsgNoop         = 1
	nlmsgError        = 2
	nlmsgDone         = 3
	nlmsgOverrun      = 4
	sockDiagByFamily  = 20
	nlmFRequest       = 0x1
	nlmFDump          = 0x300 // NLM_F_ROOT|NLM_F_MATCH
	inetDiagReqV2Len  = 56
	inetDiagMsgLen    = 72
	afInet            = 2
	afInet6           = 10
	ipprotoTCP        = 6
	ipprotoUDP        = 17
	tcpStateListen    = 10
	tcpStateEstablish = 1
)

// nlmsgAlign rounds a length up to netlink's 4-byte alignment.
func nlmsgAlign(n int) int { return (n + 3) &^ 3 }

// diagRequest builds one SOCK_DIAG_BY_FAMILY dump request for every socket
// of a family and protocol in every state.
func diagRequest(family, protocol uint8, seq uint32) []byte {
	b := make([]byte, nlmsgHdrLen+inetDiagReqV2Len)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	ne.PutUint32(b[12:], 0) // the kernel is port 0
	r := b[nlmsgHdrLen:]
	r[0] = family
	r[1] = protocol
	r[2] = 0 // no extensions: the base message has all we need
	ne.PutUint32(r[4:], 0xffffffff)
	// r[8:56] is the socket id filter, all zero: match everything.
	return b
}

// parseDiagReply parses one datagram of a sock_diag dump for proto ("tcp",
// "tcp6", "udp", "udp6"). It returns the sockets in it and done=true when
// the dump's NLMSG_DONE was seen. Messages from another sequence number are
// skipped (a stale reply to an earlier request). Anything malformed is an
// error: the caller then falls back to /proc/net.
func parseDiagReply(buf []byte, proto string, seq uint32) (socks []Socket, done bool, err error) {
	ne := binary.NativeEndian
	off := 0
	for len(buf)-off >= nlmsgHdrLen {
		h := buf[off:]
		msgLen := int(ne.Uint32(h[0:]))
		typ := ne.Uint16(h[4:])
		mseq := ne.Uint32(h[8:])
		if msgLen < nlmsgHdrLen || msgLen > len(h) {
			return socks, false, fmt.Errorf("netlink: message at offset %d: length %d outside 16..%d", off, msgLen, len(h))
		}
		body := h[nlmsgHdrLen:msgLen]
		next := off + nlmsgAlign(msgLen)
		if next <= off { // overflow guard; cannot happen with msgLen >= 16
			return socks, false, fmt.Errorf("netlink: message at offset %d: bad length", off)
		}
		off = next
		if mseq != seq {
			continue
		}
		switch typ {
		case nlmsgNoop:
			continue
		case nlmsgDone:
			return socks, true, nil
		case nlmsgOverrun:
			return socks, false, errors.New("netlink: dump overrun (data lost)")
		case nlmsgError:
			if len(body) < 4 {
				return socks, false, errors.New("netlink: truncated error message")
			}
			code := int32(ne.Uint32(body))
			if code == 0 { // an acknowledgement, not an error
				continue
			}
			return socks, false, fmt.Errorf("netlink: sock_diag %s: kernel error %d", proto, -code)
		case sockDiagByFamily:
			s, err := parseInetDiagMsg(body, proto)
			if err != nil {
				return socks, false, fmt.Errorf("netlink: message at offset %d: %w", off, err)
			}
			socks = append(socks, s)
		default:
			return socks, false, fmt.Errorf("netlink: unexpected message type %d", typ)
		}
	}
	if off < len(buf) {
		return socks, false, fmt.Errorf("netlink: %d trailing bytes", len(buf)-off)
	}
	return socks, false, nil
}

// parseInetDiagMsg decodes struct inet_diag_msg. Ports and addresses are
// in network byte order; uid and inode in host order.
func parseInetDiagMsg(b []byte, proto string) (Socket, error) {
	if len(b) < inetDiagMsgLen {
		return Socket{}, fmt.Errorf("inet_diag_msg of %d bytes, want %d", len(b), inetDiagMsgLen)
	}
	family, state := b[0], b[1]
	id := b[4:52]
	sport := binary.BigEndian.Uint16(id[0:])
	dport := binary.BigEndian.Uint16(id[2:])
	var src, dst netip.Addr
	switch family {
	case afInet:
		src = netip.AddrFrom4([4]byte(id[4:8]))
		dst = netip.AddrFrom4([4]byte(id[20:24]))
	case afInet6:
		src = netip.AddrFrom16([16]byte(id[4:20])).Unmap()
		dst = netip.AddrFrom16([16]byte(id[20:36])).Unmap()
	default:
		return Socket{}, fmt.Errorf("address family %d", family)
	}
	ne := binary.NativeEndian
	s := Socket{
		Proto:  proto,
		Local:  netip.AddrPortFrom(src, sport),
		Remote: netip.AddrPortFrom(dst, dport),
		UID:    int(ne.Uint32(b[64:])),
		Inode:  uint64(ne.Uint32(b[68:])),
		Source: "netlink",
	}
	if proto == "tcp" || proto == "tcp6" {
		s.State = TCPStateName(state)
	} else if state == tcpStateEstablish {
		s.State = "ESTABLISHED" // a connected UDP socket, as /proc/net shows it
	}
	return s, nil
}
