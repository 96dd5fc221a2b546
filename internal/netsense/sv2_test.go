package netsense

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/minerguard/minerguard/internal/intel"
)

func sv2Msg(ext uint16, typ byte, payload []byte) []byte {
	b := []byte{byte(ext), byte(ext >> 8), typ, byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16)}
	return append(b, payload...)
}

func str0(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// sv2Setup builds a mining SetupConnection as the specification lays it out.
func sv2SetupFrame() []byte {
	var p []byte
	p = append(p, 0)          // protocol: mining
	p = append(p, 2, 0, 2, 0) // min_version, max_version
	p = append(p, 0, 0, 0, 0) // flags
	p = append(p, str0("10.0.0.9")...)
	p = binary.LittleEndian.AppendUint16(p, 34254)
	for _, s := range []string{"fakeminer", "cpu", "1.0", "rig7"} {
		p = append(p, str0(s)...)
	}
	return sv2Msg(0, sv2SetupConnection, p)
}

func sv2OpenChannel(user string) []byte {
	p := binary.LittleEndian.AppendUint32(nil, 1)
	p = append(p, str0(user)...)
	p = binary.LittleEndian.AppendUint32(p, 0x4b189680) // nominal hash rate (f32)
	p = append(p, make([]byte, 32)...)                  // max_target
	return sv2Msg(0, sv2OpenStandardChannel, p)
}

// writeTCP writes a TCP conversation (client and server payloads in turn)
// as an Ethernet pcap.
func writeTCP(t *testing.T, turns [][]byte) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	cli, srv := net.IPv4(10, 0, 0, 5), net.IPv4(10, 0, 0, 9)
	seq := [2]uint32{1000, 5000}
	ts := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	send := func(dir int, flags func(*layers.TCP), payload []byte) {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli, DstIP: srv}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 34254, Seq: seq[0], Ack: seq[1], Window: 65535}
		if dir == 1 {
			ip.SrcIP, ip.DstIP = srv, cli
			tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack = 34254, 40000, seq[1], seq[0]
		}
		flags(tcp)
		tcp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(10 * time.Millisecond)
		w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}, sb.Bytes())
		seq[dir] += uint32(len(payload))
		if tcp.SYN || tcp.FIN {
			seq[dir]++
		}
	}
	send(0, func(c *layers.TCP) { c.SYN = true }, nil)
	send(1, func(c *layers.TCP) { c.SYN, c.ACK = true, true }, nil)
	send(0, func(c *layers.TCP) { c.ACK = true }, nil)
	for i, p := range turns {
		send(i%2, func(c *layers.TCP) { c.ACK, c.PSH = true, true }, p)
	}
	send(0, func(c *layers.TCP) { c.FIN, c.ACK = true, true }, nil)
	return buf.Bytes()
}

// TestStratumV2Plain: an unencrypted Stratum V2 conversation (setup,
// channel, jobs, shares) is named with its user identity and counts; a
// binary stream that only looks similar is not.
func TestStratumV2Plain(t *testing.T) {
	success := sv2Msg(0, sv2SetupConnectionSuccess, []byte{2, 0, 0, 0, 0, 0})
	job := sv2Msg(0x8000, sv2NewMiningJob, make([]byte, 49))
	share := sv2Msg(0x8000, sv2SubmitSharesStandard, make([]byte, 24))
	pcap := writeTCP(t, [][]byte{sv2SetupFrame(), success, sv2OpenChannel("44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A.rig7"), job, share, job, share})
	a := NewAnalyzer(intel.MustLoad())
	if err := a.ReadCapture(context.Background(), bytes.NewReader(pcap), "sv2.pcap"); err != nil {
		t.Fatal(err)
	}
	fs := a.Findings()
	if len(fs) != 1 || fs[0].Evidence.Dialect != DialectStratum2 || fs[0].Evidence.Worker == "" || fs[0].Evidence.Details["shares"] != "2" || fs[0].Evidence.Details["jobs"] != "2" {
		t.Fatalf("findings %+v", fs)
	}
	if fs[0].Evidence.Details["agent"] != "fakeminer 1.0" || fs[0].Evidence.Wallet == "" {
		t.Errorf("agent/wallet: %+v", fs[0].Evidence)
	}
	// Near misses: another protocol version, trailing bytes, a short string.
	for name, first := range map[string][]byte{
		"version 3 only": func() []byte { b := sv2SetupFrame(); b[6+1], b[6+3] = 3, 3; return b }(),
		"trailing byte":  append(sv2SetupFrame()[:len(sv2SetupFrame())], 0),
		"truncated":      sv2SetupFrame()[:20],
	} {
		if name == "trailing byte" {
			f := sv2SetupFrame()
			f[3]++ // length says one byte more than the strings use
			first = append(f, 0)
		}
		if _, ok := sv2Setup(first); ok {
			t.Errorf("%s taken for a SetupConnection", name)
		}
	}
}

func FuzzSV2(f *testing.F) {
	f.Add(sv2SetupFrame())
	f.Add(sv2OpenChannel("w"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sv2Setup(b)
		var s Session
		s.sv2Feed(b)
	})
}
