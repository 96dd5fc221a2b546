package netsense

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// frame is what the analyzer needs from one packet. The decoder fills it
// in place, so reading a capture allocates nothing per packet: gopacket's
// NewPacket built a layer object per layer of every frame, which was most
// of the cost of a large capture.
type frame struct {
	src, dst           netip.Addr
	proto              layers.IPProtocol // TCP or UDP
	sport, dport       uint16
	seq                uint32
	syn, ack, fin, rst bool
	payload            []byte // aliases the frame
	fragment           bool
}

// decodeFrame reads the link, IP and TCP/UDP headers of data. Link types
// it does not know by heart go through gopacket (see decodeSlow); every
// length is checked, the bytes come off the wire. Traffic inside the
// tunnels a sensor is commonly fed by or sits behind (PPPoE, MPLS, GRE,
// ERSPAN, VXLAN) is read as the inner packet: that is where the mining
// host and its pool are.
func decodeFrame(data []byte, link layers.LinkType, p *frame) bool {
	return decodeLink(data, link, p, 0)
}

// linkTypeLinuxSLL2 stands for LINKTYPE_LINUX_SLL2 (276), what `tcpdump
// -i any` writes since libpcap 1.10: protocol (2 bytes), reserved (2),
// interface index (4), ARPHRD type (2), packet type (1), address length
// (1), address (8). gopacket's LinkType is a byte, so the type arrives as
// its low byte, 20, which no link type of its own uses; the pcap reader
// maps it so (and refuses other types above 255, which would collide).
const linkTypeLinuxSLL2 layers.LinkType = 276 & 0xff

// maxEncap bounds tunnels within tunnels: a hostile frame could nest them
// without end.
const maxEncap = 4

// decodeLink reads a frame of the given link type; depth counts the
// tunnels it came out of.
func decodeLink(data []byte, link layers.LinkType, p *frame, depth int) bool {
	*p = frame{}
	var etype uint16
	switch link {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return false
		}
		etype, data = binary.BigEndian.Uint16(data[12:]), data[14:]
		// 802.1Q / 802.1ad tags, possibly stacked.
		for (etype == 0x8100 || etype == 0x88a8 || etype == 0x9100) && len(data) >= 4 {
			etype, data = binary.BigEndian.Uint16(data[2:]), data[4:]
		}
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return false
		}
		etype, data = binary.BigEndian.Uint16(data[14:]), data[16:]
	case linkTypeLinuxSLL2: // what `tcpdump -i any` writes since libpcap 1.10
		if len(data) < 20 {
			return false
		}
		etype, data = binary.BigEndian.Uint16(data), data[20:]
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14: // 12, 14: raw IP on some BSDs
		var ok bool
		if etype, ok = ipEthertype(data); !ok {
			return false
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(data) < 4 {
			return false
		}
		fam := binary.LittleEndian.Uint32(data) // host order of the writer
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(data)
		}
		data = data[4:]
		switch fam {
		case 2:
			etype = 0x0800
		case 24, 28, 30:
			etype = 0x86dd
		default:
			return false
		}
	default:
		return decodeSlow(data, link, p)
	}
	return decodeNet(etype, data, p, depth)
}

// ipEthertype tells a bare IP packet's version by its first nibble.
func ipEthertype(data []byte) (uint16, bool) {
	if len(data) > 0 {
		switch data[0] >> 4 {
		case 4:
			return 0x0800, true
		case 6:
			return 0x86dd, true
		}
	}
	return 0, false
}

// decodeNet reads the network layer named by etype (an Ethertype).
func decodeNet(etype uint16, data []byte, p *frame, depth int) bool {
	switch etype {
	case 0x8864: // PPPoE session: its header, then PPP's protocol field
		if len(data) < 8 || data[0] != 0x11 || data[1] != 0 {
			return false
		}
		if n := int(binary.BigEndian.Uint16(data[4:])); n >= 2 && 6+n < len(data) {
			data = data[:6+n]
		}
		// PPP's protocol field is one byte when compressed (an odd first byte).
		pppProto, n := binary.BigEndian.Uint16(data[6:]), 8
		if data[6]&1 != 0 {
			pppProto, n = uint16(data[6]), 7
		}
		switch pppProto {
		case 0x0021:
			etype = 0x0800
		case 0x0057:
			etype = 0x86dd
		default:
			return false // LCP, authentication: no IP
		}
		data = data[n:]
	case 0x8847, 0x8848: // MPLS: labels down to the bottom of the stack
		for i := 0; ; i++ {
			if len(data) < 4 || i == 16 {
				return false
			}
			bottom := data[2]&1 != 0
			data = data[4:]
			if bottom {
				break
			}
		}
		var ok bool
		if etype, ok = ipEthertype(data); !ok {
			return false // a pseudowire (Ethernet over MPLS) is not read
		}
	}
	var proto uint8
	switch etype {
	case 0x0800:
		if len(data) < 20 || data[0]>>4 != 4 {
			return false
		}
		ihl := int(data[0]&0x0f) * 4
		if ihl < 20 || ihl > len(data) {
			return false
		}
		if tl := int(binary.BigEndian.Uint16(data[2:])); tl >= ihl && tl < len(data) {
			data = data[:tl] // Ethernet padding
		}
		p.src = netip.AddrFrom4([4]byte(data[12:16]))
		p.dst = netip.AddrFrom4([4]byte(data[16:20]))
		proto = data[9]
		if frag := binary.BigEndian.Uint16(data[6:]); frag&0x3fff != 0 {
			p.fragment = true // more fragments or a later one: no whole header to trust
		}
		data = data[ihl:]
	case 0x86dd:
		if len(data) < 40 || data[0]>>4 != 6 {
			return false
		}
		if pl := int(binary.BigEndian.Uint16(data[4:])); pl != 0 && 40+pl < len(data) {
			data = data[:40+pl]
		}
		p.src = netip.AddrFrom16([16]byte(data[8:24])).Unmap()
		p.dst = netip.AddrFrom16([16]byte(data[24:40])).Unmap()
		proto = data[6]
		data = data[40:]
		// Extension headers before the transport header.
	ext:
		for {
			switch proto {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(data) < 8 || (int(data[1])+1)*8 > len(data) {
					return true // addresses known, the header chain cut short
				}
				n := (int(data[1]) + 1) * 8
				proto, data = data[0], data[n:]
			case 44: // fragment
				if len(data) < 8 {
					return true
				}
				if binary.BigEndian.Uint16(data[2:])&0xfff9 != 0 {
					p.fragment = true
				}
				proto, data = data[0], data[8:]
			case 51: // authentication header
				if len(data) < 8 || (int(data[1])+2)*4 > len(data) {
					return true
				}
				n := (int(data[1]) + 2) * 4
				proto, data = data[0], data[n:]
			default:
				break ext
			}
		}
	default:
		return false
	}
	if p.fragment {
		return true
	}
	switch proto {
	case 6:
		if len(data) < 20 {
			return true
		}
		off := int(data[12]>>4) * 4
		if off < 20 || off > len(data) {
			return true
		}
		fl := data[13]
		p.proto = layers.IPProtocolTCP
		p.sport, p.dport = binary.BigEndian.Uint16(data), binary.BigEndian.Uint16(data[2:])
		p.seq = binary.BigEndian.Uint32(data[4:])
		p.fin, p.syn, p.rst, p.ack = fl&0x01 != 0, fl&0x02 != 0, fl&0x04 != 0, fl&0x10 != 0
		p.payload = data[off:]
	case 17:
		if len(data) < 8 {
			return true
		}
		p.proto = layers.IPProtocolUDP
		p.sport, p.dport = binary.BigEndian.Uint16(data), binary.BigEndian.Uint16(data[2:])
		if l := int(binary.BigEndian.Uint16(data[4:])); l >= 8 && l < len(data) {
			data = data[:l]
		}
		p.payload = data[8:]
		// VXLAN (IANA port 4789, the I flag set): an Ethernet frame inside.
		if p.dport == 4789 && len(p.payload) >= 8 && p.payload[0]&0x08 != 0 && depth < maxEncap {
			var inner frame
			if decodeLink(p.payload[8:], layers.LinkTypeEthernet, &inner, depth+1) {
				*p = inner
			}
		}
	case 47:
		// GRE: a tunnel, a VPN, or mirrored traffic (ERSPAN). What it
		// carries is read; a payload it cannot read leaves the outer packet.
		if depth < maxEncap {
			var inner frame
			if decodeGRE(data, &inner, depth+1) {
				*p = inner
			}
		}
	}
	return true
}

// decodeGRE reads a GRE packet (RFC 2784/2890, version 0) and what it
// carries: IP, Ethernet (gretap), or ERSPAN types I, II and III.
func decodeGRE(data []byte, p *frame, depth int) bool {
	if len(data) < 4 {
		return false
	}
	flags := binary.BigEndian.Uint16(data)
	if flags&0x7 != 0 {
		return false // version 1 (PPTP's enhanced GRE) is not read
	}
	n := 4
	for _, bit := range []uint16{0x8000, 0x2000, 0x1000} { // checksum, key, sequence number
		if flags&bit != 0 {
			n += 4
		}
	}
	if len(data) < n {
		return false
	}
	proto := binary.BigEndian.Uint16(data[2:])
	data = data[n:]
	switch proto {
	case 0x0800, 0x86dd:
		*p = frame{}
		return decodeNet(proto, data, p, depth)
	case 0x6558: // transparent Ethernet bridging
		return decodeLink(data, layers.LinkTypeEthernet, p, depth)
	case 0x88be: // ERSPAN: type II has a sequence number and an 8-byte header, type I neither
		if flags&0x1000 != 0 {
			if len(data) < 8 {
				return false
			}
			data = data[8:]
		}
		return decodeLink(data, layers.LinkTypeEthernet, p, depth)
	case 0x22eb: // ERSPAN type III: 12-byte header, 8 more with the platform subheader (O)
		if len(data) < 12 {
			return false
		}
		frameType, sub := data[10]>>2&0x1f, data[11]&1 != 0
		data = data[12:]
		if sub {
			if len(data) < 8 {
				return false
			}
			data = data[8:]
		}
		switch frameType {
		case 0:
			return decodeLink(data, layers.LinkTypeEthernet, p, depth)
		case 2:
			return decodeLink(data, layers.LinkTypeRaw, p, depth)
		}
	}
	return false
}

// decodeSlow handles the link types decodeFrame does not know (PPP, Wi-Fi
// with radiotap, ...) with gopacket's decoders.
func decodeSlow(data []byte, link layers.LinkType, p *frame) bool {
	// Capacity cut to the length: some of gopacket's decoders slice by a
	// length field up to the capacity (PPPoE), which with a reused record
	// buffer would read the bytes of an earlier packet.
	data = data[:len(data):len(data)]
	pkt := gopacket.NewPacket(data, link, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		p.src, _ = netip.AddrFromSlice(ip.SrcIP)
		p.dst, _ = netip.AddrFromSlice(ip.DstIP)
	case *layers.IPv6:
		p.src, _ = netip.AddrFromSlice(ip.SrcIP)
		p.dst, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		return false
	}
	p.src, p.dst = p.src.Unmap(), p.dst.Unmap()
	switch t := pkt.TransportLayer().(type) {
	case *layers.TCP:
		p.proto = layers.IPProtocolTCP
		p.sport, p.dport, p.seq = uint16(t.SrcPort), uint16(t.DstPort), t.Seq
		p.syn, p.ack, p.fin, p.rst = t.SYN, t.ACK, t.FIN, t.RST
		p.payload = t.Payload
	case *layers.UDP:
		p.proto = layers.IPProtocolUDP
		p.sport, p.dport = uint16(t.SrcPort), uint16(t.DstPort)
		p.payload = t.Payload
	}
	return true
}
