package netsense

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// The mining session inside every tunnel below.
var (
	tunMiner   = netip.MustParseAddrPort("10.50.0.7:40000")
	tunPool    = netip.MustParseAddrPort("198.51.100.20:3333")
	tunPayload = `{"id":1,"method":"login","params":{"login":"4Awallet","agent":"XMRig/6.21.0"}}` + "\n"
)

// innerTCP is the miner's segment as an Ethernet frame and as a bare IP packet.
func innerTCP(t testing.TB) (eth, ip []byte) {
	eth = tcpFrame(t, tunMiner.String(), tunPool.String(), 1000, "PA", tunPayload)
	return eth, eth[14:]
}

// outerIP wraps payload in Ethernet and IPv4 between two tunnel endpoints.
func outerIP(t testing.TB, proto layers.IPProtocol, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 3}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 4}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func outerUDP(t testing.TB, dport uint16, payload []byte) []byte {
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp, 49152)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	return outerIP(t, layers.IPProtocolUDP, append(udp, payload...))
}

// gre builds a GRE header with the given optional fields present.
func gre(proto uint16, checksum, key, seq bool) []byte {
	var flags uint16
	b := []byte{0, 0, 0, 0}
	if checksum {
		flags |= 0x8000
		b = append(b, 0, 0, 0, 0)
	}
	if key {
		flags |= 0x2000
		b = append(b, 0, 0, 0, 42)
	}
	if seq {
		flags |= 0x1000
		b = append(b, 0, 0, 1, 7)
	}
	binary.BigEndian.PutUint16(b, flags)
	binary.BigEndian.PutUint16(b[2:], proto)
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// tunnelFrames are the miner's segment in each encapsulation a campus or
// data-centre sensor meets.
func tunnelFrames(t testing.TB) []struct {
	name string
	data []byte
} {
	eth, ip := innerTCP(t)
	vxlan := []byte{0x08, 0, 0, 0, 0, 0, 42, 0}
	erspan2 := []byte{0x10, 0x05, 0x00, 0x64, 0, 0, 0, 3} // version 1, VLAN 5, session 100, index 3
	erspan3 := []byte{0x20, 0x05, 0x00, 0x64, 0x12, 0x34, 0x56, 0x78, 0, 0, 0x00 | 7>>4, 7<<4&0xf0 | 1}
	erspan3Sub := []byte{0, 0, 0, 0, 0, 0, 0, 9}
	erspan3IP := append([]byte(nil), erspan3...)
	erspan3IP[10] |= 2 << 2 // frame type 2: IP
	erspan3IP[11] &^= 1     // no subheader
	pppoe := cat([]byte{0x11, 0x00, 0x12, 0x34}, binary.BigEndian.AppendUint16(nil, uint16(2+len(ip))), []byte{0x00, 0x21}, ip)
	mpls := cat([]byte{0x00, 0x01, 0x00, 0x40}, []byte{0x00, 0x02, 0x01, 0x40}, ip) // two labels, the second at the bottom
	ethHdr := func(etype uint16) []byte {
		return binary.BigEndian.AppendUint16([]byte{2, 0, 0, 0, 0, 5, 2, 0, 0, 0, 0, 6}, etype)
	}
	return []struct {
		name string
		data []byte
	}{
		{"GRE carrying IPv4", outerIP(t, layers.IPProtocolGRE, cat(gre(0x0800, false, false, false), ip))},
		{"GRE with checksum, key and sequence", outerIP(t, layers.IPProtocolGRE, cat(gre(0x0800, true, true, true), ip))},
		{"gretap (Ethernet over GRE)", outerIP(t, layers.IPProtocolGRE, cat(gre(0x6558, false, true, false), eth))},
		{"ERSPAN type I", outerIP(t, layers.IPProtocolGRE, cat(gre(0x88be, false, false, false), eth))},
		{"ERSPAN type II", outerIP(t, layers.IPProtocolGRE, cat(gre(0x88be, false, false, true), erspan2, eth))},
		{"ERSPAN type III with subheader", outerIP(t, layers.IPProtocolGRE, cat(gre(0x22eb, false, false, true), erspan3, erspan3Sub, eth))},
		{"ERSPAN type III carrying IP", outerIP(t, layers.IPProtocolGRE, cat(gre(0x22eb, false, false, true), erspan3IP, ip))},
		{"VXLAN", outerUDP(t, 4789, cat(vxlan, eth))},
		{"PPPoE session", cat(ethHdr(0x8864), pppoe)},
		{"MPLS label stack", cat(ethHdr(0x8847), mpls)},
		{"VXLAN inside GRE", outerIP(t, layers.IPProtocolGRE, cat(gre(0x0800, false, false, false), outerUDP(t, 4789, cat(vxlan, eth))[14:]))},
	}
}

// TestTunnels: the miner's segment is read, with the miner's and the
// pool's addresses, inside each tunnel.
func TestTunnels(t *testing.T) {
	for _, tc := range tunnelFrames(t) {
		t.Run(tc.name, func(t *testing.T) {
			var p frame
			if !decodeFrame(tc.data, layers.LinkTypeEthernet, &p) {
				t.Fatal("not decoded")
			}
			got := fmt.Sprint(p.src, p.sport, p.dst, p.dport, p.proto, p.seq)
			want := fmt.Sprint(tunMiner.Addr(), tunMiner.Port(), tunPool.Addr(), tunPool.Port(), layers.IPProtocolTCP, 1000)
			if got != want || string(p.payload) != tunPayload {
				t.Errorf("got %s payload %q, want %s", got, p.payload, want)
			}
		})
	}
}

// TestTunnelsTooDeep: tunnels nested beyond maxEncap are not followed:
// the frame decodes to the deepest packet read, without a panic or a loop.
func TestTunnelsTooDeep(t *testing.T) {
	_, ip := innerTCP(t)
	pkt := ip
	for range maxEncap + 3 {
		pkt = outerIP(t, layers.IPProtocolGRE, cat(gre(0x0800, false, false, false), pkt))[14:]
	}
	var p frame
	if !decodeFrame(pkt, layers.LinkTypeRaw, &p) {
		t.Fatal("not decoded")
	}
	if p.proto == layers.IPProtocolTCP {
		t.Errorf("followed %d tunnels, more than maxEncap %d", maxEncap+3, maxEncap)
	}
}

// TestTunnelsAsTsharkSees: Wireshark's dissectors read the same inner
// segment in every crafted frame, so the frames are what the standards
// (and real routers) make, not just what this decoder expects.
func TestTunnelsAsTsharkSees(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	frames := tunnelFrames(t)
	name := filepath.Join(t.TempDir(), "tunnels.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for i, fr := range frames {
		if err := w.WritePacket(gopacketCI(i, len(fr.data)), fr.data); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	// Wireshark reads UDP 4789 as VXLAN by default, GRE, ERSPAN, PPPoE
	// and MPLS by their type fields.
	out, err := exec.Command(tshark, "-r", name, "-T", "fields", "-E", "separator=;", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(frames) {
		t.Fatalf("tshark printed %d lines for %d frames:\n%s", len(lines), len(frames), out)
	}
	for i, l := range lines {
		if frames[i].name == "ERSPAN type III carrying IP" {
			continue // TShark 4.0 dissects only Ethernet frames (type 0) in ERSPAN III
		}
		f := strings.Split(l, ";")
		src, dst := f[0][strings.LastIndex(f[0], ",")+1:], f[2][strings.LastIndex(f[2], ",")+1:]
		if got := fmt.Sprintf("%s:%s>%s:%s", src, f[1], dst, f[3]); got != tunMiner.String()+">"+tunPool.String() {
			t.Errorf("%s: tshark reads %s", frames[i].name, got)
		}
	}
}
