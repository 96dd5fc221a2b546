package process

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/host"
)

func TestParseSocketLink(t *testing.T) {
	tests := []struct {
		link string
		ino  uint64
		ok   bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[18446744073709551615]", 1<<64 - 1, true},
		{"socket:[]", 0, false},
		{"socket:[-1]", 0, false},
		{"socket:[+5]", 0, false},
		{"socket:[007]", 0, false},
		{"socket:[0]", 0, true},
		{"socket:[12", 0, false},
		{"pipe:[12345]", 0, false},
		{"/dev/null", 0, false},
		{"anon_inode:[eventpoll]", 0, false},
	}
	for _, tt := range tests {
		ino, ok := ParseSocketLink(tt.link)
		if ino != tt.ino || ok != tt.ok {
			t.Errorf("ParseSocketLink(%q) = %d, %v; want %d, %v", tt.link, ino, ok, tt.ino, tt.ok)
		}
	}
}

func FuzzParseSocketLink(f *testing.F) {
	f.Add("socket:[12345]")
	f.Add("pipe:[1]")
	f.Fuzz(func(t *testing.T, link string) {
		ino, ok := ParseSocketLink(link)
		if ok && link != "socket:["+strconv.FormatUint(ino, 10)+"]" {
			t.Fatalf("%q parsed as %d", link, ino)
		}
	})
}

func TestSocketInodesLive(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := listenerInode(t, ln)
	p, err := Read(host.NewLiveProc(), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	inodes, err := p.SocketInodes()
	if err != nil {
		t.Fatal(err)
	}
	if !inodes[want] {
		t.Fatalf("inode %d of our listener not in %v", want, inodes)
	}
	// Cached: a socket opened afterwards is not seen by the same snapshot.
	ln2, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	again, _ := p.SocketInodes()
	if ino2 := listenerInode(t, ln2); again[ino2] {
		t.Fatalf("second call re-read /proc/%d/fd (found new inode %d)", p.PID, ino2)
	}
}

func listenerInode(t *testing.T, ln net.Listener) uint64 {
	t.Helper()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var link string
	rc.Control(func(fd uintptr) { link, _ = os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd))) })
	ino, ok := ParseSocketLink(link)
	if !ok {
		t.Fatalf("listener fd link %q", link)
	}
	return ino
}

func TestSocketInodesGone(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/77", 0o755); err != nil {
		t.Fatal(err)
	}
	proc, err := host.NewProcDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{PID: 77, proc: proc}
	if _, err := p.SocketInodes(); err == nil || !strings.Contains(err.Error(), "fd") {
		t.Fatalf("want an error naming fd, got %v", err)
	}
}

func TestSocketInodesFixture(t *testing.T) {
	dir := t.TempDir()
	fd := dir + "/77/fd"
	if err := os.MkdirAll(fd, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"0": "/dev/null", "3": "socket:[5]", "4": "socket:[6]", "5": "pipe:[7]"} {
		if err := os.Symlink(target, fd+"/"+name); err != nil {
			t.Fatal(err)
		}
	}
	proc, err := host.NewProcDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{PID: 77, proc: proc}
	got, err := p.SocketInodes()
	if err != nil || len(got) != 2 || !got[5] || !got[6] {
		t.Fatalf("got %v, %v; want {5, 6}", got, err)
	}
	// A descriptor that is not a link (unreadable) leaves the rest usable.
	if err := os.WriteFile(fd+"/9", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	q := &Process{PID: 77, proc: proc}
	got, err = q.SocketInodes()
	if err == nil || got == nil || !got[5] || !got[6] {
		t.Fatalf("partial read: got %v, %v; want {5, 6} and an error", got, err)
	}
}
