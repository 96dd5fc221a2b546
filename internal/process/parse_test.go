package process

import (
	"reflect"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Stat
		err  bool
	}{
		{
			name: "plain",
			in:   "1234 (xmrig) S 1 1234 1234 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 4 0 98765 123456 789 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
			want: Stat{PID: 1234, Comm: "xmrig", State: 'S', PPID: 1, PGRP: 1234, Session: 1234, Flags: 4194560, UTime: 250, STime: 50, NumThreads: 4, StartTime: 98765, VSize: 123456, RSSPages: 789},
		},
		{
			name: "comm with spaces and parens",
			in:   "77 (a) b (c) R 2 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0",
			want: Stat{PID: 77, Comm: "a) b (c", State: 'R', PPID: 2, Flags: 2129984, NumThreads: 1, StartTime: 5},
		},
		{name: "empty", in: "", err: true},
		{name: "no comm", in: "12 xmrig S 1", err: true},
		{name: "short", in: "12 (x) S 1 2 3", err: true},
		{name: "bad pid", in: "x (y) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", err: true},
		{name: "bad state", in: "1 (y) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tc.in))
			if tc.err {
				if err == nil {
					t.Fatalf("want error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if !(Stat{Flags: 0x00208040}).Kernel() {
		t.Error("PF_KTHREAD flag not recognised")
	}
}

func TestParseStatus(t *testing.T) {
	in := "Name:\tkworker\\nx\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\nVmRSS:\t  2048 kB\nThreads:\t8\nKthread:\t0\n"
	got, err := ParseStatus([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Name: "kworker\nx", Tgid: 42, PPid: 1, UID: [4]int{1000, 1000, 1000, 1000}, GID: [4]int{100, 100, 100, 100}, VmRSSKB: 2048, Threads: 8}
	if got != want {
		t.Errorf("got %+v want %+v", got, want)
	}
	for _, bad := range []string{"Uid:\t1 2 3\n", "Tgid:\tx\n", "VmRSS:\tlots kB\n"} {
		if _, err := ParseStatus([]byte(bad)); err == nil {
			t.Errorf("ParseStatus(%q): want error", bad)
		}
	}
}

func TestParseNulList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\x00\x00", nil},
		{"xmrig\x00-o\x00pool:3333\x00", []string{"xmrig", "-o", "pool:3333"}},
		{"sshd: root@pts/0", []string{"sshd: root@pts/0"}},
		{"a\x00\x00b\x00", []string{"a", "", "b"}},
	}
	for _, tc := range tests {
		if got := ParseNulList([]byte(tc.in)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseNulList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseMapsPaths(t *testing.T) {
	in := `55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234   /usr/bin/python3.11
55d0c0a02000-55d0c0a04000 r-xp 00002000 fd:01 1234   /usr/bin/python3.11
7f0000000000-7f0000100000 r-xp 00000000 fd:01 99     /opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so
7f0000200000-7f0000300000 rw-p 00000000 00:00 0      [heap]
7f0000400000-7f0000500000 r-xp 00000000 00:01 77     /memfd:x (deleted)
7f0000600000-7f0000700000 r-xp 00000000 fd:01 88     /usr/lib/x86_64-linux-gnu/lib with space.so
`
	got := ParseMapsPaths([]byte(in))
	want := []string{"/usr/bin/python3.11", "/opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so", "/memfd:x", "/usr/lib/x86_64-linux-gnu/lib with space.so"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (xmrig) S 1 1234 1234 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 4 0 98765 123456 789 18446744073709551615"))
	f.Add([]byte("1 ((() R 0"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStat(b)
		if err == nil && st.PID == 0 && len(b) > 0 && b[0] != '0' && b[0] != ' ' && b[0] != '+' && b[0] != '-' {
			t.Errorf("parsed pid 0 from %q", b)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tx\nUid:\t0 0 0 0\nVmRSS:\t10 kB\n"))
	f.Add([]byte("Uid:\n:\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseStatus(b) })
}

func FuzzParseMapsPaths(f *testing.F) {
	f.Add([]byte("00-01 r-xp 0 0:0 1 /bin/x\n"))
	f.Add([]byte("     /\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ParseMapsPaths(b) {
			if len(p) == 0 || p[0] != '/' {
				t.Errorf("path %q does not start with /", p)
			}
		}
	})
}
