package netsense

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JA3 fingerprints a TLS ClientHello (Salesforce's JA3): the client's TLS
// version, cipher suites, extensions, elliptic curves and point formats,
// GREASE values left out, as a string and its MD5. A miner's TLS library
// and settings give it a fingerprint that does not depend on the pool's
// name, so a list of miners' fingerprints finds TLS mining without SNI.
func JA3(b []byte) (full, hash string, ok bool) {
	if len(b) < 5 || b[0] != 0x16 || b[1] != 0x03 {
		return "", "", false
	}
	rec := int(binary.BigEndian.Uint16(b[3:]))
	b = b[5:]
	if rec < len(b) {
		b = b[:rec]
	}
	if len(b) < 4 || b[0] != 0x01 {
		return "", "", false
	}
	b = b[4:]
	if len(b) < 34 {
		return "", "", false
	}
	version := binary.BigEndian.Uint16(b)
	b = b[34:]
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
	if _, ok := take(1); !ok { // session id
		return "", "", false
	}
	suites, ok1 := take(2)
	_, ok2 := take(1) // compression methods
	if !ok1 || !ok2 || len(suites)%2 != 0 {
		return "", "", false
	}
	var ciphers, exts, curves, points []string
	for i := 0; i+1 < len(suites); i += 2 {
		if v := binary.BigEndian.Uint16(suites[i:]); !grease(v) {
			ciphers = append(ciphers, strconv.Itoa(int(v)))
		}
	}
	if len(b) >= 2 {
		all, ok := take(2)
		if !ok {
			return "", "", false
		}
		for len(all) >= 4 {
			typ, n := binary.BigEndian.Uint16(all), int(binary.BigEndian.Uint16(all[2:]))
			all = all[4:]
			if n > len(all) {
				return "", "", false
			}
			body := all[:n]
			all = all[n:]
			if grease(typ) {
				continue
			}
			exts = append(exts, strconv.Itoa(int(typ)))
			switch typ {
			case 10: // supported_groups
				if len(body) >= 2 {
					l := int(binary.BigEndian.Uint16(body))
					for i := 2; i+1 < 2+l && i+1 < len(body); i += 2 {
						if v := binary.BigEndian.Uint16(body[i:]); !grease(v) {
							curves = append(curves, strconv.Itoa(int(v)))
						}
					}
				}
			case 11: // ec_point_formats
				if len(body) >= 1 {
					for i := 1; i < 1+int(body[0]) && i < len(body); i++ {
						points = append(points, strconv.Itoa(int(body[i])))
					}
				}
			}
		}
	}
	full = strings.Join([]string{strconv.Itoa(int(version)), strings.Join(ciphers, "-"), strings.Join(exts, "-"),
		strings.Join(curves, "-"), strings.Join(points, "-")}, ",")
	sum := md5.Sum([]byte(full))
	return full, hex.EncodeToString(sum[:]), true
}

// grease reports the reserved GREASE values (RFC 8701) that JA3 skips.
func grease(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// ParseJA3List reads a fingerprint list: one JA3 MD5 per line (32 hex
// digits), optionally followed by a name after a comma or blanks; '#'
// starts a comment. A bad line is an error naming file and line.
func ParseJA3List(r io.Reader, name string) (map[string]string, error) {
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
		if _, err := hex.DecodeString(hash); err != nil || len(hash) != 32 {
			return nil, fmt.Errorf("%s:%d: %q is not a JA3 hash (32 hex digits)", name, n, hash)
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
