package flow

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func decodeAll(t *testing.T, d *Decoder, exporter string, pkts ...[]byte) ([]Record, []error) {
	t.Helper()
	var recs []Record
	var errs []error
	for _, p := range pkts {
		if err := d.Decode(p, exporter, func(r Record) { recs = append(recs, r) }); err != nil {
			errs = append(errs, err)
		}
	}
	return recs, errs
}

func TestV5(t *testing.T) {
	// Export at 1700000000.5 with uptime 100 s: a flow from uptime 40 s to
	// 90 s ran from 60 s to 10 s before export.
	pkt := v5Msg(100000, 1700000000, 500000000,
		v5Rec("10.0.0.5", "198.51.100.7", 50000, 3333, 6, 12, 900, 40000, 90000),
		v5Rec("198.51.100.7", "10.0.0.5", 3333, 50000, 6, 10, 4000, 40000, 90000))
	recs, errs := decodeAll(t, NewDecoder(Limits{}), "192.0.2.1", pkt)
	if len(errs) > 0 || len(recs) != 2 {
		t.Fatalf("records %d errors %v", len(recs), errs)
	}
	r := recs[0]
	export := time.UnixMilli(1700000000500).UTC()
	if r.Src.String() != "10.0.0.5" || r.Dst.String() != "198.51.100.7" || r.SrcPort != 50000 || r.DstPort != 3333 || r.Proto != 6 ||
		r.Packets != 12 || r.Bytes != 900 || !r.First.Equal(export.Add(-60*time.Second)) || !r.Last.Equal(export.Add(-10*time.Second)) || r.Exporter != "192.0.2.1" {
		t.Errorf("record %+v", r)
	}
}

func TestV9TemplateThenData(t *testing.T) {
	tmpl := set(0, tmplRec(260, spec{8, 4, 0}, spec{12, 4, 0}, spec{7, 2, 0}, spec{11, 2, 0}, spec{4, 1, 0}, spec{2, 4, 0}, spec{1, 4, 0}, spec{22, 4, 0}, spec{21, 4, 0}))
	data := set(260, cat(ip4("10.1.1.1"), ip4("203.0.113.9"), u16(40000), u16(14444), []byte{6}, u32(30), u32(3000), u32(1000), u32(61000)), []byte{0, 0, 0})
	d := NewDecoder(Limits{})
	recs, errs := decodeAll(t, d, "exp", v9Msg(121000, 1700000000, 7, tmpl, data))
	if len(errs) > 0 || len(recs) != 1 {
		t.Fatalf("records %+v errors %v", recs, errs)
	}
	r := recs[0]
	if r.DstPort != 14444 || r.Bytes != 3000 || !r.First.Equal(time.Unix(1700000000-120, 0)) || !r.Last.Equal(time.Unix(1700000000-60, 0)) {
		t.Errorf("record %+v", r)
	}
	// The same template id from another observation domain is unknown.
	_, _ = decodeAll(t, d, "exp", v9Msg(121000, 1700000000, 8, data))
	if d.Stats.TemplateMisses != 1 {
		t.Errorf("template cache is not per source id: %+v", d.Stats)
	}
}

func TestTemplateMissThenResolve(t *testing.T) {
	for _, tc := range []struct {
		name       string
		data, tmpl []byte
	}{
		{"v9",
			v9Msg(5000, 1700000000, 1, set(300, cat(ip4("10.0.0.9"), ip4("192.0.2.80"), u16(3333)))),
			v9Msg(5000, 1700000000, 1, set(0, tmplRec(300, spec{8, 4, 0}, spec{12, 4, 0}, spec{11, 2, 0})))},
		{"ipfix",
			ipfixMsg(1700000000, 3, set(300, v4Data("10.0.0.9", "192.0.2.80", 41000, 3333, 6, 5, 500, 1700000000000, 1700000001000))),
			ipfixMsg(1700000001, 3, set(2, tmplRec(300, v4Fields...)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Limits{})
			recs, errs := decodeAll(t, d, "192.0.2.1", tc.data)
			if len(errs) > 0 || len(recs) != 0 || d.Stats.TemplateMisses != 1 {
				t.Fatalf("before template: records %v errors %v stats %+v", recs, errs, d.Stats)
			}
			// Another exporter's template must not resolve it.
			if recs, _ := decodeAll(t, d, "192.0.2.2", tc.tmpl); len(recs) != 0 {
				t.Fatalf("resolved by another exporter's template: %+v", recs)
			}
			recs, errs = decodeAll(t, d, "192.0.2.1", tc.tmpl)
			if len(errs) > 0 || len(recs) != 1 || d.Stats.Resolved != 1 {
				t.Fatalf("after template: records %+v errors %v stats %+v", recs, errs, d.Stats)
			}
			if recs[0].Src.String() != "10.0.0.9" || recs[0].DstPort != 3333 {
				t.Errorf("record %+v", recs[0])
			}
		})
	}
}

func TestIPFIXWithdrawal(t *testing.T) {
	d := NewDecoder(Limits{})
	data := set(400, v4Data("10.0.0.1", "192.0.2.80", 41000, 443, 6, 5, 500, 1700000000000, 1700000001000))
	msgs := [][]byte{
		ipfixMsg(1700000000, 0, set(2, tmplRec(400, v4Fields...), tmplRec(401, v4Fields...)), data),
		ipfixMsg(1700000000, 0, set(2, cat(u16(400), u16(0))), data), // withdraw 400, data misses
		ipfixMsg(1700000000, 0, set(2, tmplRec(400, v4Fields...)), data),
		ipfixMsg(1700000000, 0, set(2, cat(u16(2), u16(0))), set(401, data[4:])), // withdraw all
	}
	var got []int
	for _, m := range msgs {
		recs, errs := decodeAll(t, d, "x", m)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		got = append(got, len(recs))
	}
	if want := []int{1, 0, 2, 0}; !equalInts(got, want) || d.Stats.Withdrawn != 3 {
		// The re-sent template also resolves the set that missed: 2.
		t.Errorf("records per message %v, want %v; stats %+v", got, want, d.Stats)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIPFIXVariableAndEnterpriseFields(t *testing.T) {
	long := strings.Repeat("x", 300)
	tmpl := set(2, tmplRec(500,
		spec{27, 16, 0}, spec{28, 16, 0}, // IPv6
		spec{96, varLen, 0}, // applicationName, short form
		spec{1, 4, 29305},   // reverse octets (enterprise): skipped
		spec{7, 2, 0}, spec{11, 2, 0}, spec{4, 1, 0},
		spec{200, varLen, 9},             // enterprise, variable, long form
		spec{85, 4, 0},                   // octetTotalCount, reduced size
		spec{156, 8, 0}, spec{157, 8, 0}, // NTP nanoseconds
	))
	ntp := func(unix uint32) []byte { return cat(u32(unix+2208988800), u32(1<<31)) }
	rec := cat(ip6("2001:db8::5"), ip6("2001:db8:ffff::1"), []byte{4}, []byte("http"), u32(99999),
		u16(52000), u16(3333), []byte{6}, []byte{255}, u16(uint16(len(long))), []byte(long), u32(7777), ntp(1700000000), ntp(1700000100))
	recs, errs := decodeAll(t, NewDecoder(Limits{}), "x", ipfixMsg(1700000200, 0, tmpl, set(500, rec, rec)))
	if len(errs) > 0 || len(recs) != 2 {
		t.Fatalf("records %d errors %v", len(recs), errs)
	}
	r := recs[1]
	if r.Src.String() != "2001:db8::5" || r.DstPort != 3333 || r.Bytes != 7777 ||
		!r.First.Equal(time.Unix(1700000000, 5e8)) || !r.Last.Equal(time.Unix(1700000100, 5e8)) {
		t.Errorf("record %+v", r)
	}
}

func TestIPFIXSystemInitTime(t *testing.T) {
	// softflowd's layout: an options record carries the exporter's boot
	// time; flow records carry uptime milliseconds.
	boot := uint64(1700000000000)
	opts := set(3, ipfixOptRec(256, 1, spec{143, 4, 0}, spec{160, 8, 0}))
	optData := set(256, cat(u32(1), u64(boot)))
	tmpl := set(2, tmplRec(1024, spec{8, 4, 0}, spec{12, 4, 0}, spec{22, 4, 0}, spec{21, 4, 0}, spec{1, 4, 0}, spec{2, 4, 0}, spec{7, 2, 0}, spec{11, 2, 0}, spec{4, 1, 0}))
	data := set(1024, cat(ip4("10.0.2.15"), ip4("198.51.100.1"), u32(5000), u32(65000), u32(100), u32(4), u16(53266), u16(3333), []byte{6}))
	recs, errs := decodeAll(t, NewDecoder(Limits{}), "x", ipfixMsg(1700000070, 0, opts, tmpl, optData, data))
	if len(errs) > 0 || len(recs) != 1 {
		t.Fatalf("records %+v errors %v", recs, errs)
	}
	if r := recs[0]; !r.First.Equal(time.UnixMilli(int64(boot)+5000)) || !r.Last.Equal(time.UnixMilli(int64(boot)+65000)) {
		t.Errorf("times %v %v", r.First, r.Last)
	}
}

func TestCorruptPackets(t *testing.T) {
	goodTmpl := set(2, tmplRec(300, v4Fields...))
	for _, tc := range []struct {
		name string
		pkt  []byte
		off  int64
		msg  string
	}{
		{"empty", nil, 0, "too short"},
		{"version", cat(u16(7), u16(0)), 0, "version 7"},
		{"v5 header", cat(u16(5), u16(1), u32(0)), 0, "v5 header"},
		{"v5 count", v5Msg(0, 0, 0, v5Rec("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 1, 0, 0))[:60], 60, "announces 1 records"},
		{"v5 too many", cat(u16(5), u16(31), make([]byte, 20)), 2, "exceeds 30"},
		{"v9 header", cat(u16(9), u16(1), u32(0)), 0, "v9 header"},
		{"ipfix length", cat(ipfixMsg(0, 0, goodTmpl), []byte{0}), 2, "message length"},
		{"set runs past end", ipfixMsg(0, 0, cat(u16(2), u16(400), tmplRec(300, v4Fields...))), 18, "runs past"},
		{"set length 2", ipfixMsg(0, 0, cat(u16(2), u16(2), u32(0))), 18, "length 2"},
		{"template id below 256", ipfixMsg(0, 0, set(2, tmplRec(17, v4Fields...))), 20, "below 256"},
		{"zero-length field", ipfixMsg(0, 0, set(2, tmplRec(300, spec{8, 0, 0}))), 24, "length 0"},
		{"v9 variable length", v9Msg(0, 0, 0, set(0, tmplRec(300, spec{8, varLen, 0}))), 28, "length 65535"},
		{"template truncated", ipfixMsg(0, 0, set(2, tmplRec(300, v4Fields...)[:10])), 28, "field 1 truncated"},
		{"enterprise truncated", ipfixMsg(0, 0, set(2, cat(u16(300), u16(1), u16(0x8001), u16(4)))), 28, "enterprise number"},
		{"options scope 0", ipfixMsg(0, 0, set(3, ipfixOptRec(300, 0, spec{8, 4, 0}))), 20, "scope field count 0"},
		{"v9 options odd", v9Msg(0, 0, 0, set(1, cat(u16(300), u16(3), u16(4), specs(spec{8, 4, 0})))), 24, "multiple of 4"},
		{"variable overrun", ipfixMsg(0, 0, set(2, tmplRec(300, spec{96, varLen, 0})), set(300, []byte{20, 'a'})), 33, "needs 20 bytes"},
		{"variable long form cut", ipfixMsg(0, 0, set(2, tmplRec(300, spec{96, varLen, 0})), set(300, []byte{255, 1})), 33, "long length truncated"},
		{"stray bytes", cat(u16(10), u16(19), u32(0), u32(0), u32(0), []byte{1, 2, 3}), 16, "stray"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Limits{})
			err := d.Decode(tc.pkt, "192.0.2.9", func(Record) {})
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want *Error", err)
			}
			if fe.Source != "192.0.2.9" || fe.Offset != tc.off || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %q (offset %d), want offset %d and %q", err, fe.Offset, tc.off, tc.msg)
			}
			if d.Stats.Malformed != 1 {
				t.Errorf("malformed counter %d", d.Stats.Malformed)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Run("templates per source", func(t *testing.T) {
		d := NewDecoder(Limits{MaxTemplates: 2})
		_, errs := decodeAll(t, d, "x", ipfixMsg(0, 0, set(2, tmplRec(300, v4Fields...), tmplRec(301, v4Fields...), tmplRec(302, v4Fields...))))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "limit") {
			t.Errorf("errors %v", errs)
		}
		// Redefining an existing one is fine.
		if _, errs := decodeAll(t, d, "x", ipfixMsg(0, 0, set(2, tmplRec(301, v4Fields...)))); len(errs) > 0 {
			t.Error(errs)
		}
	})
	t.Run("fields per template", func(t *testing.T) {
		d := NewDecoder(Limits{MaxFields: 4})
		if _, errs := decodeAll(t, d, "x", ipfixMsg(0, 0, set(2, tmplRec(300, v4Fields...)))); len(errs) != 1 {
			t.Errorf("errors %v", errs)
		}
	})
	t.Run("sources", func(t *testing.T) {
		d := NewDecoder(Limits{MaxSources: 2})
		tmpl := ipfixMsg(0, 0, set(2, tmplRec(300, v4Fields...)))
		data := ipfixMsg(0, 0, set(300, v4Data("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 1, 0, 0)))
		decodeAll(t, d, "a", tmpl)
		decodeAll(t, d, "b", tmpl)
		decodeAll(t, d, "c", tmpl) // forgets a, the least recently heard
		recs, _ := decodeAll(t, d, "b", data)
		recsA, _ := decodeAll(t, d, "a", data)
		if len(d.sources) != 2 || len(recs) != 1 || len(recsA) != 0 {
			t.Errorf("sources %d, b decoded %d, a decoded %d", len(d.sources), len(recs), len(recsA))
		}
	})
	t.Run("pending sets", func(t *testing.T) {
		d := NewDecoder(Limits{MaxPendingSets: 2})
		for i := range 3 {
			decodeAll(t, d, "x", ipfixMsg(0, 0, set(uint16(300+i), v4Data("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 1, 0, 0))))
		}
		if d.Stats.TemplateMisses != 3 || d.Stats.Dropped != 1 {
			t.Errorf("stats %+v", d.Stats)
		}
		recs, _ := decodeAll(t, d, "x", ipfixMsg(0, 0, set(2, tmplRec(300, v4Fields...), tmplRec(302, v4Fields...))))
		if len(recs) != 1 || d.Stats.Resolved != 1 {
			t.Errorf("records %d stats %+v", len(recs), d.Stats)
		}
	})
}

// TestPadding: zero padding at the end of template and data sets is not a
// record, a withdrawal or an error.
func TestPadding(t *testing.T) {
	pad := make([]byte, 6)
	varTmpl := tmplRec(310, spec{8, 4, 0}, spec{12, 4, 0}, spec{96, varLen, 0})
	for _, tc := range []struct {
		name string
		pkts [][]byte
		want int
	}{
		{"ipfix template set", [][]byte{ipfixMsg(0, 0, set(2, tmplRec(300, v4Fields...), pad), set(300, v4Data("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 1, 0, 0)))}, 1},
		{"v9 template set", [][]byte{v9Msg(0, 0, 0, set(0, tmplRec(300, spec{8, 4, 0}, spec{12, 4, 0}), pad), set(300, cat(ip4("10.0.0.1"), ip4("10.0.0.2")), []byte{0, 0}))}, 1},
		{"variable data set", [][]byte{ipfixMsg(0, 0, set(2, varTmpl), set(310, cat(ip4("10.0.0.1"), ip4("10.0.0.2"), []byte{1, 'x'}), make([]byte, 9)))}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Limits{})
			recs, errs := decodeAll(t, d, "x", tc.pkts...)
			if len(errs) > 0 || len(recs) != tc.want || d.Stats.Withdrawn != 0 {
				t.Errorf("records %+v errors %v stats %+v", recs, errs, d.Stats)
			}
		})
	}
}
