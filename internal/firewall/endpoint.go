package firewall

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseEndpoint reads a management endpoint: ADDR, CIDR, IPv4[/BITS]:PORT
// or [IPv6[/BITS]]:PORT. Without a port every port is allowed.
func ParseEndpoint(s string) (Endpoint, error) {
	in := strings.TrimSpace(s)
	host, port, hasPort := in, "", false
	switch {
	case strings.HasPrefix(in, "["):
		end := strings.Index(in, "]")
		if end < 0 {
			return Endpoint{}, fmt.Errorf("endpoint %q: missing ']'", s)
		}
		host, port = in[1:end], in[end+1:]
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok {
				return Endpoint{}, fmt.Errorf("endpoint %q: want [IPv6]:PORT", s)
			}
			port, hasPort = p, true
		}
	case strings.Count(in, ":") == 1:
		// IPv4 with a port; a bare IPv6 address has several colons.
		host, port, hasPort = strings.Cut(in, ":")
	}
	p, err := ParsePrefix(host)
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %q: %w", s, err)
	}
	e := Endpoint{Prefix: p}
	if hasPort {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return Endpoint{}, fmt.Errorf("endpoint %q: port %q is not 1-65535", s, port)
		}
		e.Port = uint16(n)
	}
	return e, nil
}

// ParsePrefix reads an address (a /32 or /128) or a network, masking host
// bits and unmapping IPv4-mapped IPv6.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an address or network: %q", s)
		}
		return canon(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an address or network: %q", s)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}
