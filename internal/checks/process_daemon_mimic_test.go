package checks

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

func TestDaemonMimicLive(t *testing.T) {
	sleeper := buildSleeper(t)
	fake := filepath.Join(t.TempDir(), "sshd")
	copyExe(t, sleeper, fake)
	tests := []struct {
		name  string
		exe   string
		argv0 string
		args  []string
		want  int
	}{
		{"sshd from tmp", fake, "", nil, 1},
		{"comm journald", sleeper, "", []string{"-name", "systemd-journal"}, 1},
		{"python3 without markers", sleeper, "python3", nil, 1},
		{"plain", sleeper, "", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pid := startSleeper(t, tc.exe, tc.argv0, tc.args...)
			fs := runOn(t, liveEnv(t), "process.daemon_mimic", pid)
			if tc.want == 0 {
				if len(fs) != 0 {
					t.Fatalf("unexpected %+v", fs)
				}
				return
			}
			want1(t, fs, "process.daemon_mimic", findings.High, pid)
		})
	}
	// A real python3 copied outside the usual dirs (as conda installs it)
	// carries the interpreter's markers and is genuine.
	t.Run("genuine python3 elsewhere", func(t *testing.T) {
		py, err := filepath.EvalSymlinks("/usr/bin/python3")
		if err != nil {
			t.Skip("no python3")
		}
		exe := filepath.Join(t.TempDir(), "envs", "bin", "python3")
		b, err := os.ReadFile(py)
		if err != nil {
			t.Skip(err)
		}
		writeTree(t, filepath.Dir(exe), map[string]string{"python3": string(b)})
		cmd := exec.Command(exe, "-c", "import time; time.sleep(60)")
		if err := cmd.Start(); err != nil {
			t.Skip(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		time.Sleep(300 * time.Millisecond)
		if fs := runOn(t, liveEnv(t), "process.daemon_mimic", cmd.Process.Pid); len(fs) != 0 {
			t.Fatalf("genuine python3 reported: %+v", fs)
		}
	})
}
