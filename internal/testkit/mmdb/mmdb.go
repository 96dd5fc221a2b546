// Package mmdb writes small MaxMind DB files (the format GeoLite2 and
// GeoIP2 country databases use) for tests: IPv4 networks mapped to a
// country ISO code, following the MaxMind DB format specification 2.0
// (binary search tree, 24-bit records, data section, metadata).
package mmdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// Write returns a country database mapping each IPv4 network to its code.
func Write(countries map[netip.Prefix]string) ([]byte, error) {
	type node [2]int // -1 empty, >=0 node index, <= -2 data (-2 - offset)
	nodes := []node{{-1, -1}}
	var data bytes.Buffer
	offsets := map[string]int{}
	var prefixes []netip.Prefix
	for p := range countries {
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("mmdb: %s: IPv4 only", p)
		}
		prefixes = append(prefixes, p.Masked())
	}
	sort.Slice(prefixes, func(i, j int) bool { return prefixes[i].Bits() < prefixes[j].Bits() })
	for _, p := range prefixes {
		code := countries[p]
		off, ok := offsets[code]
		if !ok {
			off = data.Len()
			offsets[code] = off
			// {"country": {"iso_code": CODE}}
			mapHeader(&data, 1)
			str(&data, "country")
			mapHeader(&data, 1)
			str(&data, "iso_code")
			str(&data, code)
		}
		a := p.Addr().As4()
		n := 0
		for i := 0; i < p.Bits(); i++ {
			bit := int(a[i/8]>>(7-i%8)) & 1
			if i == p.Bits()-1 {
				nodes[n][bit] = -2 - off
				break
			}
			next := nodes[n][bit]
			if next < 0 {
				nodes = append(nodes, node{-1, -1})
				next = len(nodes) - 1
				nodes[n][bit] = next
			}
			n = next
		}
	}
	count := len(nodes)
	var out bytes.Buffer
	rec := func(v int) {
		switch {
		case v == -1:
			v = count // not found
		case v <= -2:
			v = count + 16 + (-2 - v)
		}
		out.Write([]byte{byte(v >> 16), byte(v >> 8), byte(v)})
	}
	for _, nd := range nodes {
		rec(nd[0])
		rec(nd[1])
	}
	out.Write(make([]byte, 16))
	out.Write(data.Bytes())
	out.WriteString("\xab\xcd\xefMaxMind.com")
	mapHeader(&out, 9)
	str(&out, "node_count")
	uint32v(&out, uint32(count))
	str(&out, "record_size")
	uint16v(&out, 24)
	str(&out, "ip_version")
	uint16v(&out, 4)
	str(&out, "database_type")
	str(&out, "minerguard-test-Country")
	str(&out, "languages")
	out.Write([]byte{0<<5 | 1, 11 - 7}) // array of one
	str(&out, "en")
	str(&out, "binary_format_major_version")
	uint16v(&out, 2)
	str(&out, "binary_format_minor_version")
	uint16v(&out, 0)
	str(&out, "build_epoch")
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()))
	out.Write([]byte{0<<5 | 8, 9 - 7})
	out.Write(e[:])
	str(&out, "description")
	mapHeader(&out, 1)
	str(&out, "en")
	str(&out, "minerguard test database")
	return out.Bytes(), nil
}

func mapHeader(b *bytes.Buffer, n int) { b.WriteByte(7<<5 | byte(n)) }

func str(b *bytes.Buffer, s string) {
	if len(s) >= 29 {
		b.WriteByte(2<<5 | 29)
		b.WriteByte(byte(len(s) - 29))
	} else {
		b.WriteByte(2<<5 | byte(len(s)))
	}
	b.WriteString(s)
}

func uint16v(b *bytes.Buffer, v uint16) { b.Write([]byte{5<<5 | 2, byte(v >> 8), byte(v)}) }

func uint32v(b *bytes.Buffer, v uint32) {
	b.Write([]byte{6<<5 | 4, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
