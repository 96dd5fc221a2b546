package checks

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
)

func TestExeDeletedLive(t *testing.T) {
	sleeper := buildSleeper(t)
	tests := []struct {
		name    string
		replace bool // a new file appears at the old path (package upgrade)
		want    findings.Severity
	}{
		{"deleted", false, findings.Medium},
		{"replaced by upgrade", true, findings.Low},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exe := filepath.Join(t.TempDir(), "worker")
			copyExe(t, sleeper, exe)
			pid := startSleeper(t, exe, "")
			if err := os.Remove(exe); err != nil {
				t.Fatal(err)
			}
			if tc.replace {
				copyExe(t, sleeper, exe)
			}
			f := want1(t, runOn(t, liveEnv(t), "process.exe_deleted", pid), "process.exe_deleted", tc.want, pid)
			if f.Evidence.Path != exe {
				t.Errorf("path %q, want %q", f.Evidence.Path, exe)
			}
		})
	}
}

func TestExeDeletedIgnoresMemfdAndNormal(t *testing.T) {
	sleeper := buildSleeper(t)
	memfd := startSleeper(t, sleeper, "", "-memfd", "x")
	normal := startSleeper(t, sleeper, "")
	env := liveEnv(t)
	for _, pid := range []int{memfd, normal} {
		if fs := runOn(t, env, "process.exe_deleted", pid); len(fs) != 0 {
			t.Errorf("pid %d: unexpected %+v", pid, fs)
		}
	}
}
