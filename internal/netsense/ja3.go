package netsense

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// clientHello is what a TLS ClientHello says, read once for the SNI and
// the JA3 fingerprint.
type clientHello struct {
	version            uint16
	suites, exts       []uint16
	groups             []uint16
	points             []byte
	versions           []uint16 // supported_versions
	sigalgs            []uint16 // signature_algorithms, in order
	alpn               []byte   // the first ALPN protocol
	hasSNI             bool     // a server_name extension, well formed or not
	sni                string
	badSuites, badExts bool // odd cipher list; extension block cut short or damaged
	badSNI             bool // a damaged server_name extension: no SNI at all
}

// parseClientHello reads a ClientHello record at the start of b. Every
// length is checked: the bytes come off the wire.
func parseClientHello(b []byte) (clientHello, bool) {
	var h clientHello
	if len(b) < 5 || b[0] != 0x16 || b[1] != 0x03 {
		return h, false
	}
	rec := int(binary.BigEndian.Uint16(b[3:]))
	b = b[5:]
	if rec < len(b) {
		b = b[:rec]
	}
	if len(b) < 4 || b[0] != 0x01 {
		return h, false
	}
	b = b[4:] // handshake type and length
	if len(b) < 34 {
		return h, false
	}
	h.version = binary.BigEndian.Uint16(b)
	b = b[34:] // version, random
	take := func(lenBytes int) ([]byte, bool) {
		if len(b) < lenBytes {
			return nil, false
		}
		n := 0
		for i := 0; i < lenBytes; i++ {
			n = n<<8 | int(b[i])
		}
		if len(b) < lenBytes+n {
			return nil, false
		}
		v := b[lenBytes : lenBytes+n]
		b = b[lenBytes+n:]
		return v, true
	}
	_, ok1 := take(1) // session id
	suites, ok2 := take(2)
	_, ok3 := take(1) // compression methods
	if !ok1 || !ok2 || !ok3 {
		return h, false
	}
	h.badSuites = len(suites)%2 != 0
	for i := 0; i+1 < len(suites); i += 2 {
		h.suites = append(h.suites, binary.BigEndian.Uint16(suites[i:]))
	}
	if len(b) < 2 {
		return h, true // no extensions
	}
	ext := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if ext < len(b) {
		b = b[:ext]
	}
	h.badExts = ext > len(b)
	for len(b) >= 4 {
		typ, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		b = b[4:]
		if n > len(b) {
			h.badExts = true
			return h, true
		}
		body := b[:n]
		b = b[n:]
		h.exts = append(h.exts, typ)
		switch typ {
		case 0: // server_name: the first one decides, as before
			h.hasSNI = true
			if h.sni != "" || h.badSNI {
				continue
			}
			if len(body) < 5 || body[2] != 0 {
				h.badSNI = true
				continue
			}
			l := int(binary.BigEndian.Uint16(body[3:]))
			if 5+l > len(body) || l == 0 {
				h.badSNI = true
				continue
			}
			h.sni = string(body[5 : 5+l])
		case 10: // supported_groups
			h.groups = u16List(body, 2, h.groups)
		case 11: // ec_point_formats
			if len(body) >= 1 {
				for i := 1; i < 1+int(body[0]) && i < len(body); i++ {
					h.points = append(h.points, body[i])
				}
			}
		case 13: // signature_algorithms
			h.sigalgs = u16List(body, 2, h.sigalgs)
		case 16: // ALPN: a u16 list length, then u8-prefixed names
			if len(body) >= 3 && h.alpn == nil {
				if l := int(body[2]); l > 0 && 3+l <= len(body) {
					h.alpn = body[3 : 3+l]
				}
			}
		case 43: // supported_versions (a client's: a u8 list length)
			h.versions = u16List(body, 1, h.versions)
		}
	}
	return h, true
}

// u16List appends the 16-bit values of a list behind a lenBytes-long
// length prefix, as far as both the prefix and the body allow.
func u16List(body []byte, lenBytes int, out []uint16) []uint16 {
	if len(body) < lenBytes {
		return out
	}
	l := int(body[0])
	if lenBytes == 2 {
		l = int(binary.BigEndian.Uint16(body))
	}
	for i := lenBytes; i+1 < lenBytes+l && i+1 < len(body); i += 2 {
		out = append(out, binary.BigEndian.Uint16(body[i:]))
	}
	return out
}

// JA3 fingerprints a TLS ClientHello (Salesforce's JA3): the client's TLS
// version, cipher suites, extensions, elliptic curves and point formats,
// GREASE values left out, as a string and its MD5. A miner's TLS library
// and settings give it a fingerprint that does not depend on the pool's
// name, so a list of miners' fingerprints finds TLS mining without SNI.
func JA3(b []byte) (full, hash string, ok bool) {
	h, ok := parseClientHello(b)
	if !ok {
		return "", "", false
	}
	return h.ja3()
}

func (h clientHello) ja3() (full, hash string, ok bool) {
	if h.badSuites || h.badExts {
		return "", "", false
	}
	list := func(vs []uint16) string {
		var out []string
		for _, v := range vs {
			if !grease(v) {
				out = append(out, strconv.Itoa(int(v)))
			}
		}
		return strings.Join(out, "-")
	}
	points := make([]string, len(h.points))
	for i, p := range h.points {
		points[i] = strconv.Itoa(int(p))
	}
	full = strings.Join([]string{strconv.Itoa(int(h.version)), list(h.suites), list(h.exts), list(h.groups), strings.Join(points, "-")}, ",")
	sum := md5.Sum([]byte(full))
	return full, hex.EncodeToString(sum[:]), true
}

// ja4Pattern is a JA4 fingerprint: protocol, version, SNI, counts, ALPN
// and the two truncated hashes.
var ja4Pattern = regexp.MustCompile(`^[tqd][0-9a-z]{2}[di][0-9]{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$`)

// grease reports the reserved GREASE values (RFC 8701) that JA3 skips.
func grease(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// ParseFingerprintList reads a list of miners' TLS client fingerprints:
// one per line, a JA3 MD5 (32 hex digits) or a JA4
// (t13d1516h2_8daaf6152771_e5627efa2ab1), optionally followed by a name
// after a comma or blanks; '#' starts a comment. A bad line is an error
// naming file and line.
func ParseFingerprintList(r io.Reader, name string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		hash, label, _ := strings.Cut(strings.Replace(line, ",", " ", 1), " ")
		hash = strings.ToLower(hash)
		if _, err := hex.DecodeString(hash); (err != nil || len(hash) != 32) && !ja4Pattern.MatchString(hash) {
			return nil, fmt.Errorf("%s:%d: %q is neither a JA3 hash (32 hex digits) nor a JA4 fingerprint", name, n, hash)
		}
		label = strings.TrimSpace(label)
		if label == "" {
			label = "a listed miner"
		}
		out[hash] = label
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return out, nil
}
