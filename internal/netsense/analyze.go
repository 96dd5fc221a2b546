package netsense

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

// maxFlows bounds the flow table; the oldest flows are judged and dropped.
const maxFlows = 100000

type endpoint struct {
	addr netip.Addr
	port uint16
}

type flowKey struct{ a, b endpoint } // a < b

type flow struct {
	client, server endpoint
	known          bool // client side known from a SYN
	dir            [2]direction
	sess           Session
	first, last    time.Time
	packets, bytes uint64
	alerted        bool // a live capture was told about it
}

// Analyzer accumulates what captures show.
type Analyzer struct {
	db    *intel.DB
	flows map[flowKey]*flow
	order []flowKey
	dns   map[string]*findings.Finding
	times map[string][]time.Time
	out   []findings.Finding
	// Work are the working hours timing is judged against.
	Work WorkHours
	// Alert, when set, is called as soon as a flow or lookup is
	// recognised (live capture); Findings still reports everything.
	Alert   func(findings.Finding)
	Packets uint64
	Errors  []string
}

// NewAnalyzer returns an analyzer judging against db.
func NewAnalyzer(db *intel.DB) *Analyzer {
	return &Analyzer{db: db, flows: map[flowKey]*flow{}, dns: map[string]*findings.Finding{}, times: map[string][]time.Time{}, Work: DefaultWorkHours}
}

// ReadCapture reads a pcap or pcapng stream.
func (a *Analyzer) ReadCapture(ctx context.Context, r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return fmt.Errorf("%s: not a capture: %w", name, err)
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	var src source
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return fmt.Errorf("%s: pcapng: %w", name, err)
		}
		src = ng
	} else {
		p, err := pcapgo.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: pcap: %w", name, err)
		}
		src = p
	}
	decoder := src.LinkType()
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// A truncated capture still yields what came before.
			a.Errors = append(a.Errors, fmt.Sprintf("%s: packet %d: %v", name, n+1, err))
			return nil
		}
		a.Packets++
		pkt := gopacket.NewPacket(data, decoder, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		a.packet(pkt, ci.Timestamp)
	}
}

func (a *Analyzer) packet(pkt gopacket.Packet, ts time.Time) {
	var src, dst netip.Addr
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		return
	}
	src, dst = src.Unmap(), dst.Unmap()
	if dl := pkt.Layer(layers.LayerTypeDNS); dl != nil {
		if dns, ok := dl.(*layers.DNS); ok && !dns.QR {
			for _, q := range dns.Questions {
				a.dnsQuery(src, dst, string(q.Name), ts)
			}
		}
	}
	tl, ok := pkt.TransportLayer().(*layers.TCP)
	if !ok {
		return
	}
	s := endpoint{src, uint16(tl.SrcPort)}
	d := endpoint{dst, uint16(tl.DstPort)}
	k := flowKey{s, d}
	if less(d, s) {
		k = flowKey{d, s}
	}
	f := a.flows[k]
	if f == nil {
		if len(a.flows) >= maxFlows {
			a.evict()
		}
		f = &flow{client: s, server: d, first: ts}
		if d.port > s.port && !tl.SYN {
			f.client, f.server = d, s // the ephemeral port is the client's
		}
		a.flows[k] = f
		a.order = append(a.order, k)
	}
	if tl.SYN && !tl.ACK && !f.known {
		f.client, f.server, f.known = s, d, true
	}
	f.last = ts
	f.packets++
	f.bytes += uint64(len(tl.Payload))
	i := 0
	if s != f.client {
		i = 1
	}
	dir := &f.dir[i]
	for _, msg := range dir.messages(dir.add(tl.Seq, tl.Payload, tl.SYN)) {
		f.sess.Feed(msg)
	}
	if a.Alert != nil && !f.alerted {
		a.alert(f)
	}
}

// alert tells a live capture about a flow as soon as it is recognised,
// not when it ends (a miner's connection lasts for days).
func (a *Analyzer) alert(f *flow) {
	switch {
	case f.sess.Dialect != "" && f.sess.Messages >= 2:
		f.alerted = true
		a.Alert(a.sessionFinding(f, flowEvidence(f)))
	case f.dir[0].sni != "":
		if fd, ok := a.sniFinding(f, flowEvidence(f)); ok {
			f.alerted = true
			a.Alert(fd)
		}
	}
}

func less(x, y endpoint) bool {
	if c := x.addr.Compare(y.addr); c != 0 {
		return c < 0
	}
	return x.port < y.port
}

func (a *Analyzer) evict() {
	k := a.order[0]
	a.order = a.order[1:]
	if f := a.flows[k]; f != nil {
		a.judge(f)
		delete(a.flows, k)
	}
}

func (a *Analyzer) dnsQuery(src, dst netip.Addr, name string, ts time.Time) {
	name = intel.NormalizeDomain(name)
	d, listed := a.db.Domain(name)
	kw, keyword := a.db.DomainKeyword(name)
	if !listed && !keyword {
		return
	}
	key := src.String() + "|" + name
	if !ts.IsZero() && len(a.times[key]) < maxTimes {
		a.times[key] = append(a.times[key], ts)
	}
	if f, ok := a.dns[key]; ok {
		if !ts.IsZero() {
			t := ts
			f.Evidence.LastSeen = &t
		}
		f.Evidence.Packets++
		return
	}
	t1, t2 := ts, ts
	ev := findings.Evidence{SrcIP: src.String(), Domain: name, Packets: 1}
	if dst.IsValid() {
		ev.DstIP, ev.DstPort = dst.String(), 53
	}
	if !ts.IsZero() {
		ev.FirstSeen, ev.LastSeen = &t1, &t2
	}
	f := &findings.Finding{
		Rule: "net.dns_pool", Check: "net.dns", Severity: findings.High, Signal: findings.SignalNetwork,
		Title:       fmt.Sprintf("%s looked up mining domain %s", src, name),
		Evidence:    ev,
		Remediation: "Find the host behind the source address and scan it (minerguard scan); block the domain at the resolver (minerguard blocklist).",
		Confidence:  0.8,
	}
	if listed {
		f.Description = fmt.Sprintf("%s is a listed %s domain (source %s).", name, d.Category, d.Source)
	} else {
		f.Rule, f.Severity, f.Confidence = "net.dns_pool_keyword", findings.Low, 0.3
		f.Description = fmt.Sprintf("%s is not listed but contains the mining keyword %q.", name, kw)
	}
	a.dns[key] = f
	if a.Alert != nil {
		a.Alert(*f)
	}
}

func flowEvidence(f *flow) findings.Evidence {
	ev := findings.Evidence{
		SrcIP: f.client.addr.String(), SrcPort: int(f.client.port),
		DstIP: f.server.addr.String(), DstPort: int(f.server.port),
		Packets: f.packets, Bytes: f.bytes,
	}
	t1, t2 := f.first, f.last
	ev.FirstSeen, ev.LastSeen = &t1, &t2
	ev.Domain = firstNonEmpty(f.dir[0].host, f.dir[0].sni)
	return ev
}

// judge turns a finished flow into findings.
func (a *Analyzer) judge(f *flow) {
	for i := range f.dir {
		d := &f.dir[i]
		d.flush(func(b []byte) {
			for _, msg := range d.messages(b) {
				f.sess.Feed(msg)
			}
		})
	}
	ev := flowEvidence(f)
	if f.sess.Dialect != "" {
		a.out = append(a.out, a.sessionFinding(f, ev))
		return
	}
	if sni := f.dir[0].sni; sni != "" {
		if fd, ok := a.sniFinding(f, ev); ok {
			a.out = append(a.out, fd)
		}
	}
}

// sessionFinding reports a flow that speaks a mining protocol.
func (a *Analyzer) sessionFinding(f *flow, ev findings.Evidence) findings.Finding {
	s := f.sess
	ev.Dialect, ev.Worker = s.Dialect, s.Worker
	if w := a.db.FindWallets(s.Worker); len(w) > 0 {
		ev.Wallet, ev.Coin = w[0].Address, w[0].Coin
	}
	ev.Details = map[string]string{"shares": fmt.Sprint(s.Shares), "jobs": fmt.Sprint(s.Jobs), "messages": fmt.Sprint(s.Messages)}
	if s.Algorithm != "" {
		ev.Details["algorithm"] = s.Algorithm
	}
	if s.Agent != "" {
		ev.Details["agent"] = s.Agent
	}
	if lost := f.dir[0].lost + f.dir[1].lost; lost > 0 {
		ev.Details["bytes_lost"] = fmt.Sprint(lost)
	}
	sev, conf := findings.High, 0.9
	if s.Worker != "" || s.Shares > 0 {
		sev, conf = findings.Critical, 0.98
	}
	return findings.Finding{
		Rule: "net.stratum", Check: "net.pcap", Severity: sev, Signal: findings.SignalNetwork,
		Title:       fmt.Sprintf("%s speaks %s to %s:%d", ev.SrcIP, s.Dialect, ev.DstIP, ev.DstPort),
		Description: fmt.Sprintf("The connection carries the %s mining protocol (%d messages, %d shares submitted, %d jobs).", s.Dialect, s.Messages, s.Shares, s.Jobs),
		Evidence:    ev, Confidence: conf,
		Remediation: "Trace the source address to its host and owner, scan and clean it (minerguard scan, clean), and block the pool.",
	}
}

// sniFinding reports a TLS connection to a listed mining domain.
func (a *Analyzer) sniFinding(f *flow, ev findings.Evidence) (findings.Finding, bool) {
	sni := f.dir[0].sni
	d, ok := a.db.Domain(sni)
	if !ok {
		return findings.Finding{}, false
	}
	ev.SNI = sni
	return findings.Finding{
		Rule: "net.tls_pool_sni", Check: "net.pcap", Severity: findings.High, Signal: findings.SignalNetwork,
		Title:       fmt.Sprintf("%s opened TLS to mining domain %s", ev.SrcIP, sni),
		Description: fmt.Sprintf("The TLS ClientHello names %s, a listed %s domain: encrypted mining or a browser miner.", sni, d.Category),
		Evidence:    ev, Confidence: 0.85,
		Remediation: "Trace the source address to its host; block the domain (minerguard blocklist).",
	}, true
}

// Findings judges every open flow and returns all findings, most severe first.
func (a *Analyzer) Findings() []findings.Finding {
	for _, k := range a.order {
		if f := a.flows[k]; f != nil {
			a.judge(f)
		}
	}
	a.flows, a.order = map[flowKey]*flow{}, nil
	out := append([]findings.Finding{}, a.out...)
	keys := make([]string, 0, len(a.dns))
	for k := range a.dns {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, *a.dns[k])
	}
	out = append(out, timingFindings(a.dns, a.times, a.Work)...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		return out[i].Evidence.SrcIP < out[j].Evidence.SrcIP
	})
	return out
}

// Incidents groups findings by internal source address: one per host that mines.
func Incidents(fs []findings.Finding) []findings.Incident {
	by := map[string][]int{}
	var hosts []string
	for i, f := range fs {
		h := f.Evidence.SrcIP
		if _, ok := by[h]; !ok {
			hosts = append(hosts, h)
		}
		by[h] = append(by[h], i)
	}
	var out []findings.Incident
	for _, h := range hosts {
		in := findings.Incident{Findings: by[h], Signals: []findings.Signal{findings.SignalNetwork}}
		remotes := map[string]bool{}
		miss := 1.0
		for _, i := range by[h] {
			f := fs[i]
			in.Severity = findings.Max(in.Severity, f.Severity)
			in.Summary = append(in.Summary, f.Title)
			miss *= 1 - f.Confidence
			if !containsStr(in.Rules, f.Rule) {
				in.Rules = append(in.Rules, f.Rule)
			}
			if f.Evidence.DstIP != "" && f.Rule != "net.dns_pool" && f.Rule != "net.dns_pool_keyword" {
				remotes[netip.AddrPortFrom(netip.MustParseAddr(f.Evidence.DstIP), uint16(f.Evidence.DstPort)).String()] = true
			}
		}
		for r := range remotes {
			in.Remotes = append(in.Remotes, r)
		}
		sort.Strings(in.Remotes)
		in.Confidence = float64(int((1-miss)*100+0.5)) / 100
		who := h
		if d := fs[by[h][0]].Evidence.Details; d["host"] != "" || d["owner"] != "" {
			var parts []string
			for _, k := range []string{"host", "owner", "department", "location"} {
				if d[k] != "" {
					parts = append(parts, d[k])
				}
			}
			who = fmt.Sprintf("%s (%s)", h, strings.Join(parts, ", "))
		}
		in.Title = fmt.Sprintf("host %s: %s", who, strings.Join(in.Rules, ", "))
		out = append(out, in)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Severity > out[j].Severity })
	for n := range out {
		out[n].ID = fmt.Sprintf("INC-%03d", n+1)
		for _, i := range out[n].Findings {
			fs[i].Incident = out[n].ID
		}
	}
	return out
}

func containsStr(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
