package host

import "net/netip"

// Socket is one TCP or UDP socket of the host.
type Socket struct {
	Proto  string // "tcp", "tcp6", "udp", "udp6"
	Local  netip.AddrPort
	Remote netip.AddrPort
	State  string // "ESTABLISHED", "LISTEN", "SYN_SENT", ... ("" for udp)
	Inode  uint64
	UID    int
	// Source says where the socket came from: "netlink" or "procfs".
	Source string
}

// TCP states as numbered by the kernel (include/net/tcp_states.h).
var tcpStates = map[uint8]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
	12: "NEW_SYN_RECV",
}

// TCPStateName names a kernel TCP state number.
func TCPStateName(st uint8) string {
	if s, ok := tcpStates[st]; ok {
		return s
	}
	return "UNKNOWN"
}
