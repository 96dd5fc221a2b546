package intel

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
)

// Overlay is intelligence added on top of a set: feed entries (from
// `minerguard intel update`) and an allowlist that always wins.
type Overlay struct {
	// Sources describe the feeds, recorded in the merged manifest.
	Sources []Source
	Domains []Domain
	IPs     []IPEntry
	// Allow holds domains (with their subdomains) and addresses or
	// networks that are never reported or blocked.
	Allow []string
}

// WithOverlay returns a new DB: this set plus the overlay's domains and
// networks, minus whatever the allowlist covers. db is not changed. An
// entry already in the set keeps the set's category and source. Every
// lookup (Domain, IP, DomainKeyword) honours the allowlist.
func (db *DB) WithOverlay(o Overlay) (*DB, error) {
	n := *db
	n.Manifest.Sources = append(slices.Clone(db.Manifest.Sources), o.Sources...)
	if len(o.Sources) > 0 {
		n.Manifest.Version = db.Manifest.Version + "+feeds"
	}
	n.Domains = slices.Grow(slices.Clone(db.Domains), len(o.Domains))
	for i, d := range o.Domains {
		norm := NormalizeDomain(d.Domain)
		if norm == "" || !strings.Contains(norm, ".") {
			return nil, fmt.Errorf("intel overlay: domains[%d]: %q is not a domain", i, d.Domain)
		}
		if _, dup := db.domainIndex.m[norm]; dup {
			continue
		}
		d.Domain = norm
		n.Domains = append(n.Domains, d)
	}
	n.IPs = slices.Grow(slices.Clone(db.IPs), len(o.IPs))
	for i, e := range o.IPs {
		p, err := parsePrefix(e.CIDR)
		if err != nil {
			return nil, fmt.Errorf("intel overlay: ips[%d]: %w", i, err)
		}
		e.prefix = p
		n.IPs = append(n.IPs, e)
	}
	n.domainIndex = newSuffixIndex[*Domain](len(n.Domains))
	for i := range n.Domains {
		n.domainIndex.set(NormalizeDomain(n.Domains[i].Domain), &n.Domains[i])
	}
	n.ipIndex = newNetIndex(len(n.IPs))
	for i := range n.IPs {
		n.ipIndex.add(n.IPs[i].prefix, int32(i))
	}
	n.ipIndex.done()
	n.allowDomains = newSuffixIndex[bool](len(o.Allow))
	n.allowNets = newNetIndex(0)
	for _, a := range append(slices.Clone(db.allow), o.Allow...) {
		if p, err := parsePrefix(a); err == nil {
			n.allowNets.add(p, 0)
		} else if d := NormalizeDomain(a); strings.Contains(d, ".") {
			n.allowDomains.set(d, true)
		} else {
			return nil, fmt.Errorf("intel overlay: allow %q is neither a domain nor an address/network", a)
		}
		n.allow = append(n.allow, a)
	}
	n.allowNets.done()
	return &n, nil
}

// Allowed reports whether the allowlist covers a domain (or a parent of
// it), an address or a network (inside an allowed one).
func (db *DB) Allowed(v string) bool {
	if p, err := parsePrefix(v); err == nil {
		return len(db.allow) > 0 && db.allowNets.coversBits(p)
	}
	return db.allowedDomain(NormalizeDomain(v))
}

// AllowList returns the allowlist as given.
func (db *DB) AllowList() []string { return slices.Clone(db.allow) }

func (db *DB) allowedDomain(n string) bool {
	if len(db.allowDomains.m) == 0 {
		return false
	}
	_, ok := db.allowDomains.match(n)
	return ok
}

// suffixIndex finds the most specific listed domain a name is or is
// under. Two things keep a lookup to about one probe of the big map:
// the label counts that occur among the keys (for "eu.stratum.pool.example"
// and keys of 2 and 3 labels only two suffixes are candidates), and a
// small blocked Bloom filter (16 bits per key, in cache) that rules out
// most candidate suffixes that are not keys before the map is touched.
type suffixIndex[V any] struct {
	m      map[string]V
	depths uint64 // bit k: some key has k labels (63: 63 or more)
	seed   maphash.Seed
	filter []uint64 // blocked Bloom filter: two bits in one word per key
}

func newSuffixIndex[V any](n int) suffixIndex[V] {
	words := 1
	for words*64 < 16*n {
		words <<= 1
	}
	return suffixIndex[V]{m: make(map[string]V, n), seed: maphash.MakeSeed(), filter: make([]uint64, words)}
}

// bits returns the filter word and the two bits for a hash.
func (x *suffixIndex[V]) bits(h uint64) (int, uint64) {
	return int(h>>32) & (len(x.filter) - 1), 1<<(h&63) | 1<<(h>>6&63)
}

// set adds a normalised name; the first value for a name stays.
func (x *suffixIndex[V]) set(name string, v V) {
	if _, dup := x.m[name]; dup {
		return
	}
	x.m[name] = v
	x.depths |= 1 << min(63, strings.Count(name, ".")+1)
	w, b := x.bits(maphash.String(x.seed, name))
	x.filter[w] |= b
}

// match looks up a normalised name and then its parents, most specific
// first.
func (x *suffixIndex[V]) match(n string) (V, bool) {
	var zero V
	if len(x.m) == 0 {
		return zero, false
	}
	labels := strings.Count(n, ".") + 1
	for q := n; ; labels-- {
		if x.depths&(1<<min(63, labels)) != 0 {
			w, b := x.bits(maphash.String(x.seed, q))
			if x.filter[w]&b == b {
				if v, ok := x.m[q]; ok {
					return v, true
				}
			}
		}
		i := strings.IndexByte(q, '.')
		if i < 0 {
			return zero, false
		}
		q = q[i+1:]
	}
}

// matchBytes is match for a name held in bytes, without allocating: the
// hash of a byte slice equals the hash of the same string, and a map
// index with string(b) does not copy.
func (x *suffixIndex[V]) matchBytes(n []byte) (V, bool) {
	var zero V
	if len(x.m) == 0 {
		return zero, false
	}
	labels := bytes.Count(n, []byte{'.'}) + 1
	for q := n; ; labels-- {
		if x.depths&(1<<min(63, labels)) != 0 {
			w, b := x.bits(maphash.Bytes(x.seed, q))
			if x.filter[w]&b == b {
				if v, ok := x.m[string(q)]; ok {
					return v, true
				}
			}
		}
		i := bytes.IndexByte(q, '.')
		if i < 0 {
			return zero, false
		}
		q = q[i+1:]
	}
}

// netIndex finds the most specific network holding an address: one hash
// map per family keyed by (masked address, prefix length), probed for
// each prefix length in use, longest first. With the few lengths real
// feeds use (/32, /24, /128, /64, ...) that is a handful of map probes,
// independent of the number of networks.
type netIndex struct {
	v4    map[uint64]int32 // masked address << 8 | bits
	v6    map[key6]int32
	lens4 []uint8
	lens6 []uint8
}

type key6 struct {
	hi, lo uint64
	bits   uint8
}

func newNetIndex(n int) *netIndex {
	return &netIndex{v4: make(map[uint64]int32, n), v6: map[key6]int32{}}
}

func (x *netIndex) add(p netip.Prefix, i int32) {
	a, bits := p.Addr(), uint8(p.Bits())
	if a.Is4() {
		k := uint64(v4(a)&mask32(bits))<<8 | uint64(bits)
		if _, dup := x.v4[k]; !dup {
			x.v4[k] = i
		}
		if !slices.Contains(x.lens4, bits) {
			x.lens4 = append(x.lens4, bits)
		}
		return
	}
	hi, lo := v6(a)
	mh, ml := mask128(bits)
	k := key6{hi & mh, lo & ml, bits}
	if _, dup := x.v6[k]; !dup {
		x.v6[k] = i
	}
	if !slices.Contains(x.lens6, bits) {
		x.lens6 = append(x.lens6, bits)
	}
}

// done orders the lengths longest first, so lookup finds the most
// specific network.
func (x *netIndex) done() {
	slices.SortFunc(x.lens4, func(a, b uint8) int { return int(b) - int(a) })
	slices.SortFunc(x.lens6, func(a, b uint8) int { return int(b) - int(a) })
}

func (x *netIndex) lookup(a netip.Addr) (int32, bool) {
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		u := v4(a)
		for _, b := range x.lens4 {
			if i, ok := x.v4[uint64(u&mask32(b))<<8|uint64(b)]; ok {
				return i, true
			}
		}
		return 0, false
	}
	if len(x.lens6) == 0 {
		return 0, false
	}
	hi, lo := v6(a)
	for _, b := range x.lens6 {
		mh, ml := mask128(b)
		if i, ok := x.v6[key6{hi & mh, lo & ml, b}]; ok {
			return i, true
		}
	}
	return 0, false
}

// coversBits reports whether some indexed network holds all of p (a
// network no longer than p containing p's address).
func (x *netIndex) coversBits(p netip.Prefix) bool {
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() {
		a, bits = a.Unmap(), max(0, bits-96)
	}
	if a.Is4() {
		u := v4(a)
		for _, b := range x.lens4 {
			if int(b) <= bits {
				if _, ok := x.v4[uint64(u&mask32(b))<<8|uint64(b)]; ok {
					return true
				}
			}
		}
		return false
	}
	hi, lo := v6(a)
	for _, b := range x.lens6 {
		if int(b) <= bits {
			mh, ml := mask128(b)
			if _, ok := x.v6[key6{hi & mh, lo & ml, b}]; ok {
				return true
			}
		}
	}
	return false
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func v6(a netip.Addr) (uint64, uint64) {
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

func mask32(bits uint8) uint32 {
	if bits == 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

func mask128(bits uint8) (uint64, uint64) {
	switch {
	case bits == 0:
		return 0, 0
	case bits <= 64:
		return ^uint64(0) << (64 - bits), 0
	case bits == 128:
		return ^uint64(0), ^uint64(0)
	default:
		return ^uint64(0), ^uint64(0) << (128 - bits)
	}
}
