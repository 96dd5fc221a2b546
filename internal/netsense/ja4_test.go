package netsense

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
)

// buildHello writes a ClientHello record offering suites and extensions
// (hex, in order) the way a browser does: GREASE values sprinkled in,
// SNI, ALPN, signature algorithms and supported_versions with bodies.
func buildHello(t *testing.T, suites, exts, sigalgs string, alpn ...string) []byte {
	t.Helper()
	u16 := func(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
	parse := func(s string) []int {
		var out []int
		for _, x := range strings.Split(s, ",") {
			v, err := strconv.ParseUint(x, 16, 16)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, int(v))
		}
		return out
	}
	body := u16(nil, 0x0303)
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 32)
	body = append(body, make([]byte, 32)...) // session id
	cs := u16(nil, 0x2a2a)                   // GREASE
	for _, s := range parse(suites) {
		cs = u16(cs, s)
	}
	body = append(u16(body, len(cs)), cs...)
	body = append(body, 1, 0) // null compression
	ext := u16(u16(nil, 0x0a0a), 0)
	for _, e := range parse(exts) {
		var b []byte
		switch e {
		case 0x0000:
			name := "www.example.org"
			b = u16(append(u16(nil, len(name)+3), 0), len(name)) // list length, host_name type, name length
			b = append(b, name...)
		case 0x0010:
			var l []byte
			for _, p := range alpn {
				l = append(append(l, byte(len(p))), p...)
			}
			b = append(u16(nil, len(l)), l...)
		case 0x000d:
			l := parse(sigalgs)
			b = u16(nil, 2*len(l))
			for _, v := range l {
				b = u16(b, v)
			}
		case 0x002b:
			b = u16(u16(u16([]byte{6}, 0x7a7a), 0x0304), 0x0303)
		}
		ext = append(u16(u16(ext, e), len(b)), b...)
	}
	ext = u16(u16(ext, 0x1a1a), 0) // GREASE at the end too
	body = append(u16(body, len(ext)), ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 0x03, 0x01, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

// TestJA4 checks the fingerprint against published values: the worked
// example of FoxIO's JA4 specification and a Chrome 143 ClientHello whose
// JA4 and raw lists browserleaks.com published.
func TestJA4(t *testing.T) {
	const chromeSuites = "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"
	const sig = "0403,0804,0401,0503,0805,0501,0806,0601"
	for _, c := range []struct {
		name, suites, exts, sig string
		alpn                    []string
		ja4, ja4o               string
	}{
		{"spec example", chromeSuites, "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015", sig,
			[]string{"h2", "http/1.1"}, "t13d1516h2_8daaf6152771_e5627efa2ab1", "t13d1516h2_acb858a92679_18f69afefd3d"},
		{"chrome 143", chromeSuites, "002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b", sig,
			[]string{"h2", "http/1.1"}, "t13d1516h2_8daaf6152771_d8a2da3f94cd", "t13d1516h2_acb858a92679_f96a17c57971"},
	} {
		ja4, ja4o, ok := JA4(buildHello(t, c.suites, c.exts, c.sig, c.alpn...))
		if !ok || ja4 != c.ja4 || ja4o != c.ja4o {
			t.Errorf("%s: JA4 %q / %q, want %q / %q", c.name, ja4, ja4o, c.ja4, c.ja4o)
		}
	}
	// No SNI, no ALPN, TLS 1.2 only, no signature algorithms.
	ja4, _, ok := JA4(buildHello(t, "c02f,c030", "000b,000a", ""))
	if want := "t12i0202" + "00_"; !ok || !strings.HasPrefix(ja4, want) || !strings.HasSuffix(ja4, "_"+ja4Hash("000a,000b", 2)) {
		t.Errorf("bare hello: %q, want %s…_%s", ja4, want, ja4Hash("000a,000b", 2))
	}
	// A real client: Go's crypto/tls. Its fingerprint does not depend on the name.
	a, _, ok1 := JA4(goClientHello(t, "pool.example"))
	b, _, ok2 := JA4(goClientHello(t, "other.example"))
	if !ok1 || !ok2 || a != b || !strings.HasPrefix(a, "t13d") {
		t.Errorf("Go client JA4 %q vs %q", a, b)
	}
}

func TestJA4ALPN(t *testing.T) {
	for in, want := range map[string]string{"": "00", "h2": "h2", "http/1.1": "h1", "h": "hh", "\xab\xcd": "ad", "h2\x00": "60"} {
		if got := ja4ALPN([]byte(in)); got != want {
			t.Errorf("ALPN %q: %q, want %q", in, got, want)
		}
	}
}

func FuzzJA4(f *testing.F) {
	f.Add(goClientHello(f, "pool.example"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ja4, ja4o, ok := JA4(b)
		if ok && (len(ja4) != 36 || len(ja4o) != 36 || ja4[0] != 't') {
			t.Fatalf("malformed JA4 %q %q", ja4, ja4o)
		}
	})
}
