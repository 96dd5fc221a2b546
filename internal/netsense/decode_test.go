package netsense

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// sameAsGopacket compares the hand-written decoder with gopacket's on one
// frame: addresses, ports, sequence number, flags and payload must agree
// wherever gopacket decodes the frame without error. Inside tunnels the
// decoder reads the innermost packet where it knows the tunnel, the outer
// one where it does not (gopacket knows a few more): either may match.
func sameAsGopacket(t *testing.T, data []byte, link layers.LinkType) {
	t.Helper()
	data = data[:len(data):len(data)] // see decodeSlow
	pkt := gopacket.NewPacket(data, link, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var want frame
	okWant := decodeSlow(data, link, &want)
	if pkt.ErrorLayer() != nil {
		return // gopacket gave up on part of it: nothing to hold the decoder to
	}
	for _, l := range pkt.Layers() {
		switch ip := l.(type) {
		case *layers.GRE:
			// ERSPAN type I, which gopacket reads as type II, and type III,
			// which it does not know (TShark agrees with the decoder on
			// both: TestTunnelsAsTsharkSees).
			// gopacket also reads GRE version 1 (PPTP) as version 0; the
			// decoder leaves it alone.
			if ip.Protocol == layers.EthernetTypeERSPAN && !ip.SeqPresent || ip.Protocol == 0x22eb || ip.Version != 0 {
				return
			}
		case *layers.Ethernet:
			if ip.EthernetType == layers.EthernetTypePPPoEDiscovery {
				return // gopacket reads IP in PPPoE discovery frames, which never carry any
			}
		case *layers.PPPoE:
			if ip.Version != 1 || ip.Type != 1 || ip.Code != layers.PPPoECodeSession {
				return // nor is IP inside anything but a version 1 session frame
			}
		case *layers.IPv4:
			if ip.Version != 4 {
				return // gopacket does not check the version; the decoder drops such frames
			}
		case *layers.IPv6:
			if ip.Version != 6 {
				return
			}
		}
	}
	var got frame
	okGot := decodeFrame(data, link, &got)
	same := func(want frame, okWant bool) bool {
		if want.fragment = got.fragment; got.fragment {
			want.proto, want.sport, want.dport, want.seq, want.payload = 0, 0, 0, 0, nil
			want.syn, want.ack, want.fin, want.rst = false, false, false, false
		}
		return okGot == okWant && fmt.Sprint(got.src, got.dst, got.proto, got.sport, got.dport, got.seq, got.syn, got.ack, got.fin, got.rst) ==
			fmt.Sprint(want.src, want.dst, want.proto, want.sport, want.dport, want.seq, want.syn, want.ack, want.fin, want.rst) &&
			bytes.Equal(got.payload, want.payload)
	}
	if same(want, okWant) {
		return
	}
	if inner, ok := innermost(pkt); ok && same(inner, true) {
		return
	}
	t.Errorf("frame % x\n got %v %+v\nwant %v %+v", data, okGot, got, okWant, want)
}

// innermost is gopacket's reading of a frame's last IP packet and the
// TCP or UDP header after it, if the frame holds more than one.
func innermost(pkt gopacket.Packet) (frame, bool) {
	var p frame
	nets := 0
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			p = frame{}
			p.src, _ = netip.AddrFromSlice(l.SrcIP)
			p.dst, _ = netip.AddrFromSlice(l.DstIP)
			nets++
		case *layers.IPv6:
			p = frame{}
			p.src, _ = netip.AddrFromSlice(l.SrcIP)
			p.dst, _ = netip.AddrFromSlice(l.DstIP)
			nets++
		case *layers.TCP:
			p.proto = layers.IPProtocolTCP
			p.sport, p.dport, p.seq = uint16(l.SrcPort), uint16(l.DstPort), l.Seq
			p.syn, p.ack, p.fin, p.rst = l.SYN, l.ACK, l.FIN, l.RST
			p.payload = l.Payload
		case *layers.UDP:
			if p.proto == 0 {
				p.proto = layers.IPProtocolUDP
				p.sport, p.dport = uint16(l.SrcPort), uint16(l.DstPort)
				p.payload = l.Payload
			}
		}
	}
	p.src, p.dst = p.src.Unmap(), p.dst.Unmap()
	return p, nets > 1
}

// TestDecodeFrameMatchesGopacket: every frame of the real captures decodes
// as gopacket decodes it.
func TestDecodeFrameMatchesGopacket(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "data", "pcap", "*.pcap"))
	if len(files) == 0 {
		t.Skip("shared captures not present")
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			data, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			sameAsGopacket(t, data, r.LinkType())
			n++
		}
		f.Close()
		t.Logf("%s: %d frames", filepath.Base(name), n)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	eth := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00,
		0x45, 0, 0, 44, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x82, 0x35, 0x0d, 0x05, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0, '{', '}', '\n', 0}
	f.Add(eth, uint8(layers.LinkTypeEthernet))
	f.Add(eth[14:], uint8(layers.LinkTypeRaw))
	f.Add(append([]byte{2, 0, 0, 0}, eth[14:]...), uint8(layers.LinkTypeNull))
	v6 := []byte{0x60, 0, 0, 0, 0, 28, 17, 64, 0xfd, 0, 15: 1, 16: 0x20, 17: 0x01, 18: 0x0d, 19: 0xb8, 39: 2,
		40: 0x82, 41: 0x35, 42: 0, 43: 53, 44: 0, 45: 28, 46: 0, 47: 0, 67: 0}
	f.Add(v6, uint8(layers.LinkTypeIPv6))
	f.Add(append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0, 0, 5, 0x86, 0xdd}, v6...), uint8(layers.LinkTypeEthernet))
	for _, tf := range tunnelFrames(f) {
		f.Add(tf.data, uint8(layers.LinkTypeEthernet))
	}
	f.Fuzz(func(t *testing.T, data []byte, link uint8) {
		sameAsGopacket(t, data, layers.LinkType(link))
	})
}

// Flows leave the table when they close: FIN both ways (after a linger
// for late segments) or RST; the finding is made when they go.
func TestFlowClosesOnFinAndRst(t *testing.T) {
	a := newTestAnalyzer()
	var fs []string
	cli, srv := "10.0.0.5:40000", "192.0.2.9:3333"
	send := func(from, to string, seq uint32, flags string, payload string, at int) {
		a.Packet(tcpFrame(t, from, to, seq, flags, payload), layers.LinkTypeEthernet, epoch.Add(secs(at)))
	}
	send(cli, srv, 100, "S", "", 0)
	send(srv, cli, 500, "SA", "", 0)
	send(cli, srv, 101, "A", `{"id":1,"method":"login","params":{"login":"w"}}`+"\n", 1)
	send(srv, cli, 501, "A", `{"jsonrpc":"2.0","method":"job","params":{"blob":"00","job_id":"1"}}`+"\n", 2)
	send(cli, srv, 151, "FA", "", 3)
	send(srv, cli, 568, "FA", "", 3)
	if len(a.flows) != 1 || !a.head.closing {
		t.Fatalf("flow gone before its linger: %d flows", len(a.flows))
	}
	// A segment the capture saw late still lands in the flow.
	send(cli, srv, 149, "A", "", 4)
	for i := range sweepEvery {
		send("10.0.0.6:1", "10.0.0.7:2", uint32(i), "R", "", 4+int(closeLinger.Seconds())+1) // RST: each closes at once
	}
	if len(a.flows) > 1 || a.flows[flowKeyOf(cli, srv)] != nil {
		t.Fatalf("%d flows left after the linger", len(a.flows))
	}
	for _, f := range a.out {
		fs = append(fs, f.Rule+" "+f.Evidence.Dialect)
	}
	if fmt.Sprint(fs) != "[net.stratum monero-xmrig]" {
		t.Errorf("findings of closed flows %v", fs)
	}
}

// Beyond maxFlows, the least recently active flow is judged and dropped;
// a flow idle for idleTimeout goes too.
func TestFlowTableBounded(t *testing.T) {
	a := newTestAnalyzer()
	for i := range maxFlows + 10 {
		from := fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255)
		a.Packet(tcpFrame(t, from, "192.0.2.1:80", 1, "A", "x"), layers.LinkTypeEthernet, epoch)
	}
	if len(a.flows) != maxFlows {
		t.Fatalf("%d flows, want the bound %d", len(a.flows), maxFlows)
	}
	if a.flows[flowKeyOf("10.0.0.0:40000", "192.0.2.1:80")] != nil {
		t.Error("the least recently active flow was kept")
	}
	late := epoch.Add(idleTimeout + secs(1))
	for i := range sweepEvery {
		a.Packet(tcpFrame(t, "10.200.0.1:1", "192.0.2.1:80", uint32(i), "A", ""), layers.LinkTypeEthernet, late)
	}
	if len(a.flows) != 1 {
		t.Errorf("%d flows after %s idle, want only the active one", len(a.flows), idleTimeout)
	}
}

// TLS and binary data are not buffered; an HTTP body that is not JSON is
// skipped by its Content-Length, one that is JSON is read.
func TestDirectionBuffersOnlyMessages(t *testing.T) {
	tests := []struct {
		name  string
		segs  []string
		msgs  int
		empty bool // nothing left buffered
	}{
		{"tls", []string{"\x16\x03\x01\x00\x05hello", "\x17\x03\x03{\"method\":\"login\"}\n"}, 0, true},
		{"binary without newline", []string{"SSH-2.0-x\r\n", "\x00\x01binary{", "more binary"}, 0, true},
		{"json split", []string{`{"id":1,"method":`, `"mining.subscribe","params":[]}` + "\n"}, 1, true},
		{"http image body", []string{"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n\x89PNG", "{\"method\":\"login\"}\n\n"}, 0, true},
		{"http json body", []string{"POST / HTTP/1.1\r\nContent-Length: 36\r\n\r\n", `{"method":"getwork","params":["00"]}`}, 1, true},
		{"http json body after a newline", []string{"POST / HTTP/1.1\r\nContent-Length: 37\r\n\r\n\n", `{"method":"getwork","params":["00"]}`}, 1, true},
		{"http keep-alive: image, then json", []string{"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\x89PNG", "HTTP/1.1 200 OK\r\nContent-Length: 36\r\n\r\n" + `{"method":"getwork","params":["00"]}`}, 1, true},
	}
	for _, tc := range tests {
		var d direction
		var c collect
		for _, s := range tc.segs {
			d.feed([]byte(s), &c)
		}
		if len(c) != tc.msgs || tc.empty && len(d.buf) != 0 {
			t.Errorf("%s: messages %q, buffered %q", tc.name, c, d.buf)
		}
	}
}
