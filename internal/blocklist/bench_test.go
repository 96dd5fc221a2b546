package blocklist

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

// genFeed is a generated feed of n pool domains and n/10 addresses (a
// tenth of them IPv6), as `minerguard blocklist --add` reads it.
func genFeed(n int) []byte {
	r := rand.New(rand.NewPCG(7, 7))
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "pool%d-%06x.example%d.com\n", i, r.Uint32()&0xffffff, i%1000)
	}
	for i := range n / 10 {
		if i%10 == 0 {
			fmt.Fprintf(&b, "2001:db8:%x:%x::%x\n", r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff)
		} else {
			fmt.Fprintf(&b, "%d.%d.%d.%d\n", 11+r.IntN(100), r.IntN(256), r.IntN(256), r.IntN(256)) // never 127/8
		}
	}
	return b.Bytes()
}

var million = sync.OnceValues(func() ([]byte, *List) {
	feed := genFeed(1_000_000)
	p, err := ParseList(bytes.NewReader(feed), "gen")
	if err != nil {
		panic(err)
	}
	l := &List{Version: "bench"}
	l.Add(p.Domains, p.Prefixes)
	l.ApplyAllow([]string{"gate.pool1-000000.example1.com", "192.0.2.0/24"})
	return feed, l
})

func BenchmarkParseList1M(b *testing.B) {
	feed, _ := million()
	b.SetBytes(int64(len(feed)))
	for b.Loop() {
		if _, err := ParseList(bytes.NewReader(feed), "gen"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAdd1M(b *testing.B) {
	feed, _ := million()
	p, _ := ParseList(bytes.NewReader(feed), "gen")
	for b.Loop() {
		l := &List{}
		l.Add(p.Domains, p.Prefixes)
	}
}

// BenchmarkRender1M renders a million domains and 100k networks in
// every format (docs/benchmarks-intel.md).
func BenchmarkRender1M(b *testing.B) {
	_, l := million()
	if len(l.Domains) != 1_000_000 {
		b.Fatalf("%d domains", len(l.Domains))
	}
	for _, f := range Formats {
		b.Run(f.Name, func(b *testing.B) {
			for b.Loop() {
				if err := Render(io.Discard, l, f.Name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestGenFeedShape(t *testing.T) {
	p, err := ParseList(bytes.NewReader(genFeed(10000)), "gen")
	if err != nil || p.BadLines != 0 || len(p.Domains) != 10000 || len(p.Prefixes) != 1000 {
		t.Fatalf("%v: %d domains, %d prefixes, %v", err, len(p.Domains), len(p.Prefixes), p.Bad)
	}
	var v6 int
	for _, x := range p.Prefixes {
		if x.Addr().Is6() {
			v6++
		}
	}
	if v6 != 100 || !p.Prefixes[0].Addr().Is6() || p.Prefixes[1] == (netip.Prefix{}) {
		t.Errorf("%d IPv6 prefixes", v6)
	}
}
