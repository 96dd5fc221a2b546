package checks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
)

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
