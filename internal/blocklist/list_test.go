package blocklist

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

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
	for _, line := range []string{"two words here\n", "||bad..name^\n", "0.0.0.0 bad..name\n", "/ads/*.js\n", "x.example##.ad\n"} {
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

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		p, err := ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func strs(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func TestNormalizeDomainIDN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"BÜCHER.example", "xn--bcher-kva.example"},        // IDN case folding
		{"xn--bcher-kva.example", "xn--bcher-kva.example"}, // already punycode
		{"раураl.com", "xn--l-7sba6dbr.com"},               // Cyrillic homograph: its own name, never paypal.com
		{"пример.рф.", "xn--e1afmkfd.xn--p1ai"},
		{"*.ＰＯＯＬ.example", "pool.example"}, // full-width letters map to ASCII
		{"a\u200bb.example", "ab.example"}, // zero-width space: mapped away, as browsers do
		{"xn--zz.example", ""},             // broken punycode
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

func TestAggregateIPv6(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"2001:db8::/128", "2001:db8::1/128", "2001:db8::2/127"}, []string{"2001:db8::/126"}},
		{[]string{"2001:db8:0:1::/64", "2001:db8::/64", "2001:db8:0:2::/63"}, []string{"2001:db8::/62"}},
		{[]string{"2001:db8::/48", "2001:db8:0:5::1"}, []string{"2001:db8::/48"}},
		{[]string{"2001:DB8::5", "2001:db8:0:0::5"}, []string{"2001:db8::5/128"}},
		{[]string{"2001:db8::/64", "2001:db8:0:2::/64"}, []string{"2001:db8::/64", "2001:db8:0:2::/64"}}, // not siblings
	}
	for _, tc := range tests {
		if got := strs(Aggregate(prefixes(t, tc.in...))); !slices.Equal(got, tc.want) {
			t.Errorf("Aggregate(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSubtract(t *testing.T) {
	tests := []struct{ in, cut, want []string }{
		{[]string{"192.0.2.0/24"}, []string{"192.0.2.7"}, []string{"192.0.2.0/30", "192.0.2.4/31", "192.0.2.6/32", "192.0.2.8/29", "192.0.2.16/28", "192.0.2.32/27", "192.0.2.64/26", "192.0.2.128/25"}},
		{[]string{"192.0.2.0/24"}, []string{"192.0.0.0/16"}, nil},
		{[]string{"192.0.2.0/24", "198.51.100.1"}, []string{"192.0.2.0/25"}, []string{"192.0.2.128/25", "198.51.100.1/32"}},
		{[]string{"2001:db8::/32"}, []string{"2001:db8:8000::/33"}, []string{"2001:db8::/33"}},
		{[]string{"192.0.2.0/24"}, []string{"2001:db8::/32"}, []string{"192.0.2.0/24"}},
	}
	for _, tc := range tests {
		got := strs(Aggregate(Subtract(prefixes(t, tc.in...), prefixes(t, tc.cut...))))
		if !slices.Equal(got, tc.want) {
			t.Errorf("Subtract(%v, %v) = %v, want %v", tc.in, tc.cut, got, tc.want)
		}
	}
}

func TestApplyAllow(t *testing.T) {
	l := &List{}
	l.Add([]string{"pool.example", "other.example", "deep.a.b.pool.example"}, prefixes(t, "192.0.2.0/24", "2001:db8::/48"))
	allow := []string{"gate.pool.example", "x.gate.pool.example", "other.example", "unrelated.example", "192.0.2.128/25", "2001:db8::1"}
	l.ApplyAllow(allow)
	l.ApplyAllow(allow) // idempotent
	if !slices.Equal(l.Domains, []string{"pool.example"}) {
		t.Errorf("domains %v", l.Domains)
	}
	if !slices.Equal(l.Exceptions, []string{"gate.pool.example"}) {
		t.Errorf("exceptions %v (want only the allowed subdomain of a listed pool, minimal)", l.Exceptions)
	}
	if got := strs(l.V4); !slices.Equal(got, []string{"192.0.2.0/25"}) {
		t.Errorf("v4 %v", got)
	}
	for _, p := range l.V6 {
		if p.Contains(netip.MustParseAddr("2001:db8::1")) {
			t.Errorf("allowed 2001:db8::1 still inside %v", p)
		}
	}
	if len(l.V6) != 80 {
		t.Errorf("v6: %d prefixes, want the 80 around one address of a /48", len(l.V6))
	}
}

func TestParseListHostile(t *testing.T) {
	in := strings.Join([]string{
		"ok.example",
		"*.co.uk",                        // public suffix
		"github.io",                      // public suffix (private section)
		"user.github.io",                 // fine: one site
		"0.0.0.0/0",                      // everything
		"10.0.0.0/8",                     // too wide
		"198.51.0.0/16",                  // widest allowed
		"::/0",                           // everything
		"2001:db8::/31",                  // too wide
		"127.0.0.1",                      // loopback
		"224.0.0.1",                      // multicast
		"fe80::1",                        // link-local
		"0.0.0.0",                        // unspecified
		"evil\x07.example",               // control character
		"[2001:db8::9]:3333",             // pool with port
		strings.Repeat("a.", 3000) + "x", // over MaxLine
	}, "\n") + "\n"
	p, err := ParseList(strings.NewReader(in), "h")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Domains, []string{"ok.example", "user.github.io"}) {
		t.Errorf("domains %v", p.Domains)
	}
	if got := strs(p.Prefixes); !slices.Equal(got, []string{"198.51.0.0/16", "2001:db8::9/128"}) {
		t.Errorf("prefixes %v", got)
	}
	wantBad := []int{2, 3, 5, 6, 8, 9, 10, 11, 12, 13, 14, 16}
	if p.BadLines != len(wantBad) || p.Lines != 16 {
		t.Fatalf("bad %d of %d: %v", p.BadLines, p.Lines, p.Bad)
	}
	for i, n := range wantBad {
		if !strings.HasPrefix(p.Bad[i], fmt.Sprintf("h:%d: ", n)) {
			t.Errorf("bad[%d] = %q, want line %d", i, p.Bad[i], n)
		}
	}
	if err := p.Sane("h"); err == nil || !strings.Contains(err.Error(), "12 of 16 lines") {
		t.Errorf("Sane: %v", err)
	}
}

func TestParseListFatal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a.example\n<html>\n", "f:2: \"<html>\": an HTML/XML page"},
		{"  \n<?xml version=\"1.0\"?>\n", "f:2: "},
		{"a.example\nb\x00.example\n", "f:2: NUL byte at column 2"},
	}
	for _, tc := range tests {
		_, err := ParseList(strings.NewReader(tc.in), "f")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	// A read error names the line reached.
	_, err := ParseList(io.MultiReader(strings.NewReader("a.example\nb.example\n"), iotest.ErrReader(io.ErrUnexpectedEOF)), "f")
	if err == nil || !strings.Contains(err.Error(), "f: read failed after line 2: unexpected EOF") {
		t.Errorf("read error: %v", err)
	}
}

func FuzzSubtract(f *testing.F) {
	f.Add([]byte{192, 0, 2, 0, 24, 192, 0, 2, 7, 32, 192, 0, 2, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 10 {
			return
		}
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte(b[0:4])), int(b[4]%33)).Masked()
		c := netip.PrefixFrom(netip.AddrFrom4([4]byte(b[5:9])), int(b[9]%33)).Masked()
		got := Aggregate(Subtract([]netip.Prefix{p}, []netip.Prefix{c}))
		// Probe addresses: the fuzzer's own, and the edges of p and c.
		probes := []netip.Addr{p.Addr(), c.Addr(), lastAddr(p), lastAddr(c)}
		for i := 10; i+4 <= len(b); i += 4 {
			probes = append(probes, netip.AddrFrom4([4]byte(b[i:i+4])))
		}
		for _, a := range probes {
			in := false
			for _, g := range got {
				in = in || g.Contains(a)
			}
			if want := p.Contains(a) && !c.Contains(a); in != want {
				t.Fatalf("%v - %v = %v: %v in result %v, want %v", p, c, got, a, in, want)
			}
		}
	})
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// EDL files are entries only (no comments: the vendors would read a
// header as an entry), each pool as itself and as a *. wildcard; URL
// entries end in "/" so they are not prefixes of other hosts.
func TestEDLFormats(t *testing.T) {
	l := &List{Version: "t"}
	l.Add([]string{"pool.example", "bücher.example"}, prefixes(t, "192.0.2.0/24", "198.51.100.7", "2001:db8::/48"))
	l.ApplyAllow([]string{"gate.pool.example"})
	tests := map[string]string{
		"edl-domain": "pool.example\n*.pool.example\nxn--bcher-kva.example\n*.xn--bcher-kva.example\n",
		"edl-url":    "pool.example/\n*.pool.example/\nxn--bcher-kva.example/\n*.xn--bcher-kva.example/\n",
		"edl-ip":     "192.0.2.0/24\n198.51.100.7\n2001:db8::/48\n",
	}
	for f, want := range tests {
		var b strings.Builder
		if err := Render(&b, l, f); err != nil {
			t.Fatal(err)
		}
		// Order of domains is sorted: compare as sets of lines.
		got, wl := strings.Split(b.String(), "\n"), strings.Split(want, "\n")
		slices.Sort(got)
		slices.Sort(wl)
		if !slices.Equal(got, wl) {
			t.Errorf("%s:\n%s\nwant\n%s", f, b.String(), want)
		}
	}
}

// FuzzNormalizeDomain: a normalised name normalises to itself, and the
// lookup side (intel.NormalizeDomain) turns the input into the same name,
// so what a list holds is what a lookup asks for.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"Pool.Example.", "*.bücher.example", "xn--bcher-kva.example", "a_b.example", "1.2.3.4", " x.example ", "раураl.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := NormalizeDomain(s)
		if err != nil {
			return
		}
		if again, err := NormalizeDomain(d); err != nil || again != d {
			t.Fatalf("NormalizeDomain(%q) = %q, then %q, %v", s, d, again, err)
		}
		if !plainDomain(d) && !strings.Contains(d, "xn--") {
			t.Fatalf("NormalizeDomain(%q) = %q is not a plain domain", s, d)
		}
		if got := intel.NormalizeDomain(s); got != d {
			t.Fatalf("intel.NormalizeDomain(%q) = %q, blocklist says %q", s, got, d)
		}
	})
}

// Adblock/nocoin lists: "||host^" rules (with options, for names and
// addresses) are entries; URL patterns, wildcards, exceptions and
// element-hiding rules are valid but block less than a domain, so they
// are counted as ignored, never widened into a domain block and never bad.
func TestParseListAdblock(t *testing.T) {
	in := strings.Join([]string{
		"[Adblock Plus 2.0]",
		"! Title: test",
		"||23.83.114.131^$third-party",
		"||coinimp.com$third-party",
		"||authedwebmine.cz^$third-party,domain=~webmine.cz",
		"||go.megabanners.cf^$websocket",
		"||minero-proxy-*.now.sh^$third-party", // wildcard
		"||cdn.example/miner.js",               // a path on a shared host
		"/coinhive.min.js",
		"-monero-miner-",
		"@@||good.example^",
		"site.example##+js(aopr, miner)", // names the site the filter runs on
		"a.example,b.example#@#.ad",
		"$websocket,domain=x.example|y.example",
		".info^$domain=sleeptimer.org",
		"?proxy=wss://$script,websocket",
		"||bad..name^",
	}, "\n") + "\n"
	p, err := ParseList(strings.NewReader(in), "nocoin")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Domains, []string{"coinimp.com", "authedwebmine.cz", "go.megabanners.cf"}) {
		t.Errorf("domains %v", p.Domains)
	}
	if got := strs(p.Prefixes); !slices.Equal(got, []string{"23.83.114.131/32"}) {
		t.Errorf("prefixes %v", got)
	}
	if p.Ignored != 10 || p.BadLines != 1 || !strings.HasPrefix(p.Bad[0], "nocoin:17: ") {
		t.Errorf("ignored %d, bad %d %v", p.Ignored, p.BadLines, p.Bad)
	}
}
