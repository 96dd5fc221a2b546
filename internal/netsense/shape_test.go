package netsense

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/minerguard/minerguard/internal/findings"
)

// msg is one message of a scripted connection: at second at, side dir
// (0 client, 1 server) sends size bytes, in packets of at most 1448.
type msg struct {
	at   float64
	dir  int
	size int
}

// tlsHandshake is the first messages of a TLS 1.3 connection.
var tlsHandshake = []msg{{0, 0, 517}, {0.05, 1, 4700}, {0.1, 0, 80}, {0.15, 1, 300}, {0.2, 0, 200}, {0.25, 1, 300}}

func runShape(msgs []msg) shapeVerdict {
	s := newShape()
	start := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	var seq [2]uint32
	var last time.Time
	for _, m := range msgs {
		ts := start.Add(time.Duration(m.at * float64(time.Second)))
		for left := m.size; left > 0; left -= 1448 {
			n := min(left, 1448)
			s.packet(m.dir, seq[m.dir], n, ts, start)
			seq[m.dir] += uint32(n)
		}
		last = ts
	}
	s.finish(start)
	return s.verdict(DefaultShapeRules, start, last)
}

// script builds a connection: the handshake, then events from gen until
// the end second.
func script(end float64, gen func(r *rand.Rand, t float64) (next float64, out []msg)) []msg {
	r := rand.New(rand.NewPCG(1, 2))
	out := append([]msg{}, tlsHandshake...)
	for t := 1.0; t < end; {
		next, ms := gen(r, t)
		out = append(out, ms...)
		t = next
	}
	// Events are generated per stream; order them by time.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].at < out[j-1].at; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// miner: shares at random (mean share s), each answered within 120 ms by
// a reply; a job pushed at random (mean job s).
func miner(share, job float64, submit, reply, jobSize int) func(*rand.Rand, float64) (float64, []msg) {
	nextJob := 0.0
	return func(r *rand.Rand, t float64) (float64, []msg) {
		var out []msg
		if nextJob == 0 {
			nextJob = t + r.ExpFloat64()*job
		}
		next := t + r.ExpFloat64()*share
		for nextJob < next {
			out = append(out, msg{nextJob, 1, jobSize + r.IntN(6)})
			nextJob += 0.5 + r.ExpFloat64()*job
		}
		return next, append(out, msg{t, 0, submit + r.IntN(4)}, msg{t + 0.12, 1, reply + r.IntN(3)})
	}
}

func TestShape(t *testing.T) {
	for _, c := range []struct {
		name   string
		msgs   []msg
		mining bool
		why    string // a word of the reason when not mining
	}{
		{"coinhive-like TLS miner", script(400, miner(4, 40, 199, 80, 267)), true, ""},
		{"XMR over TLS, jobs each 2 min", script(900, miner(10, 120, 250, 70, 480)), true, ""},
		{"stratum v1 over TLS, slow miner", script(1200, miner(30, 30, 160, 60, 700)), true, ""},
		{"miner seen for 50 s", script(50, miner(4, 40, 199, 80, 267)), false, "lasted"},
		// eth-proxy: shares and getWork polls, each with its own answer
		// (a result of true, the work package), half and half.
		{"eth-proxy over TLS, two kinds of answers", script(600, func(r *rand.Rand, t float64) (float64, []msg) {
			out := []msg{{t, 0, 500 + r.IntN(4)}, {t + 0.1, 1, 58 + r.IntN(2)}}
			if r.IntN(2) == 0 {
				out = []msg{{t, 0, 500 + r.IntN(4)}, {t + 0.1, 1, 148 + r.IntN(2)}}
			}
			if r.IntN(3) == 0 {
				out = append(out, msg{t + 1 + r.Float64(), 1, 265 + r.IntN(4)})
			}
			return t + r.ExpFloat64()*3 + 0.2, out
		}), true, ""},
		{"an API whose answers vary, with notifications", script(600, func(r *rand.Rand, t float64) (float64, []msg) {
			return t + 5, []msg{{t, 0, 180}, {t + 0.05, 1, 200 + r.IntN(2000)}, {t + 2, 1, 400 + r.IntN(40)}}
		}), false, "answers vary"},
		{"download", append(append([]msg{}, tlsHandshake...), msg{1, 0, 300}, msg{1.1, 1, 50 << 20}, msg{120, 0, 40}), false, ""},
		{"web browsing on a keep-alive connection", script(300, func(r *rand.Rand, t float64) (float64, []msg) {
			return t + 2 + r.Float64()*20, []msg{{t, 0, 400 + r.IntN(300)}, {t + 0.08, 1, 2000 + r.IntN(60000)}}
		}), false, ""},
		{"HTTP/2 idle with pings", script(600, func(r *rand.Rand, t float64) (float64, []msg) {
			return t + 15, []msg{{t, 0, 39}, {t + 0.03, 1, 39}}
		}), false, "jobs"},
		{"polling a status API", script(600, func(r *rand.Rand, t float64) (float64, []msg) {
			return t + 5, []msg{{t, 0, 180}, {t + 0.05, 1, 650 + r.IntN(8)}}
		}), false, "jobs"},
		{"server-sent events", script(600, func(r *rand.Rand, t float64) (float64, []msg) {
			return t + r.ExpFloat64()*10, []msg{{t, 1, 100 + r.IntN(900)}}
		}), false, "steady"},
		{"chat over a WebSocket", script(600, func(r *rand.Rand, t float64) (float64, []msg) {
			return t + r.ExpFloat64()*8, []msg{{t, 0, 40 + r.IntN(400)}, {t + 0.05, 1, 30}, {t + 1 + r.Float64()*3, 1, 50 + r.IntN(500)}}
		}), false, "vary"},
		{"long polling", script(600, func(r *rand.Rand, t float64) (float64, []msg) {
			wait := 5 + r.Float64()*25
			return t + wait + 0.05, []msg{{t, 0, 210}, {t + wait, 1, 420 + r.IntN(4)}}
		}), false, "answered"},
		// A look-alike the shape cannot tell apart (docs/flow-shape.md): a
		// wallet pinging its server and subscribed to block headers.
		{"look-alike: Electrum-style header subscription", script(1800, func(r *rand.Rand, t float64) (float64, []msg) {
			out := []msg{{t, 0, 70}, {t + 0.05, 1, 60}}
			if r.IntN(10) == 0 {
				out = append(out, msg{t + 30, 1, 230})
			}
			return t + 60, out
		}), true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := runShape(c.msgs)
			if v.Mining != c.mining || !c.mining && !strings.Contains(v.Reason, c.why) {
				t.Errorf("mining %v (%s), want %v (%q); %v", v.Mining, v.Reason, c.mining, c.why, v.Details)
			}
		})
	}
}

func TestShapeRetransmissionsAndMerging(t *testing.T) {
	s := newShape()
	t0 := time.Unix(0, 0)
	s.packet(0, 1000, 100, t0, t0)
	s.packet(0, 1000, 100, t0.Add(time.Second), t0) // retransmitted: not a new message
	s.packet(1, 5000, 1448, t0.Add(2*time.Second), t0)
	s.packet(1, 6448, 500, t0.Add(2*time.Second+20*time.Millisecond), t0) // the same message
	s.finish(t0)
	if s.seen != [2]uint32{1, 1} {
		t.Errorf("messages per direction %v, want [1 1]", s.seen)
	}
}

// TestShapeAlert: a live capture is told about a mining-shaped TLS
// connection while it is still open, once, and the finding is in the
// final report too.
func TestShapeAlert(t *testing.T) {
	a := newTestAnalyzer()
	var alerts []string
	a.Alert = func(f findings.Finding) { alerts = append(alerts, f.Rule) }
	cli, srv := "10.1.2.3:40000", "198.51.100.7:443"
	var seq [2]uint32
	for _, m := range script(400, miner(4, 40, 199, 80, 267)) {
		from, to := cli, srv
		if m.dir == 1 {
			from, to = srv, cli
		}
		payload := "\x17\x03\x03" + strings.Repeat("\xaa", m.size-3) // TLS application data
		a.Packet(tcpFrame(t, from, to, seq[m.dir], "A", payload), layers.LinkTypeEthernet, epoch.Add(time.Duration(m.at*float64(time.Second))))
		seq[m.dir] += uint32(m.size)
		if m.at < 60 && len(alerts) > 0 {
			t.Fatalf("alert before a minute of traffic: %v", alerts)
		}
	}
	if len(alerts) != 1 || alerts[0] != "net.flow_shape" {
		t.Fatalf("alerts %v, want one net.flow_shape", alerts)
	}
	var found bool
	for _, f := range a.Findings() {
		found = found || f.Rule == "net.flow_shape" && f.Evidence.DstPort == 443 && f.Evidence.Details["jobs"] != ""
	}
	if !found {
		t.Error("no flow-shape finding in the report")
	}
}
