package checks

import (
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
)

func TestExeMemfdLive(t *testing.T) {
	sleeper := buildSleeper(t)
	tests := []struct {
		name string
		args []string
		want int // findings
		sev  findings.Severity
	}{
		{"memfd", []string{"-memfd", "kthreadd"}, 1, findings.High},
		{"write-sealed memfd", []string{"-memfd", "kthreadd", "-seal"}, 1, findings.Low},
		{"on disk", nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pid := startSleeper(t, sleeper, "", tc.args...)
			fs := runOn(t, liveEnv(t), "process.exe_memfd", pid)
			if tc.want == 0 {
				if len(fs) != 0 {
					t.Fatalf("unexpected %+v", fs)
				}
				return
			}
			f := want1(t, fs, "process.exe_memfd", tc.sev, pid)
			if f.Evidence.Path != "/memfd:kthreadd" {
				t.Errorf("path %q", f.Evidence.Path)
			}
		})
	}
}
