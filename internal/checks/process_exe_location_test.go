package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
)

func TestExeLocationLive(t *testing.T) {
	sleeper := buildSleeper(t)
	tag := fmt.Sprintf("mg-test-%d", os.Getpid())
	tests := []struct {
		name string
		exe  string
		want findings.Severity
	}{
		{"dev shm", filepath.Join("/dev/shm", tag, "worker"), findings.Medium},
		{"dots and space in temp", filepath.Join(t.TempDir(), "... ", "worker"), findings.Medium},
		{"hidden dir in home", filepath.Join("/root", "."+tag, "worker"), findings.Medium},
		{"well-known hidden dir", filepath.Join("/root/.cache/go-build", tag, "worker"), findings.Low},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Dir(filepath.Dir(tc.exe))); err != nil {
				t.Skipf("%v", err)
			}
			copyExe(t, sleeper, tc.exe)
			t.Cleanup(func() { os.RemoveAll(filepath.Dir(tc.exe)) })
			pid := startSleeper(t, tc.exe, "")
			f := want1(t, runOn(t, liveEnv(t), "process.exe_location", pid), "process.exe_location", tc.want, pid)
			if f.Evidence.Path != tc.exe {
				t.Errorf("path %q", f.Evidence.Path)
			}
		})
	}
	t.Run("normal location", func(t *testing.T) {
		root := t.TempDir()
		env := procFixture(t, root, []fakeProc{{pid: 10, comm: "cron", cmdline: []string{"/usr/sbin/cron"}, exe: "/usr/sbin/cron"}})
		if fs := runOn(t, env, "process.exe_location", 0); len(fs) != 0 {
			t.Fatalf("%+v", fs)
		}
	})
}
