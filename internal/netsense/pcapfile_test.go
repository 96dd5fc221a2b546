package netsense

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// pcapBytes writes frames as a classic pcap with the given snap length.
func pcapBytes(t *testing.T, snaplen uint32, frames ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacketCI(i, len(f))
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	out := b.Bytes()
	binary.LittleEndian.PutUint32(out[16:], snaplen)
	return out
}

// The records read are pcapgo's records, timestamps included, on every
// real capture.
func TestPcapRecordsMatchPcapgo(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "data", "pcap", "*.pcap"))
	inputs := map[string][]byte{"generated": pcapBytes(t, 65535,
		tcpFrame(t, "10.0.0.1:4000", "192.0.2.1:3333", 1, "S", ""), tcpFrame(t, "10.0.0.1:4000", "192.0.2.1:3333", 2, "A", "{}\n"))}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(f)] = b
	}
	for name, b := range inputs {
		want, err := pcapgo.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		got, err := newPcapRecords(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatal(err)
		}
		if got.LinkType() != want.LinkType() {
			t.Errorf("%s: link %v, pcapgo %v", name, got.LinkType(), want.LinkType())
		}
		for n := 0; ; n++ {
			wd, wci, werr := want.ReadPacketData()
			gd, gci, gerr := got.ZeroCopyReadPacketData()
			if (werr == nil) != (gerr == nil) || !bytes.Equal(wd, gd) || werr == nil && (!wci.Timestamp.Equal(gci.Timestamp) || wci.CaptureLength != gci.CaptureLength || wci.Length != gci.Length) {
				t.Fatalf("%s: record %d: %v %v, pcapgo %v %v", name, n, gci, gerr, wci, werr)
			}
			if werr != nil {
				break
			}
		}
	}
}

// A header claiming a 4 GiB snap length, or a record claiming 2 GiB,
// costs what the file holds, not what it claims.
func TestPcapHostileLengths(t *testing.T) {
	frame := tcpFrame(t, "10.0.0.1:4000", "192.0.2.1:3333", 1, "S", "")
	big := pcapBytes(t, 0xffffffff, frame)
	lie := append(pcapBytes(t, 0xffffffff, frame), make([]byte, 16)...)
	binary.LittleEndian.PutUint32(lie[len(lie)-8:], 0x7fffffff) // caplen
	binary.LittleEndian.PutUint32(lie[len(lie)-4:], 0x7fffffff) // length
	tests := []struct {
		name, err string
		data      []byte
	}{
		{"huge snap length", "", big},
		{"huge record", "larger than any frame", lie},
	}
	for _, tc := range tests {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		a := newTestAnalyzer()
		if err := a.ReadCapture(context.Background(), bytes.NewReader(tc.data), "x.pcap"); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if a.Packets != 1 || tc.err == "" && len(a.Errors) != 0 || tc.err != "" && (len(a.Errors) != 1 || !strings.Contains(a.Errors[0], tc.err)) {
			t.Errorf("%s: %d packets, errors %q", tc.name, a.Packets, a.Errors)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 32<<20 {
			t.Errorf("%s: allocated %d MiB", tc.name, d>>20)
		}
	}
}

// Gzipped pcaps are read, as pcapgo read them.
func TestGzipCapture(t *testing.T) {
	var z bytes.Buffer
	gw := gzip.NewWriter(&z)
	io.Copy(gw, bytes.NewReader(pcapBytes(t, 65535,
		tcpFrame(t, "10.0.0.1:4000", "192.0.2.1:3333", 1, "S", ""),
		tcpFrame(t, "10.0.0.1:4000", "192.0.2.1:3333", 2, "A", `{"id":1,"method":"mining.subscribe","params":[]}`+"\n"+`{"id":2,"method":"mining.authorize","params":["w","x"]}`+"\n"))))
	gw.Close()
	a := newTestAnalyzer()
	if err := a.ReadCapture(context.Background(), &z, "x.pcap.gz"); err != nil || len(a.Errors) > 0 {
		t.Fatal(err, a.Errors)
	}
	fs := a.Findings()
	if len(fs) != 1 || fs[0].Evidence.Dialect != DialectStratum1 || fs[0].Evidence.Worker != "w" {
		t.Errorf("findings %+v", fs)
	}
}

// TestLinkTypes: a capture of a link type nothing here reads says so
// instead of passing for a capture without mining; a type gopacket cannot
// hold (above 255) is refused by number, except Linux cooked v2 (276).
func TestLinkTypes(t *testing.T) {
	write := func(link uint32, frames ...[]byte) []byte {
		var b bytes.Buffer
		w := pcapgo.NewWriter(&b)
		w.WriteFileHeader(65535, layers.LinkTypeEthernet)
		for i, f := range frames {
			w.WritePacket(gopacketCI(i, len(f)), f)
		}
		out := b.Bytes()
		binary.LittleEndian.PutUint32(out[20:], link)
		return out
	}
	eth := tcpFrame(t, "10.0.0.5:40000", "192.0.2.9:3333", 1, "PA", `{"id":1,"method":"login","params":{"login":"w"}}`+"\n")
	sll2 := append(binary.BigEndian.AppendUint16(nil, 0x0800), make([]byte, 18)...) // protocol, then the rest of the header
	cases := []struct {
		name, warning, err string
		data               []byte
		stratum            bool
	}{
		{name: "Ethernet", data: write(1, eth), stratum: true},
		{name: "Linux cooked v2", data: write(276, append(sll2, eth[14:]...)), stratum: true},
		{name: "a link type not read", data: write(147, eth, eth), warning: "cap.pcap: none of its 2 packets could be decoded (link type 147): nothing in it was analysed"},
		{name: "a link type above 255", data: write(290, eth), err: "cap.pcap: pcap: link type 290 is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newTestAnalyzer()
			err := a.ReadCapture(context.Background(), bytes.NewReader(c.data), "cap.pcap")
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stratum := false
			for _, f := range a.Findings() {
				stratum = stratum || f.Rule == "net.stratum"
			}
			if stratum != c.stratum || (c.warning == "") != (len(a.Errors) == 0) || c.warning != "" && a.Errors[0] != c.warning {
				t.Errorf("stratum %v warnings %q", stratum, a.Errors)
			}
		})
	}
}
