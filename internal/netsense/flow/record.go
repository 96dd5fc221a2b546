// Package flow reads flow records — NetFlow v5, NetFlow v9, IPFIX, Zeek
// conn.log and Suricata EVE flow events — into one Record type and judges
// them for mining: pool addresses, mining ports, long-lived low-volume
// connections, periodic connections and off-hours activity.
package flow

import (
	"fmt"
	"net/netip"
	"time"
)

// Record is one flow: what an exporter, Zeek or Suricata saw of one
// connection (or one direction of it) over one interval.
type Record struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8 // IANA protocol number: 6 TCP, 17 UDP
	Packets, Bytes   uint64
	First, Last      time.Time
	// Exporter is the address of the device that sent the record, or the
	// file it was read from.
	Exporter string
	// Oriented is true when Src is known to be the side that opened the
	// connection (Zeek, Suricata); NetFlow records are one direction each
	// and carry no such knowledge.
	Oriented bool
}

// Protocol numbers used by name.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// ProtoName returns "tcp", "udp", "icmp" or the number.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case 58:
		return "ipv6-icmp"
	case 132:
		return "sctp"
	}
	return fmt.Sprint(p)
}

// Error is a decoding failure: which source (exporter address or file),
// where in it, and what was wrong.
type Error struct {
	Source string
	Offset int64
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: offset %d: %s", e.Source, e.Offset, e.Msg) }

func errAt(src string, off int, format string, a ...any) *Error {
	return &Error{Source: src, Offset: int64(off), Msg: fmt.Sprintf(format, a...)}
}
