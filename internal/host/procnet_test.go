package host

import (
	"net/netip"
	"strings"
	"testing"
)

const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0D05 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   1: 0500000A:9C40 070200C0:0D05 01 00000000:00000000 00:00000000 00000000  1000        0 5678 1 0000000000000000 20 4 30 10 -1
`

const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0D05 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 42 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0D05 0000000000000000FFFF00000100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 43 1 0000000000000000 100 0 0 10 0
`

func TestParseProcNet(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name, proto, data string
		want              []Socket
		wantErr           string
	}{
		{name: "tcp", proto: "tcp", data: procNetTCP, want: []Socket{
			{Proto: "tcp", Local: ap("127.0.0.1:3333"), Remote: ap("0.0.0.0:0"), State: "LISTEN", Inode: 1234, Source: "procfs"},
			{Proto: "tcp", Local: ap("10.0.0.5:40000"), Remote: ap("192.0.2.7:3333"), State: "ESTABLISHED", Inode: 5678, UID: 1000, Source: "procfs"},
		}},
		{name: "tcp6 with v4-mapped", proto: "tcp6", data: procNetTCP6, want: []Socket{
			{Proto: "tcp6", Local: ap("[::1]:3333"), Remote: ap("[::]:0"), State: "LISTEN", Inode: 42, Source: "procfs"},
			{Proto: "tcp6", Local: ap("127.0.0.1:3333"), Remote: ap("127.0.0.1:40960"), State: "ESTABLISHED", Inode: 43, Source: "procfs"},
		}},
		{name: "connected udp", proto: "udp", data: "hdr\n 1: 0100007F:0035 0100007F:0D05 01 0 0 0 7 0 99\n", want: []Socket{
			{Proto: "udp", Local: ap("127.0.0.1:53"), Remote: ap("127.0.0.1:3333"), State: "ESTABLISHED", UID: 7, Inode: 99, Source: "procfs"},
		}},
		{name: "header only", proto: "tcp", data: "hdr\n"},
		{name: "short line", proto: "tcp", data: "hdr\n 0: 0100007F:0D05\n", wantErr: "line 2: 2 fields"},
		{name: "bad address", proto: "tcp", data: "hdr\n 0: 01007F:0D05 00000000:0000 0A 0 0 0 0 0 0 1\n", wantErr: "address of 3 bytes"},
		{name: "no port", proto: "tcp", data: "hdr\n 0: 0100007F 00000000:0000 0A 0 0 0 0 0 0 1\n", wantErr: "no port"},
		{name: "bad inode", proto: "tcp", data: "hdr\n 0: 0100007F:0D05 00000000:0000 0A 0 0 0 0 0 x\n", wantErr: "inode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcNet(tt.proto, []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("socket %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzParseProcNet: /proc/net comes from a kernel that may be hostile or a
// disk image; the parser must return an error, not panic.
func FuzzParseProcNet(f *testing.F) {
	f.Add("tcp", procNetTCP)
	f.Add("tcp6", procNetTCP6)
	f.Add("udp", "hdr\n 1: 0100007F:0035 0100007F:0D05 01 0 0 0 7 0 99\n")
	f.Fuzz(func(t *testing.T, proto, data string) {
		socks, _ := ParseProcNet(proto, []byte(data))
		for _, s := range socks {
			if !s.Local.IsValid() || !s.Remote.IsValid() || s.Local.Addr().Is4In6() || s.Source != "procfs" {
				t.Fatalf("bad socket %+v", s)
			}
		}
	})
}
