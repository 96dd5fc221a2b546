package flow

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/netsense"
)

// Rules are the thresholds of intel data/flows.json.
type Rules struct {
	Comment   string `json:"comment"`
	LongLived struct {
		MinSeconds        float64 `json:"min_seconds"`
		MaxBytesPerSecond float64 `json:"max_bytes_per_second"`
		MinPackets        uint64  `json:"min_packets"`
	} `json:"long_lived"`
	OrdinaryPorts []struct {
		Port    uint16 `json:"port"`
		Service string `json:"service"`
	} `json:"ordinary_ports"`
	MaxConversations    int `json:"max_conversations"`
	MaxConnections      int `json:"max_connections"`
	MaxConnectionsTotal int `json:"max_connections_total"`
	MaxRecordTimes      int `json:"max_record_times"`
}

// LoadRules reads and checks flows.json of an intel set.
func LoadRules(db *intel.DB) (Rules, error) {
	var r Rules
	if err := db.Section("flows", &r); err != nil {
		return r, err
	}
	if r.LongLived.MinSeconds <= 0 || r.LongLived.MaxBytesPerSecond <= 0 || r.MaxConversations <= 0 || r.MaxConnections <= 0 || r.MaxConnectionsTotal <= 0 || r.MaxRecordTimes <= 0 {
		return r, fmt.Errorf("intel flows.json: long_lived thresholds and the max_ limits must be positive")
	}
	for i, p := range r.OrdinaryPorts {
		if _, ok := db.Port(p.Port); ok || p.Port == 0 {
			return r, fmt.Errorf("intel flows.json: ordinary_ports[%d]: %d is a mining port or 0", i, p.Port)
		}
	}
	return r, nil
}

// PoolNet is a pool network from a feed (`minerguard intel update`),
// judged like the embedded pools.json addresses.
type PoolNet struct {
	Prefix           netip.Prefix
	Source, Category string
}

type convKey struct {
	client, server netip.Addr
	port           uint16
	proto          uint8
}

type conn struct {
	first, last    time.Time
	packets, bytes uint64
}

// conv is everything one client sent to and got from one server port.
type conv struct {
	convKey
	records        uint64
	packets, bytes uint64
	first, last    time.Time
	conns          map[uint16]*conn // by client port
	times          []time.Time      // record start times, for off-hours
	exporters      []string
}

// maxTimes bounds the record times kept per conversation; maxExporters
// the exporter names.
const (
	maxTimes     = 10000
	maxExporters = 8
)

// Analyzer judges flow records. Add is cheap; Findings does the judging
// and may be called again as more records arrive (the collector's
// periodic summaries).
type Analyzer struct {
	db       *intel.DB
	rules    Rules
	ordinary map[uint16]string
	pools    []PoolNet
	convs    map[convKey]*conv
	// Work are the working hours timing is judged against.
	Work netsense.WorkHours
	// Records counts records added; Dropped those of conversations past
	// the max_conversations limit.
	Records, Dropped uint64
	conns, times     int // kept over all conversations
}

// NewAnalyzer returns an analyzer with db's pools, ports and flow rules.
func NewAnalyzer(db *intel.DB) (*Analyzer, error) {
	r, err := LoadRules(db)
	if err != nil {
		return nil, err
	}
	a := &Analyzer{db: db, rules: r, ordinary: map[uint16]string{}, convs: map[convKey]*conv{}, Work: netsense.DefaultWorkHours}
	for _, p := range r.OrdinaryPorts {
		a.ordinary[p.Port] = p.Service
	}
	return a, nil
}

// AddPoolNets adds pool networks from feeds.
func (a *Analyzer) AddPoolNets(p ...PoolNet) { a.pools = append(a.pools, p...) }

func (a *Analyzer) pool(addr netip.Addr) (source, category string, ok bool) {
	if e, ok := a.db.IP(addr); ok {
		return e.Source, e.Category, true
	}
	for _, p := range a.pools {
		if p.Prefix.Contains(addr) {
			return p.Source, p.Category, true
		}
	}
	return "", "", false
}

// serverScore says how much an endpoint looks like the serving side:
// pool address, mining port, ordinary service port, privileged port.
func (a *Analyzer) serverScore(addr netip.Addr, port uint16) int {
	if _, _, ok := a.pool(addr); ok {
		return 4
	}
	if _, ok := a.db.Port(port); ok {
		return 3
	}
	if _, ok := a.ordinary[port]; ok {
		return 2
	}
	if port != 0 && port < 1024 {
		return 1
	}
	return 0
}

// Add accounts one record. NetFlow records carry one direction each with
// no word of who connected; the server side is guessed (pool address,
// mining or service port, lower port) so both directions land in one
// conversation.
func (a *Analyzer) Add(r Record) {
	a.Records++
	client, cport, server, sport := r.Src.Unmap(), r.SrcPort, r.Dst.Unmap(), r.DstPort
	if !r.Oriented {
		cs, ss := a.serverScore(client, cport), a.serverScore(server, sport)
		if cs > ss || (cs == ss && cport < sport) {
			client, cport, server, sport = server, sport, client, cport
		}
	}
	k := convKey{client, server, sport, r.Proto}
	c := a.convs[k]
	if c == nil {
		if len(a.convs) >= a.rules.MaxConversations {
			a.Dropped++
			return
		}
		c = &conv{convKey: k, first: r.First, last: r.Last, conns: map[uint16]*conn{}}
		a.convs[k] = c
	}
	c.records++
	c.packets += r.Packets
	c.bytes += r.Bytes
	if r.First.Before(c.first) {
		c.first = r.First
	}
	if r.Last.After(c.last) {
		c.last = r.Last
	}
	if len(c.times) < maxTimes && a.times < a.rules.MaxRecordTimes {
		c.times = append(c.times, r.First)
		a.times++
	}
	if len(c.exporters) < maxExporters && !containsStr(c.exporters, r.Exporter) {
		c.exporters = append(c.exporters, r.Exporter)
	}
	cn := c.conns[cport]
	if cn == nil {
		if len(c.conns) >= a.rules.MaxConnections || a.conns >= a.rules.MaxConnectionsTotal {
			return
		}
		cn = &conn{first: r.First, last: r.Last}
		c.conns[cport] = cn
		a.conns++
	}
	cn.packets += r.Packets
	cn.bytes += r.Bytes
	if r.First.Before(cn.first) {
		cn.first = r.First
	}
	if r.Last.After(cn.last) {
		cn.last = r.Last
	}
}

// Conversations is how many client/server/port conversations are kept.
func (a *Analyzer) Conversations() int { return len(a.convs) }

// Findings judges every conversation; most severe first, and within a
// severity the hosts that rank highest (Rank) first.
func (a *Analyzer) Findings() []findings.Finding {
	keys := make([]convKey, 0, len(a.convs))
	for k := range a.convs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	var out []findings.Finding
	for _, k := range keys {
		out = append(out, a.judge(a.convs[k])...)
	}
	rank := map[string]int{}
	for i, h := range Rank(out) {
		rank[h.SrcIP] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		return rank[out[i].Evidence.SrcIP] < rank[out[j].Evidence.SrcIP]
	})
	return out
}

func keyLess(x, y convKey) bool {
	if c := x.client.Compare(y.client); c != 0 {
		return c < 0
	}
	if c := x.server.Compare(y.server); c != 0 {
		return c < 0
	}
	if x.port != y.port {
		return x.port < y.port
	}
	return x.proto < y.proto
}

func (a *Analyzer) judge(c *conv) []findings.Finding {
	ev := findings.Evidence{
		SrcIP: c.client.String(), DstIP: c.server.String(), DstPort: int(c.port), Protocol: ProtoName(c.proto),
		Packets: c.packets, Bytes: c.bytes,
	}
	first, last := c.first, c.last
	ev.FirstSeen, ev.LastSeen = &first, &last
	if len(c.conns) == 1 {
		for p := range c.conns {
			ev.SrcPort = int(p)
		}
	}
	dst := netip.AddrPortFrom(c.server, c.port).String()
	details := func(extra ...string) map[string]string {
		d := map[string]string{
			"connections": fmt.Sprint(len(c.conns)), "records": fmt.Sprint(c.records),
			"duration": c.last.Sub(c.first).Round(time.Second).String(), "exporters": strings.Join(c.exporters, " "),
		}
		for i := 0; i+1 < len(extra); i += 2 {
			d[extra[i]] = extra[i+1]
		}
		return d
	}
	var out []findings.Finding
	add := func(f findings.Finding) {
		f.Check, f.Signal = "net.flows", findings.SignalNetwork
		if f.Evidence.Details == nil {
			f.Evidence.Details = details()
		}
		out = append(out, f)
	}
	strong := false // the destination itself is a mining indicator
	if src, cat, ok := a.pool(c.server); ok {
		strong = true
		e := ev
		e.Details = details("pool_source", src, "pool_category", cat)
		add(findings.Finding{
			Rule: "net.flow_pool_ip", Severity: findings.High, Confidence: 0.85,
			Title:       fmt.Sprintf("%s connects to mining pool address %s", ev.SrcIP, dst),
			Description: fmt.Sprintf("%s is a listed %s address (source %s); %d packets, %d bytes over %d connections.", c.server, cat, src, c.packets, c.bytes, len(c.conns)),
			Evidence:    e,
			Remediation: "Trace the source address to its host and owner, scan and clean it (minerguard scan), and block the pool address (minerguard blocklist).",
		})
	} else if p, ok := a.db.Port(c.port); ok && c.proto == ProtoTCP {
		strong = true
		f := findings.Finding{
			Rule: "net.flow_mining_port", Severity: findings.Medium, Confidence: 0.5,
			Title:       fmt.Sprintf("%s connects to mining port %s", ev.SrcIP, dst),
			Description: fmt.Sprintf("TCP port %d is a mining port (%s); %d packets, %d bytes over %d connections.", c.port, p.Weight, c.packets, c.bytes, len(c.conns)),
			Evidence:    ev,
			Remediation: "Scan the source host (minerguard scan) or capture the traffic (minerguard net pcap) to see whether it speaks Stratum.",
		}
		if p.Weight != "strong" {
			f.Severity, f.Confidence = findings.Low, 0.25
			f.Description += " The port has other uses too: " + p.Note
			strong = false
		}
		add(f)
	}
	_, ordinary := a.ordinary[c.port]
	// Long quiet sessions are judged on TCP only: a UDP "connection" is
	// just a port pair, and NTP or VPN keep one for days.
	var long *conn
	if c.proto == ProtoTCP && (strong || !ordinary) {
		long = a.longLived(c)
	}
	if long != nil {
		span := long.last.Sub(long.first)
		rate := float64(long.bytes) / span.Seconds()
		f := findings.Finding{
			Rule: "net.flow_long_lived", Severity: findings.Low, Confidence: 0.3,
			Title:       fmt.Sprintf("%s holds a long, quiet connection to %s (%s, %.0f B/s)", ev.SrcIP, dst, span.Round(time.Second), rate),
			Description: fmt.Sprintf("One connection stayed open %s averaging %.0f bytes/s over %d packets: a mining session idles between jobs and shares like this.", span.Round(time.Second), rate, long.packets),
			Evidence:    ev,
			Remediation: "Find the process holding the connection on the source host (minerguard scan).",
		}
		f.Evidence.FirstSeen, f.Evidence.LastSeen = &long.first, &long.last
		f.Evidence.Packets, f.Evidence.Bytes = long.packets, long.bytes
		f.Evidence.Details = details("connection_duration", span.Round(time.Second).String(), "bytes_per_second", fmt.Sprintf("%.1f", rate))
		if strong {
			f.Severity, f.Confidence = findings.Medium, 0.6
		}
		add(f)
	}
	if !strong && long == nil {
		return out
	}
	// Timing is judged only where something already points at mining, as
	// the DNS path does: periodic and night-time traffic alone is backups
	// and monitoring.
	sev := findings.Low
	if strong {
		sev = findings.Medium
	}
	starts := make([]time.Time, 0, len(c.conns))
	for _, cn := range c.conns {
		starts = append(starts, cn.first)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	if period, cv, ok := netsense.Periodic(starts); ok {
		f := findings.Finding{
			Rule: "net.flow_beacon", Severity: sev, Confidence: 0.6,
			Title:       fmt.Sprintf("%s connects to %s every %s", ev.SrcIP, dst, period.Round(time.Second)),
			Description: fmt.Sprintf("%d connections at a regular interval (%s, relative jitter %.2f): a program reconnecting, not a person.", len(starts), period.Round(time.Second), cv),
			Evidence:    ev,
			Remediation: "Find the process on that machine that opens the connections (minerguard scan).",
		}
		f.Evidence.Details = details("period", period.Round(time.Second).String(), "jitter", fmt.Sprintf("%.2f", cv))
		add(f)
	}
	if len(c.times) >= 3 {
		off := 0
		for _, t := range c.times {
			if !a.Work.Within(t) {
				off++
			}
		}
		if off*2 >= len(c.times) {
			wh := a.Work
			days := ""
			if wh.Weekdays {
				days = " on weekdays"
			}
			f := findings.Finding{
				Rule: "net.flow_off_hours", Severity: sev, Confidence: 0.5,
				Title:       fmt.Sprintf("%s talks to %s mostly outside working hours (%d of %d records)", ev.SrcIP, dst, off, len(c.times)),
				Description: fmt.Sprintf("%d of %d flow records start outside %02d:00-%02d:00%s: activity with nobody at work, as unattended miners show.", off, len(c.times), wh.Start, wh.End, days),
				Evidence:    ev,
				Remediation: "Find who uses the machine at those hours; scan it (minerguard scan).",
			}
			f.Evidence.Details = details("off_hours", fmt.Sprint(off), "timed_records", fmt.Sprint(len(c.times)))
			add(f)
		}
	}
	return out
}

// longLived returns the longest connection that is long and quiet enough.
func (a *Analyzer) longLived(c *conv) *conn {
	ll := a.rules.LongLived
	var best *conn
	for _, cn := range c.conns {
		span := cn.last.Sub(cn.first).Seconds()
		if span < ll.MinSeconds || cn.packets < ll.MinPackets || float64(cn.bytes)/span > ll.MaxBytesPerSecond {
			continue
		}
		if best == nil || cn.last.Sub(cn.first) > best.last.Sub(best.first) {
			best = cn
		}
	}
	if best == nil {
		return nil
	}
	cp := *best
	return &cp
}

// HostRank is one internal source host's standing: the hosts most likely
// to be mining first.
type HostRank struct {
	SrcIP    string
	Score    float64 // sum of severity x confidence over its findings
	Severity findings.Severity
	Findings int
	Bytes    uint64
	Remotes  []string
	Rules    []string
}

// Rank summarises findings per source host, highest score first.
func Rank(fs []findings.Finding) []HostRank {
	by := map[string]*HostRank{}
	for _, f := range fs {
		h := by[f.Evidence.SrcIP]
		if h == nil {
			h = &HostRank{SrcIP: f.Evidence.SrcIP}
			by[f.Evidence.SrcIP] = h
		}
		h.Findings++
		h.Score += float64(f.Severity) * f.Confidence
		h.Severity = findings.Max(h.Severity, f.Severity)
		if !containsStr(h.Rules, f.Rule) {
			h.Rules = append(h.Rules, f.Rule)
		}
		r := netip.AddrPortFrom(netip.MustParseAddr(f.Evidence.DstIP), uint16(f.Evidence.DstPort)).String()
		if !containsStr(h.Remotes, r) {
			h.Remotes = append(h.Remotes, r)
			h.Bytes += f.Evidence.Bytes
		}
	}
	out := make([]HostRank, 0, len(by))
	for _, h := range by {
		sort.Strings(h.Remotes)
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].SrcIP < out[j].SrcIP
	})
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
