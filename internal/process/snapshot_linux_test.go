package process

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/host"
)

func start(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	// A group of its own, so cleanup also ends the children it forks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return cmd
}

func TestSnapshotAndSampleLive(t *testing.T) {
	burner := start(t, "/bin/sh", "-c", "while :; do :; done")
	// A parent whose child burns: the load is attributed to the tree.
	parent := start(t, "/bin/sh", "-c", "/bin/sh -c 'while :; do :; done' & wait")
	idle := start(t, "/bin/sleep", "30")
	time.Sleep(100 * time.Millisecond)

	proc := host.NewLiveProc()
	tab, err := Snapshot(context.Background(), proc)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sample(context.Background(), proc, tab, 700*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	b := tab.Get(burner.Process.Pid)
	if b == nil {
		t.Fatal("burner not in snapshot")
	}
	// The cores are shared with the rest of the test run, so the burner's
	// share varies; it must still clearly register and dwarf an idle process.
	if b.CPUPercent < 5 {
		t.Errorf("burner CPU = %.1f%%, want a measurable share", b.CPUPercent)
	}
	if b.Exe != "/bin/sh" && b.Exe != "/usr/bin/dash" && b.Exe != "/usr/bin/bash" && filepath.Base(b.Exe) != "dash" {
		t.Logf("burner exe = %s", b.Exe)
	}
	if !slices.Equal(b.Cmdline, []string{"/bin/sh", "-c", "while :; do :; done"}) {
		t.Errorf("cmdline = %q", b.Cmdline)
	}
	i := tab.Get(idle.Process.Pid)
	if i == nil || i.CPUPercent > 1 || i.CPUPercent*5 >= b.CPUPercent {
		t.Errorf("idle process = %+v, want ~0%% CPU (burner %.1f%%)", i, b.CPUPercent)
	}
	p := tab.Get(parent.Process.Pid)
	if p == nil {
		t.Fatal("parent not in snapshot")
	}
	kids := tab.Descendants(parent.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("descendants of parent = %d, want 1", len(kids))
	}
	child := kids[0]
	if p.CPUPercent > 1 || child.CPUPercent < 5 || p.TreeCPUPercent != p.CPUPercent+child.CPUPercent {
		t.Errorf("parent own %.1f%% tree %.1f%%, child %.1f%%: want the child's load attributed to the tree", p.CPUPercent, p.TreeCPUPercent, child.CPUPercent)
	}
	self := tab.Get(os.Getpid())
	if self == nil || self.Kernel() {
		t.Fatal("own process missing or marked kernel")
	}
	anc := tab.Ancestors(burner.Process.Pid)
	if len(anc) == 0 || anc[0].PID != os.Getpid() {
		t.Errorf("ancestors of burner start with %v, want the test process", anc)
	}
	// Kernel threads are recognised (kthreadd is pid 2 on every Linux).
	if k := tab.Get(2); k != nil && !k.Kernel() {
		t.Error("pid 2 not recognised as a kernel thread")
	}
}

// Processes exiting while the snapshot reads /proc are dropped, not errors.
func TestSnapshotChurn(t *testing.T) {
	proc := host.NewLiveProc()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = exec.Command("/bin/true").Run()
		}
	}()
	for range 20 {
		tab, err := Snapshot(context.Background(), proc)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tab.Errors {
			t.Errorf("snapshot error during churn: %v", e)
		}
		_ = ReadTicks(proc, tab)
	}
	close(stop)
	<-done
}

// A fixture /proc tree reads like the real one.
func TestSnapshotFixture(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1/stat", "1 (systemd) S 0 1 1 0 -1 4194560 0 0 0 0 1 1 0 0 20 0 1 0 1 0 0 0")
	write("1/status", "Name:\tsystemd\nUid:\t0\t0\t0\t0\n")
	write("1/cmdline", "/sbin/init\x00")
	write("400/stat", "400 (kworker/0:2) S 1 400 400 0 -1 4194560 0 0 0 0 100 0 0 0 20 0 1 0 50 0 0 0")
	write("400/status", "Name:\tkworker/0:2\nUid:\t1000\t1000\t1000\t1000\n")
	write("400/cmdline", "[kworker/0:2]\x00")
	write("400/environ", "HOME=/root\x00LD_PRELOAD=/tmp/.x/libhide.so\x00")
	write("400/maps", "00-01 r-xp 0 0:0 1 /dev/shm/.x/kworker\n")
	if err := os.Symlink("/dev/shm/.x/kworker (deleted)", filepath.Join(dir, "400/exe")); err != nil {
		t.Fatal(err)
	}
	write("notapid/stat", "junk")
	write("500/stat", "garbage without comm")
	proc, err := host.NewProcDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Snapshot(context.Background(), proc)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 2 {
		t.Fatalf("len = %d, want 2 (pid 500 is unparseable)", tab.Len())
	}
	if len(tab.Errors) != 1 {
		t.Errorf("errors = %v, want one naming /proc/500/stat", tab.Errors)
	}
	p := tab.Get(400)
	if p.Exe != "/dev/shm/.x/kworker" || !p.ExeDeleted || p.UID() != 1000 || p.Argv0() != "[kworker/0:2]" {
		t.Errorf("process 400 = %+v", p)
	}
	if v, ok := p.Getenv("LD_PRELOAD"); !ok || v != "/tmp/.x/libhide.so" {
		t.Errorf("LD_PRELOAD = %q, %v", v, ok)
	}
	if m, _ := p.MappedFiles(); !slices.Equal(m, []string{"/dev/shm/.x/kworker"}) {
		t.Errorf("maps = %q", m)
	}
}
