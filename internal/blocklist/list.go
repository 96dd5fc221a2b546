// Package blocklist turns pool intelligence into block lists for firewalls
// and resolvers: nftables, hosts, dnsmasq, Unbound, a BIND RPZ zone and
// plain lists for external-dynamic-list feeds. Every format is checked by
// the real tool in the tests.
package blocklist

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/idna"

	"github.com/minerguard/minerguard/internal/intel"
)

// List is what to block.
type List struct {
	// Domains are normalised (lower case, ASCII/punycode, no trailing dot)
	// and minimal: a subdomain of a listed domain is left out, since every
	// format here blocks a domain with all its subdomains (hosts excepted).
	Domains []string
	// V4 and V6 are aggregated networks.
	V4, V6 []netip.Prefix
	// Ports are the strong mining ports (blocked outbound).
	Ports []uint16
	// Version names the intel the list was built from.
	Version string
}

// FromIntel builds the list from an intel set.
func FromIntel(db *intel.DB) *List {
	l := &List{Version: db.Manifest.Version}
	var domains []string
	for _, d := range db.Domains {
		domains = append(domains, d.Domain)
	}
	var prefixes []netip.Prefix
	for _, e := range db.IPs {
		if p, err := ParsePrefix(e.CIDR); err == nil {
			prefixes = append(prefixes, p)
		}
	}
	for _, p := range db.Ports {
		if p.Weight == "strong" {
			l.Ports = append(l.Ports, p.Port)
		}
	}
	slices.Sort(l.Ports)
	l.Add(domains, prefixes)
	return l
}

// Add merges more domains and networks into the list, keeping it minimal.
func (l *List) Add(domains []string, prefixes []netip.Prefix) {
	all := append([]string{}, l.Domains...)
	for _, d := range domains {
		if n, err := NormalizeDomain(d); err == nil {
			all = append(all, n)
		}
	}
	l.Domains = minimalDomains(all)
	var v4, v6 []netip.Prefix
	for _, p := range append(append(append([]netip.Prefix{}, l.V4...), l.V6...), prefixes...) {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	l.V4, l.V6 = Aggregate(v4), Aggregate(v6)
}

// NormalizeDomain lower-cases a name, converts IDN to punycode and strips
// a trailing dot and a leading "*." wildcard; it refuses what no resolver
// or firewall would accept as a domain.
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSpace(d)
	d = strings.TrimPrefix(d, "*.")
	d = strings.TrimSuffix(d, ".")
	a := d
	if strings.ContainsFunc(d, func(r rune) bool { return r > 0x7f }) {
		// IDN: firewalls and resolvers take the punycode form.
		var err error
		if a, err = idna.Lookup.ToASCII(d); err != nil {
			return "", fmt.Errorf("domain %q: %w", d, err)
		}
	}
	a = strings.ToLower(a)
	if !strings.Contains(a, ".") || len(a) > 253 {
		return "", fmt.Errorf("domain %q: not a domain", d)
	}
	for _, label := range strings.Split(a, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("domain %q: bad label %q", d, label)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("domain %q: bad character %q", d, c)
			}
		}
	}
	if _, err := netip.ParseAddr(a); err == nil {
		return "", fmt.Errorf("domain %q: is an address", d)
	}
	return a, nil
}

// minimalDomains sorts, dedupes and drops subdomains of listed domains.
func minimalDomains(ds []string) []string {
	set := map[string]bool{}
	for _, d := range ds {
		set[d] = true
	}
	var out []string
	for d := range set {
		covered := false
		for p := d; ; {
			i := strings.IndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[i+1:]
			if set[p] {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// ParsePrefix accepts an address or a CIDR, IPv4 or IPv6.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Aggregate merges overlapping and adjacent networks of one family into
// the fewest prefixes covering exactly the same addresses.
func Aggregate(in []netip.Prefix) []netip.Prefix {
	ps := append([]netip.Prefix{}, in...)
	for i := range ps {
		ps[i] = ps[i].Masked()
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	// Drop networks inside an earlier one.
	var out []netip.Prefix
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].Contains(p.Addr()) && out[n-1].Bits() <= p.Bits() {
			continue
		}
		out = append(out, p)
	}
	// Merge sibling pairs into their parent until nothing changes.
	for changed := true; changed; {
		changed = false
		var next []netip.Prefix
		for i := 0; i < len(out); i++ {
			if i+1 < len(out) && out[i].Bits() == out[i+1].Bits() && out[i].Bits() > 0 {
				parent := netip.PrefixFrom(out[i].Addr(), out[i].Bits()-1).Masked()
				if parent.Addr() == out[i].Addr() && parent.Contains(out[i+1].Addr()) {
					next = append(next, parent)
					i++
					changed = true
					continue
				}
			}
			next = append(next, out[i])
		}
		out = next
	}
	return out
}

// ParseList reads a plain list (one domain, address or CIDR per line,
// "host:port" allowed as pool feeds write them), a hosts file ("0.0.0.0
// name") or an adblock list ("||name^"): the forms pool feeds come in.
// Comments (#, !) and blank lines are skipped. A line that is none of
// these is skipped and reported in bad ("file:line: reason"): one odd line
// must not throw away a feed of thousands.
func ParseList(r io.Reader, name string) (domains []string, prefixes []netip.Prefix, bad []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		if s == "" || s[0] == '!' || s[0] == '[' {
			continue
		}
		if rest, ok := strings.CutPrefix(s, "||"); ok {
			host, _, _ := strings.Cut(rest, "^")
			if d, err := NormalizeDomain(host); err == nil {
				domains = append(domains, d)
				continue
			}
			bad = append(bad, fmt.Sprintf("%s:%d: adblock rule %q is not a domain rule", name, line, s))
			continue
		}
		f := strings.Fields(s)
		if len(f) >= 2 {
			if _, err := netip.ParseAddr(f[0]); err == nil {
				// hosts format: the names after the address.
				for _, h := range f[1:] {
					if h == "localhost" || h == "localhost.localdomain" || h == "broadcasthost" {
						continue
					}
					d, err := NormalizeDomain(h)
					if err != nil {
						bad = append(bad, fmt.Sprintf("%s:%d: %v", name, line, err))
						continue
					}
					domains = append(domains, d)
				}
				continue
			}
		}
		if len(f) != 1 {
			bad = append(bad, fmt.Sprintf("%s:%d: %q is not a domain, address or network", name, line, Short(s)))
			continue
		}
		v := f[0]
		if p, err := ParsePrefix(v); err == nil {
			prefixes = append(prefixes, p)
			continue
		}
		if h, port, err := net.SplitHostPort(v); err == nil && port != "" {
			v = h // pool feeds list "pool.example:3333"
			if p, err := ParsePrefix(v); err == nil {
				prefixes = append(prefixes, p)
				continue
			}
		}
		d, err := NormalizeDomain(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s:%d: %v", name, line, err))
			continue
		}
		domains = append(domains, d)
	}
	if err := sc.Err(); err != nil {
		return domains, prefixes, bad, fmt.Errorf("%s: %w", name, err)
	}
	return domains, prefixes, bad, nil
}

// Short cuts untrusted text for a message.
func Short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
