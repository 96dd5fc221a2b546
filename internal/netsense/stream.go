package netsense

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// maxPending bounds out-of-order data held per direction; beyond it the
// gap is given up as lost and the stream resumes at the data it has.
const maxPending = 1 << 20

// maxBuffer bounds an unfinished message (a line with no newline yet).
const maxBuffer = 1 << 20

// maxPendingSegments bounds how many out-of-order segments wait per
// direction, so a flood of tiny ones cannot grow the table.
const maxPendingSegments = 1024

// direction reassembles one side of a TCP connection and splits it into
// messages: JSON lines, HTTP bodies or WebSocket payloads.
type direction struct {
	started bool
	next    uint32
	pending map[uint32][]byte
	held    int
	buf     []byte // an unfinished message, starting with '{' (or HTTP data)
	skip    bool   // inside a line that cannot be a message: drop to its end
	lost    int    // bytes skipped over gaps

	// The JSON object in buf, scanned once as it grows (a rescan per
	// segment would be quadratic in a line cut into many): nesting depth,
	// inside a string, after a backslash, bytes scanned, and where the
	// object closed (0: not yet; -1: more than white space followed).
	jDepth     int
	jStr, jEsc bool
	jSeen      int
	jEnd       int
	noNL       int // HTTP: buf[:noNL] holds no newline (searched already)

	// Framing learned from the first bytes.
	http, websocket, masked bool
	tlsHello                bool
	opaque                  bool // TLS records: nothing to parse past the hello
	bodyLen                 int  // Content-Length of the body about to start
	skipBody                int  // bytes left of a body that is not JSON
	jsonBody                int  // length of a JSON body being read (Content-Length)
	sni                     string
	ja3, ja3Full            string // the ClientHello's JA3 hash and string
	ja4, ja4o               string // its JA4, sorted and in original order
	sv2                     bool   // Stratum V2 binary frames
	host                    string // HTTP Host header
	first                   bool   // first payload already inspected
	ssh                     bool   // an SSH identification string
}

// add accepts a segment; it returns the in-order bytes it completes.
func (d *direction) add(seq uint32, data []byte, syn bool) []byte {
	if syn {
		d.started, d.next = true, seq+1
		return nil
	}
	if len(data) == 0 {
		return nil
	}
	if !d.started {
		// Capture began mid-connection: start at the first data seen.
		d.started, d.next = true, seq
	}
	var out []byte
	switch diff := int32(seq - d.next); {
	case diff < 0:
		// Retransmission, possibly overlapping new data.
		if int(-diff) >= len(data) {
			return nil
		}
		data = data[-diff:]
		fallthrough
	case diff == 0:
		d.next += uint32(len(data))
		if len(d.pending) == 0 {
			return data // the common case: in order, nothing waiting, no copy
		}
		out = append(out, data...)
	default:
		if d.pending == nil {
			d.pending = map[uint32][]byte{}
		}
		// A retransmission at the same place may carry more than the
		// first copy did: keep the longer.
		if p, dup := d.pending[seq]; !dup || len(p) < len(data) {
			d.pending[seq] = append(p[:0:0], data...)
			d.held += len(data) - len(p)
		}
	}
	// Drain what is now in order; skip a gap when too much is waiting.
	for len(d.pending) > 0 {
		if p, ok := d.pending[d.next]; ok {
			delete(d.pending, d.next)
			d.held -= len(p)
			out = append(out, p...)
			d.next += uint32(len(p))
			continue
		}
		if seq, ok := d.overlapping(); ok {
			// Waiting data that the stream has partly or wholly passed:
			// a retransmission with other boundaries (Linux coalesces
			// segments when it retransmits) filled the gap before it.
			p := d.pending[seq]
			delete(d.pending, seq)
			d.held -= len(p)
			if past := int(d.next - seq); past < len(p) {
				out = append(out, p[past:]...)
				d.next += uint32(len(p) - past)
			}
			continue
		}
		if d.held <= maxPending && len(d.pending) <= maxPendingSegments {
			break
		}
		// Everything waiting lies ahead of a gap that is not being filled:
		// give the gap up and go on from the nearest waiting segment.
		first := d.nearest()
		d.lost += int(first - d.next)
		d.next = first
		d.cut()
	}
	return out
}

// overlapping finds a waiting segment that starts before the next
// expected byte (a scan: at most maxPendingSegments wait, usually a few).
func (d *direction) overlapping() (uint32, bool) {
	for s := range d.pending {
		if int32(s-d.next) < 0 {
			return s, true
		}
	}
	return 0, false
}

// nearest is the waiting segment that comes first in sequence order,
// counted from the next expected byte (across wrap-around).
func (d *direction) nearest() uint32 {
	first, found := uint32(0), false
	for s := range d.pending {
		if !found || int32(s-d.next) < int32(first-d.next) {
			first, found = s, true
		}
	}
	return first
}

// flush gives up on missing data at the end of a flow: what waits behind
// a gap (a packet the capture lost) is handed to deliver in sequence
// order, the gaps skipped and the message cut by each gap dropped, so a
// lost segment costs one message, not the rest of the flow.
func (d *direction) flush(deliver func([]byte)) {
	for len(d.pending) > 0 {
		first := d.nearest()
		p := d.pending[first]
		delete(d.pending, first)
		d.held -= len(p)
		switch diff := int32(first - d.next); {
		case diff > 0:
			d.lost += int(diff)
			d.cut()
			d.next = first
		case int(-diff) >= len(p):
			continue // wholly retransmitted data
		default:
			p = p[-diff:]
		}
		d.next += uint32(len(p))
		// Whatever now follows in order belongs to the same run.
		for {
			q, ok := d.pending[d.next]
			if !ok {
				break
			}
			delete(d.pending, d.next)
			d.held -= len(q)
			p = append(p, q...)
			d.next += uint32(len(q))
		}
		deliver(p)
	}
}

// cut forgets the message a gap interrupted; what follows the gap is
// read as the start of a line.
func (d *direction) cut() { d.clearLine(); d.skip = false }

// clearLine empties buf for the next line.
func (d *direction) clearLine() {
	d.buf = d.buf[:0]
	d.rescan()
}

// rescan forgets the scans of buf, whose start has moved.
func (d *direction) rescan() {
	d.jDepth, d.jStr, d.jEsc, d.jSeen, d.jEnd, d.noNL = 0, false, false, 0, 0, 0
}

// sink takes complete messages (a Session).
type sink interface{ Feed([]byte) bool }

// feed takes in-order bytes and hands s every complete message: JSON
// lines, HTTP bodies or WebSocket payloads. Only a line that starts with
// '{' can be a message, so only such a line is ever buffered; TLS and
// binary streams cost a scan for newlines and hold no memory.
func (d *direction) feed(data []byte, s sink) {
	if len(data) == 0 {
		return // a SYN or a bare ACK: nothing to inspect yet
	}
	if !d.first {
		d.first = true
		d.inspect(data)
		if agent, ok := sv2Setup(data); ok {
			d.sv2 = true
			if sess, isSession := s.(*Session); isSession {
				sess.set(DialectStratum2)
				sess.Agent = first(sess.Agent, agent)
			}
		} else if _, typ, p, _, ok := sv2Frame(data); ok && typ == sv2SetupConnectionSuccess && len(p) == 6 {
			d.sv2 = true // the pool's answer: version u16, flags u32
		}
	}
	switch {
	case d.sv2:
		if sess, isSession := s.(*Session); isSession && (sess.Dialect == DialectStratum2 || sess.Dialect == "") {
			sess.sv2Feed(data)
		}
		return
	case d.opaque:
		return
	case d.websocket:
		d.buf = append(d.buf, data...)
		d.frames(s)
		return
	case d.http:
		if d.bodyLen > 0 && len(d.buf) == 0 {
			d.startBody(data[0])
		}
		if d.skipBody > 0 {
			// Images and downloads are dropped, not buffered.
			n := min(d.skipBody, len(data))
			d.skipBody -= n
			if data = data[n:]; len(data) == 0 {
				return
			}
		}
		d.buf = append(d.buf, data...)
		d.httpMessages(s)
		return
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		switch {
		case d.skip:
			if i < 0 {
				return
			}
			d.skip, data = false, data[i+1:]
		case len(d.buf) > 0:
			if i < 0 {
				d.buf = append(d.buf, data...)
				d.tail(s)
				return
			}
			d.buf = append(d.buf, data[:i]...)
			line(d.buf, s)
			d.clearLine()
			data = data[i+1:]
		case i >= 0:
			line(data[:i], s) // whole line in this segment: no copy
			data = data[i+1:]
		default:
			t := bytes.TrimLeft(data, " \t\r\n")
			switch {
			case len(t) == 0:
			case t[0] != '{':
				d.skip = true
			default:
				d.buf = append(d.buf, t...)
				d.tail(s)
			}
			return
		}
	}
}

// tail handles an unfinished line: a whole JSON object without a newline
// (a last message) is a message; one too long is dropped. Whole means its
// braces balance outside strings: a line cut right after a nested
// object's brace also starts with '{' and ends with '}'.
func (d *direction) tail(s sink) {
	if end := d.objectEnd(); end > 0 {
		s.Feed(bytes.TrimSpace(d.buf[:end]))
		d.clearLine()
		return
	}
	if len(d.buf) > maxBuffer {
		d.lost += len(d.buf)
		d.clearLine()
		d.buf, d.skip = nil, true
	}
}

// objectEnd scans what buf gained since the last call and returns the
// offset just past the object that buf holds, once that object has closed
// with nothing but white space after it; 0 otherwise.
func (d *direction) objectEnd() int {
	for i := d.jSeen; i < len(d.buf); i++ {
		c := d.buf[i]
		if d.jEnd != 0 {
			if d.jEnd > 0 && c != ' ' && c != '\t' && c != '\r' {
				d.jEnd = -1 // not one object: the newline decides
			}
			continue
		}
		switch {
		case d.jEsc:
			d.jEsc = false
		case d.jStr:
			if c == '\\' {
				d.jEsc = true
			} else if c == '"' {
				d.jStr = false
			}
		case c == '"':
			d.jStr = true
		case c == '{' || c == '[':
			d.jDepth++
		case c == '}' || c == ']':
			if d.jDepth--; d.jDepth <= 0 {
				d.jEnd = i + 1
			}
		}
	}
	d.jSeen = len(d.buf)
	return max(d.jEnd, 0)
}

func line(l []byte, s sink) {
	if l = bytes.TrimSpace(l); len(l) > 0 && l[0] == '{' {
		s.Feed(l)
	}
}

// httpMessages reads HTTP: headers up to the blank line, then bodies and
// lines of JSON.
func (d *direction) httpMessages(s sink) {
	for {
		// A body of known length is one message, however it is cut and
		// whatever follows it (the next response's headers, pipelined).
		if d.jsonBody > 0 {
			if len(d.buf) < d.jsonBody {
				break
			}
			line(d.buf[:d.jsonBody], s)
			d.buf = d.buf[d.jsonBody:]
			d.jsonBody = 0
			d.rescan()
			continue
		}
		// Searches start where the last one stopped: a long line arriving
		// in many segments is read once, not once per segment. "\r\n\r\n"
		// cannot start before the last byte known to precede a newline.
		if i := bytes.Index(d.buf[max(d.noNL-1, 0):], []byte("\r\n\r\n")); i >= 0 && !bytes.HasPrefix(bytes.TrimSpace(d.buf), []byte("{")) {
			i += max(d.noNL-1, 0)
			d.noteHeaders(d.buf[:i])
			d.buf = d.buf[i+4:]
			d.rescan()
			if d.websocket {
				d.frames(s)
				return
			}
			if d.bodyLen > 0 && len(d.buf) > 0 {
				d.startBody(d.buf[0])
				n := min(d.skipBody, len(d.buf))
				d.skipBody -= n
				d.buf = d.buf[n:]
			}
			continue
		}
		i := bytes.IndexByte(d.buf[d.noNL:], '\n')
		if i < 0 {
			d.noNL = len(d.buf)
			break
		}
		i += d.noNL
		line(d.buf[:i], s)
		d.buf = d.buf[i+1:]
		d.rescan()
	}
	if t := bytes.TrimSpace(d.buf); d.jsonBody == 0 && len(t) > 1 && t[0] == '{' {
		if end := d.objectEnd(); end > 0 {
			s.Feed(bytes.TrimSpace(d.buf[:end])) // a body without a newline
			d.clearLine()
		}
	}
	if len(d.buf) > maxBuffer {
		d.lost += len(d.buf)
		if d.jsonBody > 0 {
			// A body too large to hold: the rest of it is skipped.
			d.skipBody, d.jsonBody = d.jsonBody-len(d.buf), 0
		}
		d.clearLine()
		d.buf = nil
	}
	d.compact()
}

// startBody decides, on a body's first byte, whether it can be a JSON
// message; a body that starts with anything else (an image, a download)
// is skipped by its length. White space cannot tell: such a body is read
// line by line as before.
func (d *direction) startBody(first byte) {
	switch first {
	case '{', ' ', '\t', '\r', '\n':
		d.jsonBody = d.bodyLen // read whole, by its length
	default:
		d.skipBody = d.bodyLen
	}
	d.bodyLen = 0
}

// frames hands s the payloads of complete WebSocket frames.
func (d *direction) frames(s sink) {
	var msgs [][]byte
	msgs, d.buf = wsFrames(d.buf, d.masked)
	for _, m := range msgs {
		s.Feed(m)
	}
	d.compact()
}

// compact moves what is left to the front of the buffer, so a long
// connection does not keep re-growing it.
func (d *direction) compact() {
	if cap(d.buf) > 4096 && len(d.buf) < cap(d.buf)/4 {
		d.buf = append(make([]byte, 0, 2*len(d.buf)), d.buf...)
	}
}

// inspect looks at a direction's first bytes: HTTP, or a TLS ClientHello.
func (d *direction) inspect(b []byte) {
	for _, m := range []string{"GET ", "POST ", "HTTP/1."} {
		if bytes.HasPrefix(b, []byte(m)) {
			d.http = true
			if m == "GET " {
				d.masked = true // a client: its WebSocket frames are masked
			}
		}
	}
	if bytes.HasPrefix(b, []byte("SSH-")) {
		d.ssh = true
	}
	if h, ok := parseClientHello(b); ok {
		if h.sni != "" && !h.badSNI {
			d.tlsHello, d.sni = true, h.sni
		}
		if full, hash, ok := h.ja3(); ok {
			d.tlsHello, d.ja3, d.ja3Full = true, hash, full
		}
		if ja4, ja4o, ok := h.ja4(); ok {
			d.ja4, d.ja4o = ja4, ja4o
		}
	}
	// A TLS record header (handshake, alert, change cipher spec or data):
	// the rest of the direction is encrypted.
	if len(b) >= 3 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03 && b[2] <= 0x04 {
		d.opaque = true
	}
}

func (d *direction) noteHeaders(head []byte) {
	d.bodyLen = 0
	for _, l := range bytes.Split(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		switch string(bytes.ToLower(bytes.TrimSpace(k))) {
		case "host":
			d.host = string(bytes.TrimSpace(v))
		case "content-length":
			if n, err := strconv.Atoi(string(bytes.TrimSpace(v))); err == nil && n > 0 {
				d.bodyLen = n
			}
		case "upgrade":
			if bytes.EqualFold(bytes.TrimSpace(v), []byte("websocket")) {
				d.websocket = true
			}
		}
	}
}

// wsFrames decodes complete WebSocket frames (RFC 6455), unmasking client
// frames, and returns text/binary payloads and the unconsumed rest.
func wsFrames(b []byte, masked bool) (msgs [][]byte, rest []byte) {
	for len(b) >= 2 {
		op := b[0] & 0x0f
		isMasked := b[1]&0x80 != 0
		n := uint64(b[1] & 0x7f)
		h := 2
		switch n {
		case 126:
			if len(b) < 4 {
				return msgs, b
			}
			n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return msgs, b
			}
			n, h = binary.BigEndian.Uint64(b[2:]), 10
		}
		if n > maxBuffer {
			return msgs, nil // not a frame we follow
		}
		var key []byte
		if isMasked {
			if len(b) < h+4 {
				return msgs, b
			}
			key, h = b[h:h+4], h+4
		}
		if uint64(len(b)-h) < n {
			return msgs, b
		}
		payload := append([]byte(nil), b[h:h+int(n)]...)
		for i := range payload {
			if key != nil {
				payload[i] ^= key[i%4]
			}
		}
		if op == 1 || op == 2 || op == 0 {
			for _, l := range bytes.Split(payload, []byte("\n")) {
				if l = bytes.TrimSpace(l); len(l) > 0 && l[0] == '{' {
					msgs = append(msgs, l)
				}
			}
		}
		b = b[h+int(n):]
	}
	_ = masked
	return msgs, b
}

// ClientHelloSNI returns the server name of a TLS ClientHello at the start
// of b. Every length is checked: the bytes come off the wire.
func ClientHelloSNI(b []byte) (string, bool) {
	h, ok := parseClientHello(b)
	if !ok || h.sni == "" || h.badSNI {
		return "", false
	}
	return h.sni, true
}
