package firewall

import (
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"192.0.2.10", "192.0.2.10/32", ""},
		{"192.0.2.10:22", "192.0.2.10:22", ""},
		{"10.0.0.0/24", "10.0.0.0/24", ""},
		{"10.0.0.7/24:443", "10.0.0.0/24 port 443", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"[2001:db8::1]:22", "[2001:db8::1]:22", ""},
		{"[2001:db8::/32]:22", "2001:db8::/32 port 22", ""},
		{"[2001:db8::1]", "2001:db8::1/128", ""},
		{"::ffff:192.0.2.1", "192.0.2.1/32", ""},
		{" 192.0.2.1:2222 ", "192.0.2.1:2222", ""},
		{"192.0.2.10:0", "", "not 1-65535"},
		{"192.0.2.10:70000", "", "not 1-65535"},
		{"192.0.2.10:ssh", "", "not 1-65535"},
		{"192.0.2.10:", "", "not 1-65535"},
		{"[2001:db8::1]:", "", "not 1-65535"},
		{"[2001:db8::1]22", "", "want [IPv6]:PORT"},
		{"[2001:db8::1", "", "missing ']'"},
		{"example.org:22", "", "not an address"},
		{"", "", "not an address"},
		{"10.0.0.0/33", "", "not an address"},
	}
	for _, tt := range tests {
		e, err := ParseEndpoint(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseEndpoint(%q) = %v, %v; want error %q", tt.in, e, err, tt.err)
			}
			continue
		}
		if err != nil || e.String() != tt.want {
			t.Errorf("ParseEndpoint(%q) = %q, %v; want %q", tt.in, e.String(), err, tt.want)
		}
	}
}

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"192.0.2.10:22", "[2001:db8::1]:22", "10.0.0.0/24", "[::/0]:1", "::ffff:1.2.3.4", "1.2.3.4:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEndpoint(s)
		if err != nil {
			return
		}
		if !e.Prefix.IsValid() || e.Prefix != e.Prefix.Masked() || e.Prefix.Addr().Is4In6() {
			t.Fatalf("%q: non-canonical %v", s, e.Prefix)
		}
		// What String prints for a single address parses back the same.
		if e.Prefix.IsSingleIP() {
			again, err := ParseEndpoint(e.String())
			if err != nil || again != e {
				t.Fatalf("%q -> %q -> %v %v", s, e.String(), again, err)
			}
		}
	})
}
