package netsense

import "encoding/binary"

// DialectStratum2 is Stratum V2's binary framing, recognised when it runs
// unencrypted (a farm's local proxy, a pool's plain port). Production
// Stratum V2 is wrapped in a Noise handshake, which this cannot see into.
const DialectStratum2 = "stratum-v2"

// Stratum V2 mining-protocol message types (the specification's
// "Message Types" table).
const (
	sv2SetupConnection        = 0x00
	sv2SetupConnectionSuccess = 0x01
	sv2OpenStandardChannel    = 0x10
	sv2OpenExtendedChannel    = 0x13
	sv2NewMiningJob           = 0x15
	sv2SubmitSharesStandard   = 0x1a
	sv2SubmitSharesExtended   = 0x1b
	sv2NewExtendedMiningJob   = 0x1f
)

// sv2Frame splits one frame off b: extension type (u16 LE, top bit =
// channel message), message type (u8), payload length (u24 LE), payload.
func sv2Frame(b []byte) (ext uint16, typ byte, payload, rest []byte, ok bool) {
	if len(b) < 6 {
		return 0, 0, nil, b, false
	}
	ext = binary.LittleEndian.Uint16(b)
	typ = b[2]
	n := int(b[3]) | int(b[4])<<8 | int(b[5])<<16
	if n > 1<<16 || len(b) < 6+n {
		return 0, 0, nil, b, false
	}
	return ext, typ, b[6 : 6+n], b[6+n:], true
}

// sv2Str reads a STR0_255 (one length byte, then the bytes).
func sv2Str(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", b, false
	}
	return string(b[1 : 1+int(b[0])]), b[1+int(b[0]):], true
}

// sv2Setup checks that b starts with a mining SetupConnection, exactly as
// the specification lays it out (protocol 0, version 2 in range, four
// strings and a port that end exactly at the frame's end), and returns
// the vendor and firmware it names. The strict layout is what keeps other
// binary protocols from being taken for it.
func sv2Setup(b []byte) (agent string, ok bool) {
	ext, typ, p, _, ok := sv2Frame(b)
	if !ok || ext&0x7fff != 0 || typ != sv2SetupConnection || len(p) < 1+2+2+4 {
		return "", false
	}
	if p[0] != 0 { // 0: mining protocol
		return "", false
	}
	minV, maxV := binary.LittleEndian.Uint16(p[1:]), binary.LittleEndian.Uint16(p[3:])
	if minV > 2 || maxV < 2 || minV > maxV {
		return "", false
	}
	rest := p[9:]
	host, rest, ok := sv2Str(rest)
	if !ok || len(rest) < 2 {
		return "", false
	}
	_ = host
	rest = rest[2:] // endpoint port
	var strs [4]string
	for i := range strs {
		if strs[i], rest, ok = sv2Str(rest); !ok {
			return "", false
		}
	}
	if len(rest) != 0 {
		return "", false
	}
	agent = strs[0] // vendor
	if strs[2] != "" {
		agent += " " + strs[2] // firmware
	}
	return agent, true
}

// sv2Feed reads whatever whole frames a segment of an SV2 conversation
// holds: channels opened (the user identity), jobs and shares.
func (s *Session) sv2Feed(b []byte) {
	for len(b) > 0 {
		_, typ, p, rest, ok := sv2Frame(b)
		if !ok {
			return
		}
		b = rest
		s.Messages++
		switch typ {
		case sv2OpenStandardChannel, sv2OpenExtendedChannel:
			// request_id u32, then user_identity STR0_255.
			if len(p) > 4 {
				if u, _, ok := sv2Str(p[4:]); ok {
					s.Worker = first(s.Worker, u)
				}
			}
		case sv2NewMiningJob, sv2NewExtendedMiningJob:
			s.Jobs++
		case sv2SubmitSharesStandard, sv2SubmitSharesExtended:
			s.Shares++
		}
	}
}
