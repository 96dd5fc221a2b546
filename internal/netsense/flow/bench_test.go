package flow

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const benchRecords = 30 // records per datagram: v5's maximum, a full softflowd v9/IPFIX packet

func benchDecode(b *testing.B, setup, pkt []byte) {
	d := NewDecoder(Limits{})
	if setup != nil {
		if err := d.Decode(setup, "bench", func(Record) {}); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	emit := func(Record) { n++ }
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	for b.Loop() {
		if err := d.Decode(pkt, "bench", emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodeV5(b *testing.B) {
	var recs [][]byte
	for i := range benchRecords {
		recs = append(recs, v5Rec("10.0.0.5", "198.51.100.7", uint16(40000+i), 3333, 6, 12, 900, 40000, 90000))
	}
	benchDecode(b, nil, v5Msg(100000, 1700000000, 0, recs...))
}

// softflowd's v9 IPv4 template.
var v9Fields = []spec{{8, 4, 0}, {12, 4, 0}, {22, 4, 0}, {21, 4, 0}, {1, 4, 0}, {2, 4, 0}, {10, 4, 0}, {14, 4, 0}, {7, 2, 0}, {11, 2, 0}, {4, 1, 0}, {6, 1, 0}, {60, 1, 0}, {5, 1, 0}}

func v9Data(i int) []byte {
	return cat(ip4("10.0.0.5"), ip4("198.51.100.7"), u32(1000), u32(61000), u32(900), u32(12), u32(1), u32(2), u16(uint16(40000+i)), u16(3333), []byte{6, 0x18, 4, 0})
}

func BenchmarkDecodeV9(b *testing.B) {
	var recs [][]byte
	for i := range benchRecords {
		recs = append(recs, v9Data(i))
	}
	benchDecode(b, v9Msg(121000, 1700000000, 1, set(0, tmplRec(1024, v9Fields...))), v9Msg(121000, 1700000000, 1, set(1024, recs...)))
}

func BenchmarkDecodeIPFIX(b *testing.B) {
	var recs [][]byte
	for i := range benchRecords {
		recs = append(recs, v4Data("10.0.0.5", "198.51.100.7", uint16(40000+i), 3333, 6, 12, 900, 1700000000000, 1700000060000))
	}
	benchDecode(b, ipfixMsg(1700000000, 0, set(2, tmplRec(1024, v4Fields...))), ipfixMsg(1700000000, 0, set(1024, recs...)))
}

// BenchmarkDecodeIPFIXVariable: records with a variable-length and an
// enterprise field, the slow path.
func BenchmarkDecodeIPFIXVariable(b *testing.B) {
	fields := append(append([]spec{}, v4Fields...), spec{96, varLen, 0}, spec{1, 4, 29305})
	var recs [][]byte
	for i := range benchRecords {
		recs = append(recs, cat(v4Data("10.0.0.5", "198.51.100.7", uint16(40000+i), 3333, 6, 12, 900, 1700000000000, 1700000060000), []byte{7}, []byte("stratum"), u32(5)))
	}
	benchDecode(b, ipfixMsg(1700000000, 0, set(2, tmplRec(1024, fields...))), ipfixMsg(1700000000, 0, set(1024, recs...)))
}

func zeekLog(b *testing.B, lines int) []byte {
	src, err := os.ReadFile(filepath.Join("testdata", "zeek", "conn.log"))
	if err != nil {
		b.Fatal(err)
	}
	var head, body []string
	for _, l := range strings.Split(strings.TrimSpace(string(src)), "\n") {
		if strings.HasPrefix(l, "#") {
			if !strings.HasPrefix(l, "#close") {
				head = append(head, l)
			}
		} else if !strings.Contains(l, "Cbroken") {
			body = append(body, l)
		}
	}
	var buf bytes.Buffer
	buf.WriteString(strings.Join(head, "\n") + "\n")
	for i := 0; i < lines; i++ {
		buf.WriteString(body[i%len(body)] + "\n")
	}
	return buf.Bytes()
}

func BenchmarkZeekConnLog(b *testing.B) {
	const lines = 20000
	data := zeekLog(b, lines)
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		st, err := ReadFile(context.Background(), bytes.NewReader(data), "conn.log", NewDecoder(Limits{}), func(Record) { n++ })
		if err != nil || len(st.Errors) > 0 {
			b.Fatal(err, st.Errors)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkAnalyzerAdd: detection bookkeeping per record (5000 hosts,
// 20 destinations each).
func BenchmarkAnalyzerAdd(b *testing.B) {
	a := newAnalyzer(&testing.T{}, nil)
	var recs []Record
	at := time.Date(2026, 11, 18, 10, 0, 0, 0, time.UTC)
	for i := range 100000 {
		r := Record{Proto: 6, Packets: 10, Bytes: 1000, First: at, Last: at.Add(time.Minute), SrcPort: uint16(40000 + i%1000), DstPort: 443}
		r.Src = v4(10, 0, byte(i/5000%256), byte(i%250))
		r.Dst = v4(198, 51, 100, byte(i%20))
		recs = append(recs, r)
	}
	i := 0
	for b.Loop() {
		a.Add(recs[i%len(recs)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func v4(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }
