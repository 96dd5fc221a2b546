package flow

import (
	"encoding/binary"
	"net/netip"
)

// Packet builders for hand-made NetFlow v9 and IPFIX test packets.

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func ip4(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
func ip6(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }

// spec is a template field: IE, length, enterprise (0: none).
type spec struct {
	ie, length uint16
	ent        uint32
}

func specs(ss ...spec) []byte {
	var out []byte
	for _, s := range ss {
		if s.ent != 0 {
			out = cat(out, u16(s.ie|0x8000), u16(s.length), u32(s.ent))
		} else {
			out = cat(out, u16(s.ie), u16(s.length))
		}
	}
	return out
}

// tmplRec is one template record (v9 or IPFIX, same layout).
func tmplRec(id uint16, ss ...spec) []byte { return cat(u16(id), u16(uint16(len(ss))), specs(ss...)) }

// ipfixOptRec is an IPFIX options template record.
func ipfixOptRec(id uint16, scope int, ss ...spec) []byte {
	return cat(u16(id), u16(uint16(len(ss))), u16(uint16(scope)), specs(ss...))
}

// set wraps records in a set (flowset) header.
func set(id uint16, body ...[]byte) []byte {
	b := cat(body...)
	return cat(u16(id), u16(uint16(4+len(b))), b)
}

func ipfixMsg(export, domain uint32, sets ...[]byte) []byte {
	b := cat(sets...)
	return cat(u16(10), u16(uint16(16+len(b))), u32(export), u32(1), u32(domain), b)
}

func v9Msg(uptime, unix, source uint32, sets ...[]byte) []byte {
	return cat(u16(9), u16(uint16(len(sets))), u32(uptime), u32(unix), u32(1), u32(source), cat(sets...))
}

// v5Rec is one NetFlow v5 record.
func v5Rec(src, dst string, sport, dport uint16, proto uint8, pkts, bytes, first, last uint32) []byte {
	return cat(ip4(src), ip4(dst), ip4("0.0.0.0"), u16(1), u16(2), u32(pkts), u32(bytes), u32(first), u32(last),
		u16(sport), u16(dport), []byte{0, 0x18, proto, 0}, u16(0), u16(0), []byte{24, 24}, u16(0))
}

func v5Msg(uptime, unix, nsec uint32, recs ...[]byte) []byte {
	return cat(u16(5), u16(uint16(len(recs))), u32(uptime), u32(unix), u32(nsec), u32(7), []byte{0, 0}, u16(0), cat(recs...))
}

// The standard v4 template used by many tests: src, dst, ports, proto,
// packets, bytes, start/end in milliseconds.
var v4Fields = []spec{{8, 4, 0}, {12, 4, 0}, {7, 2, 0}, {11, 2, 0}, {4, 1, 0}, {2, 8, 0}, {1, 8, 0}, {152, 8, 0}, {153, 8, 0}}

func v4Data(src, dst string, sport, dport uint16, proto uint8, pkts, bytes, startMs, endMs uint64) []byte {
	return cat(ip4(src), ip4(dst), u16(sport), u16(dport), []byte{proto}, u64(pkts), u64(bytes), u64(startMs), u64(endMs))
}
