package checks

import (
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
)

func TestKthreadMimicLive(t *testing.T) {
	sleeper := buildSleeper(t)
	tests := []struct {
		name  string
		argv0 string
		args  []string
		want  int
	}{
		{"argv0 bracketed", "[kworker/0:2]", nil, 1},
		{"comm kswapd0", "", []string{"-name", "kswapd0"}, 1},
		{"plain", "", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pid := startSleeper(t, sleeper, tc.argv0, tc.args...)
			fs := runOn(t, liveEnv(t), "process.kthread_mimic", pid)
			if tc.want == 0 {
				if len(fs) != 0 {
					t.Fatalf("unexpected %+v", fs)
				}
				return
			}
			want1(t, fs, "process.kthread_mimic", findings.High, pid)
		})
	}
}
