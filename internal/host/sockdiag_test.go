package host

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// nlMsg frames a netlink message the way the kernel does.
func nlMsg(typ uint16, seq uint32, body []byte) []byte {
	b := make([]byte, nlmsgAlign(nlmsgHdrLen+len(body)))
	binary.NativeEndian.PutUint32(b[0:], uint32(nlmsgHdrLen+len(body)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	copy(b[nlmsgHdrLen:], body)
	return b
}

// diagMsg builds a struct inet_diag_msg.
func diagMsg(family, state uint8, local, remote netip.AddrPort, uid, inode uint32) []byte {
	b := make([]byte, inetDiagMsgLen)
	b[0], b[1] = family, state
	binary.BigEndian.PutUint16(b[4:], local.Port())
	binary.BigEndian.PutUint16(b[6:], remote.Port())
	if family == afInet {
		a, r := local.Addr().As4(), remote.Addr().As4()
		copy(b[8:], a[:])
		copy(b[24:], r[:])
	} else {
		a, r := local.Addr().As16(), remote.Addr().As16()
		copy(b[8:], a[:])
		copy(b[24:], r[:])
	}
	binary.NativeEndian.PutUint32(b[64:], uid)
	binary.NativeEndian.PutUint32(b[68:], inode)
	return b
}

func errMsg(code int32) []byte {
	b := make([]byte, 4+nlmsgHdrLen)
	binary.NativeEndian.PutUint32(b, uint32(code))
	return b
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestParseDiagReply(t *testing.T) {
	ap := netip.MustParseAddrPort
	est4 := diagMsg(afInet, 1, ap("10.0.0.5:40000"), ap("192.0.2.7:3333"), 1000, 4242)
	mapped := diagMsg(afInet6, 10, ap("[::ffff:127.0.0.1]:3333"), ap("[::]:0"), 0, 77)
	udp6 := diagMsg(afInet6, 7, ap("[::1]:5353"), ap("[::]:0"), 0, 9)
	tests := []struct {
		name    string
		proto   string
		buf     []byte
		want    []Socket
		done    bool
		wantErr string
	}{
		{name: "established tcp then done", proto: "tcp",
			buf:  concat(nlMsg(sockDiagByFamily, 1, est4), nlMsg(nlmsgDone, 1, make([]byte, 4))),
			want: []Socket{{Proto: "tcp", Local: ap("10.0.0.5:40000"), Remote: ap("192.0.2.7:3333"), State: "ESTABLISHED", Inode: 4242, UID: 1000, Source: "netlink"}},
			done: true},
		{name: "v4-mapped listener is unmapped", proto: "tcp6",
			buf:  nlMsg(sockDiagByFamily, 1, mapped),
			want: []Socket{{Proto: "tcp6", Local: ap("127.0.0.1:3333"), Remote: ap("[::]:0"), State: "LISTEN", Inode: 77, Source: "netlink"}}},
		{name: "unconnected udp has no state", proto: "udp6",
			buf:  nlMsg(sockDiagByFamily, 1, udp6),
			want: []Socket{{Proto: "udp6", Local: ap("[::1]:5353"), Remote: ap("[::]:0"), Inode: 9, Source: "netlink"}}},
		{name: "other sequence skipped", proto: "tcp",
			buf: concat(nlMsg(sockDiagByFamily, 9, est4), nlMsg(nlmsgDone, 1, nil)), done: true},
		{name: "ack is not an error", proto: "tcp", buf: nlMsg(nlmsgError, 1, errMsg(0))},
		{name: "kernel error", proto: "udp", buf: nlMsg(nlmsgError, 1, errMsg(-2)), wantErr: "kernel error 2"},
		{name: "truncated error", proto: "udp", buf: nlMsg(nlmsgError, 1, []byte{1}), wantErr: "truncated error"},
		{name: "overrun", proto: "tcp", buf: nlMsg(nlmsgOverrun, 1, nil), wantErr: "overrun"},
		{name: "short inet_diag_msg", proto: "tcp", buf: nlMsg(sockDiagByFamily, 1, est4[:40]), wantErr: "inet_diag_msg of 40 bytes"},
		{name: "bad family", proto: "tcp", buf: nlMsg(sockDiagByFamily, 1, append([]byte{99}, est4[1:]...)), wantErr: "address family 99"},
		{name: "length past buffer", proto: "tcp", buf: nlMsg(sockDiagByFamily, 1, est4)[:50], wantErr: "outside 16..50"},
		{name: "length below header", proto: "tcp", buf: func() []byte {
			b := nlMsg(nlmsgDone, 1, nil)
			binary.NativeEndian.PutUint32(b, 3)
			return b
		}(), wantErr: "length 3"},
		{name: "trailing bytes", proto: "tcp", buf: append(nlMsg(sockDiagByFamily, 1, est4), 1, 2, 3), wantErr: "3 trailing bytes",
			want: []Socket{{Proto: "tcp", Local: ap("10.0.0.5:40000"), Remote: ap("192.0.2.7:3333"), State: "ESTABLISHED", Inode: 4242, UID: 1000, Source: "netlink"}}},
		{name: "unknown type", proto: "tcp", buf: nlMsg(77, 1, nil), wantErr: "unexpected message type 77"},
		{name: "empty datagram", proto: "tcp", buf: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done, err := parseDiagReply(tt.buf, tt.proto, 1)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if done != tt.done {
				t.Errorf("done = %v, want %v", done, tt.done)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d sockets %+v, want %+v", len(got), got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("socket %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDiagRequest(t *testing.T) {
	b := diagRequest(afInet6, ipprotoUDP, 7)
	if len(b) != 72 || binary.NativeEndian.Uint32(b) != 72 {
		t.Fatalf("request length %d", len(b))
	}
	if binary.NativeEndian.Uint16(b[4:]) != sockDiagByFamily || binary.NativeEndian.Uint16(b[6:]) != nlmFRequest|nlmFDump {
		t.Fatalf("type/flags wrong: % x", b[:8])
	}
	if binary.NativeEndian.Uint32(b[8:]) != 7 || b[16] != afInet6 || b[17] != ipprotoUDP || binary.NativeEndian.Uint32(b[20:]) != 0xffffffff {
		t.Fatalf("body wrong: % x", b[16:24])
	}
}

// FuzzParseDiagReply feeds arbitrary datagrams to the sock_diag parser: it
// must never panic, and what it accepts must be well-formed sockets.
func FuzzParseDiagReply(f *testing.F) {
	ap := netip.MustParseAddrPort
	f.Add(concat(nlMsg(sockDiagByFamily, 1, diagMsg(afInet, 1, ap("10.0.0.5:40000"), ap("192.0.2.7:3333"), 1000, 4242)), nlMsg(nlmsgDone, 1, make([]byte, 4))))
	f.Add(nlMsg(sockDiagByFamily, 1, diagMsg(afInet6, 10, ap("[::1]:22"), ap("[::]:0"), 0, 1)))
	f.Add(nlMsg(nlmsgError, 1, errMsg(-95)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		for _, proto := range []string{"tcp", "udp6"} {
			socks, _, err := parseDiagReply(buf, proto, 1)
			for _, s := range socks {
				if s.Proto != proto || s.Source != "netlink" || !s.Local.IsValid() || !s.Remote.IsValid() || s.Local.Addr().Is4In6() {
					t.Fatalf("bad socket %+v (err %v)", s, err)
				}
			}
		}
	})
}
