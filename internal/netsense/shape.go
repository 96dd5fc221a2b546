package netsense

import (
	"fmt"
	"net/netip"
	"time"
)

// The flow-shape detector finds mining in connections whose content
// cannot be read (TLS to a pool with an innocent name, or an obfuscated
// protocol) from the sizes and timing of what each side sends. A miner
// and its pool keep one connection open for hours and exchange small
// messages of nearly constant size: the miner submits a share (always the
// same fields: job id, nonce, result hash) and the pool answers within a
// round trip with a short fixed-size result; now and then the pool pushes
// a new job, larger than its answers, unasked. Nothing is ever bulky.
// Ordinary encrypted traffic differs: web pages and downloads are bulky,
// idle keep-alives carry no jobs, interactive sessions vary in size.
//
// Known look-alikes (documented in docs/flow-shape.md with measurements):
// a long-poll or push API whose requests, answers and pushes all have
// fixed sizes (an Electrum wallet's header subscription, some IoT
// telemetry) has the same shape. The finding is therefore medium with a
// stated confidence, and names the features it saw so an analyst can
// judge.

// Thresholds of the detector; ShapeRules holds them so a measurement can
// report what each one does, and tests can state them.
type ShapeRules struct {
	MinDuration   time.Duration // a mining connection is long-lived
	MinMessages   int           // client and server messages after the handshake
	MaxMessage    int           // bytes: nothing bulky in either direction
	MaxRate       float64       // bytes per second over the connection
	MinRegular    float64       // share of client messages of its two commonest sizes (shares and keep-alives)
	MinReplyShare float64       // share of server answers of the two commonest sizes
	MinAnswered   float64       // share of client messages answered within a round trip
	MinJobs       int           // unsolicited server pushes larger than the answers
	MinJobSize    int           // bytes: a job carries at least a block template's hashes
}

// DefaultShapeRules are the thresholds minerguard uses.
var DefaultShapeRules = ShapeRules{
	MinDuration: 60 * time.Second, MinMessages: 6, MaxMessage: 4096, MaxRate: 1024,
	MinRegular: 0.75, MinReplyShare: 0.6, MinAnswered: 0.5, MinJobs: 2, MinJobSize: 100,
}

// mergeGap joins packets sent one after another in the same direction
// into one message (a TLS record split over segments, a reply and a job
// sent together).
const mergeGap = 100 * time.Millisecond

// handshakeMessages are skipped in each direction before statistics
// start: a TLS handshake or a protocol's greeting is not its steady state.
const handshakeMessages = 3

// shapeAfter is how old a flow must be before its message statistics are
// kept: short flows, the vast majority, never pay for them.
const shapeAfter = 5 * time.Second

// sizeBins is how many distinct message sizes a histogram tells apart;
// sizes within binWidth of a bin's first size count in that bin.
const (
	sizeBins = 12
	binWidth = 24
)

type sizeHist struct {
	size  [sizeBins]uint16
	count [sizeBins]uint32
	used  uint8
	other uint32 // sizes no bin had room for
	n     uint32
}

func (h *sizeHist) add(size int) {
	h.n++
	s := uint16(min(size, 65535))
	for i := range int(h.used) {
		if d := int(h.size[i]) - int(s); d <= binWidth && d >= -binWidth {
			h.count[i]++
			return
		}
	}
	if int(h.used) < sizeBins {
		h.size[h.used], h.count[h.used] = s, 1
		h.used++
		return
	}
	h.other++
}

// mode is the most common size and the share of messages near it.
func (h *sizeHist) mode() (size int, share float64) {
	if h.n == 0 {
		return 0, 0
	}
	best := 0
	for i := 1; i < int(h.used); i++ {
		if h.count[i] > h.count[best] {
			best = i
		}
	}
	return int(h.size[best]), float64(h.count[best]) / float64(h.n)
}

// top2 is the share of messages near the two commonest sizes: a miner
// sends two kinds of message, shares and keep-alives.
func (h *sizeHist) top2() float64 {
	if h.n == 0 {
		return 0
	}
	var a, b uint32
	for i := range int(h.used) {
		switch c := h.count[i]; {
		case c > a:
			a, b = c, a
		case c > b:
			b = c
		}
	}
	return float64(a+b) / float64(h.n)
}

// countAtLeast counts messages in bins of at least size bytes.
func (h *sizeHist) countAtLeast(size int) int {
	n := 0
	for i := range int(h.used) {
		if int(h.size[i]) >= size {
			n += int(h.count[i])
		}
	}
	return n
}

// shapeStats is kept per flow once it is older than shapeAfter.
type shapeStats struct {
	client, replies, pushes sizeHist
	answered                int
	maxMsg                  int
	bytes                   int64
	since                   time.Time // first message counted
}

// shape follows one TCP connection's messages.
type shape struct {
	cur              int8 // direction of the message being read; -1 none
	curStart, curEnd time.Time
	curSize          int
	seen             [2]uint32 // messages completed per direction
	seqEnd           [2]uint32 // highest sequence number + length seen
	seqSet           [2]bool
	clientWaiting    bool // the last message was the client's
	waitingCounted   bool // and it is in the statistics
	clientEnd        time.Time
	firstClient      time.Time
	rtt              time.Duration // first client message to first server message
	rttSet           bool
	stats            *shapeStats
}

func newShape() shape { return shape{cur: -1} }

// packet takes a TCP segment's payload from direction dir (0 client).
func (s *shape) packet(dir int, seq uint32, n int, ts, flowStart time.Time) {
	if n == 0 {
		return
	}
	end := seq + uint32(n)
	if s.seqSet[dir] && int32(end-s.seqEnd[dir]) <= 0 {
		return // a retransmission
	}
	s.seqEnd[dir], s.seqSet[dir] = end, true
	if int(s.cur) == dir && ts.Sub(s.curEnd) <= mergeGap {
		s.curSize += n
		s.curEnd = ts
		return
	}
	s.finish(flowStart)
	s.cur, s.curStart, s.curEnd, s.curSize = int8(dir), ts, ts, n
}

// finish ends the message being read and classifies it.
func (s *shape) finish(flowStart time.Time) {
	if s.cur < 0 {
		return
	}
	dir := int(s.cur)
	s.cur = -1
	s.seen[dir]++
	if dir == 0 && s.firstClient.IsZero() {
		s.firstClient = s.curStart
	}
	if dir == 1 && !s.rttSet && !s.firstClient.IsZero() {
		s.rtt, s.rttSet = s.curStart.Sub(s.firstClient), true
	}
	answer := dir == 1 && s.clientWaiting && s.curStart.Sub(s.clientEnd) <= s.window()
	counted := s.waitingCounted
	s.clientWaiting, s.waitingCounted = dir == 0, false
	if dir == 0 {
		s.clientEnd = s.curEnd
	}
	if s.stats == nil {
		if s.seen[0] <= handshakeMessages || s.seen[1] <= handshakeMessages || s.curStart.Sub(flowStart) < shapeAfter {
			return
		}
		s.stats = &shapeStats{since: s.curStart}
	}
	st := s.stats
	st.maxMsg = max(st.maxMsg, s.curSize)
	st.bytes += int64(s.curSize)
	switch {
	case dir == 0:
		st.client.add(s.curSize)
		s.waitingCounted = true
	case answer:
		if counted {
			st.answered++
		}
		st.replies.add(s.curSize)
	default:
		st.pushes.add(s.curSize)
	}
}

// window is how soon after a client message a server message counts as
// its answer: a few round trips, within bounds.
func (s *shape) window() time.Duration {
	return min(max(4*s.rtt, 300*time.Millisecond), 2*time.Second)
}

// ShapeReport is the detector's verdict on one connection (Analyzer.ShapeLog).
type ShapeReport struct {
	Client, Server netip.AddrPort
	Readable       bool // content was read (a mining dialect, HTTP, SSH, other JSON): no shape finding is made
	Mining         bool
	Reason         string            // why not, when not
	Details        map[string]string // the features measured
}

// shapeVerdict is what the detector concluded about one flow.
type shapeVerdict struct {
	Mining  bool
	Reason  string            // the first rule that failed
	Details map[string]string // the features measured
}

// verdict judges the flow's shape against the rules, as far as the
// messages finished so far show it.
func (s *shape) verdict(r ShapeRules, first, last time.Time) shapeVerdict {
	st := s.stats
	var v shapeVerdict
	fail := func(format string, a ...any) shapeVerdict {
		v.Reason = fmt.Sprintf(format, a...)
		return v
	}
	if d := last.Sub(first); d < r.MinDuration {
		return fail("lasted %s (< %s)", d.Round(time.Second), r.MinDuration)
	}
	// Only connections long enough to judge pay for the details.
	v.Details = map[string]string{"duration": last.Sub(first).Round(time.Second).String()}
	if st == nil {
		return fail("no steady state after the handshake")
	}
	nc, ns := int(st.client.n), int(st.replies.n+st.pushes.n)
	active := last.Sub(st.since).Seconds()
	rate := float64(st.bytes) / max(active, 1)
	cSize, _ := st.client.mode()
	cShare := st.client.top2()
	// Answers come in two kinds as client messages do (share results and
	// keep-alive or getWork answers): the two commonest sizes count.
	rSize, _ := st.replies.mode()
	rShare := st.replies.top2()
	answered := float64(st.answered) / max(float64(nc), 1)
	jobMin := max(r.MinJobSize, rSize+rSize/2)
	jobs := st.pushes.countAtLeast(jobMin)
	pSize, _ := st.pushes.mode()
	for k, val := range map[string]string{
		"client_messages": fmt.Sprint(nc), "server_messages": fmt.Sprint(ns),
		"client_size": fmt.Sprint(cSize), "client_regular": fmt.Sprintf("%.2f", cShare),
		"reply_size": fmt.Sprint(rSize), "reply_regular": fmt.Sprintf("%.2f", rShare),
		"answered": fmt.Sprintf("%.2f", answered), "pushes": fmt.Sprint(st.pushes.n),
		"jobs": fmt.Sprint(jobs), "job_size": fmt.Sprint(pSize),
		"max_message": fmt.Sprint(st.maxMsg), "bytes_per_s": fmt.Sprintf("%.0f", rate),
	} {
		v.Details[k] = val
	}
	switch {
	case nc < r.MinMessages || ns < r.MinMessages:
		return fail("%d client and %d server messages (< %d)", nc, ns, r.MinMessages)
	case st.maxMsg > r.MaxMessage:
		return fail("a %d-byte message (bulk)", st.maxMsg)
	case rate > r.MaxRate:
		return fail("%.0f bytes/s (bulk)", rate)
	case cShare < r.MinRegular:
		return fail("client messages vary in size (%.0f%% of the two commonest sizes)", 100*cShare)
	case answered < r.MinAnswered:
		return fail("%.0f%% of client messages answered within a round trip", 100*answered)
	case rShare < r.MinReplyShare:
		return fail("answers vary in size (%.0f%% of the two commonest sizes)", 100*rShare)
	case jobs < r.MinJobs:
		return fail("%d unsolicited server pushes of %d+ bytes (< %d jobs)", jobs, jobMin, r.MinJobs)
	}
	v.Mining = true
	return v
}

// shapeConfidence is what a flow-shape finding claims: measured recall is
// high and false alarms on ordinary traffic few (docs/flow-shape.md), but
// fixed-size push APIs exist that no shape tells apart.
const shapeConfidence = 0.6
