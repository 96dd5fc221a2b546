package flow

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readFixture(t *testing.T, path string) ([]Record, FileStats) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []Record
	st, err := ReadFile(context.Background(), f, path, NewDecoder(Limits{}), func(r Record) { recs = append(recs, r) })
	if err != nil {
		t.Fatal(err)
	}
	return recs, st
}

func TestReadFileFormats(t *testing.T) {
	for _, tc := range []struct {
		file, format     string
		records, skipped int
		errs             int
	}{
		{"zeek/conn.log", "zeek-conn", 71, 1, 1},
		{"zeek/conn.json", "zeek-conn-json", 71, 0, 0},
		{"eve/eve.json", "eve", 7, 3, 0}, // alert, dns and stats events skipped
		{"ordinary/eve.json", "eve", 62, 0, 0},
		// Real exports: Debian's softflowd reading bitcoin-mining.pcap
		// into `minerguard net collect --write`.
		{"softflowd-v5.mgflow", "netflow-file", 30, 0, 0},
		{"softflowd-v9.mgflow", "netflow-file", 30, 0, 0},
		{"softflowd-v10.mgflow", "netflow-file", 30, 0, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			recs, st := readFixture(t, filepath.Join("testdata", tc.file))
			if st.Format != tc.format || len(recs) != tc.records || st.Skipped != tc.skipped || len(st.Errors) != tc.errs {
				t.Errorf("format %q records %d skipped %d errors %v", st.Format, len(recs), st.Skipped, st.Errors)
			}
			for _, e := range st.Errors {
				if !strings.Contains(e, tc.file) || !strings.Contains(e, "line ") {
					t.Errorf("error does not name file and line: %s", e)
				}
			}
		})
	}
}

// TestReadFileLongLine: a line longer than any record (a corrupt region
// of a log) costs that line only; records on both sides are read and the
// warning names the file, line and offset.
func TestReadFileLongLine(t *testing.T) {
	conn, err := os.ReadFile(filepath.Join("testdata", "zeek", "conn.json"))
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := bytes.Cut(conn, []byte("\n"))
	data := cat(first, []byte("\n"), bytes.Repeat([]byte{0}, 2*maxLine), []byte("\n"), rest)
	var recs []Record
	st, err := ReadFile(context.Background(), bytes.NewReader(data), "conn.json", NewDecoder(Limits{}), func(r Record) { recs = append(recs, r) })
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("conn.json: line 2 (offset %d): %d bytes, longer than %d: skipped", len(first)+1, 2*maxLine+1, maxLine)
	if len(recs) != 71 || st.Skipped != 1 || len(st.Errors) != 1 || st.Errors[0] != want {
		t.Errorf("records %d (want 71) skipped %d errors %q, want %q", len(recs), st.Skipped, st.Errors, want)
	}
}

// TestReadFileGzip: Zeek archives its logs gzipped; they are read as
// they lie.
func TestReadFileGzip(t *testing.T) {
	conn, err := os.ReadFile(filepath.Join("testdata", "zeek", "conn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(conn)
	w.Close()
	n := 0
	st, err := ReadFile(context.Background(), &gz, "conn.00:00:00-01:00:00.log.gz", NewDecoder(Limits{}), func(Record) { n++ })
	if err != nil || n != 71 || st.Format != "zeek-conn-json" || len(st.Errors) != 0 {
		t.Errorf("records %d format %q errors %q err %v", n, st.Format, st.Errors, err)
	}
}

func TestZeekRecord(t *testing.T) {
	for _, file := range []string{"zeek/conn.log", "zeek/conn.json"} {
		recs, _ := readFixture(t, filepath.Join("testdata", file))
		r := recs[0]
		start := time.Date(2026, 11, 18, 1, 0, 0, 0, time.UTC)
		if r.Src.String() != "10.0.0.23" || r.SrcPort != 51234 || r.Dst.String() != "198.51.100.20" || r.DstPort != 14444 || r.Proto != ProtoTCP ||
			r.Packets != 980 || r.Bytes != 210000 || !r.First.Equal(start) || !r.Last.Equal(start.Add(2*time.Hour)) || !r.Oriented {
			t.Errorf("%s: %+v", file, r)
		}
	}
}

func TestSoftflowdFixtures(t *testing.T) {
	// The pool session of bitcoin-mining.pcap in each export version.
	for _, v := range []string{"5", "9", "10"} {
		recs, _ := readFixture(t, filepath.Join("testdata", "softflowd-v"+v+".mgflow"))
		var toPool, fromPool uint64
		for _, r := range recs {
			if r.Src.String() == "10.0.2.15" && r.Dst.String() == "74.84.128.158" && r.DstPort == 3333 {
				toPool += r.Packets
			}
			if r.Src.String() == "74.84.128.158" && r.SrcPort == 3333 {
				fromPool += r.Packets
			}
			if r.Exporter != "127.0.0.1" || r.First.Year() != 2018 {
				t.Errorf("v%s: record %+v", v, r)
			}
		}
		// tcpdump counts 61 packets each way on 10.0.2.15 <-> 74.84.128.158:3333.
		if toPool == 0 || fromPool == 0 {
			t.Errorf("v%s: pool packets %d out, %d in", v, toPool, fromPool)
		}
	}
}

func TestFramedRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewDatagramWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := ipfixMsg(1700000000, 0, set(2, tmplRec(300, v4Fields...)))
	data := ipfixMsg(1700000000, 0, set(300, v4Data("10.0.0.1", "192.0.2.1", 40000, 3333, 6, 3, 300, 1700000000000, 1700000005000)))
	a := netip.MustParseAddrPort("192.0.2.10:9995")
	b := netip.MustParseAddrPort("[2001:db8::10]:9995")
	for _, f := range []struct {
		from netip.AddrPort
		pkt  []byte
	}{{a, tmpl}, {a, data}, {b, data}, {b, tmpl}} {
		if err := w.Write(time.Now(), f.from, f.pkt); err != nil {
			t.Fatal(err)
		}
	}
	var recs []Record
	dec := NewDecoder(Limits{})
	st, err := ReadFile(context.Background(), &buf, "mem", dec, func(r Record) { recs = append(recs, r) })
	if err != nil {
		t.Fatal(err)
	}
	// a: template then data; b: data then template, resolved.
	if st.Datagrams != 4 || len(recs) != 2 || recs[0].Exporter != "192.0.2.10" || recs[1].Exporter != "2001:db8::10" || dec.Stats.Resolved != 1 {
		t.Errorf("stats %+v records %+v decoder %+v", st, recs, dec.Stats)
	}
}

func TestReadFileBareStream(t *testing.T) {
	stream := cat(
		v5Msg(100000, 1700000000, 0, v5Rec("10.0.0.5", "198.51.100.7", 50000, 3333, 6, 12, 900, 40000, 90000)),
		ipfixMsg(1700000000, 0, set(2, tmplRec(300, v4Fields...)), set(300, v4Data("10.0.0.1", "192.0.2.1", 40000, 3333, 6, 3, 300, 1700000000000, 1700000005000))),
	)
	var n int
	st, err := ReadFile(context.Background(), bytes.NewReader(stream), "s.bin", NewDecoder(Limits{}), func(Record) { n++ })
	if err != nil || st.Format != "netflow-stream" || st.Datagrams != 2 || n != 2 {
		t.Errorf("err %v stats %+v records %d", err, st, n)
	}
}

func TestReadFileDamaged(t *testing.T) {
	var framed bytes.Buffer
	w, _ := NewDatagramWriter(&framed)
	w.Write(time.Now(), netip.MustParseAddrPort("192.0.2.1:1"), v5Msg(0, 0, 0))
	good := framed.Len()
	w.Write(time.Now(), netip.MustParseAddrPort("192.0.2.1:1"), v5Msg(0, 0, 0))
	v5 := v5Msg(0, 0, 0)
	for _, tc := range []struct {
		name string
		data []byte
		off  int64
		msg  string
	}{
		{"frame cut", framed.Bytes()[:good+10], int64(good), "frame header truncated"},
		{"datagram cut", framed.Bytes()[:framed.Len()-3], int64(good + frameHeader), "truncated"},
		{"huge frame", cat([]byte(fileMagic), make([]byte, 26), u32(1<<20)), 8 + 26, "exceeds"},
		{"stream bad version", cat(v5, u16(7), u16(0)), int64(len(v5)), "version 7"},
		{"stream cut", cat(v5, v5[:10]), int64(len(v5)), "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFile(context.Background(), bytes.NewReader(tc.data), "f.bin", NewDecoder(Limits{}), func(Record) {})
			var fe *Error
			if !errors.As(err, &fe) || fe.Source != "f.bin" || fe.Offset != tc.off || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %v, want offset %d %q", err, tc.off, tc.msg)
			}
		})
	}
	for _, tc := range []struct{ name, data, msg string }{
		{"empty", "", "empty file"},
		{"binary", "\x7fELF\x02\x01", "not a flow file"},
		{"not a conn.log", "#separator \\x09\n#fields\tts\tquery\n", "not a conn.log"},
	} {
		_, err := ReadFile(context.Background(), strings.NewReader(tc.data), "g.log", NewDecoder(Limits{}), func(Record) {})
		if err == nil || !strings.Contains(err.Error(), "g.log") || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestEVENetflowEvents(t *testing.T) {
	in := `{"timestamp":"2026-11-18T02:00:00.000000+0000","event_type":"netflow","src_ip":"198.51.100.20","src_port":3333,"dest_ip":"10.0.0.8","dest_port":40000,"proto":"TCP","netflow":{"pkts":10,"bytes":900,"start":"2026-11-18T01:00:00.000000+0000","end":"2026-11-18T01:59:00.000000+0000","age":3540}}
`
	var recs []Record
	st, err := ReadFile(context.Background(), strings.NewReader(in), "eve.json", NewDecoder(Limits{}), func(r Record) { recs = append(recs, r) })
	if err != nil || st.Format != "eve-netflow" || len(recs) != 1 || recs[0].Oriented || recs[0].Bytes != 900 {
		t.Fatalf("err %v stats %+v records %+v", err, st, recs)
	}
	// One direction only: the server side is inferred from the mining port.
	a := newAnalyzer(t, nil)
	a.Add(recs[0])
	if got := summary(a.Findings()); len(got) != 1 || got[0] != "net.flow_mining_port medium 10.0.0.8->198.51.100.20:3333" {
		t.Errorf("%v", got)
	}
}
