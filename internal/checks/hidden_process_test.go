package checks

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

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
