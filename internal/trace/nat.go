package trace

import (
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/lines"
)

// Translation is one source-NAT mapping: an inside address and port seen
// outside as another, towards a remote endpoint, for a time.
type Translation struct {
	Proto      string // "tcp", "udp", "" when the log does not say
	Inside     netip.AddrPort
	Outside    netip.AddrPort
	Remote     netip.AddrPort // zero when the log does not say
	Start, End time.Time      // zero when not known
	Source     string         // file:line
}

// natSlack is how far a finding's time may lie outside a translation's
// logged lifetime (clocks of the sensor and the NAT box differ).
const natSlack = 2 * time.Minute

// maxNATLine bounds one log line; longer ones are skipped (Warnings).
const maxNATLine = 64 << 10

// AddNATLog reads translations from a NAT or firewall log: Linux
// conntrack event output (`conntrack -E -o timestamp`, and `conntrack -L`),
// Cisco ASA/FTD syslog (305011 built / 305012 teardown), and FortiGate
// traffic logs (srcip/transip/transport). Lines of other kinds are
// skipped; skipped says how many.
func (t *Tracer) AddNATLog(r io.Reader, name string, year int) (skipped int, err error) {
	r, err = lines.Decompress(r)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	lr := lines.NewReader(r, maxNATLine)
	open := map[string]int{} // key -> index in t.nat of an open translation
	for lr.Next() {
		line := string(lr.Bytes())
		src := fmt.Sprintf("%s:%d", name, lr.Line())
		switch {
		case strings.Contains(line, "src=") && strings.Contains(line, "sport="):
			if !t.conntrackLine(line, src, open) {
				skipped++
			}
		case strings.Contains(line, "%ASA-") || strings.Contains(line, "%FTD-"):
			if !t.asaLine(line, src, year, open) {
				skipped++
			}
		case strings.Contains(line, "transip="):
			if !t.fortiLine(line, src) {
				skipped++
			}
		default:
			skipped++
		}
	}
	skipped += lr.LongCount
	t.Warnings = append(t.Warnings, lr.Warnings(name)...)
	if err := lr.Err(); err != nil {
		return skipped, fmt.Errorf("%s: line %d: %w", name, lr.Line()+1, err)
	}
	sort.SliceStable(t.nat, func(i, j int) bool { return t.nat[i].Start.Before(t.nat[j].Start) })
	return skipped, nil
}

var (
	ctStamp  = regexp.MustCompile(`^\s*\[(\d+)(?:\.(\d{1,9}))?\]`)
	ctEvent  = regexp.MustCompile(`\[(NEW|UPDATE|DESTROY)\]`)
	ctTuple  = regexp.MustCompile(`src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)`)
	ctProto  = regexp.MustCompile(`(?:^|\s)(tcp|udp|sctp|dccp)\s`)
	asaXlate = regexp.MustCompile(`%(?:ASA|FTD)-\d-30501([12]): (Built|Teardown) (?:dynamic|static) (TCP|UDP|ICMP) translation from [^:\s]+:([0-9a-fA-F.:]+)/(\d+) to [^:\s]+:([0-9a-fA-F.:]+)/(\d+)`)
	asaTime  = regexp.MustCompile(`([A-Z][a-z]{2}) +(\d{1,2})(?: (\d{4}))? (\d{2}):(\d{2}):(\d{2})`)
)

func addrPort(a, p string) (netip.AddrPort, bool) {
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return netip.AddrPort{}, false
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(n)), true
}

func natKey(proto string, inside netip.AddrPort, remote netip.AddrPort) string {
	return proto + "|" + inside.String() + "|" + remote.String()
}

// conntrackLine reads one conntrack entry: the original tuple is inside →
// remote, the reply tuple remote → outside; a translation is when the
// reply's destination is not the original source.
func (t *Tracer) conntrackLine(line, src string, open map[string]int) bool {
	tuples := ctTuple.FindAllStringSubmatch(line, 2)
	if len(tuples) < 2 {
		return false
	}
	inside, ok1 := addrPort(tuples[0][1], tuples[0][3])
	remote, ok2 := addrPort(tuples[0][2], tuples[0][4])
	outside, ok3 := addrPort(tuples[1][2], tuples[1][4])
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	if outside == inside {
		return true // no source NAT: nothing to trace, but a line we know
	}
	var ts time.Time
	if m := ctStamp.FindStringSubmatch(line); m != nil {
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		ns := int64(0)
		if m[2] != "" {
			frac := m[2] + strings.Repeat("0", 9-len(m[2]))
			ns, _ = strconv.ParseInt(frac, 10, 64)
		}
		ts = time.Unix(sec, ns).UTC()
	}
	proto := ""
	if m := ctProto.FindStringSubmatch(line); m != nil {
		proto = m[1]
	}
	event := "NEW"
	if m := ctEvent.FindStringSubmatch(line); m != nil {
		event = m[1]
	}
	key := natKey(proto, inside, remote)
	if event == "DESTROY" {
		if i, ok := open[key]; ok {
			t.nat[i].End = ts
			delete(open, key)
			return true
		}
		t.nat = append(t.nat, Translation{Proto: proto, Inside: inside, Outside: outside, Remote: remote, End: ts, Source: src})
		return true
	}
	if i, ok := open[key]; ok && t.nat[i].Outside == outside {
		return true // an UPDATE of a known translation
	}
	open[key] = len(t.nat)
	t.nat = append(t.nat, Translation{Proto: proto, Inside: inside, Outside: outside, Remote: remote, Start: ts, Source: src})
	return true
}

// asaLine reads Cisco ASA/FTD 305011 (built) and 305012 (teardown).
func (t *Tracer) asaLine(line, src string, year int, open map[string]int) bool {
	m := asaXlate.FindStringSubmatch(line)
	if m == nil {
		return false
	}
	inside, ok1 := addrPort(m[4], m[5])
	outside, ok2 := addrPort(m[6], m[7])
	if !ok1 || !ok2 {
		return false
	}
	var ts time.Time
	if tm := asaTime.FindStringSubmatch(line); tm != nil {
		y := year
		if tm[3] != "" {
			y, _ = strconv.Atoi(tm[3])
		}
		if parsed, err := time.Parse("Jan 2 2006 15:04:05", fmt.Sprintf("%s %s %d %s:%s:%s", tm[1], tm[2], y, tm[4], tm[5], tm[6])); err == nil {
			ts = parsed
		}
	}
	proto := strings.ToLower(m[3])
	key := natKey(proto, inside, netip.AddrPort{}) + "|" + outside.String()
	if m[2] == "Teardown" {
		if i, ok := open[key]; ok {
			t.nat[i].End = ts
			delete(open, key)
		} else {
			t.nat = append(t.nat, Translation{Proto: proto, Inside: inside, Outside: outside, End: ts, Source: src})
		}
		return true
	}
	open[key] = len(t.nat)
	t.nat = append(t.nat, Translation{Proto: proto, Inside: inside, Outside: outside, Start: ts, Source: src})
	return true
}

// fortiLine reads a FortiGate traffic log line (key=value, quoted values).
func (t *Tracer) fortiLine(line, src string) bool {
	kv := map[string]string{}
	for _, f := range splitKV(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = strings.Trim(v, `"`)
		}
	}
	inside, ok1 := addrPort(kv["srcip"], kv["srcport"])
	outside, ok2 := addrPort(kv["transip"], kv["transport"])
	if !ok1 || !ok2 {
		return false
	}
	remote, _ := addrPort(kv["dstip"], kv["dstport"])
	tr := Translation{Inside: inside, Outside: outside, Remote: remote, Source: src}
	switch kv["proto"] {
	case "6":
		tr.Proto = "tcp"
	case "17":
		tr.Proto = "udp"
	}
	if ts, err := time.Parse("2006-01-02 15:04:05", kv["date"]+" "+kv["time"]); err == nil {
		tr.End = ts // a traffic log is written when the session ends
		if d, err := strconv.Atoi(kv["duration"]); err == nil {
			tr.Start = ts.Add(-time.Duration(d) * time.Second)
		}
	}
	t.nat = append(t.nat, tr)
	return true
}

// splitKV splits on spaces outside double quotes.
func splitKV(s string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ' ':
			if !quoted {
				if i > start {
					out = append(out, s[start:i])
				}
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// Untranslate finds the inside endpoint behind an outside (post-NAT)
// source at time at; remote, when valid, must match the translation's
// remote when the log recorded one. The translation whose lifetime holds
// at (with slack) wins; without a time, the latest.
func (t *Tracer) Untranslate(outside netip.AddrPort, remote netip.AddrPort, at time.Time) (Translation, bool) {
	var best *Translation
	for i := range t.nat {
		tr := &t.nat[i]
		if tr.Outside != outside {
			continue
		}
		if remote.IsValid() && tr.Remote.IsValid() && tr.Remote != remote {
			continue
		}
		if !at.IsZero() {
			if !tr.Start.IsZero() && at.Before(tr.Start.Add(-natSlack)) {
				continue
			}
			if !tr.End.IsZero() && at.After(tr.End.Add(natSlack)) {
				continue
			}
		}
		if best == nil || tr.Start.After(best.Start) {
			best = tr
		}
	}
	if best == nil {
		return Translation{}, false
	}
	return *best, true
}
