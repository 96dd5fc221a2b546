package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestPoolAddress(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"stratum+tcp://127.0.0.1:3333", "127.0.0.1:3333", true},
		{"127.0.0.1:443", "127.0.0.1:443", true},
		{"tcp://[::1]:80/", "[::1]:80", true},
		{"localhost:3333", "127.0.0.1:3333", true},
		{"127.9.9.9:1", "127.9.9.9:1", true},
		{"[::ffff:127.0.0.1]:3333", "127.0.0.1:3333", true},
		{"pool.supportxmr.com:3333", "", false},
		{"stratum+tcp://192.0.2.7:3333", "", false},
		{"0.0.0.0:3333", "", false},
		{"stratum+ssl://127.0.0.1:443", "127.0.0.1:443", true},
		{"stratum+ssl://203.0.113.5:443", "", false},
		{"https://127.0.0.1:443", "", false},
		{"127.0.0.1", "", false},
		{"127.0.0.1:99999", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, err := poolAddress(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("poolAddress(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzPoolAddress(f *testing.F) {
	for _, s := range []string{"stratum+tcp://127.0.0.1:3333", "[::1]:1", "localhost:0", "x://y", "::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := poolAddress(s)
		if err != nil {
			return
		}
		h, _, err := splitHostPort(a)
		if err != nil || !(strings.HasPrefix(h, "127.") || h == "::1") {
			t.Fatalf("poolAddress(%q) = %q: not loopback", s, a)
		}
	})
}

func splitHostPort(a string) (string, string, error) {
	i := strings.LastIndex(a, ":")
	if i < 0 {
		return "", "", os.ErrInvalid
	}
	return strings.Trim(a[:i], "[]"), a[i+1:], nil
}

func TestWithoutFlag(t *testing.T) {
	got := withoutFlag([]string{"--memfd", "-o", "x", "--memfd", "-memfd=true", "-u", "w"}, "memfd")
	if strings.Join(got, " ") != "--memfd -o x -u w" {
		t.Fatalf("got %q (argv[0] must be kept)", got)
	}
}

// FuzzJobID reads pool messages of any shape without panicking.
func FuzzJobID(f *testing.F) {
	f.Add("xmr", `{"method":"job","params":{"job_id":"a"}}`)
	f.Add("xmr", `{"id":1,"result":{"job":{"job_id":"b"}}}`)
	f.Add("stratum", `{"method":"mining.notify","params":["c",1,2]}`)
	f.Fuzz(func(t *testing.T, proto, line string) {
		var m message
		if json.Unmarshal([]byte(line), &m) != nil {
			return
		}
		_ = jobID(proto, m, "cur")
	})
}
