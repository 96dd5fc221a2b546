package netsense

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Query-log line formats, one regexp each: client address, then name.
var dnsLogLines = []struct {
	name   string
	re     *regexp.Regexp
	client int
	query  int
}{
	// dnsmasq --log-queries: "dnsmasq[12]: query[A] pool.example from 10.0.0.5"
	{"dnsmasq", regexp.MustCompile(`dnsmasq\[\d+\]: (?:\d+ )?(?:[0-9a-fA-F.:]+/\d+ )?query\[[A-Za-z0-9]+\] (\S+) from ([0-9a-fA-F.:]+)`), 2, 1},
	// BIND querylog: "client @0x7f.. 10.0.0.5#53422 (pool.example): query: pool.example IN A +E(0)"
	{"bind", regexp.MustCompile(`client (?:@\S+ )?([0-9a-fA-F.:]+)#\d+ \([^)]*\): (?:view \S+: )?query: (\S+) IN `), 1, 2},
	// Unbound log-queries: "info: 10.0.0.5 pool.example. A IN"
	{"unbound", regexp.MustCompile(`info: ([0-9a-fA-F.:]+) (\S+)\. [A-Z0-9]+ IN`), 1, 2},
	// Windows DNS debug log: "UDP Rcv 10.0.0.5 1a2b   Q [0001   D   NOERROR] A (4)pool(7)example(0)"
	{"windows-dns", regexp.MustCompile(`(?:UDP|TCP) Rcv ([0-9a-fA-F.:]+)\s+\S+\s+Q \[[^\]]*\]\s+\S+\s+(\(\d+\)\S+)`), 1, 2},
}

var winLabel = regexp.MustCompile(`\((\d+)\)`)

// ReadDNSLog reads a resolver's query log — dnsmasq, BIND, Unbound, Windows
// DNS debug log, Zeek dns.log (TSV or JSON) or Suricata EVE — and judges
// every queried name like a DNS query in a capture. Lines of no known
// format are counted, not fatal.
func (a *Analyzer) ReadDNSLog(ctx context.Context, r io.Reader, name string) (matched, skipped int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var zeekFields map[string]int
	for n := 0; sc.Scan(); n++ {
		if n&4095 == 0 && ctx.Err() != nil {
			return matched, skipped, ctx.Err()
		}
		line := sc.Text()
		if strings.HasPrefix(line, "#fields") {
			zeekFields = map[string]int{}
			for i, f := range strings.Split(line, "\t")[1:] {
				zeekFields[f] = i
			}
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		client, query, ts, ok := parseDNSLogLine(line, zeekFields)
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
	if err := sc.Err(); err != nil {
		return matched, skipped, fmt.Errorf("%s: %w", name, err)
	}
	return matched, skipped, nil
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
