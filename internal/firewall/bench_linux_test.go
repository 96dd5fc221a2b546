package firewall

import (
	"context"
	"net/netip"
	"testing"

	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// spread returns n single addresses no two of which merge (every other
// address), half IPv4, half IPv6 when v6 is set.
func spread(n int, v6 bool) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	for i := range n {
		x := uint32(i) * 2
		if v6 && i%2 == 1 {
			a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(x >> 24), 13: byte(x >> 16), 14: byte(x >> 8), 15: byte(x)})
			out = append(out, netip.PrefixFrom(a, 128))
			continue
		}
		a := netip.AddrFrom4([4]byte{10 + byte(x>>24), byte(x >> 16), byte(x >> 8), byte(x)})
		out = append(out, netip.PrefixFrom(a, 32))
	}
	return out
}

// BenchmarkApply100k: replacing the table with 100,000 blocked addresses
// (run as root; in a throwaway namespace).
func BenchmarkApply100k(b *testing.B) {
	for _, tc := range []struct {
		name string
		v6   bool
	}{{"v4", false}, {"v4+v6", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ns := netns.New(b, "bench")
			r := Ruleset{BlockAddrs: spread(100_000, tc.v6), BlockPorts: []uint16{3333}}
			ctx := context.Background()
			for b.Loop() {
				if err := Apply(ctx, r, WithNetNS(ns.Path)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead100k: reading the same table back (what isolate does
// before changing it, to be able to undo).
func BenchmarkRead100k(b *testing.B) {
	ns := netns.New(b, "bench")
	r := Ruleset{BlockAddrs: spread(100_000, true)}
	ctx := context.Background()
	if err := Apply(ctx, r, WithNetNS(ns.Path)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, _, err := Read(ctx, DefaultTable, WithNetNS(ns.Path))
		if err != nil || len(got.BlockAddrs) != 100_000 {
			b.Fatalf("%d addresses, %v", len(got.BlockAddrs), err)
		}
	}
}

// TestApply100kRoundTrip keeps the benchmark's table honest: all 100,000
// addresses read back.
func TestApply100kRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ns := netns.New(t, "big")
	r := Ruleset{BlockAddrs: spread(100_000, true), BlockPorts: []uint16{3333}}
	ctx := context.Background()
	if err := Apply(ctx, r, WithNetNS(ns.Path)); err != nil {
		t.Fatal(err)
	}
	got, ok, err := Read(ctx, DefaultTable, WithNetNS(ns.Path))
	if err != nil || !ok || !got.Equal(r) {
		t.Fatalf("read back %d addresses, ok %v, err %v", len(got.BlockAddrs), ok, err)
	}
}
