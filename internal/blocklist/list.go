// Package blocklist turns pool intelligence into block lists for firewalls
// and resolvers: nftables, hosts, dnsmasq, Unbound, a BIND RPZ zone and
// plain lists for external-dynamic-list feeds. Every format is checked by
// the real tool in the tests.
package blocklist

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/minerguard/minerguard/internal/intel"
)

// List is what to block.
type List struct {
	// Domains are normalised (lower case, ASCII/punycode, no trailing dot)
	// and minimal: a subdomain of a listed domain is left out, since every
	// format here blocks a domain with all its subdomains (hosts excepted).
	Domains []string
	// Exceptions are allowlisted subdomains of listed domains: resolver
	// formats let them resolve normally (rpz-passthru, a transparent
	// Unbound zone, a dnsmasq forward), the others cannot express them.
	Exceptions []string
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
	l.ApplyAllow(db.AllowList())
	return l
}

// ApplyAllow makes the allowlist win: listed domains it covers are
// dropped, allowed subdomains of still-listed domains become Exceptions,
// and allowed networks are cut out of the listed ones (a /24 with one
// allowed address becomes the eight prefixes around it). Call it after
// the last Add; applying it twice changes nothing.
func (l *List) ApplyAllow(allow []string) {
	var ad []string
	var ap []netip.Prefix
	for _, a := range allow {
		if p, err := ParsePrefix(a); err == nil {
			ap = append(ap, p)
		} else if d, err := NormalizeDomain(a); err == nil {
			ad = append(ad, d)
		}
	}
	if len(ad) > 0 {
		allowed := make(map[string]bool, len(ad))
		for _, d := range ad {
			allowed[d] = true
		}
		covered := func(d string) bool {
			for q := d; ; {
				if allowed[q] {
					return true
				}
				i := strings.IndexByte(q, '.')
				if i < 0 {
					return false
				}
				q = q[i+1:]
			}
		}
		keep := l.Domains[:0]
		for _, d := range l.Domains {
			if !covered(d) {
				keep = append(keep, d)
			}
		}
		l.Domains = keep
		listed := make(map[string]bool, len(l.Domains))
		for _, d := range l.Domains {
			listed[d] = true
		}
		var exc []string
		for _, a := range minimalDomains(ad) {
			for q := a; ; {
				i := strings.IndexByte(q, '.')
				if i < 0 {
					break
				}
				if q = q[i+1:]; listed[q] {
					exc = append(exc, a)
					break
				}
			}
		}
		l.Exceptions = minimalDomains(append(l.Exceptions, exc...))
	}
	if len(ap) > 0 {
		l.V4, l.V6 = Aggregate(Subtract(l.V4, ap)), Aggregate(Subtract(l.V6, ap))
	}
}

// Subtract removes the addresses of cut from ps, splitting a network that
// holds a cut one into the prefixes around it.
func Subtract(ps, cut []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	for _, c := range cut {
		c = c.Masked()
		var next []netip.Prefix
		for _, p := range out {
			switch {
			case p.Addr().Is4() != c.Addr().Is4() || !p.Overlaps(c):
				next = append(next, p)
			case c.Bits() <= p.Bits(): // c holds p: all of p goes
			default: // p holds c: keep the siblings on the way down to c
				for b := p.Bits() + 1; b <= c.Bits(); b++ {
					anc, _ := c.Addr().Prefix(b)
					next = append(next, sibling(anc))
				}
			}
		}
		out = next
	}
	return out
}

// sibling is the other half of p's parent.
func sibling(p netip.Prefix) netip.Prefix {
	b := p.Addr().AsSlice()
	bit := p.Bits() - 1
	b[bit/8] ^= 0x80 >> (bit % 8)
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, p.Bits())
}

// Add merges more domains and networks into the list, keeping it minimal.
func (l *List) Add(domains []string, prefixes []netip.Prefix) {
	all := make([]string, 0, len(l.Domains)+len(domains))
	all = append(all, l.Domains...)
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
	if plainDomain(d) {
		return d, nil // already normal: the common case, without allocating
	}
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
	if tld := a[strings.LastIndexByte(a, '.')+1:]; strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("domain %q: the top-level label %q is all digits", d, tld)
	}
	if strings.Contains(a, "xn--") {
		// A punycode label that does not decode names nothing a
		// resolver would ask for.
		if _, err := idna.Lookup.ToUnicode(a); err != nil {
			return "", fmt.Errorf("domain %q: %w", d, err)
		}
	}
	return a, nil
}

// plainDomain reports whether d is already a normalised domain: two or
// more labels of 1-63 bytes of [a-z0-9_-], no leading or trailing '-', at
// most 253 bytes, a last label that is not all digits (no top-level
// domain is, and so it is not an IPv4 address) and no punycode label
// (those take the slow path, which decodes them).
func plainDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	start, dots, word := 0, 0, false
	for i := 0; i <= len(d); i++ {
		if i == len(d) || d[i] == '.' {
			n := i - start
			if n == 0 || n > 63 || d[start] == '-' || d[i-1] == '-' ||
				n >= 4 && d[start] == 'x' && d[start+1] == 'n' && d[start+2] == '-' && d[start+3] == '-' {
				return false
			}
			if i < len(d) {
				dots++
				word = false
			}
			start = i + 1
			continue
		}
		switch c := d[i]; {
		case c >= 'a' && c <= 'z', c == '-', c == '_':
			word = true
		case c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return dots > 0 && word
}

// minimalDomains sorts, dedupes and drops subdomains of listed domains.
func minimalDomains(ds []string) []string {
	set := make(map[string]struct{}, len(ds))
	for _, d := range ds {
		set[d] = struct{}{}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		covered := false
		// Parents of one label are never listed (a domain has a dot).
		for p := d; !covered; {
			i := strings.IndexByte(p, '.')
			if i < 0 || strings.IndexByte(p[i+1:], '.') < 0 {
				break
			}
			p = p[i+1:]
			_, covered = set[p]
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

// MaxLine is the longest list line read as an entry; a domain is at most
// 253 bytes, so anything longer is skipped as a bad line, not buffered.
const MaxLine = 4096

// maxBadKept bounds the bad-line reasons kept: a hostile list of millions
// of bad lines must not cost memory per line.
const maxBadKept = 20

// Parsed is what ParseList read.
type Parsed struct {
	Domains  []string
	Prefixes []netip.Prefix
	// Lines counts lines that held an entry or tried to (not blank, not
	// comments, not ignored adblock rules); BadLines those skipped.
	Lines, BadLines int
	// Ignored counts adblock rules that are valid but block less than a
	// domain (URL paths, wildcards, page elements) or are exceptions.
	Ignored int
	// adblock is set once the list shows itself as an adblock list (a
	// "[Adblock …]" header, a "!" comment or a "||" rule): only then are
	// its other rule forms ignored rather than bad.
	adblock bool
	// Bad holds the first reasons, "name:line: reason".
	Bad []string
}

func (p *Parsed) bad(name string, line int, format string, a ...any) {
	p.BadLines++
	if len(p.Bad) < maxBadKept {
		p.Bad = append(p.Bad, fmt.Sprintf("%s:%d: ", name, line)+fmt.Sprintf(format, a...))
	}
}

// MaxBadShare is the share of unreadable lines above which a list is
// refused as a whole: that many means a wrong file or format, not a typo.
const MaxBadShare = 0.10

// Sane refuses a list with more than MaxBadShare unreadable lines, naming
// the first of them.
func (p *Parsed) Sane(name string) error {
	if p.BadLines > 0 && float64(p.BadLines) > MaxBadShare*float64(p.Lines) {
		return fmt.Errorf("%s: %d of %d lines are not domains, addresses or networks (more than %d%%): not a block list? first: %s",
			name, p.BadLines, p.Lines, int(MaxBadShare*100), p.Bad[0])
	}
	return nil
}

// ParseList reads a plain list (one domain, address or CIDR per line,
// "host:port" allowed as pool feeds write them), a hosts file ("0.0.0.0
// name") or an adblock list ("||name^"): the forms pool feeds come in.
// Comments (#, !) and blank lines are skipped. A line that is none of
// these, or names something no list should block (a public suffix, a
// loopback address, a network wider than MinBitsV4/MinBitsV6), is skipped
// and reported in Bad: one odd line must not throw away a feed of
// thousands. Binary data (a NUL byte), markup (an HTML error or login
// page) and read errors (a download cut short) fail the whole list, naming
// the line.
func ParseList(r io.Reader, name string) (*Parsed, error) {
	p := &Parsed{}
	br := bufio.NewReaderSize(r, 64<<10)
	line := 0
	for {
		raw, err := br.ReadSlice('\n')
		long := false
		for err == bufio.ErrBufferFull { // a hostile line: skip it unbuffered
			long = true
			_, err = br.ReadSlice('\n')
		}
		if len(raw) > 0 || long {
			line++
			if i := bytes.IndexByte(raw, 0); i >= 0 {
				return p, fmt.Errorf("%s:%d: NUL byte at column %d: binary data, not a list", name, line, i+1)
			}
			if long || len(raw) > MaxLine {
				p.Lines++
				p.bad(name, line, "line longer than %d bytes", MaxLine)
			} else {
				if e := p.parseLine(raw, name, line); e != nil {
					return p, e
				}
			}
		}
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return p, fmt.Errorf("%s: read failed after line %d: %w", name, line, err)
		}
	}
}

func (p *Parsed) parseLine(raw []byte, name string, line int) error {
	s := strings.TrimSpace(string(raw))
	if p.adblock && adblockCosmetic(s) {
		p.Ignored++ // before Lines++: not an entry line
		return nil
	}
	// '#' starts a comment at the start of a line or after a blank
	// ("0.0.0.0 name # note"); inside a token it is part of it.
	for i := strings.IndexByte(s, '#'); i >= 0; {
		if i == 0 || s[i-1] == ' ' || s[i-1] == '\t' {
			s = strings.TrimSpace(s[:i])
			break
		}
		j := strings.IndexByte(s[i+1:], '#')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if s == "" {
		return nil
	}
	if s[0] == '!' || s[0] == '[' && s[len(s)-1] == ']' { // "! comment", "[Adblock Plus 2.0]"
		p.adblock = true
		return nil
	}
	if s[0] == '<' {
		// No list line starts with '<': this is a web page (an error or
		// login page served instead of the list).
		return fmt.Errorf("%s:%d: %q: an HTML/XML page, not a list", name, line, Short(s))
	}
	p.Lines++
	if i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }); i >= 0 {
		p.bad(name, line, "control character %q", s[i])
		return nil
	}
	if rest, ok := strings.CutPrefix(s, "||"); ok {
		p.adblock = true
		// "||host^$options": the host and everything under it. A rule
		// with a path or a wildcard blocks less than a whole domain, so
		// it is left out rather than widened.
		end := strings.IndexAny(rest, "^$/|*")
		if end < 0 {
			end = len(rest)
		}
		host, tail := rest[:end], strings.TrimPrefix(rest[end:], "^")
		if tail != "" && tail != "|" && tail[0] != '$' {
			// "||host/path", "||host^*=ws://", "||a-*.host^": a pattern.
			p.ignore()
			return nil
		}
		if pfx, err := ParsePrefix(host); err == nil && ipLike(host) {
			if err := BlockableNet(pfx); err != nil {
				p.bad(name, line, "adblock rule %q: %v", Short(s), err)
				return nil
			}
			p.Prefixes = append(p.Prefixes, pfx)
			return nil
		}
		d, err := NormalizeDomain(host)
		if err == nil {
			err = Blockable(d)
		}
		if err != nil {
			p.bad(name, line, "adblock rule %q is not a domain rule: %v", Short(s), err)
			return nil
		}
		p.Domains = append(p.Domains, d)
		return nil
	}
	if p.adblock && adblockPattern(s) {
		// In an adblock list: URL patterns ("/coinhive.min.js",
		// "-miner.js$script", "|https://…", "$websocket,domain=…") and
		// exception rules, not domains to block.
		p.ignore()
		return nil
	}
	if !strings.ContainsAny(s, " \t") {
		// One token: the common line of a plain list.
		p.token(s, name, line)
		return nil
	}
	f := strings.Fields(s)
	if len(f) >= 2 {
		if _, err := netip.ParseAddr(f[0]); err == nil {
			// hosts format: the names after the address.
			for _, h := range f[1:] {
				if h == "localhost" || h == "localhost.localdomain" || h == "broadcasthost" {
					continue
				}
				p.domain(h, name, line)
			}
			return nil
		}
	}
	if len(f) != 1 {
		p.bad(name, line, "%q is not a domain, address or network", Short(s))
		return nil
	}
	p.token(f[0], name, line)
	return nil
}

// token reads a single-entry line: a domain, address or network, each
// maybe with a ":port".
func (p *Parsed) token(v, name string, line int) {
	if strings.IndexByte(v, ':') >= 0 {
		if h, port, err := net.SplitHostPort(v); err == nil && port != "" {
			v = h // pool feeds list "pool.example:3333"
		}
	}
	if ipLike(v) {
		if pfx, err := ParsePrefix(v); err == nil {
			if err := BlockableNet(pfx); err != nil {
				p.bad(name, line, "%v", err)
				return
			}
			p.Prefixes = append(p.Prefixes, pfx)
			return
		}
	}
	p.domain(v, name, line)
}

// ipLike is false for what cannot be an address or CIDR (a name with a
// letter beyond a-f and no ':'), sparing the address parser's error.
func ipLike(v string) bool {
	if strings.IndexByte(v, ':') >= 0 {
		return true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < '0' || c > '9') && c != '.' && c != '/' {
			return false
		}
	}
	return true
}

// ignore counts a line as an ignored adblock rule instead of an entry line.
func (p *Parsed) ignore() {
	p.Lines--
	p.Ignored++
}

func (p *Parsed) domain(v, name string, line int) {
	d, err := NormalizeDomain(v)
	if err == nil {
		err = Blockable(d)
	}
	if err != nil {
		p.bad(name, line, "%v", err)
		return
	}
	p.Domains = append(p.Domains, d)
}

// adblockCosmetic reports element-hiding and scriptlet rules
// ("site.example##.miner", "a.example#@#x", "b.example##+js(…)"): they
// name the sites a filter applies on, never hosts to block.
func adblockCosmetic(s string) bool {
	for _, m := range []string{"##", "#@#", "#?#", "#$#", "#%#"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// adblockPattern reports adblock rules other than "||host^": exception
// rules, URL patterns and option-only rules. No hosts-file or plain-list
// entry has these forms.
func adblockPattern(s string) bool {
	if strings.HasPrefix(s, "@@") || strings.IndexByte("-/|$?=&", s[0]) >= 0 || strings.ContainsAny(s, "$^?=") {
		return true
	}
	// A '*' anywhere but a leading "*." is a pattern, not a domain.
	return strings.Contains(strings.TrimPrefix(s, "*."), "*")
}

// MinBitsV4 and MinBitsV6 are the widest networks a list may block: a
// feed entry such as 0.0.0.0/0 or 2000::/3 would cut the host off.
const (
	MinBitsV4 = 16
	MinBitsV6 = 32
)

// BlockableNet refuses networks no pool list should block: too wide, or
// special addresses (loopback, unspecified, multicast, link-local) whose
// blocking breaks the host itself.
func BlockableNet(p netip.Prefix) error {
	a := p.Addr()
	switch {
	case a.Is4() && p.Bits() < MinBitsV4, a.Is6() && p.Bits() < MinBitsV6:
		return fmt.Errorf("network %s is wider than /%d (IPv4) or /%d (IPv6): refused", p, MinBitsV4, MinBitsV6)
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast(),
		a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("address %s is special (loopback, unspecified, multicast or link-local): refused", p)
	}
	return nil
}

// Blockable refuses a normalised domain that is a public suffix ("co.uk",
// "github.io"): blocking one blocks every site under it.
func Blockable(d string) error {
	if ps, _ := publicsuffix.PublicSuffix(d); ps == d {
		return fmt.Errorf("domain %q is a public suffix (it would block every site under it): refused", d)
	}
	return nil
}

// Short cuts untrusted text for a message.
func Short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
