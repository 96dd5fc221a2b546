package host

import (
	"net/netip"
	"testing"
)

// A real /proc/net/tcp and tcp6 excerpt (header + listening sshd + an
// established connection to 127.0.0.1:3333).
const procTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A1B2 0100007F:0D05 01 00000000:00000000 02:000A7D8A 00000000  1000        0 99871 2 0000000000000000 20 4 30 10 -1
`

const procTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:9C40 00000000000000000000000001000000:0D05 01 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 20 4 0 10 -1
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200007F:01BB 01 00000000:00000000 00:00000000 00000000     0        0 5556 1 0000000000000000 20 4 0 10 -1
`

func TestParseProcNet(t *testing.T) {
	socks, err := ParseProcNet("tcp", []byte(procTCP))
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 2 {
		t.Fatalf("got %d sockets, want 2", len(socks))
	}
	if s := socks[0]; s.State != "LISTEN" || s.Local != netip.MustParseAddrPort("0.0.0.0:22") || s.Inode != 21345 {
		t.Errorf("listener = %+v", s)
	}
	if s := socks[1]; s.State != "ESTABLISHED" || s.Remote != netip.MustParseAddrPort("127.0.0.1:3333") || s.UID != 1000 || s.Inode != 99871 {
		t.Errorf("connection = %+v", s)
	}
	socks6, err := ParseProcNet("tcp6", []byte(procTCP6))
	if err != nil {
		t.Fatal(err)
	}
	if got := socks6[0].Remote; got != netip.MustParseAddrPort("[::1]:3333") {
		t.Errorf("v6 remote = %v, want [::1]:3333", got)
	}
	if got := socks6[1].Remote; got != netip.MustParseAddrPort("127.0.0.2:443") {
		t.Errorf("v4-mapped remote = %v, want 127.0.0.2:443 (unmapped)", got)
	}
}

func TestParseProcNetErrors(t *testing.T) {
	bad := []string{
		"header\n 0: 0100007F:0016\n",
		"header\n 0: zz:0016 00000000:0000 0A 0:0 0:0 0 0 0 1\n",
		"header\n 0: 0100007F:0016 00000000:0000 0A 0:0 0:0 0 x 0 1\n",
		"header\n 0: 0100007F 00000000:0000 0A 0:0 0:0 0 0 0 1\n",
		"header\n 0: 01007F:0016 00000000:0000 0A 0:0 0:0 0 0 0 1\n",
	}
	for _, in := range bad {
		if _, err := ParseProcNet("tcp", []byte(in)); err == nil {
			t.Errorf("ParseProcNet(%q): want error", in)
		}
	}
}
