package gpu

import (
	"errors"
	"reflect"
	"testing"

	"github.com/minerguard/minerguard/internal/host"
)

func TestDetectDriver(t *testing.T) {
	tests := []struct {
		dir  string
		want Driver
	}{
		{"testdata/driver", Driver{
			Present: true,
			Version: "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024",
			Nodes:   []string{"/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl"},
		}},
		{"testdata/nodriver", Driver{}},
	}
	for _, tc := range tests {
		h, err := host.Fixture(tc.dir+"/root", tc.dir+"/proc")
		if err != nil {
			t.Fatal(err)
		}
		if got := DetectDriver(h); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.dir, got, tc.want)
		}
	}
	// An offline root has no /proc: only /dev is looked at.
	h, err := host.Fixture("testdata/driver/root", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := DetectDriver(h); !got.Present || got.Version != "" || len(got.Nodes) != 3 {
		t.Errorf("offline: %+v", got)
	}
}

func TestNoDriverErrorIs(t *testing.T) {
	var err error = &NoDriverError{Reason: "x"}
	if !errors.Is(err, ErrNoDriver) || errors.Is(&NVMLError{Func: "f", Code: 3}, ErrNoDriver) {
		t.Fatal("ErrNoDriver matching is wrong")
	}
	if got := (&NVMLError{Func: "nvmlInit_v2", Code: 18}).Error(); got != "gpu: nvmlInit_v2: driver/library version mismatch (NVML 18)" {
		t.Fatal(got)
	}
}

// TestQueryWithoutDriver runs the real loader; on a host without NVML it
// must say ErrNoDriver, never panic.
func TestQueryWithoutDriver(t *testing.T) {
	devs, err := Query()
	if err == nil {
		t.Skipf("NVML is present here (%d devices)", len(devs))
	}
	if !errors.Is(err, ErrNoDriver) {
		t.Fatalf("Query: %v, want ErrNoDriver", err)
	}
	// Loading is attempted once; a second call gives the same answer.
	if _, err2 := Query(); !errors.Is(err2, ErrNoDriver) {
		t.Fatalf("second Query: %v", err2)
	}
}

func TestByProcess(t *testing.T) {
	devs := []Device{
		{Index: 0, Name: "H100", Processes: []Process{
			{PID: 30, MemoryBytes: 2 << 30, MemoryKnown: true, SMUtil: 97},
			{PID: 10, MemoryBytes: 100 << 20, MemoryKnown: true, SMUtil: Unknown},
		}},
		{Index: 1, Name: "H100", Processes: []Process{
			{PID: 30, MemoryBytes: 1 << 30, MemoryKnown: true, SMUtil: 40},
			{PID: 20, MemoryBytes: ^uint64(0), MemoryKnown: false, SMUtil: 5},
		}},
	}
	want := []Usage{
		{PID: 10, MemoryBytes: 100 << 20, Util: Unknown, Devices: []string{"0: H100"}},
		{PID: 20, MemoryBytes: 0, Util: 5, Devices: []string{"1: H100"}},
		{PID: 30, MemoryBytes: 3 << 30, Util: 97, Devices: []string{"0: H100", "1: H100"}},
	}
	if got := ByProcess(devs); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
