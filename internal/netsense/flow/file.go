package flow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/lines"
)

// fileMagic starts a file of datagrams written by the collector
// (`minerguard net collect --write`): after it, each datagram is framed as
// receive time (int64 Unix ns), exporter address (16 bytes, IPv4 mapped),
// exporter port (uint16), length (uint32), then the datagram, big-endian.
const fileMagic = "MGFLOW1\n"

const frameHeader = 8 + 16 + 2 + 4

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// DatagramWriter writes received datagrams in the collector's file format.
type DatagramWriter struct{ w io.Writer }

// NewDatagramWriter writes the file header to w.
func NewDatagramWriter(w io.Writer) (*DatagramWriter, error) {
	if _, err := io.WriteString(w, fileMagic); err != nil {
		return nil, err
	}
	return &DatagramWriter{w}, nil
}

// Write appends one datagram.
func (dw *DatagramWriter) Write(at time.Time, from netip.AddrPort, pkt []byte) error {
	if len(pkt) > maxDatagram {
		return fmt.Errorf("datagram of %d bytes", len(pkt))
	}
	var h [frameHeader]byte
	binary.BigEndian.PutUint64(h[0:], uint64(at.UnixNano()))
	a := from.Addr().As16()
	copy(h[8:24], a[:])
	binary.BigEndian.PutUint16(h[24:], from.Port())
	binary.BigEndian.PutUint32(h[26:], uint32(len(pkt)))
	if _, err := dw.w.Write(h[:]); err != nil {
		return err
	}
	_, err := dw.w.Write(pkt)
	return err
}

// FileStats says what ReadFile found.
type FileStats struct {
	Format    string // netflow-file, netflow-stream, zeek-conn, zeek-conn-json, eve
	Datagrams int
	Lines     int
	// Skipped counts lines of other kinds (EVE alerts, comments, other
	// logs) and lines that could not be read.
	Skipped int
	// Errors are damaged datagrams and lines (the first few), each naming
	// the file and offset or line; reading goes on past them.
	Errors []string
}

const maxFileErrors = 20

func (s *FileStats) addErr(format string, a ...any) {
	if len(s.Errors) < maxFileErrors {
		s.Errors = append(s.Errors, fmt.Sprintf(format, a...))
	}
}

// ReadFile reads flow records from r, recognising the format by its first
// bytes: the collector's datagram file, a bare stream of NetFlow v5 or
// IPFIX messages (each self-delimiting), a single NetFlow v9 datagram,
// Zeek conn.log (TSV or JSON lines) or Suricata EVE (flow events). Damaged
// parts are reported in FileStats.Errors; the error return is for files
// that cannot be read at all.
func ReadFile(ctx context.Context, r io.Reader, name string, dec *Decoder, emit func(Record)) (FileStats, error) {
	r, err := lines.Decompress(r) // rotated logs are often gzipped
	if err != nil {
		return FileStats{}, fmt.Errorf("%s: %w", name, err)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(len(fileMagic))
	if len(head) == 0 {
		if err == nil || err == io.EOF {
			return FileStats{}, fmt.Errorf("%s: empty file", name)
		}
		return FileStats{}, fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case string(head) == fileMagic:
		return readFramed(ctx, br, name, dec, emit)
	case len(head) >= 2 && head[0] == 0 && (head[1] == 5 || head[1] == 9 || head[1] == 10):
		return readStream(ctx, br, name, dec, emit, uint16(head[1]))
	}
	first := bytes.TrimLeft(head, " \t\r\n")
	if len(first) > 0 && (first[0] == '{' || first[0] == '#') {
		return readLines(ctx, br, name, emit)
	}
	return FileStats{}, fmt.Errorf("%s: offset 0: not a flow file (collector datagrams, NetFlow/IPFIX, Zeek conn.log or Suricata EVE)", name)
}

func readFramed(ctx context.Context, br *bufio.Reader, name string, dec *Decoder, emit func(Record)) (FileStats, error) {
	st := FileStats{Format: "netflow-file"}
	off := int64(len(fileMagic))
	br.Discard(len(fileMagic))
	var h [frameHeader]byte
	buf := make([]byte, maxDatagram)
	for {
		if st.Datagrams&1023 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if err == io.EOF {
				return st, nil
			}
			return st, &Error{Source: name, Offset: off, Msg: "datagram frame header truncated"}
		}
		n := int(binary.BigEndian.Uint32(h[26:]))
		if n > maxDatagram {
			return st, &Error{Source: name, Offset: off + 26, Msg: fmt.Sprintf("datagram length %d exceeds %d", n, maxDatagram)}
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return st, &Error{Source: name, Offset: off + frameHeader, Msg: fmt.Sprintf("datagram of %d bytes truncated", n)}
		}
		from := netip.AddrPortFrom(netip.AddrFrom16([16]byte(h[8:24])).Unmap(), binary.BigEndian.Uint16(h[24:]))
		st.Datagrams++
		if err := dec.Decode(buf[:n], from.Addr().String(), emit); err != nil {
			st.addErr("%s: datagram %d at offset %d: %v", name, st.Datagrams, off, err)
		}
		off += int64(frameHeader + n)
	}
}

// readStream reads messages back to back: v5 and IPFIX carry their length;
// a v9 packet does not, so a v9 file is one datagram.
func readStream(ctx context.Context, br *bufio.Reader, name string, dec *Decoder, emit func(Record), version uint16) (FileStats, error) {
	st := FileStats{Format: "netflow-stream"}
	if version == 9 {
		b, err := io.ReadAll(io.LimitReader(br, maxDatagram+1))
		if err != nil {
			return st, fmt.Errorf("%s: %w", name, err)
		}
		if len(b) > maxDatagram {
			return st, &Error{Source: name, Offset: maxDatagram, Msg: "a NetFlow v9 file is one datagram and this one is longer than any"}
		}
		st.Datagrams = 1
		return st, dec.Decode(b, name, emit)
	}
	var off int64
	for {
		if st.Datagrams&1023 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		h, err := br.Peek(4)
		if len(h) == 0 && err == io.EOF {
			return st, nil
		}
		if len(h) < 4 {
			return st, &Error{Source: name, Offset: off, Msg: "message header truncated"}
		}
		v := binary.BigEndian.Uint16(h)
		var n int
		switch v {
		case 5:
			n = v5Header + v5Record*int(binary.BigEndian.Uint16(h[2:]))
		case 10:
			n = int(binary.BigEndian.Uint16(h[2:]))
		default:
			return st, &Error{Source: name, Offset: off, Msg: fmt.Sprintf("version %d where a NetFlow v5 or IPFIX message should start", v)}
		}
		if n < 4 {
			return st, &Error{Source: name, Offset: off + 2, Msg: fmt.Sprintf("message length %d", n)}
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return st, &Error{Source: name, Offset: off, Msg: fmt.Sprintf("message of %d bytes truncated", n)}
		}
		st.Datagrams++
		if err := dec.Decode(buf, name, emit); err != nil {
			st.addErr("%s: message %d at offset %d: %v", name, st.Datagrams, off, err)
		}
		off += int64(n)
	}
}

const maxLine = 1 << 20

func readLines(ctx context.Context, br *bufio.Reader, name string, emit func(Record)) (FileStats, error) {
	st := FileStats{}
	lr := lines.NewReader(br, maxLine)
	var z *zeekHeader
	for lr.Next() {
		n := lr.Line()
		if n&4095 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		line := lr.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		st.Lines++
		if line[0] == '#' {
			if z == nil {
				z = &zeekHeader{sep: "\t"}
			}
			if err := z.directive(string(line)); err != nil {
				return st, fmt.Errorf("%s: line %d: %w", name, n, err)
			}
			if st.Format == "" && z.fields != nil {
				st.Format = "zeek-conn"
			}
			continue
		}
		var rec Record
		var kind string
		var err error
		if line[0] == '{' {
			rec, kind, err = jsonRecord(line)
		} else if z != nil && z.fields != nil {
			rec, err = z.record(string(line))
			kind = "zeek-conn"
		} else {
			err = errors.New("neither JSON nor a Zeek TSV line after a #fields header")
		}
		if err != nil {
			st.Skipped++
			st.addErr("%s: line %d: %v", name, n, err)
			continue
		}
		if kind == "" {
			st.Skipped++ // another kind of event
			continue
		}
		if st.Format == "" {
			st.Format = kind
		}
		rec.Exporter, rec.Oriented = name, kind != "eve-netflow"
		emit(rec)
	}
	// A line too long for any record is skipped and named, not fatal.
	st.Skipped += lr.LongCount
	st.Lines += lr.LongCount
	for _, w := range lr.Warnings(name) {
		st.addErr("%s", w)
	}
	if err := lr.Err(); err != nil {
		// Cut short (a truncated .gz, a read error): what was read stands.
		st.addErr("%s: after line %d: %v: the rest was not read", name, lr.Line(), err)
	}
	return st, nil
}

// zeekHeader is what a Zeek TSV log's # lines say.
type zeekHeader struct {
	sep, unset, empty string
	fields            map[string]int
}

func (z *zeekHeader) directive(line string) error {
	if v, ok := strings.CutPrefix(line, "#separator "); ok {
		s, err := strconv.Unquote(`"` + v + `"`)
		if err != nil || s == "" {
			return fmt.Errorf("#separator %q", v)
		}
		z.sep = s
		return nil
	}
	key, rest, _ := strings.Cut(line[1:], z.sep)
	switch key {
	case "fields":
		z.fields = map[string]int{}
		for i, f := range strings.Split(rest, z.sep) {
			z.fields[f] = i
		}
		for _, need := range []string{"ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"} {
			if _, ok := z.fields[need]; !ok {
				return fmt.Errorf("#fields has no %s: not a conn.log", need)
			}
		}
	case "unset_field":
		z.unset = rest
	case "empty_field":
		z.empty = rest
	}
	return nil
}

func (z *zeekHeader) record(line string) (Record, error) {
	f := strings.Split(line, z.sep)
	get := func(k string) string {
		if i, ok := z.fields[k]; ok && i < len(f) && f[i] != z.unset && f[i] != "-" {
			return f[i]
		}
		return ""
	}
	var r Record
	var err error
	if r.Src, err = netip.ParseAddr(get("id.orig_h")); err != nil {
		return r, fmt.Errorf("id.orig_h: %w", err)
	}
	if r.Dst, err = netip.ParseAddr(get("id.resp_h")); err != nil {
		return r, fmt.Errorf("id.resp_h: %w", err)
	}
	sp, err1 := strconv.ParseUint(get("id.orig_p"), 10, 16)
	dp, err2 := strconv.ParseUint(get("id.resp_p"), 10, 16)
	if err := errors.Join(err1, err2); err != nil {
		return r, fmt.Errorf("port: %w", err)
	}
	r.SrcPort, r.DstPort = uint16(sp), uint16(dp)
	r.Proto = protoNumber(get("proto"))
	ts, err := strconv.ParseFloat(get("ts"), 64)
	if err != nil {
		return r, fmt.Errorf("ts: %w", err)
	}
	dur, _ := strconv.ParseFloat(get("duration"), 64)
	r.First, r.Last = span(ts, dur)
	num := func(k string) uint64 { v, _ := strconv.ParseUint(get(k), 10, 64); return v }
	r.Packets = num("orig_pkts") + num("resp_pkts")
	if r.Bytes = num("orig_ip_bytes") + num("resp_ip_bytes"); r.Bytes == 0 {
		r.Bytes = num("orig_bytes") + num("resp_bytes")
	}
	return r, nil
}

func span(ts, dur float64) (time.Time, time.Time) {
	// NaN fails every comparison: !(x >= 0) catches it too.
	if !(ts >= 0 && ts < 1<<40 && dur >= 0 && dur < 1<<32) {
		return time.Time{}, time.Time{}
	}
	first := time.Unix(0, int64(ts*1e9)).UTC()
	return first, first.Add(time.Duration(dur * 1e9))
}

func protoNumber(s string) uint8 {
	switch strings.ToLower(s) {
	case "tcp":
		return ProtoTCP
	case "udp":
		return ProtoUDP
	case "icmp":
		return 1
	case "ipv6-icmp", "icmpv6", "icmp6":
		return 58
	case "sctp":
		return 132
	}
	n, _ := strconv.ParseUint(s, 10, 8)
	return uint8(n)
}

// jsonLine covers Zeek conn.log in JSON and Suricata EVE flow events.
type jsonLine struct {
	EventType string `json:"event_type"`
	SrcIP     string `json:"src_ip"`
	SrcPort   uint16 `json:"src_port"`
	DestIP    string `json:"dest_ip"`
	DestPort  uint16 `json:"dest_port"`
	Proto     any    `json:"proto"`
	Flow      *struct {
		PktsToServer  uint64 `json:"pkts_toserver"`
		PktsToClient  uint64 `json:"pkts_toclient"`
		BytesToServer uint64 `json:"bytes_toserver"`
		BytesToClient uint64 `json:"bytes_toclient"`
		Start         string `json:"start"`
		End           string `json:"end"`
	} `json:"flow"`
	Netflow *struct {
		Pkts  uint64 `json:"pkts"`
		Bytes uint64 `json:"bytes"`
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"netflow"`

	TS          any     `json:"ts"`
	OrigH       string  `json:"id.orig_h"`
	OrigP       uint16  `json:"id.orig_p"`
	RespH       string  `json:"id.resp_h"`
	RespP       uint16  `json:"id.resp_p"`
	Duration    float64 `json:"duration"`
	OrigPkts    uint64  `json:"orig_pkts"`
	RespPkts    uint64  `json:"resp_pkts"`
	OrigIPBytes uint64  `json:"orig_ip_bytes"`
	RespIPBytes uint64  `json:"resp_ip_bytes"`
	OrigBytes   uint64  `json:"orig_bytes"`
	RespBytes   uint64  `json:"resp_bytes"`
}

// jsonRecord reads one JSON line; kind is "" for lines of other events.
func jsonRecord(line []byte) (Record, string, error) {
	var j jsonLine
	var r Record
	if err := json.Unmarshal(line, &j); err != nil {
		return r, "", err
	}
	var err1, err2 error
	switch {
	case j.EventType == "netflow" && j.Netflow != nil:
		// Suricata's unidirectional records: one direction each, like NetFlow.
		r.Src, err1 = netip.ParseAddr(j.SrcIP)
		r.Dst, err2 = netip.ParseAddr(j.DestIP)
		if err := errors.Join(err1, err2); err != nil {
			return r, "", fmt.Errorf("src_ip/dest_ip: %w", err)
		}
		r.SrcPort, r.DstPort, r.Packets, r.Bytes = j.SrcPort, j.DestPort, j.Netflow.Pkts, j.Netflow.Bytes
		r.First, r.Last = eveTime(j.Netflow.Start), eveTime(j.Netflow.End)
		if r.First.IsZero() {
			return r, "", fmt.Errorf("netflow.start %q", j.Netflow.Start)
		}
		if r.Last.Before(r.First) {
			r.Last = r.First
		}
		r.Proto = protoOf(j.Proto)
		return r, "eve-netflow", nil
	case j.EventType == "flow":
		if j.Flow == nil {
			return r, "", errors.New("EVE flow event without a flow object")
		}
		r.Src, err1 = netip.ParseAddr(j.SrcIP)
		r.Dst, err2 = netip.ParseAddr(j.DestIP)
		if err := errors.Join(err1, err2); err != nil {
			return r, "", fmt.Errorf("src_ip/dest_ip: %w", err)
		}
		r.SrcPort, r.DstPort = j.SrcPort, j.DestPort
		r.Packets = j.Flow.PktsToServer + j.Flow.PktsToClient
		r.Bytes = j.Flow.BytesToServer + j.Flow.BytesToClient
		r.First, r.Last = eveTime(j.Flow.Start), eveTime(j.Flow.End)
		if r.First.IsZero() {
			return r, "", fmt.Errorf("flow.start %q", j.Flow.Start)
		}
		if r.Last.Before(r.First) {
			r.Last = r.First
		}
		r.Proto = protoOf(j.Proto)
		return r, "eve", nil
	case j.EventType != "":
		return r, "", nil
	case j.OrigH != "" && j.RespH != "":
		r.Src, err1 = netip.ParseAddr(j.OrigH)
		r.Dst, err2 = netip.ParseAddr(j.RespH)
		if err := errors.Join(err1, err2); err != nil {
			return r, "", fmt.Errorf("id.orig_h/id.resp_h: %w", err)
		}
		r.SrcPort, r.DstPort = j.OrigP, j.RespP
		var ts float64
		switch v := j.TS.(type) {
		case float64:
			ts = v
		case string:
			t := eveTime(v)
			if t.IsZero() {
				return r, "", fmt.Errorf("ts %q", v)
			}
			ts = float64(t.UnixNano()) / 1e9
		default:
			return r, "", errors.New("ts missing")
		}
		r.First, r.Last = span(ts, j.Duration)
		r.Packets = j.OrigPkts + j.RespPkts
		if r.Bytes = j.OrigIPBytes + j.RespIPBytes; r.Bytes == 0 {
			r.Bytes = j.OrigBytes + j.RespBytes
		}
		r.Proto = protoOf(j.Proto)
		return r, "zeek-conn-json", nil
	}
	return r, "", nil
}

func protoOf(v any) uint8 {
	switch p := v.(type) {
	case string:
		return protoNumber(p)
	case float64:
		if p >= 0 && p < 256 {
			return uint8(p)
		}
	}
	return 0
}

func eveTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
