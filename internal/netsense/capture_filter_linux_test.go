package netsense

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
)

// TestEthFilter runs the kernel filter in x/net/bpf's interpreter: what
// the decoder can read passes whole, the rest is dropped in the kernel.
func TestEthFilter(t *testing.T) {
	prog, err := ethFilter()
	if err != nil {
		t.Fatal(err)
	}
	insns := make([]bpf.Instruction, len(prog))
	for i, r := range prog {
		insns[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	eth := func(etype uint16, rest ...byte) []byte {
		b := binary.BigEndian.AppendUint16([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}, etype)
		return append(b, rest...)
	}
	ipv4 := func(proto byte) []byte {
		h := make([]byte, 40)
		h[0], h[9] = 0x45, proto
		return eth(0x0800, h...)
	}
	ipv6 := func(next byte) []byte {
		h := make([]byte, 60)
		h[0], h[6] = 0x60, next
		return eth(0x86dd, h...)
	}
	tcp := tcpFrame(t, "10.0.0.5:40000", "192.0.2.9:3333", 1, "PA", "{}\n")
	cases := []struct {
		name  string
		frame []byte
		pass  bool
	}{
		{"IPv4 TCP", tcp, true},
		{"IPv4 UDP", ipv4(17), true},
		{"IPv4 GRE", ipv4(47), true},
		{"IPv4 ICMP", ipv4(1), false},
		{"IPv6 TCP", ipv6(6), true},
		{"IPv6 UDP", ipv6(17), true},
		{"IPv6 GRE", ipv6(47), true},
		{"ICMPv6", ipv6(58), false},
		{"VLAN", eth(0x8100, 0, 5, 0x08, 0x00), true},
		{"QinQ", eth(0x88a8, 0, 5, 0x81, 0x00), true},
		{"QinQ, old type", eth(0x9100, 0, 5, 0x81, 0x00), true},
		{"PPPoE session", eth(0x8864, 0x11, 0, 0, 1, 0, 2, 0, 0x21), true},
		{"PPPoE discovery", eth(0x8863, 0x11, 0x09, 0, 0, 0, 0), false},
		{"MPLS", eth(0x8847, 0, 1, 1, 64), true},
		{"MPLS multicast", eth(0x8848, 0, 1, 1, 64), true},
		{"ARP", eth(0x0806, make([]byte, 28)...), false},
		{"LLDP", eth(0x88cc, make([]byte, 20)...), false},
	}
	for _, tf := range tunnelFrames(t) {
		cases = append(cases, struct {
			name  string
			frame []byte
			pass  bool
		}{tf.name, tf.data, true})
	}
	for _, c := range cases {
		n, err := vm.Run(c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if pass := n > 0; pass != c.pass {
			t.Errorf("%s: filter keeps %d bytes, want pass=%v", c.name, n, c.pass)
		}
	}
}
