package flow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Limits bound what a Decoder keeps, so a hostile or broken exporter
// cannot grow its memory without end.
type Limits struct {
	// MaxSources is how many exporter/observation-domain pairs keep
	// templates; the least recently heard one is forgotten first.
	MaxSources int
	// MaxTemplates is the most templates one source may define.
	MaxTemplates int
	// MaxFields is the most fields one template may have.
	MaxFields int
	// MaxPendingSets and MaxPendingBytes bound the data sets one source
	// may have waiting for a template that has not arrived yet.
	MaxPendingSets, MaxPendingBytes int
}

// DefaultLimits suit a campus collector (thousands of exporters would
// need more MaxSources); at most about 64 MiB of pending data sets.
var DefaultLimits = Limits{MaxSources: 1024, MaxTemplates: 512, MaxFields: 128, MaxPendingSets: 32, MaxPendingBytes: 64 << 10}

// Stats counts what a Decoder saw.
type Stats struct {
	Packets, Records uint64
	// Malformed counts packets that failed to decode (in whole or part).
	Malformed uint64
	// TemplateMisses counts data sets that arrived before their template;
	// Resolved counts those decoded later when it came, Dropped those given
	// up (pending limits, or the source was forgotten).
	TemplateMisses, Resolved, Dropped uint64
	Templates, Withdrawn              uint64
}

// Decoder decodes NetFlow v5, v9 and IPFIX packets. It keeps templates per
// exporter and observation domain (v9 source id); it is not safe for
// concurrent use.
type Decoder struct {
	lim     Limits
	sources map[sourceKey]*source
	tick    uint64
	Stats   Stats
}

// NewDecoder returns a decoder with the given limits (zero fields take
// the defaults).
func NewDecoder(lim Limits) *Decoder {
	def := DefaultLimits
	for _, p := range []struct{ v, d *int }{{&lim.MaxSources, &def.MaxSources}, {&lim.MaxTemplates, &def.MaxTemplates}, {&lim.MaxFields, &def.MaxFields}, {&lim.MaxPendingSets, &def.MaxPendingSets}, {&lim.MaxPendingBytes, &def.MaxPendingBytes}} {
		if *p.v <= 0 {
			*p.v = *p.d
		}
	}
	return &Decoder{lim: lim, sources: map[sourceKey]*source{}}
}

type sourceKey struct {
	exporter string
	version  uint16
	domain   uint32
}

type field struct {
	id, length uint16 // length 0xffff: variable (IPFIX)
	enterprise uint32
}

type template struct {
	fields  []field
	minLen  int
	options bool
}

// header is what a data set needs from its packet to be decoded later.
type header struct {
	version  uint16
	exportMs int64  // export time, Unix milliseconds
	uptimeMs uint32 // v5/v9 system uptime at export
}

type pendingSet struct {
	id   uint16
	data []byte
	off  int
	hdr  header
}

type source struct {
	templates    map[uint16]*template
	pending      []pendingSet
	pendingBytes int
	initMs       int64 // exporter boot, Unix ms (IPFIX systemInitTimeMilliseconds); 0 unknown
	used         uint64
}

const varLen = 0xffff

// Decode decodes one datagram from exporter and calls emit for every flow
// record in it (and for earlier data sets whose template it brings). An
// error names the exporter and byte offset; records before the damage are
// still emitted.
func (d *Decoder) Decode(pkt []byte, exporter string, emit func(Record)) error {
	d.Stats.Packets++
	err := d.decode(pkt, exporter, emit)
	if err != nil {
		d.Stats.Malformed++
		return err
	}
	return nil
}

func (d *Decoder) decode(pkt []byte, exporter string, emit func(Record)) error {
	if len(pkt) < 4 {
		return errAt(exporter, 0, "packet of %d bytes is too short for a flow header", len(pkt))
	}
	switch v := binary.BigEndian.Uint16(pkt); v {
	case 5:
		return d.v5(pkt, exporter, emit)
	case 9:
		return d.v9(pkt, exporter, emit)
	case 10:
		return d.ipfix(pkt, exporter, emit)
	default:
		return errAt(exporter, 0, "version %d is not NetFlow v5, v9 or IPFIX", v)
	}
}

const (
	v5Header = 24
	v5Record = 48
	v5Max    = 30 // Cisco's limit per packet
)

func (d *Decoder) v5(pkt []byte, exporter string, emit func(Record)) error {
	if len(pkt) < v5Header {
		return errAt(exporter, 0, "NetFlow v5 header needs %d bytes, packet has %d", v5Header, len(pkt))
	}
	count := int(binary.BigEndian.Uint16(pkt[2:]))
	if count > v5Max {
		return errAt(exporter, 2, "NetFlow v5 count %d exceeds %d", count, v5Max)
	}
	if need := v5Header + count*v5Record; len(pkt) < need {
		return errAt(exporter, len(pkt), "NetFlow v5 packet announces %d records (%d bytes) but has %d bytes", count, need, len(pkt))
	}
	h := header{version: 5, uptimeMs: binary.BigEndian.Uint32(pkt[4:]),
		exportMs: int64(binary.BigEndian.Uint32(pkt[8:]))*1000 + int64(binary.BigEndian.Uint32(pkt[12:]))/1e6}
	for i := range count {
		r := pkt[v5Header+i*v5Record:]
		rec := Record{
			Src: netip.AddrFrom4([4]byte(r[0:4])), Dst: netip.AddrFrom4([4]byte(r[4:8])),
			Packets: uint64(binary.BigEndian.Uint32(r[16:])), Bytes: uint64(binary.BigEndian.Uint32(r[20:])),
			First: h.uptimeTime(binary.BigEndian.Uint32(r[24:])), Last: h.uptimeTime(binary.BigEndian.Uint32(r[28:])),
			SrcPort: binary.BigEndian.Uint16(r[32:]), DstPort: binary.BigEndian.Uint16(r[34:]),
			Proto: r[38], Exporter: exporter,
		}
		if rec.Last.Before(rec.First) {
			rec.Last = rec.First // a broken exporter clock; keep spans non-negative
		}
		d.Stats.Records++
		emit(rec)
	}
	return nil
}

// uptimeTime converts an exporter uptime in ms to wall time using the
// header's export time and uptime; the subtraction wraps like the counter.
func (h header) uptimeTime(ms uint32) time.Time {
	back := int64(int32(h.uptimeMs - ms))
	return time.UnixMilli(h.exportMs - back).UTC()
}

func (d *Decoder) source(k sourceKey) *source {
	d.tick++
	s := d.sources[k]
	if s == nil {
		if len(d.sources) >= d.lim.MaxSources {
			var oldest sourceKey
			var min uint64 = ^uint64(0)
			for k, s := range d.sources {
				if s.used < min {
					oldest, min = k, s.used
				}
			}
			d.Stats.Dropped += uint64(len(d.sources[oldest].pending))
			delete(d.sources, oldest)
		}
		s = &source{templates: map[uint16]*template{}}
		d.sources[k] = s
	}
	s.used = d.tick
	return s
}

func (d *Decoder) v9(pkt []byte, exporter string, emit func(Record)) error {
	const hdrLen = 20
	if len(pkt) < hdrLen {
		return errAt(exporter, 0, "NetFlow v9 header needs %d bytes, packet has %d", hdrLen, len(pkt))
	}
	h := header{version: 9, uptimeMs: binary.BigEndian.Uint32(pkt[4:]), exportMs: int64(binary.BigEndian.Uint32(pkt[8:])) * 1000}
	src := d.source(sourceKey{exporter, 9, binary.BigEndian.Uint32(pkt[16:])})
	return d.sets(pkt, hdrLen, h, src, exporter, emit)
}

func (d *Decoder) ipfix(pkt []byte, exporter string, emit func(Record)) error {
	const hdrLen = 16
	if len(pkt) < hdrLen {
		return errAt(exporter, 0, "IPFIX header needs %d bytes, packet has %d", hdrLen, len(pkt))
	}
	if n := int(binary.BigEndian.Uint16(pkt[2:])); n != len(pkt) {
		return errAt(exporter, 2, "IPFIX message length %d but %d bytes received", n, len(pkt))
	}
	h := header{version: 10, exportMs: int64(binary.BigEndian.Uint32(pkt[4:])) * 1000}
	src := d.source(sourceKey{exporter, 10, binary.BigEndian.Uint32(pkt[12:])})
	return d.sets(pkt, hdrLen, h, src, exporter, emit)
}

// Set ids by version.
func setKinds(version uint16) (tmpl, opts uint16) {
	if version == 9 {
		return 0, 1
	}
	return 2, 3
}

func (d *Decoder) sets(pkt []byte, off int, h header, src *source, exporter string, emit func(Record)) error {
	tmplID, optsID := setKinds(h.version)
	for len(pkt)-off >= 4 {
		id := binary.BigEndian.Uint16(pkt[off:])
		n := int(binary.BigEndian.Uint16(pkt[off+2:]))
		if n < 4 || off+n > len(pkt) {
			return errAt(exporter, off+2, "set %d length %d runs past the packet (%d bytes left)", id, n, len(pkt)-off)
		}
		body := pkt[off+4 : off+n]
		var err error
		switch {
		case id == tmplID, id == optsID:
			err = d.templates(body, off+4, id == optsID, h.version, src, exporter, emit)
		case id >= 256:
			if t := src.templates[id]; t != nil {
				err = d.data(body, off+4, t, h, src, exporter, emit)
			} else {
				d.pend(src, id, body, off+4, h)
			}
		}
		// ids 2-255 (v9) and 4-255 (IPFIX) are reserved: skipped.
		if err != nil {
			return err
		}
		off += n
	}
	if off != len(pkt) && h.version == 10 {
		return errAt(exporter, off, "%d stray bytes after the last set", len(pkt)-off)
	}
	return nil
}

func (d *Decoder) pend(src *source, id uint16, body []byte, off int, h header) {
	d.Stats.TemplateMisses++
	if len(body) > d.lim.MaxPendingBytes {
		d.Stats.Dropped++
		return
	}
	for len(src.pending) > 0 && (len(src.pending) >= d.lim.MaxPendingSets || src.pendingBytes+len(body) > d.lim.MaxPendingBytes) {
		src.pendingBytes -= len(src.pending[0].data)
		src.pending = src.pending[1:]
		d.Stats.Dropped++
	}
	src.pending = append(src.pending, pendingSet{id: id, data: append([]byte(nil), body...), off: off, hdr: h})
	src.pendingBytes += len(body)
}

// templates reads a template or options-template set body.
func (d *Decoder) templates(b []byte, base int, options bool, version uint16, src *source, exporter string, emit func(Record)) error {
	var defined []uint16
	off := 0
	for len(b)-off >= 4 {
		if allZero(b[off:]) {
			break // padding to the set's end
		}
		at := base + off
		id := binary.BigEndian.Uint16(b[off:])
		count := int(binary.BigEndian.Uint16(b[off+2:]))
		off += 4
		if version == 9 && options {
			// v9 options: id, scope length and option length in bytes.
			if len(b)-off < 2 {
				return errAt(exporter, base+off, "options template %d truncated", id)
			}
			sl, ol := count, int(binary.BigEndian.Uint16(b[off:]))
			off += 2
			if sl%4 != 0 || ol%4 != 0 {
				return errAt(exporter, at, "options template %d: scope length %d / option length %d not a multiple of 4", id, sl, ol)
			}
			count = (sl + ol) / 4
		} else if version == 10 && options && count > 0 {
			if len(b)-off < 2 {
				return errAt(exporter, base+off, "options template %d truncated", id)
			}
			scope := int(binary.BigEndian.Uint16(b[off:]))
			off += 2
			if scope == 0 || scope > count {
				return errAt(exporter, at, "options template %d: scope field count %d of %d fields", id, scope, count)
			}
		}
		if count == 0 {
			// Withdrawal (RFC 7011 8.1): the set id itself withdraws them all.
			if (version == 10 && (id == 2 || id == 3)) || id == 0 {
				for tid, t := range src.templates {
					if t.options == options {
						delete(src.templates, tid)
						d.Stats.Withdrawn++
					}
				}
				continue
			}
			if id < 256 {
				return errAt(exporter, at, "template id %d is below 256", id)
			}
			if _, ok := src.templates[id]; ok {
				delete(src.templates, id)
				d.Stats.Withdrawn++
			}
			continue
		}
		if id < 256 {
			return errAt(exporter, at, "template id %d is below 256", id)
		}
		if count > d.lim.MaxFields {
			return errAt(exporter, at+2, "template %d has %d fields, limit %d", id, count, d.lim.MaxFields)
		}
		t := &template{options: options, fields: make([]field, 0, count)}
		for i := range count {
			if len(b)-off < 4 {
				return errAt(exporter, base+off, "template %d field %d truncated", id, i)
			}
			f := field{id: binary.BigEndian.Uint16(b[off:]), length: binary.BigEndian.Uint16(b[off+2:])}
			off += 4
			if version == 10 && f.id&0x8000 != 0 {
				if len(b)-off < 4 {
					return errAt(exporter, base+off, "template %d field %d: enterprise number truncated", id, i)
				}
				f.id &^= 0x8000
				f.enterprise = binary.BigEndian.Uint32(b[off:])
				off += 4
			}
			switch {
			case f.length == varLen && version == 10:
				t.minLen++ // its length byte
			case f.length == 0 || f.length == varLen:
				return errAt(exporter, base+off-4, "template %d field %d (element %d) has length %d", id, i, f.id, f.length)
			default:
				t.minLen += int(f.length)
			}
			t.fields = append(t.fields, f)
		}
		if _, ok := src.templates[id]; !ok && len(src.templates) >= d.lim.MaxTemplates {
			return errAt(exporter, at, "template %d: source already has %d templates (limit)", id, d.lim.MaxTemplates)
		}
		src.templates[id] = t
		d.Stats.Templates++
		defined = append(defined, id)
	}
	// Data that came before its template is decoded now; an error in it
	// carries the offset in the packet it came in.
	for _, id := range defined {
		t := src.templates[id]
		keep := src.pending[:0]
		var todo []pendingSet
		for _, p := range src.pending {
			if p.id == id {
				todo = append(todo, p)
				src.pendingBytes -= len(p.data)
			} else {
				keep = append(keep, p)
			}
		}
		src.pending = keep
		for _, p := range todo {
			d.Stats.Resolved++
			if err := d.data(p.data, p.off, t, p.hdr, src, exporter, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// IPFIX information elements (and the NetFlow v9 field types with the
// same numbers) the records are built from.
const (
	ieOctets       = 1
	iePackets      = 2
	ieProto        = 4
	ieSrcPort      = 7
	ieSrcV4        = 8
	ieDstPort      = 11
	ieDstV4        = 12
	ieEndUptime    = 21
	ieStartUptime  = 22
	ieSrcV6        = 27
	ieDstV6        = 28
	ieOctetsTotal  = 85
	iePacketsTotal = 86
	ieStartSec     = 150
	ieEndSec       = 151
	ieStartMs      = 152
	ieEndMs        = 153
	ieStartUs      = 154
	ieEndUs        = 155
	ieStartNs      = 156
	ieEndNs        = 157
	ieSysInitMs    = 160
)

// ntpEpoch is 1900-01-01 in Unix seconds; IPFIX micro/nanosecond times
// are NTP timestamps.
const ntpEpoch = -2208988800

func uint64Of(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func ntpTime(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	sec := int64(binary.BigEndian.Uint32(b)) + ntpEpoch
	frac := uint64(binary.BigEndian.Uint32(b[4:]))
	return time.Unix(sec, int64(frac*1e9>>32)).UTC()
}

func (d *Decoder) data(b []byte, base int, t *template, h header, src *source, exporter string, emit func(Record)) error {
	off := 0
	for len(b)-off >= t.minLen && len(b)-off > 0 {
		start := off
		var rec Record
		var upFirst, upLast uint32
		var hasUp bool
		var first, last time.Time
		for i, f := range t.fields {
			n := int(f.length)
			if f.length == varLen {
				if off >= len(b) {
					return errAt(exporter, base+off, "record at %d: field %d length missing", base+start, i)
				}
				n = int(b[off])
				off++
				if n == 255 {
					if len(b)-off < 2 {
						return errAt(exporter, base+off, "record at %d: field %d long length truncated", base+start, i)
					}
					n = int(binary.BigEndian.Uint16(b[off:]))
					off += 2
				}
			}
			if len(b)-off < n {
				// Only a variable-length record can run short; padding is
				// caught by the loop condition.
				return errAt(exporter, base+off, "record at %d: field %d needs %d bytes, %d left", base+start, i, n, len(b)-off)
			}
			v := b[off : off+n]
			off += n
			if f.enterprise != 0 {
				continue // vendor elements: length known, meaning not
			}
			switch f.id {
			case ieOctets, ieOctetsTotal:
				if n <= 8 && (f.id == ieOctets || rec.Bytes == 0) {
					rec.Bytes = uint64Of(v)
				}
			case iePackets, iePacketsTotal:
				if n <= 8 && (f.id == iePackets || rec.Packets == 0) {
					rec.Packets = uint64Of(v)
				}
			case ieProto:
				if n == 1 {
					rec.Proto = v[0]
				}
			case ieSrcPort:
				if n == 2 {
					rec.SrcPort = binary.BigEndian.Uint16(v)
				}
			case ieDstPort:
				if n == 2 {
					rec.DstPort = binary.BigEndian.Uint16(v)
				}
			case ieSrcV4, ieSrcV6:
				if a, ok := netip.AddrFromSlice(v); ok && (n == 4 || n == 16) {
					rec.Src = a.Unmap()
				}
			case ieDstV4, ieDstV6:
				if a, ok := netip.AddrFromSlice(v); ok && (n == 4 || n == 16) {
					rec.Dst = a.Unmap()
				}
			case ieStartUptime:
				if n == 4 {
					upFirst, hasUp = binary.BigEndian.Uint32(v), true
				}
			case ieEndUptime:
				if n == 4 {
					upLast, hasUp = binary.BigEndian.Uint32(v), true
				}
			case ieStartSec, ieEndSec:
				if n == 4 {
					tt := time.Unix(int64(binary.BigEndian.Uint32(v)), 0).UTC()
					setTime(f.id == ieStartSec, &first, &last, tt)
				}
			case ieStartMs, ieEndMs:
				if n == 8 {
					setTime(f.id == ieStartMs, &first, &last, time.UnixMilli(int64(binary.BigEndian.Uint64(v))).UTC())
				}
			case ieStartUs, ieEndUs, ieStartNs, ieEndNs:
				if tt := ntpTime(v); !tt.IsZero() {
					setTime(f.id == ieStartUs || f.id == ieStartNs, &first, &last, tt)
				}
			case ieSysInitMs:
				if n == 8 {
					src.initMs = int64(binary.BigEndian.Uint64(v))
				}
			}
		}
		if off == start {
			return errAt(exporter, base+off, "template yields empty records")
		}
		if t.options || !rec.Src.IsValid() || !rec.Dst.IsValid() || rec.Src.IsUnspecified() && rec.Dst.IsUnspecified() {
			continue // options data, or a flow of no IP (layer-2 records)
		}
		if hasUp && first.IsZero() {
			switch {
			case h.version == 9:
				first, last = h.uptimeTime(upFirst), h.uptimeTime(upLast)
			case src.initMs != 0:
				first, last = time.UnixMilli(src.initMs+int64(upFirst)).UTC(), time.UnixMilli(src.initMs+int64(upLast)).UTC()
			}
		}
		if first.IsZero() {
			first = time.UnixMilli(h.exportMs).UTC()
		}
		if last.IsZero() || last.Before(first) {
			last = first
		}
		rec.First, rec.Last, rec.Exporter = first, last, exporter
		d.Stats.Records++
		emit(rec)
	}
	return nil
}

func setTime(start bool, first, last *time.Time, t time.Time) {
	if start {
		*first = t
	} else {
		*last = t
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
