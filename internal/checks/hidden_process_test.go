package checks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
)

func TestProbeUnlisted(t *testing.T) {
	alive := map[int]bool{1: true, 7: true, 50: true, 99999: true}
	tests := []struct {
		name   string
		listed []int
		limit  int
		want   []int
	}{
		{"all listed", []int{1, 7, 50}, 100, nil},
		{"one hidden", []int{1, 50}, 100, []int{7}},
		{"beyond limit not probed", []int{1, 7, 50}, 1000, nil},
		{"high pid", []int{1, 7, 50}, 100000, []int{99999}},
	}
	if got := probeUnlisted(context.Background(), func(p int) bool { return alive[p] }, nil, 8, 99999); !reflect.DeepEqual(got, []int{50, 99999}) {
		t.Errorf("window 8..99999 = %v, want [50 99999]", got)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := probeUnlisted(context.Background(), func(p int) bool { return alive[p] }, tc.listed, 1, tc.limit)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

// TestHiddenLiveNothing: on the real host every live process is listed.
func TestHiddenLiveNothing(t *testing.T) {
	buildSleeper(t) // Linux only
	for _, f := range runOn(t, liveEnv(t), "process.hidden", 0) {
		if f.Rule == "process.hidden" {
			t.Errorf("false hidden process: %+v", f.Evidence)
		}
	}
}

func TestProcMount(t *testing.T) {
	proc := t.TempDir()
	mi := "22 1 0:21 / /proc rw,nosuid shared:13 - proc proc rw\n" +
		"300 22 8:1 /empty /proc/4242 rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		"301 22 0:5 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw\n" +
		"302 1 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw\n"
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "self", "mountinfo"), []byte(mi), 0o644); err != nil {
		t.Fatal(err)
	}
	env := procFixture(t, t.TempDir(), nil)
	h, err := host.Fixture(t.TempDir(), proc)
	if err != nil {
		t.Fatal(err)
	}
	env.Host = h
	fs := procMountFindings(env)
	if len(fs) != 1 {
		t.Fatalf("want 1 finding, got %+v", fs)
	}
	f := fs[0]
	if f.Rule != "process.proc_mount" || f.Severity != findings.High || f.Evidence.PID != 4242 || f.Evidence.Path != "/proc/4242" || f.Signal != findings.SignalHiding {
		t.Fatalf("%+v", f)
	}
	if m := ParseMountinfo([]byte(mi)); m[3].MountPoint != "/mnt/with space" || m[1].Source != "/dev/sda1" {
		t.Fatalf("parse: %+v", m)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte("300 22 8:1 /empty /proc/4242 rw,relatime shared:1 - ext4 /dev/sda1 rw\n"))
	f.Add([]byte("1 2 3 4 5 6\n\\\\0 a b c \\04 x - \n"))
	f.Fuzz(func(t *testing.T, b []byte) { _ = ParseMountinfo(b) })
}

func BenchmarkProbe100k(b *testing.B) {
	h, err := host.Live()
	if err != nil {
		b.Fatal(err)
	}
	listed, _ := h.Proc().PIDs()
	for b.Loop() {
		probeUnlisted(context.Background(), h.Proc().Alive, listed, 1, 100000)
	}
}

// TestHiddenSources hides a real process from the /proc listing (as a
// readdir hook does) and checks each independent source finds it.
func TestHiddenSources(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		t.Skip("no cgroupfs")
	}
	sleeper := buildSleeper(t)
	tests := []struct {
		name   string
		root   string // host filesystem: "/" has /sys/fs/cgroup, an empty tree has not
		window int
		child  bool // the hidden process has a listed child
		want   []string
	}{
		{"cgroup.procs alone", "/", 0, false, []string{"cgroup.procs"}},
		{"parent of a listed child", "", 0, true, []string{"parent of a listed process"}},
		{"kill probe alone", "", hiddenProbeWindow, false, []string{"kill(0) probe"}},
		{"nothing to see without sources", "", 0, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pid int
			if tc.child {
				cmd := exec.Command("/bin/sh", "-c", sleeper+" >/dev/null; :")
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
				pid = cmd.Process.Pid
				waitChild(t, pid)
			} else {
				pid = startSleeper(t, sleeper, "")
			}
			root := tc.root
			if root == "" {
				root = t.TempDir()
			}
			h := newSplitHost(t, root, hidingProc{Proc: host.NewLiveProc(), hide: pid})
			out, err := findHidden(context.Background(), envFor(t, h), tc.window)
			if err != nil {
				t.Fatal(err)
			}
			var got []findings.Finding
			for _, f := range out {
				if f.Rule == "process.hidden" && f.Evidence.PID == pid {
					got = append(got, f)
				}
			}
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("found %+v without any source", got)
				}
				return
			}
			if len(got) != 1 || got[0].Severity != findings.High || got[0].Signal != findings.SignalHiding {
				t.Fatalf("want one high process.hidden for pid %d, got %+v", pid, got)
			}
			if by := got[0].Evidence.Details["found_by"]; by != strings.Join(tc.want, ", ") {
				t.Errorf("found_by = %q, want %q", by, strings.Join(tc.want, ", "))
			}
		})
	}
}

// waitChild waits until pid has a child process.
func waitChild(t *testing.T, pid int) {
	t.Helper()
	for range 500 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if len(strings.TrimSpace(string(b))) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d never forked", pid)
}
