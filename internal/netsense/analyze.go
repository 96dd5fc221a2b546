package netsense

import (
	"bufio"
	"context"
	"encoding/binary"
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
	"github.com/minerguard/minerguard/internal/lines"
)

// maxFlows bounds the flow table; the least recently active flow is
// judged and dropped to make room.
const maxFlows = 100000

// closeLinger is how long (capture time) a flow closed by FIN both ways or
// RST stays in the table before it is judged, so that segments the
// capture saw late still land in it.
const closeLinger = 5 * time.Second

// idleTimeout judges and drops a flow silent this long in capture time:
// a pool sends a miner jobs or keepalives every minute or two, so a live
// mining connection is never this quiet.
const idleTimeout = 15 * time.Minute

// sweepEvery is how many packets pass between expiry sweeps.
const sweepEvery = 1024

type endpoint struct {
	addr netip.Addr
	port uint16
}

type flowKey struct{ a, b endpoint } // a < b

type flow struct {
	key            flowKey
	client, server endpoint
	known          bool // client side known from a SYN
	dir            [2]direction
	sess           Session
	shape          shape
	first, last    time.Time
	packets, bytes uint64
	alerted        bool  // a live capture was told about it
	fins           uint8 // bit i: direction i sent FIN
	closing        bool  // FIN both ways or RST: judged after closeLinger
	closedAt       time.Time
	prev, next     *flow // activity order, least recent first
}

// Analyzer accumulates what captures show. Memory stays bounded however
// long the input: finished flows are judged and dropped as they close,
// go idle or, past maxFlows, as the least recently active.
type Analyzer struct {
	db         *intel.DB
	flows      map[flowKey]*flow
	head, tail *flow   // activity order
	closing    []*flow // FIFO of flows waiting out closeLinger
	now        time.Time
	frame      frame
	dnsLayer   layers.DNS
	lower      []byte // scratch: a log's query name, lower-cased
	dns        map[string]*findings.Finding
	times      map[string][]time.Time
	out        []findings.Finding
	// Work are the working hours timing is judged against.
	Work WorkHours
	// Fingerprints maps JA3 hashes and JA4 fingerprints of miners' TLS
	// clients to a name (the user's list: minerguard ships no unverified
	// fingerprints).
	Fingerprints map[string]string
	// Shape holds the flow-shape detector's thresholds.
	Shape ShapeRules
	// ShapeLog, when set, is told the shape detector's verdict on every
	// connection that lasted at least half its minimum duration, mining
	// or not: how the detector is measured.
	ShapeLog func(ShapeReport)
	// Alert, when set, is called as soon as a flow or lookup is
	// recognised (live capture); Findings still reports everything.
	Alert   func(findings.Finding)
	Packets uint64
	Errors  []string

	undecoded int // frames that were not IP (ARP, a link type not read)
}

// NewAnalyzer returns an analyzer judging against db.
func NewAnalyzer(db *intel.DB) *Analyzer {
	return &Analyzer{db: db, flows: map[flowKey]*flow{}, dns: map[string]*findings.Finding{}, times: map[string][]time.Time{}, Work: DefaultWorkHours, Shape: DefaultShapeRules}
}

// ReadCapture reads a pcap or pcapng stream (a pcap may be gzipped).
func (a *Analyzer) ReadCapture(ctx context.Context, r io.Reader, name string) error {
	r, err := lines.Decompress(r)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return fmt.Errorf("%s: not a capture: %w", name, err)
	}
	// Zero-copy reads: a packet's bytes are only valid until the next
	// read, and nothing keeps them (reassembly copies what it holds).
	type source interface {
		ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	var src source
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return fmt.Errorf("%s: pcapng: %w", name, err)
		}
		src = ngRecords{ng}
	} else {
		p, err := newPcapRecords(br)
		if err != nil {
			return fmt.Errorf("%s: pcap: %w", name, err)
		}
		src = p
	}
	link := src.LinkType()
	undecoded := a.undecoded
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		data, ci, err := src.ZeroCopyReadPacketData()
		if err == io.EOF {
			// A capture of a link type nothing here reads would otherwise
			// pass as a capture without mining.
			if n > 0 && a.undecoded-undecoded == n {
				a.Errors = append(a.Errors, fmt.Sprintf("%s: none of its %d packets could be decoded (link type %d): nothing in it was analysed", name, n, link))
			}
			return nil
		}
		if err != nil {
			// A truncated capture still yields what came before.
			a.Errors = append(a.Errors, fmt.Sprintf("%s: packet %d: %v", name, n+1, err))
			return nil
		}
		a.Packet(data, link, ci.Timestamp)
	}
}

// Packet analyses one frame of a capture.
func (a *Analyzer) Packet(data []byte, link layers.LinkType, ts time.Time) {
	a.Packets++
	if ts.After(a.now) {
		a.now = ts
	}
	if a.Packets%sweepEvery == 0 {
		a.expire()
	}
	p := &a.frame
	if !decodeFrame(data, link, p) {
		a.undecoded++
		return
	}
	if (p.sport == 53 || p.dport == 53) && len(p.payload) >= 12 {
		a.dnsPacket(p, ts)
	}
	if p.proto == layers.IPProtocolTCP {
		a.tcp(p, ts)
	}
}

// dnsPacket reads the questions of a DNS query (UDP, or one whole
// message in a TCP segment behind its length prefix).
func (a *Analyzer) dnsPacket(p *frame, ts time.Time) {
	msg := p.payload
	if p.proto == layers.IPProtocolTCP {
		if len(msg) < 14 || int(binary.BigEndian.Uint16(msg)) != len(msg)-2 {
			return
		}
		msg = msg[2:]
	}
	if msg[2]&0x80 != 0 {
		return // an answer: the query said it all
	}
	if a.dnsLayer.DecodeFromBytes(msg, gopacket.NilDecodeFeedback) != nil {
		return
	}
	for _, q := range a.dnsLayer.Questions {
		a.dnsQuery(p.src, p.dst, string(q.Name), ts)
	}
}

func (a *Analyzer) tcp(p *frame, ts time.Time) {
	s := endpoint{p.src, p.sport}
	d := endpoint{p.dst, p.dport}
	k := flowKey{s, d}
	if less(d, s) {
		k = flowKey{d, s}
	}
	f := a.flows[k]
	if f != nil && f.closing && p.syn && !p.ack {
		a.drop(f) // the 4-tuple is reused by a new connection
		f = nil
	}
	if f == nil {
		if len(a.flows) >= maxFlows {
			a.drop(a.head)
		}
		f = &flow{key: k, client: s, server: d, first: ts, shape: newShape()}
		if d.port > s.port && !p.syn {
			f.client, f.server = d, s // the ephemeral port is the client's
		}
		a.flows[k] = f
		a.link(f)
	} else if f != a.tail {
		a.unlink(f)
		a.link(f)
	}
	if p.syn && !p.ack && !f.known {
		f.client, f.server, f.known = s, d, true
	}
	f.last = ts
	f.packets++
	f.bytes += uint64(len(p.payload))
	i := 0
	if s != f.client {
		i = 1
	}
	f.shape.packet(i, p.seq, len(p.payload), ts, f.first)
	if dir := &f.dir[i]; !dir.opaque {
		// Encrypted data is not reassembled: nothing in it can be read.
		dir.feed(dir.add(p.seq, p.payload, p.syn), &f.sess)
	}
	if a.Alert != nil && !f.alerted {
		a.alert(f)
	}
	if p.fin {
		f.fins |= 1 << i
	}
	if !f.closing && (p.rst || f.fins == 3) {
		f.closing, f.closedAt = true, ts
		a.closing = append(a.closing, f)
	}
}

// link appends f as the most recently active flow.
func (a *Analyzer) link(f *flow) {
	f.prev, f.next = a.tail, nil
	if a.tail != nil {
		a.tail.next = f
	} else {
		a.head = f
	}
	a.tail = f
}

func (a *Analyzer) unlink(f *flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		a.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		a.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// drop judges a flow and forgets it.
func (a *Analyzer) drop(f *flow) {
	a.unlink(f)
	delete(a.flows, f.key)
	a.judge(f)
}

// expire drops flows that closed more than closeLinger ago and flows idle
// for idleTimeout, in capture time.
func (a *Analyzer) expire() {
	n := 0
	for ; n < len(a.closing); n++ {
		f := a.closing[n]
		if a.flows[f.key] != f {
			continue // already dropped
		}
		if a.now.Sub(f.closedAt) < closeLinger {
			break
		}
		a.drop(f)
	}
	// Shift rather than reslice, so the queue's array is reused.
	a.closing = a.closing[:copy(a.closing, a.closing[n:])]
	for a.head != nil && a.now.Sub(a.head.last) > idleTimeout {
		a.drop(a.head)
	}
}

// alert tells a live capture about a flow as soon as it is recognised,
// not when it ends (a miner's connection lasts for days).
func (a *Analyzer) alert(f *flow) {
	switch {
	case f.sess.Dialect != "" && f.sess.Messages >= 2:
		f.alerted = true
		a.Alert(a.sessionFinding(f, flowEvidence(f)))
	case f.packets%64 == 0 && f.last.Sub(f.first) >= a.Shape.MinDuration && f.sess.Dialect == "" && shapeEligible(f):
		if v := f.shape.verdict(a.Shape, f.first, f.last); v.Mining {
			f.alerted = true
			a.Alert(a.shapeFinding(f, flowEvidence(f), v))
		}
	case f.dir[0].sni != "" || f.dir[0].ja3 != "":
		if fd, ok := a.sniFinding(f, flowEvidence(f)); ok && f.dir[0].sni != "" {
			f.alerted = true
			a.Alert(fd)
		} else if fd, ok := a.fingerprintFinding(f, flowEvidence(f)); ok {
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
		d.flush(func(b []byte) { d.feed(b, &f.sess) })
	}
	ev := flowEvidence(f)
	f.shape.finish(f.first)
	// The verdict is worked out once, and only when something uses it.
	var v shapeVerdict
	judged := false
	verdict := func() shapeVerdict {
		if !judged {
			v, judged = f.shape.verdict(a.Shape, f.first, f.last), true
		}
		return v
	}
	if a.ShapeLog != nil && f.last.Sub(f.first) >= a.Shape.MinDuration/2 {
		v := verdict()
		a.ShapeLog(ShapeReport{Client: netip.AddrPortFrom(f.client.addr, f.client.port), Server: netip.AddrPortFrom(f.server.addr, f.server.port),
			Readable: !shapeEligible(f) || f.sess.Dialect != "", Mining: v.Mining, Reason: v.Reason, Details: v.Details})
	}
	if f.sess.Dialect != "" {
		a.out = append(a.out, withShape(verdict(), a.sessionFinding(f, ev)))
		return
	}
	if sni := f.dir[0].sni; sni != "" {
		if fd, ok := a.sniFinding(f, ev); ok {
			a.out = append(a.out, withShape(verdict(), fd))
			return
		}
	}
	if fd, ok := a.fingerprintFinding(f, ev); ok {
		a.out = append(a.out, withShape(verdict(), fd))
		return
	}
	if shapeEligible(f) && verdict().Mining {
		a.out = append(a.out, a.shapeFinding(f, ev, v))
	}
}

// withShape notes on a finding made from content or names what the
// shape detector says of the same flow: on every capture, the flows
// recognised by content measure the detector's recall.
func withShape(v shapeVerdict, fd findings.Finding) findings.Finding {
	if fd.Evidence.Details == nil {
		fd.Evidence.Details = map[string]string{}
	}
	if v.Mining {
		fd.Evidence.Details["flow_shape"] = "mining"
	} else {
		fd.Evidence.Details["flow_shape"] = "no: " + v.Reason
	}
	return fd
}

// shapeFinding reports a connection whose content cannot be read but
// whose message sizes and timing are a miner's (v, see shape.go).
func (a *Analyzer) shapeFinding(f *flow, ev findings.Evidence, v shapeVerdict) findings.Finding {
	ev.SNI = f.dir[0].sni
	ev.Details = helloDetails(&f.dir[0])
	for k, val := range v.Details {
		ev.Details[k] = val
	}
	what := "an unreadable"
	if f.dir[0].tlsHello || f.dir[0].opaque {
		what = "a TLS"
	}
	return findings.Finding{
		Rule: "net.flow_shape", Check: "net.pcap", Severity: findings.Medium, Signal: findings.SignalNetwork,
		Title: fmt.Sprintf("%s keeps %s connection to %s:%d shaped like mining (%s client messages of ~%s bytes, %s jobs pushed)",
			ev.SrcIP, what, ev.DstIP, ev.DstPort, v.Details["client_messages"], v.Details["client_size"], v.Details["jobs"]),
		Description: "The content is encrypted or unreadable, but the connection has a miner's shape: long-lived, small messages of constant size from the client, each answered within a round trip by a short constant-size reply, and larger unsolicited pushes from the server (new jobs), nothing bulky. Push and long-poll APIs with fixed-size messages can look the same: confirm on the host.",
		Evidence:    ev, Confidence: shapeConfidence,
		Remediation: "Trace the source address to its host and scan it (minerguard scan): the process holding this connection is the suspect.",
	}
}

// shapeEligible: the detector judges only connections whose content
// minerguard cannot read. Plain HTTP and JSON that parsed as something
// other than mining, and SSH, are readable and judged on content.
func shapeEligible(f *flow) bool {
	c := &f.dir[0]
	switch {
	case c.ssh || f.dir[1].ssh:
		return false
	case c.http && !c.websocket:
		return false
	case f.sess.Other > 0:
		return false
	}
	return true
}

// fingerprintFinding reports a TLS ClientHello whose JA4 or JA3
// fingerprint is on the user's list of miners' fingerprints, whatever
// name it sends.
func (a *Analyzer) fingerprintFinding(f *flow, ev findings.Evidence) (findings.Finding, bool) {
	d := &f.dir[0]
	kind, fp := "JA4", d.ja4
	name, ok := a.Fingerprints[fp]
	if !ok || fp == "" {
		kind, fp = "JA3", d.ja3
		name, ok = a.Fingerprints[fp]
	}
	if fp == "" || !ok {
		return findings.Finding{}, false
	}
	ev.SNI = d.sni
	ev.Details = helloDetails(d)
	ev.Details["fingerprint_name"] = name
	return findings.Finding{
		Rule: "net.tls_miner_" + strings.ToLower(kind), Check: "net.pcap", Severity: findings.High, Signal: findings.SignalNetwork,
		Title:       fmt.Sprintf("%s opened TLS with the fingerprint of %s (%s %s)", ev.SrcIP, name, kind, fp),
		Description: fmt.Sprintf("The TLS ClientHello's %s fingerprint (version, cipher suites, extensions) is on the list of miners' fingerprints: encrypted mining whatever pool name it uses.", kind),
		Evidence:    ev, Confidence: 0.7,
		Remediation: "Trace the source address to its host and scan it (minerguard scan); block the destination.",
	}, true
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
	ev.Details = helloDetails(&f.dir[0])
	return findings.Finding{
		Rule: "net.tls_pool_sni", Check: "net.pcap", Severity: findings.High, Signal: findings.SignalNetwork,
		Title:       fmt.Sprintf("%s opened TLS to mining domain %s", ev.SrcIP, sni),
		Description: fmt.Sprintf("The TLS ClientHello names %s, a listed %s domain: encrypted mining or a browser miner.", sni, d.Category),
		Evidence:    ev, Confidence: 0.85,
		Remediation: "Trace the source address to its host; block the domain (minerguard blocklist).",
	}, true
}

// helloDetails are the ClientHello's fingerprints, as evidence.
func helloDetails(d *direction) map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{"ja3": d.ja3, "ja3_full": d.ja3Full, "ja4": d.ja4, "ja4_o": d.ja4o} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// Findings judges every open flow and returns all findings, most severe first.
func (a *Analyzer) Findings() []findings.Finding {
	for f := a.head; f != nil; f = f.next {
		a.judge(f)
	}
	a.flows, a.head, a.tail, a.closing = map[flowKey]*flow{}, nil, nil, nil
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
