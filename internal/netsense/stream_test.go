package netsense

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// seg is a TCP segment of a test stream: bytes [from, to) of it.
type seg struct{ from, to int }

// reassemble feeds segs of stream (whose first byte has sequence number
// isn+1, after a SYN at isn) through one direction, in the order given, then
// flushes it; it returns the bytes delivered in order, how many of them came
// before the flush, and the bytes counted as lost.
func reassemble(stream []byte, isn uint32, segs []seg) (got []byte, beforeFlush, lost int) {
	var d direction
	got = append(got, d.add(isn, nil, true)...)
	for _, s := range segs {
		got = append(got, d.add(isn+1+uint32(s.from), stream[s.from:s.to], false)...)
	}
	beforeFlush = len(got)
	d.flush(func(b []byte) { got = append(got, b...) })
	return got, beforeFlush, d.lost
}

func testStream(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// TestReassembly: every byte once, in order, whatever the order and the
// boundaries of the segments that carried it; gaps counted, not filled.
func TestReassembly(t *testing.T) {
	stream := testStream(1000)
	cases := []struct {
		name     string
		isn      uint32
		segs     []seg
		wantLost int
		want     []seg // the parts of stream delivered; nil: all of it
	}{
		{name: "in order", segs: []seg{{0, 300}, {300, 700}, {700, 1000}}},
		{name: "swapped", segs: []seg{{300, 700}, {0, 300}, {700, 1000}}},
		{name: "reversed", segs: []seg{{700, 1000}, {300, 700}, {0, 300}}},
		{name: "duplicate", segs: []seg{{0, 300}, {0, 300}, {300, 1000}, {300, 1000}}},
		{name: "retransmission overlapping new data", segs: []seg{{0, 300}, {200, 600}, {600, 1000}}},
		// Linux coalesces segments when it retransmits: the new segment
		// starts before the next expected byte and ends inside one that is
		// waiting. The waiting one must still be delivered, once.
		{name: "repacketised retransmission", segs: []seg{{0, 100}, {150, 250}, {90, 160}, {250, 1000}}},
		{name: "repacketised, waiting segment wholly covered", segs: []seg{{0, 100}, {150, 250}, {90, 400}, {400, 1000}}},
		{name: "longer retransmission at the same place", segs: []seg{{0, 100}, {200, 300}, {200, 600}, {100, 200}, {600, 1000}}},
		{name: "sequence numbers wrap", isn: 0xffffff00, segs: []seg{{0, 200}, {400, 1000}, {200, 400}}},
		{name: "gap", segs: []seg{{0, 300}, {400, 1000}}, wantLost: 100, want: []seg{{0, 300}, {400, 1000}}},
		{name: "gap with overlapping tail", segs: []seg{{0, 300}, {600, 1000}, {400, 700}}, wantLost: 100, want: []seg{{0, 300}, {400, 1000}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, beforeFlush, lost := reassemble(stream, c.isn, c.segs)
			want := stream
			if c.want != nil {
				want = nil
				for _, s := range c.want {
					want = append(want, stream[s.from:s.to]...)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("delivered %d bytes, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
			}
			if lost != c.wantLost {
				t.Errorf("lost = %d, want %d", lost, c.wantLost)
			}
			// Nothing lost: all is delivered as it arrives, none of it
			// left waiting for the end of the flow (live alerts need it).
			if c.want == nil && beforeFlush != len(stream) {
				t.Errorf("%d of %d bytes delivered before the flow ended", beforeFlush, len(stream))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestReassemblyManySmallSegments: a hostile peer that sends a flood of
// one-byte out-of-order segments cannot make the table grow without bound;
// the gap is given up and the stream goes on.
func TestReassemblyManySmallSegments(t *testing.T) {
	var d direction
	d.add(0, nil, true)
	for i := range 100000 {
		d.add(uint32(10+2*i), []byte{'x'}, false)
		if len(d.pending) > maxPendingSegments {
			t.Fatalf("after %d segments %d wait, more than %d", i+1, len(d.pending), maxPendingSegments)
		}
	}
	if d.lost == 0 {
		t.Error("no gap given up")
	}
}

// FuzzReassembly: the fuzzer chooses how a stream is cut into segments,
// which are retransmitted with other boundaries, duplicated, reordered or
// lost. Without loss the stream comes out exactly once and in order; with
// loss, what comes out is the stream less the lost bytes, which are
// counted.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0, 100, 3, 50, 7, 200, 1, 1}, uint32(0), uint16(2000), false)
	f.Add([]byte{9, 9, 9, 9, 200, 0, 13, 77, 5}, uint32(0xfffffff0), uint16(5000), true)
	f.Fuzz(func(t *testing.T, plan []byte, isn uint32, n uint16, lose bool) {
		stream := testStream(int(n%16384) + 1)
		r := planReader{b: plan}
		// Cover the stream with segments of the plan's lengths.
		var segs []seg
		for from := 0; from < len(stream); {
			to := min(len(stream), from+1+int(r.next())*8)
			if r.done() || len(segs) == 500 {
				to = len(stream)
			}
			segs = append(segs, seg{from, to})
			from = to
		}
		// Retransmissions with other boundaries, some overlapping others.
		for range int(r.next()) % 16 {
			from := int(r.next()) * len(stream) / 256
			to := min(len(stream), from+1+int(r.next())*4)
			segs = append(segs, seg{from, to})
		}
		// Lose some (but not the first, so the stream has a start).
		var lost []seg
		if lose && len(segs) > 2 {
			for i := len(segs) - 1; i > 0; i-- {
				if r.next()%5 == 0 {
					lost = append(lost, segs[i])
					segs = append(segs[:i], segs[i+1:]...)
				}
			}
		}
		// Reorder: a Fisher-Yates shuffle driven by the plan.
		for i := len(segs) - 1; i > 0; i-- {
			j := int(r.next()) % (i + 1)
			segs[i], segs[j] = segs[j], segs[i]
		}
		got, beforeFlush, gotLost := reassemble(stream, isn, segs)

		// What should come out: every byte some segment carried, in
		// order; lost bytes are those between delivered ones.
		carried := make([]bool, len(stream))
		for _, s := range segs {
			for i := s.from; i < s.to; i++ {
				carried[i] = true
			}
		}
		var want []byte
		wantLost, gap := 0, 0
		for i, c := range carried {
			if !c {
				gap++
				continue
			}
			if len(want) > 0 || i > 0 {
				wantLost += gap
			}
			gap = 0
			want = append(want, stream[i])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: delivered %d bytes, want %d (first difference at %d)", describe(segs, lost), len(got), len(want), firstDiff(got, want))
		}
		if gotLost != wantLost {
			t.Fatalf("%s: lost = %d, want %d", describe(segs, lost), gotLost, wantLost)
		}
		if wantLost == 0 && len(want) == len(stream) && beforeFlush != len(stream) {
			t.Fatalf("%s: %d of %d bytes delivered before the flow ended", describe(segs, lost), beforeFlush, len(stream))
		}
	})
}

func describe(segs, lost []seg) string {
	return fmt.Sprintf("segments %v, lost %v", segs, lost)
}

// planReader hands out the fuzzer's bytes one at a time, then zeros.
type planReader struct {
	b []byte
	i int
}

func (r *planReader) done() bool { return r.i >= len(r.b) }

func (r *planReader) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

// recorder is a sink that keeps every message it is handed.
type recorder struct{ msgs []string }

func (r *recorder) Feed(b []byte) bool { r.msgs = append(r.msgs, string(b)); return true }

// TestLineSplitAfterInnerBrace: a JSON-RPC line cut by a segment boundary
// right after a nested object's closing brace looks like a whole object
// ('{' … '}') but is not one; the message must still come out whole, once.
// A whole object with no newline after it (a last message) comes out too.
func TestLineSplitAfterInnerBrace(t *testing.T) {
	login := `{"id":1,"method":"login","params":{"login":"4Awallet","pass":"x","agent":"XMRig/6.21.0"}}`
	job := `{"jsonrpc":"2.0","method":"job","params":{"blob":"0707","job_id":"7","target":"b88d0600"}}`
	tricky := `{"id":2,"method":"x","params":{"s":"a \"}\" and \\ and {"}}`
	cases := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"split after inner brace", []string{login[:len(login)-1], login[len(login)-1:] + "\n"}, []string{login}},
		{"split after inner brace, then a second line", []string{login[:len(login)-1], "}\n" + job + "\n"}, []string{login, job}},
		{"braces inside strings", []string{tricky[:len(tricky)-2], tricky[len(tricky)-2:] + "\n"}, []string{tricky}},
		{"byte by byte", splitEvery(login+"\n"+job+"\n", 1), []string{login, job}},
		{"last message without newline", []string{login + "\n", job}, []string{login, job}},
		{"whole object then newline in the next segment", []string{login, "\n" + job + "\n"}, []string{login, job}},
		{"unbalanced garbage does not swallow the next line", []string{`{"a":]]]}`, "\n" + job + "\n"}, []string{`{"a":]]]}`, job}},
		// getwork over HTTP: bodies have no newline.
		{"HTTP body split after inner brace", []string{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 89\r\n\r\n" + login[:len(login)-1], login[len(login)-1:]}, []string{login}},
		{"HTTP pipelined responses in one segment", []string{"HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(login)) + "\r\n\r\n" + login + "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(job)) + "\r\n\r\n" + job}, []string{login, job}},
		{"HTTP body larger than the buffer, then a message", []string{"HTTP/1.1 200 OK\r\nContent-Length: 2097163\r\n\r\n", `{"blob":"` + strings.Repeat("0", 1<<20), strings.Repeat("0", 1<<20) + `"}`,
			"HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(job)) + "\r\n\r\n" + job}, []string{job}},
		// The first segment shows it is HTTP; the rest comes a byte at a time.
		{"HTTP bodies byte by byte", append([]string{"POST / HTTP/1.1\r\nContent-Length: " + strconv.Itoa(len(login)) + "\r\n\r\n"},
			splitEvery(login+"POST / HTTP/1.1\r\nContent-Length: "+strconv.Itoa(len(job))+"\r\n\r\n"+job, 1)...), []string{login, job}},
		{"HTTP body without a length, byte by byte", append([]string{"POST / HTTP/1.1\r\n\r\n"}, splitEvery(login, 1)...), []string{login}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d direction
			var r recorder
			for _, ch := range c.chunks {
				d.feed([]byte(ch), &r)
			}
			if fmt.Sprint(r.msgs) != fmt.Sprint(c.want) {
				t.Errorf("messages\n%q\nwant\n%q", r.msgs, c.want)
			}
		})
	}
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// FuzzMessageSplit: a stream of JSON-RPC lines yields the same messages
// however TCP cut it into segments (the fuzzer chooses the lines and the
// cuts); lines that are not one JSON object are left out of the stream.
func FuzzMessageSplit(f *testing.F) {
	f.Add([]byte(`{"id":1,"method":"login","params":{"login":"w","agent":"a"}}`+"\n"+`{"method":"job","params":{"s":"}\"{"}}`), []byte{60, 1, 1, 2})
	f.Add([]byte(`{"a":[{"b":{}}]}`+"\n"+`  {"c":"\\"}  `), []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		var lines []string
		var stream []byte
		for _, l := range bytes.Split(data, []byte("\n")) {
			tl := bytes.Trim(l, " \t\r\n") // JSON white space
			if len(tl) == 0 || tl[0] != '{' || !json.Valid(tl) {
				continue
			}
			lines = append(lines, string(tl))
			stream = append(append(stream, l...), '\n')
		}
		if len(lines) == 0 {
			return
		}
		var d direction
		var r recorder
		rest := stream
		for _, c := range cuts {
			n := min(int(c)+1, len(rest))
			d.feed(rest[:n], &r)
			rest = rest[n:]
		}
		d.feed(rest, &r)
		if fmt.Sprint(r.msgs) != fmt.Sprint(lines) {
			t.Fatalf("cuts %v: messages\n%q\nwant\n%q", cuts, r.msgs, lines)
		}
	})
}

// BenchmarkHTTPLongLines: a chunked HTTP download of 10 MiB with no
// newline in it (base64), in 1448-byte segments. Each segment must cost
// its own bytes, not a rescan of everything buffered so far.
func BenchmarkHTTPLongLines(b *testing.B) {
	body := bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="), 10<<20/36)
	stream := append([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n"), body...)
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		feedSegments(stream, 1448)
	}
}

// BenchmarkJSONLongLine: the same for a JSON line (starting with '{') that
// never ends, cut into 1448-byte segments: its brace scan is incremental.
func BenchmarkJSONLongLine(b *testing.B) {
	stream := append([]byte(`{"method":"x","params":["`), bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="), 10<<20/36)...)
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		feedSegments(stream, 1448)
	}
}

// feedSegments feeds stream to a fresh direction in segments of size bytes.
func feedSegments(stream []byte, size int) []string {
	var d direction
	var r recorder
	for rest := stream; len(rest) > 0; {
		n := min(size, len(rest))
		d.feed(rest[:n], &r)
		rest = rest[n:]
	}
	return r.msgs
}
