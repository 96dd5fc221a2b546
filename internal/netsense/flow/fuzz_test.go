package flow

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzDecode decodes data as two datagrams of the given version (split
// where the first byte says), so templates of the first meet data of the
// second; it checks the decoder's promises.
func fuzzDecode(t *testing.T, version byte, data []byte) {
	if len(data) < 1 {
		return
	}
	k := int(data[0])
	data = data[1:]
	if k > len(data) {
		k = len(data)
	}
	lim := Limits{MaxSources: 2, MaxTemplates: 4, MaxFields: 16, MaxPendingSets: 3, MaxPendingBytes: 4096}
	d := NewDecoder(lim)
	for _, pkt := range [][]byte{data[:k], data[k:]} {
		p := append([]byte{0, version}, pkt...)
		if version == 10 && len(p) >= 4 {
			p[2], p[3] = byte(len(p)>>8), byte(len(p)) // mostly valid lengths
		}
		err := d.Decode(p, "fuzz", func(r Record) {
			if !r.Src.IsValid() || !r.Dst.IsValid() || r.Last.Before(r.First) {
				t.Fatalf("bad record %+v", r)
			}
		})
		var fe *Error
		if err != nil && (!errors.As(err, &fe) || fe.Source != "fuzz" || fe.Offset < 0 || fe.Offset > int64(len(p))) {
			t.Fatalf("error %v is not a located *Error", err)
		}
	}
	for _, s := range d.sources {
		if len(s.templates) > lim.MaxTemplates || len(s.pending) > lim.MaxPendingSets || s.pendingBytes > lim.MaxPendingBytes {
			t.Fatalf("limits exceeded: %d templates, %d pending (%d bytes)", len(s.templates), len(s.pending), s.pendingBytes)
		}
	}
	if len(d.sources) > lim.MaxSources {
		t.Fatalf("%d sources", len(d.sources))
	}
}

// seeds returns each datagram of the softflowd fixture of a version.
func seeds(f *testing.F, version string) [][]byte {
	b, err := os.ReadFile(filepath.Join("testdata", "softflowd-v"+version+".mgflow"))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	b = b[len(fileMagic):]
	for len(b) >= frameHeader {
		n := int(b[26])<<24 | int(b[27])<<16 | int(b[28])<<8 | int(b[29])
		out = append(out, b[frameHeader:frameHeader+n])
		b = b[frameHeader+n:]
	}
	return out
}

func FuzzV5(f *testing.F) {
	for _, s := range seeds(f, "5") {
		f.Add(append([]byte{0}, s[2:]...))
	}
	f.Add(append([]byte{0}, v5Msg(100, 1700000000, 0, v5Rec("10.0.0.1", "10.0.0.2", 1, 3333, 6, 1, 1, 10, 90))[2:]...))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, 5, data) })
}

func FuzzV9(f *testing.F) {
	for _, s := range seeds(f, "9") {
		f.Add(append([]byte{0}, s[2:]...))
	}
	data := v9Msg(5000, 1700000000, 1, set(300, cat(ip4("10.0.0.9"), ip4("192.0.2.80"), u16(3333))))
	tmpl := v9Msg(5000, 1700000000, 1, set(0, tmplRec(300, spec{8, 4, 0}, spec{12, 4, 0}, spec{11, 2, 0})), set(1, cat(u16(301), u16(4), u16(4), specs(spec{1, 4, 0}, spec{2, 4, 0}))))
	f.Add(append([]byte{byte(len(data) - 2)}, cat(data[2:], tmpl)...))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, 9, data) })
}

func FuzzIPFIX(f *testing.F) {
	for _, s := range seeds(f, "10") {
		f.Add(append([]byte{0}, s[2:]...))
	}
	tmpl := ipfixMsg(1700000000, 3, set(2, tmplRec(300, spec{8, 4, 0}, spec{12, 4, 0}, spec{96, varLen, 0}, spec{1, 4, 29305})), set(3, ipfixOptRec(256, 1, spec{143, 4, 0}, spec{160, 8, 0})))
	data := ipfixMsg(1700000000, 3, set(300, cat(ip4("10.0.0.1"), ip4("10.0.0.2"), []byte{255, 0, 3}, []byte("abc"), u32(1))), set(2, cat(u16(300), u16(0))))
	f.Add(append([]byte{byte(len(tmpl) - 2)}, cat(tmpl[2:], data[2:])...))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, 10, data) })
}

// FuzzReadFile covers format detection, the datagram file framing, Zeek
// TSV and JSON, and EVE.
func FuzzReadFile(f *testing.F) {
	for _, name := range []string{"zeek/conn.log", "zeek/conn.json", "eve/eve.json", "softflowd-v9.mgflow"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 4096 {
			b = b[:4096]
		}
		f.Add(b)
	}
	f.Add([]byte("#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\n1.5\t10.0.0.1\t1\t10.0.0.2\t3333\ttcp\t1e300\n"))
	f.Add([]byte(`{"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","dest_port":3333,"proto":6,"flow":{"start":"2026-11-18T00:00:00.000000+0000"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ReadFile(context.Background(), bytes.NewReader(data), "fuzz.log", NewDecoder(Limits{MaxSources: 4}), func(r Record) {
			if !r.Src.IsValid() || !r.Dst.IsValid() {
				t.Fatalf("record without addresses %+v", r)
			}
		})
		if err != nil && !strings.Contains(err.Error(), "fuzz.log") {
			t.Fatalf("error does not name the file: %v", err)
		}
		if len(st.Errors) > maxFileErrors {
			t.Fatalf("%d errors kept", len(st.Errors))
		}
	})
}
