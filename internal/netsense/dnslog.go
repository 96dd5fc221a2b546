package netsense

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/lines"
)

// Query-log line formats other than dnsmasq (which has a hand-written
// parser, dnsmasqQuery), one regexp each: client address, then name. need
// is a literal every match contains: lines without it skip the regexp.
var dnsLogLines = []struct {
	name   string
	need   []byte
	re     *regexp.Regexp
	client int
	query  int
}{
	// BIND querylog: "client @0x7f.. 10.0.0.5#53422 (pool.example): query: pool.example IN A +E(0)"
	{"bind", []byte("query: "), regexp.MustCompile(`client (?:@\S+ )?([0-9a-fA-F.:]+)#\d+ \([^)]*\): (?:view \S+: )?query: (\S+) IN `), 1, 2},
	// Unbound log-queries: "info: 10.0.0.5 pool.example. A IN"
	{"unbound", []byte("info: "), regexp.MustCompile(`info: ([0-9a-fA-F.:]+) (\S+)\. [A-Z0-9]+ IN`), 1, 2},
	// Windows DNS debug log: "UDP Rcv 10.0.0.5 1a2b   Q [0001   D   NOERROR] A (4)pool(7)example(0)"
	{"windows-dns", []byte(" Rcv "), regexp.MustCompile(`(?:UDP|TCP) Rcv ([0-9a-fA-F.:]+)\s+\S+\s+Q \[[^\]]*\]\s+\S+\s+(\(\d+\)\S+)`), 1, 2},
}

var winLabel = regexp.MustCompile(`\((\d+)\)`)

// ReadDNSLog reads a resolver's query log — dnsmasq, BIND, Unbound, Windows
// DNS debug log, Zeek dns.log (TSV or JSON) or Suricata EVE — and judges
// every queried name like a DNS query in a capture. Lines of no known
// format are counted, not fatal.
//
// A dnsmasq line is parsed in place and its name decided on without
// allocating (mayFlag); only the rare lines that name a mining domain
// or keyword take the general path. Memory does not grow with the log.
func (a *Analyzer) ReadDNSLog(ctx context.Context, r io.Reader, name string) (matched, skipped int, err error) {
	r, err = lines.Decompress(r)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	lr := lines.NewReader(r, maxLogLine)
	// Lines too long for any format are skipped and named; the log goes on.
	defer func() { a.Errors = append(a.Errors, lr.Warnings(name)...); skipped += lr.LongCount }()
	var zeekFields map[string]int
	for n := 0; lr.Next(); n++ {
		if n&4095 == 0 && ctx.Err() != nil {
			return matched, skipped, ctx.Err()
		}
		line := lr.Bytes()
		if bytes.HasPrefix(line, []byte("#fields")) {
			zeekFields = map[string]int{}
			for i, f := range strings.Split(string(line), "\t")[1:] {
				zeekFields[f] = i
			}
			continue
		}
		if bytes.HasPrefix(line, []byte("#")) || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if line[0] != '{' && zeekFields == nil {
			if c, q, ok := dnsmasqQuery(line); ok {
				src, ok := parseAddrBytes(c)
				if !ok {
					skipped++
					continue
				}
				matched++
				if a.mayFlag(q) {
					a.dnsQuery(src.Unmap(), netip.Addr{}, string(q), time.Time{})
				}
				continue
			}
			if !otherFormat(line) {
				skipped++ // dnsmasq's forwarded/reply/cached lines, and foreign ones
				continue
			}
		}
		client, query, ts, ok := parseDNSLogLine(string(line), zeekFields)
		if !ok {
			skipped++
			continue
		}
		src, err := netip.ParseAddr(client)
		if err != nil {
			skipped++
			continue
		}
		matched++
		a.dnsQuery(src.Unmap(), netip.Addr{}, query, ts)
	}
	if err := lr.Err(); err != nil {
		// A log cut short (a truncated .gz, a read error): what was read
		// stands, and the report says where reading stopped.
		a.Errors = append(a.Errors, fmt.Sprintf("%s: after line %d: %v: the rest was not read", name, lr.Line(), err))
	}
	return matched, skipped, nil
}

// maxLogLine bounds a resolver log line; no query line comes near it.
const maxLogLine = 1 << 20

// mayFlag reports whether dnsQuery could report the name; false only when
// it certainly would not. Names of ASCII letters, digits, '-', '_' and
// dots are decided here, lower-cased into a scratch buffer and looked up
// without allocating; any other name goes the exact, slower way.
func (a *Analyzer) mayFlag(q []byte) bool {
	if len(q) > 0 && q[len(q)-1] == '.' {
		q = q[:len(q)-1]
	}
	if len(q) == 0 || len(q) > 255 || q[len(q)-1] == '.' {
		return true
	}
	n := a.lower[:0]
	for _, c := range q {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		default:
			return true
		}
		n = append(n, c)
	}
	a.lower = n
	if _, ok := a.db.DomainBytes(n); ok {
		return true
	}
	return a.db.HasDomainKeyword(n)
}

// otherFormat reports whether a line contains one of the need literals
// of dnsLogLines ("query: ", "info: ", " Rcv "), by two byte scans rather
// than three substring searches: most lines of a dnsmasq log are its
// forwarded/reply/cached lines, which land here.
func otherFormat(line []byte) bool {
	for rest := line; ; {
		i := bytes.IndexByte(rest, ':')
		if i < 0 {
			break
		}
		if i+1 < len(rest) && rest[i+1] == ' ' && (bytes.HasSuffix(rest[:i], []byte("query")) || bytes.HasSuffix(rest[:i], []byte("info"))) {
			return true
		}
		rest = rest[i+1:]
	}
	for rest := line; ; {
		i := bytes.IndexByte(rest, 'R')
		if i < 0 {
			return false
		}
		if i > 0 && bytes.HasPrefix(rest[i-1:], []byte(" Rcv ")) {
			return true
		}
		rest = rest[i+1:]
	}
}

var dnsmasqTag = []byte("dnsmasq[")

// dnsmasqQuery parses a dnsmasq --log-queries query line exactly as the
// expression
//
//	dnsmasq\[\d+\]: (?:\d+ )?(?:[0-9a-fA-F.:]+/\d+ )?query\[[A-Za-z0-9]+\] (\S+) from ([0-9a-fA-F.:]+)
//
// would (a fuzz test holds it to that), in place: "dnsmasq[12]: query[A]
// pool.example from 10.0.0.5", with log-queries=extra also a serial and
// the client's address/port before "query".
func dnsmasqQuery(line []byte) (client, query []byte, ok bool) {
	for off := 0; ; {
		i := bytes.Index(line[off:], dnsmasqTag)
		if i < 0 {
			return nil, nil, false
		}
		at := off + i + len(dnsmasqTag)
		if client, query, ok = dnsmasqAt(line[at:]); ok {
			return client, query, true
		}
		off = at
	}
}

func dnsmasqAt(b []byte) (client, query []byte, ok bool) {
	n := span(b, isDigit)
	if n == 0 || !bytes.HasPrefix(b[n:], []byte("]: ")) {
		return nil, nil, false
	}
	b = b[n+3:]
	// The optional serial and address/port, tried as a backtracking
	// matcher would: both, the serial only, the address only, neither.
	serial := b
	if n := span(b, isDigit); n > 0 && n < len(b) && b[n] == ' ' {
		serial = b[n+1:]
	}
	for _, p := range [][]byte{addrPort(serial), serial, addrPort(b), b} {
		if p == nil {
			continue
		}
		if client, query, ok = dnsmasqRest(p); ok {
			return client, query, true
		}
	}
	return nil, nil, false
}

// addrPort skips "[0-9a-fA-F.:]+/\d+ ", or returns nil.
func addrPort(b []byte) []byte {
	n := span(b, isAddrChar)
	if n == 0 || n >= len(b) || b[n] != '/' {
		return nil
	}
	b = b[n+1:]
	d := span(b, isDigit)
	if d == 0 || d >= len(b) || b[d] != ' ' {
		return nil
	}
	return b[d+1:]
}

// dnsmasqRest matches "query\[[A-Za-z0-9]+\] (\S+) from ([0-9a-fA-F.:]+)".
func dnsmasqRest(b []byte) (client, query []byte, ok bool) {
	if !bytes.HasPrefix(b, []byte("query[")) {
		return nil, nil, false
	}
	b = b[6:]
	n := span(b, isAlnum)
	if n == 0 || !bytes.HasPrefix(b[n:], []byte("] ")) {
		return nil, nil, false
	}
	b = b[n+2:]
	n = span(b, isNotSpace)
	if n == 0 || !bytes.HasPrefix(b[n:], []byte(" from ")) {
		return nil, nil, false
	}
	query, b = b[:n], b[n+6:]
	n = span(b, isAddrChar)
	if n == 0 {
		return nil, nil, false
	}
	return b[:n], query, true
}

func span(b []byte, in func(byte) bool) int {
	for i, c := range b {
		if !in(c) {
			return i
		}
	}
	return len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAddrChar(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == '.' || c == ':'
}

// isNotSpace is regexp's \S: anything but \t \n \f \r and space.
func isNotSpace(c byte) bool { return c != ' ' && c != '\t' && c != '\n' && c != '\f' && c != '\r' }

// parseAddrBytes is netip.ParseAddr without allocating for dotted IPv4
// (a fuzz test holds it to ParseAddr); other forms go to ParseAddr.
func parseAddrBytes(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		if !isDigit(c) && c != '.' {
			a, err := netip.ParseAddr(string(b))
			return a, err == nil
		}
	}
	var ip [4]byte
	field, val, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case isDigit(c):
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // leading zero
			}
			val, digits = val*10+int(c-'0'), digits+1
			if val > 255 {
				return netip.Addr{}, false
			}
		default: // '.'
			if digits == 0 || field == 3 {
				return netip.Addr{}, false
			}
			ip[field], field, val, digits = byte(val), field+1, 0, 0
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}

func parseDNSLogLine(line string, zeek map[string]int) (client, query string, ts time.Time, ok bool) {
	if strings.HasPrefix(line, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			return "", "", ts, false
		}
		// Suricata EVE.
		if m["event_type"] == "dns" {
			src, _ := m["src_ip"].(string)
			ts = parseTime(m["timestamp"])
			if d, ok := m["dns"].(map[string]any); ok {
				if q, ok := d["rrname"].(string); ok && (d["type"] == "query" || d["type"] == "request") {
					return src, q, ts, true
				}
				if qs, ok := d["queries"].([]any); ok && len(qs) > 0 {
					if q0, ok := qs[0].(map[string]any); ok {
						if q, ok := q0["rrname"].(string); ok {
							return src, q, ts, true
						}
					}
				}
			}
			return "", "", ts, false
		}
		// Zeek dns.log as JSON.
		if q, ok := m["query"].(string); ok {
			src, _ := m["id.orig_h"].(string)
			return src, q, parseTime(m["ts"]), src != "" && q != ""
		}
		return "", "", ts, false
	}
	if zeek != nil {
		f := strings.Split(line, "\t")
		qi, ok1 := zeek["query"]
		ci, ok2 := zeek["id.orig_h"]
		if ok1 && ok2 && qi < len(f) && ci < len(f) && f[qi] != "-" {
			if ti, ok := zeek["ts"]; ok && ti < len(f) {
				ts = parseTime(f[ti])
			}
			return f[ci], f[qi], ts, true
		}
		return "", "", ts, false
	}
	for _, l := range dnsLogLines {
		if !strings.Contains(line, string(l.need)) {
			continue
		}
		m := l.re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		q := m[l.query]
		if l.name == "windows-dns" {
			q = strings.Trim(winLabel.ReplaceAllString(q, "."), ".")
		}
		return m[l.client], q, ts, true
	}
	return "", "", ts, false
}

// parseTime reads an RFC 3339 string or Unix seconds (number or string).
func parseTime(v any) time.Time {
	switch x := v.(type) {
	case float64:
		return time.Unix(int64(x), int64((x-float64(int64(x)))*1e9)).UTC()
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC()
		}
		if t, err := time.Parse("2006-01-02T15:04:05.999999-0700", x); err == nil {
			return t.UTC()
		}
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return parseTime(f)
		}
	}
	return time.Time{}
}
