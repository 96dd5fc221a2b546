package netsense

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
)

// clientHello is the first TLS record Go's client sends.
func goClientHello(t testing.TB, sni string) []byte {
	c, s := net.Pipe()
	go func() {
		tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.Close()
	return append(hdr, body...)
}

func TestJA3(t *testing.T) {
	hello := goClientHello(t, "pool.example")
	full, hash, ok := JA3(hello)
	if !ok || len(hash) != 32 {
		t.Fatalf("JA3 of a real ClientHello: %q %q %v", full, hash, ok)
	}
	parts := strings.Split(full, ",")
	if len(parts) != 5 || parts[0] != "771" || !strings.Contains(parts[2], "0-") && !strings.HasPrefix(parts[2], "0") {
		t.Errorf("JA3 string %q: want TLS 1.2 legacy version 771 and the server_name extension", full)
	}
	if _, h2, _ := JA3(goClientHello(t, "other.example")); h2 != hash {
		t.Errorf("the fingerprint depends on the name: %s vs %s", hash, h2)
	}
	for i := 5; i < len(hello); i += 7 {
		JA3(hello[:i]) // every cut short: no panic
	}
	if _, _, ok := JA3([]byte("GET / HTTP/1.1\r\n")); ok {
		t.Error("HTTP taken for a ClientHello")
	}
}

func TestParseFingerprintList(t *testing.T) {
	l, err := ParseFingerprintList(strings.NewReader("# list\nE7D705A3286E19EA42F587B344EE6865,xmrig 6.x\n\n6734f37431670b3ab4292b8f60f29984 trickbot\nd41d8cd98f00b204e9800998ecf8427e\n"), "l.txt")
	if err != nil || l["e7d705a3286e19ea42f587b344ee6865"] != "xmrig 6.x" || l["6734f37431670b3ab4292b8f60f29984"] != "trickbot" || l["d41d8cd98f00b204e9800998ecf8427e"] != "a listed miner" {
		t.Fatalf("%v %v", l, err)
	}
	l, err = ParseFingerprintList(strings.NewReader("T13D1516H2_8daaf6152771_e5627efa2ab1 chrome-like miner\n"), "l.txt")
	if err != nil || l["t13d1516h2_8daaf6152771_e5627efa2ab1"] != "chrome-like miner" {
		t.Fatalf("JA4 list: %v %v", l, err)
	}
	if _, err := ParseFingerprintList(strings.NewReader("t13d1516h2_8daaf6152771\n"), "l.txt"); err == nil {
		t.Error("a JA4 without its extension hash was accepted")
	}
	if _, err := ParseFingerprintList(strings.NewReader("ok\n"), "l.txt"); err == nil || !strings.Contains(err.Error(), "l.txt:1") {
		t.Errorf("bad hash: %v", err)
	}
}

func FuzzJA3(f *testing.F) {
	f.Add(goClientHello(f, "pool.example"))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		full, hash, ok := JA3(b)
		if ok && (len(hash) != 32 || strings.Count(full, ",") != 4) {
			t.Fatalf("malformed JA3 %q %q", full, hash)
		}
	})
}

func FuzzParseFingerprintList(f *testing.F) {
	f.Add("e7d705a3286e19ea42f587b344ee6865,xmrig\n")
	f.Fuzz(func(t *testing.T, s string) { ParseFingerprintList(strings.NewReader(s), "f") })
}
