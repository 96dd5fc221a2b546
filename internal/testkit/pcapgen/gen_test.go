package pcapgen

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/netsense"
)

// TestPlantedSessionsFound: minerguard finds exactly the mining sessions
// and pool lookups the generator planted — no benign flow (HTTP, TLS,
// SSH-like, Electrum/Ethereum-node JSON-RPC, DNS) is reported, none of
// the damaged sessions is missed, and workers and dialects are right.
func TestPlantedSessionsFound(t *testing.T) {
	for _, size := range []int64{3 << 20, 12 << 20} {
		t.Run(fmt.Sprint(size>>20, "MiB"), func(t *testing.T) {
			var buf bytes.Buffer
			m, err := Generate(&buf, Config{Size: size, Seed: uint64(size)})
			if err != nil {
				t.Fatal(err)
			}
			if int64(buf.Len()) != m.Bytes || m.Bytes < size {
				t.Fatalf("wrote %d bytes, manifest says %d, asked for %d", buf.Len(), m.Bytes, size)
			}
			for _, k := range []string{"http", "tls", "ssh", "jsonrpc-http", "jsonrpc-lines"} {
				if m.Flows[k] == 0 {
					t.Errorf("no %s flows in %v", k, m.Flows)
				}
			}
			a := netsense.NewAnalyzer(intel.MustLoad())
			if err := a.ReadCapture(context.Background(), &buf, "gen.pcap"); err != nil {
				t.Fatal(err)
			}
			if len(a.Errors) > 0 {
				t.Fatalf("capture errors: %v", a.Errors)
			}
			if a.Packets != uint64(m.Packets) {
				t.Errorf("read %d packets, wrote %d", a.Packets, m.Packets)
			}
			var want, got []string
			lossy := map[string]bool{}
			for _, s := range m.Sessions {
				want = append(want, fmt.Sprintf("net.stratum %s>%s %s %s", s.Client.Addr(), s.Server, s.Dialect, s.Worker))
				if s.Pool != "" {
					want = append(want, fmt.Sprintf("net.dns_pool %s %s", s.Client.Addr(), s.Pool))
				}
				if s.Note != "clean" && bytes.Contains([]byte(s.Note), []byte("lost")) {
					lossy[s.Client.Addr().String()] = true
				}
			}
			for _, f := range a.Findings() {
				e := f.Evidence
				switch f.Rule {
				case "net.stratum":
					got = append(got, fmt.Sprintf("net.stratum %s>%s %s %s", e.SrcIP, addrPort(e.DstIP, e.DstPort), e.Dialect, e.Worker))
					if lossy[e.SrcIP] != (e.Details["bytes_lost"] != "") {
						t.Errorf("%s: bytes_lost %q, planted loss %v", e.SrcIP, e.Details["bytes_lost"], lossy[e.SrcIP])
					}
				case "net.dns_pool":
					got = append(got, fmt.Sprintf("net.dns_pool %s %s", e.SrcIP, e.Domain))
				default:
					got = append(got, f.Rule+" "+f.Title)
				}
			}
			sort.Strings(want)
			sort.Strings(got)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("findings differ from what was planted\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

func addrPort(ip string, port int) string {
	if bytes.ContainsRune([]byte(ip), ':') {
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}

// The same seed writes the same capture.
func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := Generate(&a, Config{Size: 1 << 20, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(&b, Config{Size: 1 << 20, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same seed, different captures")
	}
}
