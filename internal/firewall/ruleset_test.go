package firewall

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			a := netip.MustParseAddr(s)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestNormalizePrefixes(t *testing.T) {
	tests := []struct {
		name string
		in   []netip.Prefix
		want []netip.Prefix
	}{
		{"empty", nil, nil},
		{"host bits masked", pfx("10.1.2.3/24"), pfx("10.1.2.0/24")},
		{"duplicates", pfx("192.0.2.1", "192.0.2.1"), pfx("192.0.2.1/32")},
		{"contained", pfx("10.0.0.0/8", "10.1.0.0/16", "10.1.2.3"), pfx("10.0.0.0/8")},
		{"siblings merge", pfx("10.0.0.0/25", "10.0.0.128/25"), pfx("10.0.0.0/24")},
		{"adjacent, not aligned", pfx("10.0.0.1", "10.0.0.2", "10.0.0.3"), pfx("10.0.0.1/32", "10.0.0.2/31")},
		{"four hosts to /30", pfx("10.0.0.3", "10.0.0.0", "10.0.0.2", "10.0.0.1"), pfx("10.0.0.0/30")},
		{"families ordered", pfx("2001:db8::1", "192.0.2.1"), pfx("192.0.2.1/32", "2001:db8::1/128")},
		{"mapped unmapped", pfx("::ffff:192.0.2.7/128"), pfx("192.0.2.7/32")},
		{"whole space", pfx("0.0.0.0/1", "128.0.0.0/1"), pfx("0.0.0.0/0")},
		{"top address", pfx("255.255.255.255", "255.255.255.254"), pfx("255.255.255.254/31")},
		{"v6 siblings", pfx("2001:db8::/33", "2001:db8:8000::/33"), pfx("2001:db8::/32")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NormalizePrefixes(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("NormalizePrefixes(%v) = %v, want %v", tt.in, got, tt.want)
			}
			// Canonical: normalising again changes nothing.
			if again := NormalizePrefixes(got); !slices.Equal(again, got) {
				t.Fatalf("not idempotent: %v -> %v", got, again)
			}
		})
	}
}

func TestRangePrefixes(t *testing.T) {
	tests := []struct {
		lo, hi string
		want   []netip.Prefix
	}{
		{"10.0.0.0", "10.0.0.255", pfx("10.0.0.0/24")},
		{"10.0.0.1", "10.0.0.6", pfx("10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32")},
		{"0.0.0.0", "255.255.255.255", pfx("0.0.0.0/0")},
		{"255.255.255.255", "255.255.255.255", pfx("255.255.255.255/32")},
		{"::", "::3", pfx("::/126")},
	}
	for _, tt := range tests {
		got := rangePrefixes(addrRange{netip.MustParseAddr(tt.lo), netip.MustParseAddr(tt.hi)})
		if !slices.Equal(got, tt.want) {
			t.Errorf("rangePrefixes(%s-%s) = %v, want %v", tt.lo, tt.hi, got, tt.want)
		}
	}
}

func TestIntervalKeysRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   []netip.Prefix
		size int
		keys int
	}{
		{"hosts", pfx("192.0.2.1", "198.51.100.0/24", "203.0.113.9"), 4, 6},
		{"ends at the top", pfx("10.0.0.0/8", "255.255.255.0/24"), 4, 3},
		{"everything", pfx("0.0.0.0/0"), 4, 1},
		{"v6", pfx("2001:db8::/32", "ffff::/16"), 16, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := intervalKeys(mergeRanges(NormalizePrefixes(tt.in)))
			if len(keys) != tt.keys {
				t.Fatalf("%d keys, want %d: %v", len(keys), tt.keys, keys)
			}
			// The kernel may hand elements back in any order.
			slices.Reverse(keys)
			rs, err := keysToRanges(keys, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			var got []netip.Prefix
			for _, r := range rs {
				got = append(got, rangePrefixes(r)...)
			}
			if want := NormalizePrefixes(tt.in); !slices.Equal(got, want) {
				t.Fatalf("round trip %v, want %v", got, want)
			}
		})
	}
}

func TestKeysToRangesRefusesBadSets(t *testing.T) {
	k := func(s string, end bool) intervalKey {
		return intervalKey{key: netip.MustParseAddr(s).AsSlice(), end: end}
	}
	tests := []struct {
		name string
		keys []intervalKey
		want string
	}{
		{"two starts", []intervalKey{k("10.0.0.1", false), k("10.0.0.9", false), k("10.0.0.20", true)}, "without an end"},
		{"end first", []intervalKey{k("10.0.0.1", true)}, "without a start"},
		{"wrong size", []intervalKey{k("2001:db8::1", false)}, "16 bytes"},
	}
	for _, tt := range tests {
		_, err := keysToRanges(tt.keys, 4)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
	// nft writes a leading interval end at 0.0.0.0; it is not an error.
	rs, err := keysToRanges([]intervalKey{k("0.0.0.0", true), k("10.0.0.0", false), k("10.0.1.0", true)}, 4)
	if err != nil || len(rs) != 1 || rs[0].lo != netip.MustParseAddr("10.0.0.0") || rs[0].hi != netip.MustParseAddr("10.0.0.255") {
		t.Fatalf("leading zero end: %v %v", rs, err)
	}
}

func TestEndpointKeys(t *testing.T) {
	tests := []struct {
		e       Endpoint
		key     string
		keyEnd  string
		decoded []Endpoint
	}{
		{Endpoint{pfx("192.0.2.10")[0], 22}, "c000020a00160000", "c000020a00160000", nil},
		{Endpoint{pfx("10.0.0.0/24")[0], 0}, "0a00000000000000", "0a0000ffffff0000", nil},
	}
	for _, tt := range tests {
		k, ke := endpointKeys(tt.e)
		if hexs(k) != tt.key || hexs(ke) != tt.keyEnd {
			t.Errorf("%v: keys %s..%s, want %s..%s", tt.e, hexs(k), hexs(ke), tt.key, tt.keyEnd)
		}
		got, err := keysToEndpoints(k, ke, 4)
		if err != nil || len(got) != 1 || got[0] != tt.e {
			t.Errorf("%v: decoded %v %v", tt.e, got, err)
		}
	}
	// A port range that is neither one port nor all is not ours.
	k := concatKey(netip.MustParseAddr("192.0.2.1"), 10)
	ke := concatKey(netip.MustParseAddr("192.0.2.1"), 20)
	if _, err := keysToEndpoints(k, ke, 4); err == nil {
		t.Error("port range 10-20 accepted")
	}
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(d[c>>4])
		s.WriteByte(d[c&15])
	}
	return s.String()
}

func TestNormalizedAllow(t *testing.T) {
	r := Ruleset{Isolate: true, Allow: []Endpoint{
		{pfx("10.0.0.5")[0], 22},
		{pfx("10.0.0.0/24")[0], 0}, // covers the line above
		{pfx("10.0.1.1")[0], 443},
		{pfx("10.0.1.1")[0], 443},
		{pfx("2001:db8::1")[0], 22},
	}}
	got := r.Normalized().Allow
	want := []Endpoint{{pfx("10.0.0.0/24")[0], 0}, {pfx("10.0.1.1")[0], 443}, {pfx("2001:db8::1")[0], 22}}
	if !slices.Equal(got, want) {
		t.Fatalf("Allow = %v, want %v", got, want)
	}
	if r.Normalized().Table != DefaultTable {
		t.Fatalf("table %q", r.Normalized().Table)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Ruleset
		want string
	}{
		{"ok", Ruleset{BlockAddrs: pfx("192.0.2.1"), BlockPorts: []uint16{3333}}, ""},
		{"bad table", Ruleset{Table: "1bad"}, "table name"},
		{"table with space", Ruleset{Table: "a b"}, "table name"},
		{"port 0", Ruleset{BlockPorts: []uint16{3333, 0}}, "block_ports[1]"},
		{"inbound port 0", Ruleset{InboundBlockPorts: []uint16{0}}, "inbound_block_ports[0]"},
		{"zero prefix", Ruleset{BlockAddrs: []netip.Prefix{{}}}, "block_addrs[0]"},
		{"allow without isolate", Ruleset{Allow: []Endpoint{{pfx("10.0.0.1")[0], 22}}}, "only meaningful with isolate"},
	}
	for _, tt := range tests {
		err := tt.r.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestChainsFor(t *testing.T) {
	tests := []struct {
		name string
		r    Ruleset
		want []string
	}{
		{"empty", Ruleset{}, nil},
		{"addresses", Ruleset{BlockAddrs: pfx("192.0.2.1")}, []string{"block_in", "block_out", "block_fwd"}},
		{"egress ports", Ruleset{BlockPorts: []uint16{3333}}, []string{"block_out", "block_fwd"}},
		{"inbound ports", Ruleset{InboundBlockPorts: []uint16{445}}, []string{"block_in"}},
		{"isolate", Ruleset{Isolate: true}, []string{"isolate_in", "isolate_out", "isolate_fwd"}},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range chainsFor(tt.r) {
			got = append(got, c.name)
			if len(c.lines) != len(c.rules) {
				t.Errorf("%s: chain %s: %d lines for %d rules", tt.name, c.name, len(c.lines), len(c.rules))
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: chains %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	r := Ruleset{BlockAddrs: pfx("192.0.2.1", "2001:db8::/32"), BlockPorts: []uint16{4444, 3333},
		Isolate: true, Allow: []Endpoint{{pfx("10.0.0.5")[0], 22}}}
	s := r.String()
	for _, want := range []string{
		"table inet minerguard {",
		"elements = { 192.0.2.1 }",
		"elements = { 2001:db8::/32 }",
		"elements = { 3333, 4444 }",
		"elements = { 10.0.0.5 . 22 }",
		"chain isolate_out {",
		"type filter hook output priority -10; policy accept;",
		"ip daddr @block4 counter drop",
		"ct state established,related ip saddr . th sport @allow4 accept",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	// Only the sets Apply creates are shown.
	if s := (Ruleset{BlockPorts: []uint16{3333}}).String(); strings.Contains(s, "set block4") || strings.Contains(s, "set allow4") || !strings.Contains(s, "set block_ports") {
		t.Errorf("ports only:\n%s", s)
	}
	// Large sets are abbreviated.
	var many []netip.Prefix
	for i := range 100 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 32))
	}
	if s := (Ruleset{BlockAddrs: many}).String(); !strings.Contains(s, "(80 more)") {
		t.Errorf("100 addresses not abbreviated:\n%s", s)
	}
}
