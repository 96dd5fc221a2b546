package netsense

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/minerguard/minerguard/internal/intel"
)

var epoch = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

func newTestAnalyzer() *Analyzer { return NewAnalyzer(intel.MustLoad()) }

func flowKeyOf(x, y string) flowKey {
	a, b := netip.MustParseAddrPort(x), netip.MustParseAddrPort(y)
	s, d := endpoint{a.Addr(), a.Port()}, endpoint{b.Addr(), b.Port()}
	if less(d, s) {
		return flowKey{d, s}
	}
	return flowKey{s, d}
}

// tcpFrame builds an Ethernet/IPv4/TCP frame; flags is a set of S, A, F, R.
func tcpFrame(t testing.TB, from, to string, seq uint32, flags, payload string) []byte {
	t.Helper()
	s, d := netip.MustParseAddrPort(from), netip.MustParseAddrPort(to)
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(s.Port()), DstPort: layers.TCPPort(d.Port()), Seq: seq, Window: 1000,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F"), RST: strings.Contains(flags, "R")}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func gopacketCI(i, n int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: epoch.Add(time.Duration(i) * time.Millisecond), CaptureLength: n, Length: n}
}
