package netsense

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// JA4 fingerprints a TLS ClientHello the way FoxIO's JA4 does (the TCP
// "t" form): version, SNI or not, cipher and extension counts and ALPN,
// then truncated SHA-256 hashes of the sorted cipher list and of the
// sorted extensions (SNI and ALPN left out) followed by the signature
// algorithms in their order. GREASE values are ignored everywhere. Unlike
// JA3 it does not change when a client shuffles its extensions, as
// Chrome-based and some Go clients do. It returns the fingerprint and its
// "_o" variant (original order, SNI and ALPN kept).
func JA4(b []byte) (ja4, ja4o string, ok bool) {
	h, ok := parseClientHello(b)
	if !ok {
		return "", "", false
	}
	return h.ja4()
}

func (h clientHello) ja4() (ja4, ja4o string, ok bool) {
	if h.badSuites || h.badExts {
		return "", "", false
	}
	suites := hexList(h.suites, nil)
	exts := hexList(h.exts, nil)
	sorted := hexList(h.exts, func(v uint16) bool { return v == 0x0000 || v == 0x0010 })
	slices.Sort(sorted)
	sortedSuites := slices.Sorted(slices.Values(suites))
	sig := strings.Join(hexList(h.sigalgs, nil), ",")
	sni := "i"
	if h.hasSNI {
		sni = "d"
	}
	a := fmt.Sprintf("t%s%s%02d%02d%s", ja4Version(h), sni, min(len(suites), 99), min(len(exts), 99), ja4ALPN(h.alpn))
	extPart := func(list []string) string {
		s := strings.Join(list, ",")
		if sig != "" {
			s += "_" + sig
		}
		return s
	}
	ja4 = a + "_" + ja4Hash(strings.Join(sortedSuites, ","), len(suites)) + "_" + ja4Hash(extPart(sorted), len(sorted))
	ja4o = a + "_" + ja4Hash(strings.Join(suites, ","), len(suites)) + "_" + ja4Hash(extPart(exts), len(exts))
	return ja4, ja4o, true
}

// hexList renders values as 4-digit lower-case hex, GREASE and skipped
// values left out.
func hexList(vs []uint16, skip func(uint16) bool) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if !grease(v) && (skip == nil || !skip(v)) {
			out = append(out, fmt.Sprintf("%04x", v))
		}
	}
	return out
}

// ja4Hash is the first 12 hex digits of the list's SHA-256; an empty list
// is twelve zeros, as the reference implementation writes it.
func ja4Hash(s string, n int) string {
	if n == 0 {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// ja4Version is the highest supported_versions entry, or the hello's own
// version when that extension is absent.
func ja4Version(h clientHello) string {
	v := h.version
	var best uint16
	for _, x := range h.versions {
		if !grease(x) {
			best = max(best, x)
		}
	}
	if best != 0 {
		v = best
	}
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0200:
		return "s2"
	case 0x0100:
		return "s1"
	}
	return "00"
}

// ja4ALPN is the first and last character of the first ALPN protocol;
// "00" without one, and the first and last hex digits of its bytes when
// either end is not an ASCII letter or digit.
func ja4ALPN(p []byte) string {
	if len(p) == 0 {
		return "00"
	}
	first, last := p[0], p[len(p)-1]
	if alnum(first) && alnum(last) {
		return string([]byte{first, last})
	}
	x := hex.EncodeToString(p)
	return x[:1] + x[len(x)-1:]
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
