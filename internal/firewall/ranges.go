package firewall

import (
	"fmt"
	"net/netip"
	"slices"
)

// addrRange is an inclusive range of addresses of one family.
type addrRange struct{ lo, hi netip.Addr }

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	a := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	for i := p.Bits(); i < p.Addr().BitLen(); i++ {
		a[off+i/8] |= 0x80 >> (i % 8)
	}
	if p.Addr().Is4() {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}

// canon unmaps IPv4-mapped IPv6 and drops zones, so one network has one
// spelling.
func canon(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	bits := p.Bits()
	if a.Is4In6() {
		a = a.Unmap()
		bits -= 96
		if bits < 0 {
			// ::ffff:0:0/95 and wider are not IPv4 networks; keep as IPv6.
			return netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked()
		}
	}
	return netip.PrefixFrom(a.WithZone(""), bits).Masked()
}

// mergeRanges turns prefixes of one family into sorted, disjoint,
// non-adjacent ranges.
func mergeRanges(ps []netip.Prefix) []addrRange {
	rs := make([]addrRange, 0, len(ps))
	for _, p := range ps {
		rs = append(rs, addrRange{p.Addr(), lastAddr(p)})
	}
	slices.SortFunc(rs, func(a, b addrRange) int { return a.lo.Compare(b.lo) })
	var out []addrRange
	for _, r := range rs {
		if n := len(out); n > 0 {
			cur := &out[n-1]
			next := cur.hi.Next() // invalid when cur.hi is the last address
			if !next.IsValid() || r.lo.Compare(next) <= 0 {
				if r.hi.Compare(cur.hi) > 0 {
					cur.hi = r.hi
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// rangePrefixes is the fewest prefixes that cover exactly [lo, hi].
func rangePrefixes(r addrRange) []netip.Prefix {
	var out []netip.Prefix
	lo := r.lo
	for {
		// The widest prefix that starts at lo and ends at or before hi.
		bits := lo.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(lo, bits-1)
			if p.Masked().Addr() != lo || lastAddr(p).Compare(r.hi) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(lo, bits)
		out = append(out, p)
		end := lastAddr(p)
		if end.Compare(r.hi) >= 0 {
			return out
		}
		lo = end.Next()
	}
}

// NormalizePrefixes returns the fewest prefixes covering exactly the same
// addresses as ps, IPv4 before IPv6, each family in address order. The
// result is unique for a given set of addresses, which is what makes a
// ruleset read back from the kernel compare equal to what was applied.
func NormalizePrefixes(ps []netip.Prefix) []netip.Prefix {
	var v4, v6 []netip.Prefix
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		p = canon(p)
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	var out []netip.Prefix
	for _, fam := range [][]netip.Prefix{v4, v6} {
		for _, r := range mergeRanges(fam) {
			out = append(out, rangePrefixes(r)...)
		}
	}
	return out
}

// intervalKeys encodes merged ranges as the start/end keys of an nftables
// interval set: a start element at lo and an interval-end element at hi+1
// (none when hi is the family's last address, as nft does).
type intervalKey struct {
	key []byte
	end bool
}

func intervalKeys(rs []addrRange) []intervalKey {
	out := make([]intervalKey, 0, 2*len(rs))
	for _, r := range rs {
		out = append(out, intervalKey{key: r.lo.AsSlice()})
		if n := r.hi.Next(); n.IsValid() {
			out = append(out, intervalKey{key: n.AsSlice(), end: true})
		}
	}
	return out
}

// keysToRanges decodes interval-set elements (in any order) back into
// ranges; it refuses what intervalKeys could not have written.
func keysToRanges(keys []intervalKey, size int) ([]addrRange, error) {
	ks := slices.Clone(keys)
	for _, k := range ks {
		if len(k.key) != size {
			return nil, fmt.Errorf("element of %d bytes, want %d", len(k.key), size)
		}
	}
	slices.SortFunc(ks, func(a, b intervalKey) int {
		return netip.AddrFrom16(pad16(a.key)).Compare(netip.AddrFrom16(pad16(b.key)))
	})
	var out []addrRange
	for i := 0; i < len(ks); i++ {
		k := ks[i]
		if k.end {
			// The kernel keeps a leading interval end at the zero address
			// when nft wrote the set; it opens nothing.
			if i == 0 && allZero(k.key) {
				continue
			}
			return nil, fmt.Errorf("interval end %s without a start", addrOf(k.key))
		}
		lo := addrOf(k.key)
		if i+1 == len(ks) {
			out = append(out, addrRange{lo, lastAddr(netip.PrefixFrom(lo, 0))})
			break
		}
		next := ks[i+1]
		if !next.end {
			return nil, fmt.Errorf("interval start %s without an end", lo)
		}
		hi := addrOf(next.key).Prev()
		if hi.Compare(lo) < 0 {
			return nil, fmt.Errorf("empty interval at %s", lo)
		}
		out = append(out, addrRange{lo, hi})
		i++
	}
	return out, nil
}

func pad16(b []byte) [16]byte {
	var a [16]byte
	copy(a[16-len(b):], b)
	return a
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func addrOf(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

// portKey is a port as nftables stores inet_service: two bytes, network order.
func portKey(p uint16) []byte { return []byte{byte(p >> 8), byte(p)} }

// concatKey is one end of an "addr . inet_service" element: the address,
// then the port padded to a 32-bit register.
func concatKey(a netip.Addr, port uint16) []byte {
	return append(a.AsSlice(), byte(port>>8), byte(port), 0, 0)
}

// endpointKeys is the element of the allow set for one endpoint.
func endpointKeys(e Endpoint) (key, keyEnd []byte) {
	lo, hi := e.Port, e.Port
	if e.Port == 0 {
		lo, hi = 0, 0xffff
	}
	return concatKey(e.Prefix.Addr(), lo), concatKey(lastAddr(e.Prefix), hi)
}

// keysToEndpoints decodes one allow-set element; an address range that is
// not one prefix becomes several endpoints.
func keysToEndpoints(key, keyEnd []byte, alen int) ([]Endpoint, error) {
	if len(key) != alen+4 || len(keyEnd) != alen+4 {
		return nil, fmt.Errorf("element of %d/%d bytes, want %d", len(key), len(keyEnd), alen+4)
	}
	lo, hi := addrOf(key[:alen]), addrOf(keyEnd[:alen])
	plo := uint16(key[alen])<<8 | uint16(key[alen+1])
	phi := uint16(keyEnd[alen])<<8 | uint16(keyEnd[alen+1])
	if hi.Compare(lo) < 0 {
		return nil, fmt.Errorf("address range %s-%s is empty", lo, hi)
	}
	var port uint16
	switch {
	case plo == 0 && phi == 0xffff:
		port = 0
	case plo == phi && plo != 0:
		port = plo
	default:
		return nil, fmt.Errorf("port range %d-%d is not one port or every port", plo, phi)
	}
	var out []Endpoint
	for _, p := range rangePrefixes(addrRange{lo, hi}) {
		out = append(out, Endpoint{Prefix: p, Port: port})
	}
	return out, nil
}
