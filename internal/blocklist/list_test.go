package blocklist

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
)

func TestNormalizeDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Pool.XMRig.com.", "pool.xmrig.com"},
		{"*.supportxmr.com", "supportxmr.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"a_b.example", "a_b.example"},
		{"localhost", ""},
		{"192.0.2.1", ""},
		{"-bad.example", ""},
		{"bad..example", ""},
		{"sp ace.example", ""},
		{strings.Repeat("a", 64) + ".example", ""},
	}
	for _, tc := range tests {
		got, err := NormalizeDomain(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("NormalizeDomain(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestAggregate(t *testing.T) {
	p := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			x, err := ParsePrefix(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, x)
		}
		return out
	}
	tests := []struct {
		in, want []string
	}{
		{[]string{"192.0.2.0", "192.0.2.1"}, []string{"192.0.2.0/31"}},
		{[]string{"192.0.2.0/25", "192.0.2.128/25", "192.0.2.7"}, []string{"192.0.2.0/24"}},
		{[]string{"198.51.100.9/24", "198.51.100.77"}, []string{"198.51.100.0/24"}},
		{[]string{"192.0.2.1", "192.0.2.2"}, []string{"192.0.2.1/32", "192.0.2.2/32"}},
		{[]string{"2001:db8::/33", "2001:db8:8000::/33"}, []string{"2001:db8::/32"}},
		{[]string{"::ffff:192.0.2.4"}, []string{"192.0.2.4/32"}},
	}
	for _, tc := range tests {
		got := Aggregate(p(tc.in...))
		var s []string
		for _, g := range got {
			s = append(s, g.String())
		}
		if !slices.Equal(s, tc.want) {
			t.Errorf("Aggregate(%v) = %v, want %v", tc.in, s, tc.want)
		}
	}
}

func TestParseList(t *testing.T) {
	in := `# CoinBlockerLists style
pool.example
0.0.0.0 a.hosts.example b.hosts.example # hosts style
127.0.0.1 localhost
||coinhive.com^$third-party
! adblock comment
192.0.2.0/24
2001:db8::1
`
	p, err := ParseList(strings.NewReader(in+"xmr.pool.example:3333\n198.51.100.1:14444\n"), "feed.txt")
	if err != nil || len(p.Bad) != 0 {
		t.Fatal(err, p.Bad)
	}
	ds, ps := p.Domains, p.Prefixes
	if !slices.Equal(ds, []string{"pool.example", "a.hosts.example", "b.hosts.example", "coinhive.com", "xmr.pool.example"}) {
		t.Errorf("domains %v", ds)
	}
	if len(ps) != 3 || ps[0].String() != "192.0.2.0/24" || ps[1].String() != "2001:db8::1/128" || ps[2].String() != "198.51.100.1/32" {
		t.Errorf("prefixes %v", ps)
	}
	for _, line := range []string{"two words here\n", "||/ads/*.js\n", "0.0.0.0 bad..name\n"} {
		p, err := ParseList(strings.NewReader("ok.example\n"+line+"also-ok.example\n"), "feed.txt")
		if err != nil || len(p.Bad) != 1 || !strings.HasPrefix(p.Bad[0], "feed.txt:2: ") || len(p.Domains) != 2 || p.Lines != 3 || p.BadLines != 1 {
			t.Errorf("%q: %+v err %v; want the line skipped and named, the rest kept", line, p, err)
		}
	}
}

func TestFromIntelMinimal(t *testing.T) {
	l := FromIntel(intel.MustLoad())
	if !slices.Contains(l.Domains, "xmrig.com") || slices.Contains(l.Domains, "pool.xmrig.com") {
		t.Errorf("pool.xmrig.com must be covered by xmrig.com, not listed twice")
	}
	if !slices.Contains(l.Ports, 3333) || slices.Contains(l.Ports, 4444) {
		t.Errorf("ports %v: want strong ports only", l.Ports)
	}
	l.Add([]string{"sub.supportxmr.com", "new-pool.example"}, nil)
	if slices.Contains(l.Domains, "sub.supportxmr.com") || !slices.Contains(l.Domains, "new-pool.example") {
		t.Errorf("Add: %v", l.Domains)
	}
}

func FuzzParseList(f *testing.F) {
	f.Add("pool.example\n0.0.0.0 a.example\n||b.example^\n192.0.2.0/24\n")
	f.Add("::ffff:1.2.3.4/120\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseList(strings.NewReader(s), "fuzz")
		if err != nil {
			return
		}
		ds, ps := p.Domains, p.Prefixes
		for _, d := range ds {
			if n, err := NormalizeDomain(d); err != nil || n != d {
				t.Fatalf("domain %q not normalised (%v)", d, err)
			}
		}
		agg := Aggregate(ps)
		for _, p := range ps {
			covered := false
			for _, a := range agg {
				covered = covered || a.Contains(p.Addr())
			}
			if !covered {
				t.Fatalf("%v lost by aggregation %v", p, agg)
			}
		}
	})
}
