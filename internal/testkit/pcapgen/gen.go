// Package pcapgen writes large mixed captures for tests and benchmarks of
// the net commands: many benign TCP flows (HTTP, TLS, SSH-like, non-mining
// JSON-RPC over HTTP and as lines), DNS over UDP, and six planted mining
// sessions (XMRig login/job/submit, Stratum v1, EthereumStratum/NiceHash,
// ETHPROXY) spread over the whole capture with real TCP sequence numbers,
// some segments lost or swapped. Every address is internal (10/8,
// fd00::/8) or from a documentation range: the capture names no real host.
package pcapgen

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/minerguard/minerguard/internal/netsense"
)

// Config sizes a generated capture.
type Config struct {
	Size       int64  // stop at about this many bytes of capture file
	Seed       uint64 // same seed, same capture
	Concurrent int    // benign flows open at once
	Start      time.Time
}

// Planted is one mining session the capture carries.
type Planted struct {
	Client, Server netip.AddrPort
	Dialect        string // a netsense dialect
	Worker         string
	Pool           string // the name the client looked up first ("" when none)
	Note           string // how the session is damaged or cut
}

// Manifest is what was written: the truth a test compares findings with.
type Manifest struct {
	Sessions []Planted
	Packets  int64
	Bytes    int64
	Flows    map[string]int // benign flows per kind
}

const mss = 1448

// gen holds the state of one run.
type gen struct {
	cfg    Config
	rng    *rand.Rand
	w      *pcapgo.Writer
	bw     *bufio.Writer
	now    time.Time
	noise  []byte // random bytes that encrypted and compressed payloads are cut from
	buf    gopacket.SerializeBuffer
	man    *Manifest
	nextIP uint32
}

// Generate writes a pcap (Ethernet) of benign traffic with the mining
// sessions of plantedSessions woven through it, and says what it planted.
func Generate(out io.Writer, cfg Config) (*Manifest, error) {
	if cfg.Concurrent <= 0 {
		cfg.Concurrent = 256
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) // a Monday morning
	}
	g := &gen{
		cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6d696e6572)),
		bw: bufio.NewWriterSize(out, 1<<20), now: cfg.Start,
		buf: gopacket.NewSerializeBuffer(), man: &Manifest{Flows: map[string]int{}},
	}
	g.noise = make([]byte, 4<<20)
	for i := range g.noise {
		g.noise[i] = byte(g.rng.Uint32())
	}
	g.w = pcapgo.NewWriter(g.bw)
	if err := g.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	g.man.Bytes = 24
	miners := g.plant()
	open := make([]*tcpFlow, 0, cfg.Concurrent)
	for g.man.Bytes < cfg.Size {
		// Mining sessions speak at their byte marks, spread over the capture.
		for _, m := range miners {
			for len(m.marks) > 0 && g.man.Bytes >= m.marks[0] {
				m.marks = m.marks[1:]
				if err := g.step(m.flow); err != nil {
					return nil, err
				}
			}
		}
		if g.rng.IntN(12) == 0 {
			if err := g.dnsExchange(g.client(false), g.benignName(), ""); err != nil {
				return nil, err
			}
			continue
		}
		for len(open) < cfg.Concurrent {
			open = append(open, g.benign())
		}
		i := g.rng.IntN(len(open))
		if err := g.step(open[i]); err != nil {
			return nil, err
		}
		if open[i].done() {
			open[i] = open[len(open)-1]
			open = open[:len(open)-1]
		}
	}
	// Whatever the mining sessions have left is said at the end.
	for _, m := range miners {
		for !m.flow.done() {
			if err := g.step(m.flow); err != nil {
				return nil, err
			}
		}
	}
	return g.man, g.bw.Flush()
}

// --- addresses -------------------------------------------------------------

// client returns an internal address (10.0.0.0/8 or fd00::/8).
func (g *gen) client(v6 bool) netip.Addr {
	g.nextIP++
	n := g.nextIP%4000 + 2
	if v6 {
		return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, 1, 14: byte(n >> 8), 15: byte(n)})
	}
	return netip.AddrFrom4([4]byte{10, byte(n >> 12), byte(n >> 4), byte(n<<4 | 1)})
}

// server returns a documentation address (RFC 5737 / RFC 3849): the
// capture never names a real host.
func (g *gen) server(v6 bool) netip.Addr {
	n := g.rng.IntN(254) + 1
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(g.rng.IntN(16)), 15: byte(n)})
	}
	nets := [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
	p := nets[g.rng.IntN(len(nets))]
	return netip.AddrFrom4([4]byte{p[0], p[1], p[2], byte(n)})
}

func (g *gen) ephemeral() uint16 { return uint16(32768 + g.rng.IntN(28000)) }

// --- frames ----------------------------------------------------------------

func mac(a netip.Addr) net.HardwareAddr {
	b := a.As16()
	return net.HardwareAddr{0x02, 0x42, b[12], b[13], b[14], b[15]}
}

func (g *gen) tick() {
	// Exponential gaps, about 2,500 packets a second.
	g.now = g.now.Add(time.Duration(g.rng.ExpFloat64() * 400 * float64(time.Microsecond)))
}

func (g *gen) frame(src, dst netip.Addr, transport gopacket.SerializableLayer, payload []byte) error {
	eth := &layers.Ethernet{SrcMAC: mac(src), DstMAC: mac(dst)}
	var network gopacket.SerializableLayer
	var proto layers.IPProtocol
	switch transport.(type) {
	case *layers.TCP:
		proto = layers.IPProtocolTCP
	default:
		proto = layers.IPProtocolUDP
	}
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Flags: layers.IPv4DontFragment}
		network = ip
		setNet(transport, ip)
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		network = ip
		setNet(transport, ip)
	}
	if err := gopacket.SerializeLayers(g.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, network, transport, gopacket.Payload(payload)); err != nil {
		return err
	}
	g.tick()
	b := g.buf.Bytes()
	if err := g.w.WritePacket(gopacket.CaptureInfo{Timestamp: g.now, CaptureLength: len(b), Length: len(b)}, b); err != nil {
		return err
	}
	g.man.Packets++
	g.man.Bytes += int64(16 + len(b))
	return nil
}

func setNet(t gopacket.SerializableLayer, n gopacket.NetworkLayer) {
	switch t := t.(type) {
	case *layers.TCP:
		_ = t.SetNetworkLayerForChecksum(n)
	case *layers.UDP:
		_ = t.SetNetworkLayerForChecksum(n)
	}
}

// --- TCP flows -------------------------------------------------------------

// chunk is one application write; segs splits it at these offsets
// instead of at the MSS when set (a message cut across segments).
type chunk struct {
	fromClient bool
	data       []byte
	cuts       []int
}

// tcpFlow plays a TCP connection one packet per step: handshake, the
// chunks cut into segments with ACKs, then FIN/ACK both ways.
type tcpFlow struct {
	cli, srv   netip.AddrPort
	cseq, sseq uint32 // next sequence number per side
	chunks     []chunk
	queue      []pkt // packets of the current chunk still to send
	handshake  bool
	opened     bool
	closed     bool
	lossRate   float64 // chance a data segment never reaches the capture
	swapRate   float64 // chance two data segments arrive swapped
	lose       map[int]bool
	swap       map[int]bool
	segN       int
}

type pkt struct {
	fromClient bool
	flags      uint8 // 1 SYN 2 ACK 4 FIN 8 PSH
	seq, ack   uint32
	data       []byte
}

func (f *tcpFlow) done() bool { return f.closed && len(f.queue) == 0 }

func (g *gen) newFlow(cli, srv netip.AddrPort, chunks []chunk) *tcpFlow {
	return &tcpFlow{cli: cli, srv: srv, cseq: g.rng.Uint32(), sseq: g.rng.Uint32(), chunks: chunks, handshake: true}
}

// step writes the flow's next packet.
func (g *gen) step(f *tcpFlow) error {
	if len(f.queue) == 0 {
		f.refill(g)
	}
	if len(f.queue) == 0 {
		return nil
	}
	p := f.queue[0]
	f.queue = f.queue[1:]
	src, dst := f.cli, f.srv
	if !p.fromClient {
		src, dst = f.srv, f.cli
	}
	t := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: p.seq, Ack: p.ack, Window: 64240,
		SYN: p.flags&1 != 0, ACK: p.flags&2 != 0, FIN: p.flags&4 != 0, PSH: p.flags&8 != 0}
	return g.frame(src.Addr(), dst.Addr(), t, p.data)
}

// refill queues the packets of the next stage of the flow.
func (f *tcpFlow) refill(g *gen) {
	switch {
	case !f.opened:
		f.opened = true
		if f.handshake {
			f.queue = append(f.queue,
				pkt{true, 1, f.cseq, 0, nil},
				pkt{false, 1 | 2, f.sseq, f.cseq + 1, nil},
				pkt{true, 2, f.cseq + 1, f.sseq + 1, nil})
			f.cseq++
			f.sseq++
		}
	case len(f.chunks) > 0:
		c := f.chunks[0]
		f.chunks = f.chunks[1:]
		f.segment(g, c)
	case !f.closed:
		f.closed = true
		f.queue = append(f.queue,
			pkt{true, 4 | 2, f.cseq, f.sseq, nil},
			pkt{false, 4 | 2, f.sseq, f.cseq + 1, nil},
			pkt{true, 2, f.cseq + 1, f.sseq + 1, nil})
	}
}

// segment cuts a chunk into data segments, each other one acknowledged,
// some lost or swapped with the next.
func (f *tcpFlow) segment(g *gen, c chunk) {
	seq, ack := &f.cseq, f.sseq
	if !c.fromClient {
		seq, ack = &f.sseq, f.cseq
	}
	cuts := c.cuts
	if cuts == nil {
		for o := mss; o < len(c.data); o += mss {
			cuts = append(cuts, o)
		}
	}
	var segs []pkt
	prev := 0
	for _, o := range append(cuts, len(c.data)) {
		segs = append(segs, pkt{c.fromClient, 2 | 8, *seq + uint32(prev), ack, c.data[prev:o]})
		prev = o
	}
	*seq += uint32(len(c.data))
	for i := 0; i < len(segs); i++ {
		f.segN++
		if f.lose[f.segN] || f.lossRate > 0 && g.rng.Float64() < f.lossRate {
			continue
		}
		if i+1 < len(segs) && (f.swap[f.segN] || f.swapRate > 0 && g.rng.Float64() < f.swapRate) {
			segs[i], segs[i+1] = segs[i+1], segs[i]
		}
		f.queue = append(f.queue, segs[i])
		if i%2 == 1 || i == len(segs)-1 {
			end := segs[i].seq + uint32(len(segs[i].data))
			f.queue = append(f.queue, pkt{!c.fromClient, 2, ack, end, nil})
		}
	}
}

// --- benign traffic --------------------------------------------------------

var words = []string{"alpha", "north", "cloud", "static", "media", "news", "shop", "docs", "api", "cdn", "mail", "files",
	"update", "video", "maps", "forum", "wiki", "travel", "bank", "school", "photo", "music", "weather", "sport"}
var tlds = []string{"example", "example.com", "example.net", "example.org", "test"}

func (g *gen) benignName() string {
	return words[g.rng.IntN(len(words))] + "." + words[g.rng.IntN(len(words))] + fmt.Sprint(g.rng.IntN(100)) + "." + tlds[g.rng.IntN(len(tlds))]
}

func (g *gen) noiseN(n int) []byte {
	if n > len(g.noise) {
		n = len(g.noise)
	}
	o := g.rng.IntN(len(g.noise) - n + 1)
	return g.noise[o : o+n]
}

// size draws a heavy-tailed size between lo and hi.
func (g *gen) size(lo, hi int) int {
	s := int(float64(lo) / (1 - g.rng.Float64()*0.999))
	return min(s, hi)
}

func (g *gen) benign() *tcpFlow {
	v6 := g.rng.IntN(10) == 0
	cli := netip.AddrPortFrom(g.client(v6), g.ephemeral())
	var kind string
	var port uint16
	var chunks []chunk
	switch r := g.rng.IntN(100); {
	case r < 30:
		kind, port = "http", 80
		host := g.benignName()
		for range 1 + g.rng.IntN(3) { // keep-alive: several requests
			body := g.noiseN(g.size(2000, 400000))
			chunks = append(chunks,
				chunk{true, fmt.Appendf(nil, "GET /%s/%d.jpg HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n\r\n", words[g.rng.IntN(len(words))], g.rng.IntN(1e6), host), nil},
				chunk{false, append(fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(body)), body...), nil})
		}
	case r < 72:
		kind, port = "tls", 443
		chunks = append(chunks, chunk{true, clientHello(g, g.benignName()), nil},
			chunk{false, tlsRecords(g, 0x16, g.size(3000, 6000)), nil})
		for range 1 + g.rng.IntN(4) {
			chunks = append(chunks, chunk{true, tlsRecords(g, 0x17, g.size(300, 6000)), nil},
				chunk{false, tlsRecords(g, 0x17, g.size(4000, 1500000)), nil})
		}
	case r < 80:
		kind, port = "ssh", 22
		chunks = append(chunks, chunk{false, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"), nil},
			chunk{true, []byte("SSH-2.0-OpenSSH_9.6\r\n"), nil},
			chunk{true, g.noiseN(1500), nil}, chunk{false, g.noiseN(1100), nil})
		for range 2 + g.rng.IntN(20) {
			chunks = append(chunks, chunk{true, g.noiseN(g.size(36, 4000)), nil}, chunk{false, g.noiseN(g.size(36, 200000)), nil})
		}
	case r < 88:
		kind, port = "jsonrpc-http", 8545
		for i := range 1 + g.rng.IntN(8) {
			req, resp := ethRPC(g, i+1)
			chunks = append(chunks,
				chunk{true, append(fmt.Appendf(nil, "POST / HTTP/1.1\r\nHost: node.example:8545\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(req)), req...), nil},
				chunk{false, append(fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(resp)), resp...), nil})
		}
	default:
		kind, port = "jsonrpc-lines", 50001 // Electrum-style newline-delimited JSON-RPC
		for i := range 2 + g.rng.IntN(30) {
			req, resp := electrumRPC(g, i+1)
			chunks = append(chunks, chunk{true, req, nil}, chunk{false, resp, nil})
		}
	}
	g.man.Flows[kind]++
	f := g.newFlow(cli, netip.AddrPortFrom(g.server(v6), port), chunks)
	f.lossRate, f.swapRate = 0.001, 0.005
	return f
}

func clientHello(g *gen, sni string) []byte {
	var ext []byte
	name := []byte(sni)
	sn := []byte{0, 0, byte((len(name) + 5) >> 8), byte(len(name) + 5), byte((len(name) + 3) >> 8), byte(len(name) + 3), 0, byte(len(name) >> 8), byte(len(name))}
	ext = append(append(ext, sn...), name...)
	ext = append(ext, 0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d) // supported_groups
	body := []byte{0x03, 0x03}
	body = append(body, g.noiseN(32)...)
	body = append(body, 32)
	body = append(body, g.noiseN(32)...)
	body = append(body, 0x00, 0x04, 0x13, 0x01, 0x13, 0x02, 0x01, 0x00)
	body = append(body, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{0x01, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 0x03, 0x01, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

// tlsRecords returns n bytes of TLS records of one type with random contents.
func tlsRecords(g *gen, typ byte, n int) []byte {
	var out []byte
	for n > 5 {
		l := min(n-5, 16384)
		out = append(out, typ, 0x03, 0x03, byte(l>>8), byte(l))
		out = append(out, g.noiseN(l)...)
		n -= l + 5
	}
	return out
}

func hexN(g *gen, n int) string { return hex.EncodeToString(g.noiseN(n)) }

var ethMethods = []string{"eth_blockNumber", "eth_getBalance", "eth_call", "eth_getTransactionReceipt", "eth_gasPrice", "net_version", "eth_getLogs"}

func ethRPC(g *gen, id int) (req, resp []byte) {
	m := ethMethods[g.rng.IntN(len(ethMethods))]
	req = fmt.Appendf(nil, `{"jsonrpc":"2.0","method":"%s","params":["0x%s","latest"],"id":%d}`, m, hexN(g, 20), id)
	resp = fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"result":"0x%s"}`, id, hexN(g, 8+g.rng.IntN(200)))
	return req, resp
}

var electrumMethods = []string{"server.version", "blockchain.headers.subscribe", "blockchain.scripthash.subscribe", "blockchain.scripthash.get_history", "blockchain.transaction.get", "server.ping", "user.login"}

func electrumRPC(g *gen, id int) (req, resp []byte) {
	m := electrumMethods[g.rng.IntN(len(electrumMethods))]
	req = fmt.Appendf(nil, "{\"jsonrpc\": \"2.0\", \"method\": \"%s\", \"params\": [\"%s\"], \"id\": %d}\n", m, hexN(g, 32), id)
	resp = fmt.Appendf(nil, "{\"jsonrpc\": \"2.0\", \"result\": {\"hex\": \"%s\", \"height\": %d}, \"id\": %d}\n", hexN(g, 40+g.rng.IntN(400)), 800000+g.rng.IntN(10000), id)
	return req, resp
}

// dnsExchange writes a query and its answer over UDP.
func (g *gen) dnsExchange(cli netip.Addr, name, _ string) error {
	v6 := cli.Is6()
	res := netip.AddrFrom4([4]byte{10, 0, 0, 53})
	if v6 {
		res = netip.MustParseAddr("fd00::53")
	}
	id := uint16(g.rng.Uint32())
	port := g.ephemeral()
	q := &layers.DNS{ID: id, RD: true, Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	if err := g.udp(cli, port, res, 53, q); err != nil {
		return err
	}
	a := *q
	a.QR, a.RA = true, true
	a.Answers = []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: g.server(false).AsSlice()}}
	return g.udp(res, 53, cli, port, &a)
}

func (g *gen) udp(src netip.Addr, sp uint16, dst netip.Addr, dp uint16, dns *layers.DNS) error {
	b := gopacket.NewSerializeBuffer()
	if err := dns.SerializeTo(b, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		return err
	}
	return g.frame(src, dst, &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}, b.Bytes())
}

// --- mining sessions -------------------------------------------------------

type miner struct {
	flow  *tcpFlow
	marks []int64 // capture sizes at which the next packet goes out
}

const base58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func (g *gen) b58(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(base58[g.rng.IntN(len(base58))])
	}
	return b.String()
}

// plant builds the mining sessions: every dialect minerguard knows,
// some damaged the way real captures are.
func (g *gen) plant() []*miner {
	type spec struct {
		dialect, pool, note string
		port                uint16
		handshake           bool
		lose, swap          []int // data segment numbers (1-based) lost or swapped
		split               bool  // messages cut across segments
	}
	specs := []spec{
		{netsense.DialectXMR, "pool.supportxmr.com", "clean", 3333, true, nil, nil, false},
		{netsense.DialectXMR, "gulf.moneroocean.stream", "a submit segment lost, two segments swapped", 10128, true, []int{9}, []int{14}, false},
		{netsense.DialectStratum1, "stratum.slushpool.com", "lines cut across segments, one pair swapped", 3333, true, nil, []int{7}, true},
		{netsense.DialectStratum1, "", "capture starts mid-connection (no handshake, no lookup)", 4444, false, nil, nil, false},
		{netsense.DialectEthStrat, "eth.2miners.com", "NiceHash EthereumStratum/1.0.0, a notify segment lost", 2020, true, []int{6}, nil, false},
		{netsense.DialectEthProxy, "eu1.ethermine.org", "ETHPROXY, lines cut across segments", 4444, true, nil, nil, true},
	}
	var out []*miner
	for i, s := range specs {
		v6 := i == 4
		cli := netip.AddrPortFrom(g.client(v6), g.ephemeral())
		srv := netip.AddrPortFrom(g.server(v6), s.port)
		worker, chunks := g.script(s.dialect, 12+g.rng.IntN(8))
		if s.split {
			for j := range chunks {
				if n := len(chunks[j].data); n > 20 {
					chunks[j].cuts = []int{7 + g.rng.IntN(n-14)}
				}
			}
		}
		f := g.newFlow(cli, srv, chunks)
		f.handshake = s.handshake
		f.lose, f.swap = map[int]bool{}, map[int]bool{}
		for _, n := range s.lose {
			f.lose[n] = true
		}
		for _, n := range s.swap {
			f.swap[n] = true
		}
		if s.pool != "" {
			// The lookup comes first, written now, at the capture's start.
			if err := g.dnsExchange(cli.Addr(), s.pool, ""); err != nil {
				panic(err)
			}
		}
		g.man.Sessions = append(g.man.Sessions, Planted{Client: cli, Server: srv, Dialect: s.dialect, Worker: worker, Pool: s.pool, Note: s.note})
		// Packets are spread evenly from a start mark to the capture's end.
		n := f.packets()
		start := g.cfg.Size * int64(2+i*3) / 100
		m := &miner{flow: f}
		for k := range n {
			m.marks = append(m.marks, start+(g.cfg.Size*95/100-start)*int64(k)/int64(n))
		}
		out = append(out, m)
	}
	return out
}

// packets counts what step will write, by playing a copy.
func (f *tcpFlow) packets() int {
	c := *f
	c.chunks = append([]chunk(nil), f.chunks...)
	g := &gen{rng: rand.New(rand.NewPCG(1, 1))}
	n := 0
	for !c.done() {
		if len(c.queue) == 0 {
			c.refill(g)
		}
		n += len(c.queue)
		c.queue = nil
		if c.closed {
			break
		}
	}
	return n
}

// script writes a mining conversation of rounds job/submit exchanges.
func (g *gen) script(dialect string, rounds int) (worker string, cs []chunk) {
	cl := func(s string, a ...any) { cs = append(cs, chunk{true, fmt.Appendf(nil, s+"\n", a...), nil}) }
	sv := func(s string, a ...any) { cs = append(cs, chunk{false, fmt.Appendf(nil, s+"\n", a...), nil}) }
	switch dialect {
	case netsense.DialectXMR:
		worker = "4" + "8" + g.b58(93)
		cl(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"%s","pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0","cn/r","rx/wow"]}}`, worker)
		sv(`{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"%s","job":{"blob":"%s","job_id":"%s","target":"b88d0600","algo":"rx/0","height":3012345,"seed_hash":"%s"},"extensions":["algo","nicehash","connect","tls","keepalive"],"status":"OK"}}`, hexN(g, 8), hexN(g, 76), hexN(g, 4), hexN(g, 32))
		for r := range rounds {
			sv(`{"jsonrpc":"2.0","method":"job","params":{"blob":"%s","job_id":"%s","target":"b88d0600","algo":"rx/0","height":%d,"seed_hash":"%s"}}`, hexN(g, 76), hexN(g, 4), 3012345+r, hexN(g, 32))
			cl(`{"id":%d,"jsonrpc":"2.0","method":"submit","params":{"id":"%s","job_id":"%s","nonce":"%s","result":"%s","algo":"rx/0"}}`, r+2, hexN(g, 8), hexN(g, 4), hexN(g, 4), hexN(g, 32))
			sv(`{"id":%d,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}`, r+2)
			if r%4 == 3 {
				cl(`{"id":%d,"jsonrpc":"2.0","method":"keepalived","params":{"id":"%s"}}`, 1000+r, hexN(g, 8))
			}
		}
	case netsense.DialectStratum1:
		worker = "bc1q" + strings.ToLower(g.b58(38)) + ".rig" + fmt.Sprint(g.rng.IntN(10))
		cl(`{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.12.1"]}`)
		sv(`{"id":1,"result":[[["mining.set_difficulty","%s"],["mining.notify","%s"]],"%s",4],"error":null}`, hexN(g, 4), hexN(g, 4), hexN(g, 4))
		cl(`{"params": ["%s", "x"], "id": 2, "method": "mining.authorize"}`, worker)
		sv(`{"id":2,"result":true,"error":null}`)
		sv(`{"id":null,"method":"mining.set_difficulty","params":[8192]}`)
		for r := range rounds {
			sv(`{"id":null,"method":"mining.notify","params":["%x","%s","%s","%s",[],"20000000","1705ae3a","%s",%v]}`, r, hexN(g, 32), hexN(g, 40), hexN(g, 30), hexN(g, 4), r%5 == 0)
			cl(`{"id": %d, "method": "mining.submit", "params": ["%s", "%x", "%s", "%s", "%s"]}`, r+4, worker, r, hexN(g, 4), hexN(g, 4), hexN(g, 4))
			sv(`{"id":%d,"result":true,"error":null}`, r+4)
		}
	case netsense.DialectEthStrat:
		worker = "0x" + hexN(g, 20) + ".rig1"
		cl(`{"id":1,"method":"mining.subscribe","params":["EthMiner/0.19.0","EthereumStratum/1.0.0"]}`)
		sv(`{"id":1,"result":[["mining.notify","%s","EthereumStratum/1.0.0"],"080c"],"error":null}`, hexN(g, 16))
		cl(`{"id":2,"method":"mining.authorize","params":["%s","x"]}`, worker)
		sv(`{"id":2,"result":true,"error":null}`)
		sv(`{"id":null,"method":"mining.set_difficulty","params":[0.5]}`)
		for r := range rounds {
			sv(`{"id":null,"method":"mining.notify","params":["%s","%s","%s",%v]}`, hexN(g, 4), hexN(g, 3), hexN(g, 32), r%6 == 0)
			cl(`{"id":%d,"method":"mining.submit","params":["%s","%s","%s"]}`, r+3, worker, hexN(g, 4), hexN(g, 6))
			sv(`{"id":%d,"result":true,"error":null}`, r+3)
		}
	case netsense.DialectEthProxy:
		worker = "0x" + hexN(g, 20)
		cl(`{"worker":"rig7","jsonrpc":"2.0","params":["%s","x"],"id":2,"method":"eth_submitLogin"}`, worker)
		sv(`{"id":2,"jsonrpc":"2.0","result":true}`)
		for r := range rounds {
			cl(`{"id":5,"jsonrpc":"2.0","method":"eth_getWork","params":[]}`)
			sv(`{"id":5,"jsonrpc":"2.0","result":["0x%s","0x%s","0x%s"]}`, hexN(g, 32), hexN(g, 32), hexN(g, 32))
			if r%3 == 0 {
				cl(`{"id":9,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x%s","0x%s"]}`, hexN(g, 8), hexN(g, 32))
			}
			cl(`{"id":%d,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x%s","0x%s","0x%s"]}`, 100+r, hexN(g, 8), hexN(g, 32), hexN(g, 32))
			sv(`{"id":%d,"jsonrpc":"2.0","result":true}`, 100+r)
		}
	}
	return worker, cs
}
