package intel

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func overlayDB(t testing.TB) *DB {
	t.Helper()
	db, err := MustLoad().WithOverlay(Overlay{
		Sources: []Source{{ID: "campus", Name: "feed campus"}},
		Domains: []Domain{
			{Domain: "Feed-Pool.Example.", Category: "pool", Source: "campus"},
			{Domain: "xmrig.com", Category: "proxy", Source: "campus"}, // already embedded
			{Domain: "bücher-pool.example", Category: "pool", Source: "campus"},
		},
		IPs: []IPEntry{
			{CIDR: "192.0.2.0/24", Category: "pool", Source: "campus"},
			{CIDR: "192.0.2.128/25", Category: "proxy", Source: "campus"},
			{CIDR: "198.51.100.7", Category: "pool", Source: "campus"},
			{CIDR: "2001:db8:1::/48", Category: "pool", Source: "campus"},
		},
		Allow: []string{"gate.feed-pool.example", "192.0.2.200/30", "2001:db8:1::5", "supportxmr.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestWithOverlayDomains(t *testing.T) {
	base := MustLoad()
	db := overlayDB(t)
	tests := []struct {
		name, want, category string
	}{
		{"feed-pool.example", "feed-pool.example", "pool"},
		{"eu.FEED-POOL.example.", "feed-pool.example", "pool"},
		{"gate.feed-pool.example", "", ""},   // allowed
		{"a.gate.feed-pool.example", "", ""}, // allowed with its subdomains
		{"xgate.feed-pool.example", "feed-pool.example", "pool"},
		{"pool.xmrig.com", "pool.xmrig.com", "pool"}, // embedded entry kept
		{"xmrig.com", "xmrig.com", "pool"},           // embedded category wins
		{"supportxmr.com", "", ""},                   // embedded pool allowlisted
		{"pool.supportxmr.com", "", ""},
		{"bücher-pool.example", "xn--bcher-pool-9db.example", "pool"}, // IDN asked in Unicode
		{"notfeed-pool.example", "", ""},
	}
	for _, tc := range tests {
		d, ok := db.Domain(tc.name)
		if tc.want == "" {
			if ok {
				t.Errorf("Domain(%q) = %+v, want no match", tc.name, d)
			}
			continue
		}
		if !ok || NormalizeDomain(d.Domain) != tc.want || d.Category != tc.category {
			t.Errorf("Domain(%q) = %+v %v, want %s (%s)", tc.name, d, ok, tc.want, tc.category)
		}
	}
	if _, ok := db.DomainKeyword("xmrpool.supportxmr.com"); ok {
		t.Error("an allowlisted name still gave a keyword hint")
	}
	if _, ok := base.Domain("feed-pool.example"); ok {
		t.Error("WithOverlay changed the base set")
	}
	if _, ok := base.Domain("supportxmr.com"); !ok {
		t.Error("the base set lost an entry to the overlay's allowlist")
	}
	if db.Manifest.Version != base.Manifest.Version+"+feeds" || db.Manifest.Sources[len(db.Manifest.Sources)-1].ID != "campus" {
		t.Errorf("manifest %s %v", db.Manifest.Version, db.Manifest.Sources)
	}
}

func TestWithOverlayIPs(t *testing.T) {
	db := overlayDB(t)
	tests := []struct{ addr, cidr string }{
		{"192.0.2.1", "192.0.2.0/24"},
		{"192.0.2.130", "192.0.2.128/25"}, // most specific network
		{"::ffff:192.0.2.130", "192.0.2.128/25"},
		{"192.0.2.201", ""}, // allowed /30
		{"192.0.2.204", "192.0.2.128/25"},
		{"198.51.100.7", "198.51.100.7"},
		{"198.51.100.8", ""},
		{"2001:db8:1:ffff::1", "2001:db8:1::/48"},
		{"2001:db8:1::5", ""}, // allowed address
		{"2001:db8:2::1", ""},
	}
	for _, tc := range tests {
		e, ok := db.IP(netip.MustParseAddr(tc.addr))
		if tc.cidr == "" {
			if ok {
				t.Errorf("IP(%s) = %s, want no match", tc.addr, e.CIDR)
			}
			continue
		}
		if !ok || e.CIDR != tc.cidr {
			t.Errorf("IP(%s) = %v %v, want %s", tc.addr, e, ok, tc.cidr)
		}
	}
	for v, want := range map[string]bool{"192.0.2.200/30": true, "192.0.2.200/29": false, "192.0.2.202": true, "gate.feed-pool.example": true, "feed-pool.example": false, "2001:db8:1::5": true} {
		if got := db.Allowed(v); got != want {
			t.Errorf("Allowed(%s) = %v", v, got)
		}
	}
}

func TestWithOverlayErrors(t *testing.T) {
	for _, o := range []Overlay{
		{Domains: []Domain{{Domain: "nodot"}}},
		{IPs: []IPEntry{{CIDR: "300.1.1.1"}}},
		{Allow: []string{"not a name"}},
	} {
		if _, err := MustLoad().WithOverlay(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// lookupSet builds a DB with n feed domains and n feed networks, and the
// names and addresses to ask: a mix of hits (subdomains of listed names,
// addresses inside listed networks) and misses, as a resolver log or a
// capture would ask.
func lookupSet(b testing.TB, n int) (*DB, []string, []netip.Addr) {
	r := rand.New(rand.NewPCG(1, 2))
	var o Overlay
	for i := range n {
		o.Domains = append(o.Domains, Domain{Domain: fmt.Sprintf("pool%d-%x.example%d.com", i, r.Uint32(), i%50), Category: "pool", Source: "bench"})
		a := netip.AddrFrom4([4]byte{byte(11 + r.IntN(200)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		var c string
		switch i % 10 {
		case 0: // a tenth are /24 networks
			c = netip.PrefixFrom(a, 24).Masked().String()
		case 1: // and a tenth IPv6 /64s or /128s
			v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 15: byte(r.IntN(256))})
			c = netip.PrefixFrom(v6, 64+64*(i/10%2)).Masked().String()
		default:
			c = a.String()
		}
		o.IPs = append(o.IPs, IPEntry{CIDR: c, Category: "pool", Source: "bench"})
	}
	o.Allow = []string{"gate.pool1-0.example1.com", "192.0.2.0/24"}
	db, err := MustLoad().WithOverlay(o)
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 4096)
	addrs := make([]netip.Addr, 4096)
	for i := range names {
		d := o.Domains[r.IntN(n)].Domain
		switch i % 4 {
		case 0:
			names[i] = d
		case 1:
			names[i] = "eu.stratum." + d
		case 2:
			names[i] = "www.not" + d // miss, same shape
		default:
			names[i] = fmt.Sprintf("cdn%d.assets.ordinary%d.org", i, i)
		}
		p := db.IPs[len(db.IPs)-n+r.IntN(n)].prefix
		switch i % 3 {
		case 0:
			addrs[i] = p.Addr() // inside
		case 1:
			b := p.Addr().AsSlice()
			b[len(b)-1] ^= 0x5a // inside a network, or a near miss for a single address
			addrs[i], _ = netip.AddrFromSlice(b)
		default:
			addrs[i] = netip.AddrFrom4([4]byte{byte(220 + r.IntN(20)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
	}
	return db, names, addrs
}

func TestLookupSetHits(t *testing.T) {
	db, names, addrs := lookupSet(t, 1000)
	hits := 0
	for i, n := range names[:400] {
		_, ok := db.Domain(n)
		if want := i%4 < 2; ok != want {
			t.Errorf("Domain(%s) = %v, want %v", n, ok, want)
		}
	}
	for _, a := range addrs {
		if _, ok := db.IP(a); ok {
			hits++
		}
	}
	if hits < len(addrs)/3 || hits > 3*len(addrs)/4 {
		t.Errorf("%d of %d addresses hit: the benchmark mix is off", hits, len(addrs))
	}
}

// BenchmarkDomainLookup and BenchmarkIPLookup measure lookups over 100k
// feed entries on top of the embedded set (docs/benchmarks-intel.md;
// run with -cpu 1).
func BenchmarkDomainLookup(b *testing.B) {
	db, names, _ := lookupSet(b, 100_000)
	stop := cpuMeter(b)
	for i := 0; b.Loop(); i++ {
		db.Domain(names[i&4095])
	}
	stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mlookups/s")
}

func BenchmarkIPLookup(b *testing.B) {
	db, _, addrs := lookupSet(b, 100_000)
	stop := cpuMeter(b)
	for i := 0; b.Loop(); i++ {
		db.IP(addrs[i&4095])
	}
	stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mlookups/s")
}
