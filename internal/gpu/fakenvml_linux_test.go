//go:build linux && nvml

package gpu

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
)

// These tests run the purego binding against a fake libnvidia-ml.so.1
// (testdata/fakenvml.c) built with gcc, in a child process, because the
// dynamic loader reads LD_LIBRARY_PATH only at process start.

const fakeChildEnv = "MINERGUARD_FAKE_NVML_CHILD"

// childResult is what the child reports of one Query.
type childResult struct {
	Devices   []Device `json:"devices"`
	Err       string   `json:"err"`
	NoDriver  bool     `json:"no_driver"`
	ProcsFunc string   `json:"procs_func"`
}

func init() {
	if os.Getenv(fakeChildEnv) != "1" {
		return
	}
	devs, err := Query()
	r := childResult{Devices: devs, NoDriver: errors.Is(err, ErrNoDriver)}
	if err != nil {
		r.Err = err.Error()
	}
	if l, _ := load(); l != nil {
		r.ProcsFunc = l.procsName
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	os.Exit(0)
}

// buildFakeNVML compiles testdata/fakenvml.c with defines into its own
// directory as libnvidia-ml.so.1 and returns the directory.
func buildFakeNVML(t *testing.T, defines ...string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed: cannot build the fake libnvidia-ml.so.1")
	}
	dir := t.TempDir()
	args := append([]string{"-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", filepath.Join(dir, "libnvidia-ml.so.1")}, defines...)
	args = append(args, "testdata/fakenvml.c")
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return dir
}

// runFakeChild re-executes the test binary as a child that loads NVML from
// libDir and returns its Query result and the fake's call log.
func runFakeChild(t *testing.T, libDir string, env ...string) (childResult, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "calls.log")
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), fakeChildEnv+"=1", "LD_LIBRARY_PATH="+libDir, "FAKE_NVML_LOG="+logPath)
	c.Env = append(c.Env, env...)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderrOf(err))
	}
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output: %v\n%s", err, out)
	}
	log, _ := os.ReadFile(logPath)
	return r, string(log)
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

const mib = 1 << 20

// Two devices: pid 1111 on both, 2222 with memory NVML cannot give and no
// sample, 4444 with memory but no sample.
var fakeTwoGPUs = []string{
	"FAKE_NVML_DEVICES=NVIDIA H100 80GB HBM3,97,41,81559,20480;NVIDIA A100-SXM4-40GB,12,3,40960,1280",
	"FAKE_NVML_PROCS_0=1111:3072:95:40,2222:na:-,3333:512:10:2",
	"FAKE_NVML_PROCS_1=1111:1024:60:5,4444:256:-",
}

var wantTwoGPUs = []Device{
	{Index: 0, Name: "NVIDIA H100 80GB HBM3", UtilGPU: 97, UtilMemory: 41, MemTotal: 81559 * mib, MemUsed: 20480 * mib,
		Processes: []Process{
			{PID: 1111, Device: 0, MemoryBytes: 3072 * mib, MemoryKnown: true, SMUtil: 95, MemUtil: 40},
			{PID: 2222, Device: 0, SMUtil: Unknown, MemUtil: Unknown},
			{PID: 3333, Device: 0, MemoryBytes: 512 * mib, MemoryKnown: true, SMUtil: 10, MemUtil: 2},
		}},
	{Index: 1, Name: "NVIDIA A100-SXM4-40GB", UtilGPU: 12, UtilMemory: 3, MemTotal: 40960 * mib, MemUsed: 1280 * mib,
		Processes: []Process{
			{PID: 1111, Device: 1, MemoryBytes: 1024 * mib, MemoryKnown: true, SMUtil: 60, MemUtil: 5},
			{PID: 4444, Device: 1, MemoryBytes: 256 * mib, MemoryKnown: true, SMUtil: Unknown, MemUtil: Unknown},
		}},
}

// TestNVMLFakeLibrary checks devices, names, per-process memory and SM
// utilisation come through the binding exactly, on every process-list ABI
// drivers have shipped: _v3 with 24-byte entries (510-530, 535.98+), _v3
// with 32-byte entries (535.43-535.86), _v3 with 16-byte entries, and no
// _v3 at all (the _v2 fallback).
func TestNVMLFakeLibrary(t *testing.T) {
	cases := []struct {
		name      string
		defines   []string
		procsFunc string
	}{
		{"v3 24-byte entries", nil, "nvmlDeviceGetComputeRunningProcesses_v3"},
		{"v3 32-byte entries (535.43-535.86)", []string{"-DFAKE_V3_STRIDE=32"}, "nvmlDeviceGetComputeRunningProcesses_v3"},
		{"v3 16-byte entries", []string{"-DFAKE_V3_STRIDE=16"}, "nvmlDeviceGetComputeRunningProcesses_v3"},
		{"no v3: v2 fallback", []string{"-DFAKE_NO_V3"}, "nvmlDeviceGetComputeRunningProcesses_v2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, log := runFakeChild(t, buildFakeNVML(t, tc.defines...), fakeTwoGPUs...)
			if r.Err != "" {
				t.Fatalf("Query: %s\ncalls:\n%s", r.Err, log)
			}
			if r.ProcsFunc != tc.procsFunc {
				t.Errorf("process list from %q, want %q", r.ProcsFunc, tc.procsFunc)
			}
			if !reflect.DeepEqual(r.Devices, wantTwoGPUs) {
				t.Errorf("devices:\n got %+v\nwant %+v\ncalls:\n%s", r.Devices, wantTwoGPUs, log)
			}
			wantUsage := []Usage{
				{PID: 1111, MemoryBytes: 4096 * mib, Util: 95, Devices: []string{"0: NVIDIA H100 80GB HBM3", "1: NVIDIA A100-SXM4-40GB"}},
				{PID: 2222, Util: Unknown, Devices: []string{"0: NVIDIA H100 80GB HBM3"}},
				{PID: 3333, MemoryBytes: 512 * mib, Util: 10, Devices: []string{"0: NVIDIA H100 80GB HBM3"}},
				{PID: 4444, MemoryBytes: 256 * mib, Util: Unknown, Devices: []string{"1: NVIDIA A100-SXM4-40GB"}},
			}
			if got := ByProcess(r.Devices); !reflect.DeepEqual(got, wantUsage) {
				t.Errorf("ByProcess:\n got %+v\nwant %+v", got, wantUsage)
			}
			// The name buffer is NVML_DEVICE_NAME_V2_BUFFER_SIZE, and the
			// lastSeenTimeStamp argument arrives as a 64-bit microsecond
			// time about utilWindow ago (the fake's 60 s old sample for pid
			// 424242 is filtered out by it, hence absent above).
			if !strings.Contains(log, "nvmlDeviceGetName 0 length=96") {
				t.Errorf("name length not 96:\n%s", log)
			}
			if !regexp.MustCompile(`nvmlDeviceGetProcessUtilization 0 count=\d+ lastSeen=\d{16} \(now-(19|20|21)s\)`).MatchString(log) {
				t.Errorf("lastSeenTimeStamp not ~20 s ago in microseconds:\n%s", log)
			}
			if strings.Count(log, "nvmlInit_v2") != 1 || strings.Count(log, "nvmlShutdown") != 1 {
				t.Errorf("want one nvmlInit_v2 and one nvmlShutdown:\n%s", log)
			}
		})
	}
}

// TestNVMLFakeRetry drives the NVML_ERROR_INSUFFICIENT_SIZE protocol: a
// list longer than the first buffer, then one that grows between calls.
func TestNVMLFakeRetry(t *testing.T) {
	lib := buildFakeNVML(t)
	for _, tc := range []struct {
		name    string
		env     []string
		procs   int
		pattern string
	}{
		{"longer than first buffer", []string{"FAKE_NVML_PROCS=1111:3072:95,2222:10:1,3333:20:2", "FAKE_NVML_EXTRA=40"}, 43,
			`(?s)_v3 0 count=32 -> INSUFFICIENT_SIZE need=43\n.*_v3 0 count=59 -> SUCCESS 43\n`},
		{"grows between calls", []string{"FAKE_NVML_PROCS=1111:3072:95,2222:10:1,3333:20:2", "FAKE_NVML_GROW=5"}, 3,
			`(?s)_v3 0 count=32 -> INSUFFICIENT_SIZE need=8 \(grown\)\n.*_v3 0 count=24 -> SUCCESS 3\n`},
		{"samples grow between calls", []string{"FAKE_NVML_PROCS=1111:3072:95,2222:10:1,3333:20:2", "FAKE_NVML_UTIL_GROW=20"}, 3,
			`(?s)count=0 .* samples=6 buf=NULL\n.*count=14 .* samples=6\n.*INSUFFICIENT_SIZE need=26 \(grown\)\n.*count=34 .* samples=6\n`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, log := runFakeChild(t, lib, tc.env...)
			if r.Err != "" || len(r.Devices) != 1 {
				t.Fatalf("Query: %q %+v\n%s", r.Err, r.Devices, log)
			}
			ps := r.Devices[0].Processes
			if len(ps) != tc.procs {
				t.Fatalf("%d processes, want %d\n%s", len(ps), tc.procs, log)
			}
			if ps[0] != (Process{PID: 1111, MemoryBytes: 3072 * mib, MemoryKnown: true, SMUtil: 95, MemUtil: 0}) {
				t.Errorf("first process %+v", ps[0])
			}
			for i, p := range ps[3:] {
				if p.PID != 900000+i || p.MemoryBytes != mib || p.SMUtil != Unknown {
					t.Errorf("extra process %d: %+v", i, p)
				}
			}
			if !regexp.MustCompile(tc.pattern).MatchString(log) {
				t.Errorf("retry protocol not followed; calls:\n%s", log)
			}
		})
	}
}

// TestNVMLFakeErrors checks init failures map to ErrNoDriver or an
// NVMLError, and that a missing library is ErrNoDriver.
func TestNVMLFakeErrors(t *testing.T) {
	lib := buildFakeNVML(t)
	r, _ := runFakeChild(t, lib, "FAKE_NVML_INIT_RC=9")
	if !r.NoDriver || !strings.Contains(r.Err, "driver not loaded") {
		t.Errorf("init rc 9: %+v", r)
	}
	r, _ = runFakeChild(t, lib, "FAKE_NVML_INIT_RC=18")
	if r.NoDriver || r.Err != "gpu: nvmlInit_v2: driver/library version mismatch (NVML 18)" {
		t.Errorf("init rc 18: %+v", r)
	}
	r, _ = runFakeChild(t, lib, "FAKE_NVML_DEVICES=Solo,1,2,100,50")
	if r.Err != "" || len(r.Devices) != 1 || r.Devices[0].Processes != nil {
		t.Errorf("no processes: %+v", r)
	}
	if h, err := purego.Dlopen("libnvidia-ml.so.1", purego.RTLD_NOW|purego.RTLD_LOCAL); err == nil {
		_ = purego.Dlclose(h)
		t.Log("a real libnvidia-ml.so.1 is installed: not testing the missing-library case")
		return
	}
	r, _ = runFakeChild(t, t.TempDir())
	if !r.NoDriver || !strings.Contains(r.Err, "libnvidia-ml.so") {
		t.Errorf("missing library: %+v", r)
	}
}

// TestNVMLDecodeProcessInfos pins the stride detection on hand-built
// buffers of each layout.
func TestNVMLDecodeProcessInfos(t *testing.T) {
	for _, stride := range []int{16, 24, 32} {
		for _, n := range []int{1, 2, 5} {
			buf := make([]uint64, (n+3)*procInfoMaxSize/8)
			for i := range buf {
				buf[i] = procSentinel
			}
			base := unsafe.Pointer(&buf[0])
			for i := 0; i < n; i++ {
				e := unsafe.Add(base, i*stride)
				*(*uint64)(e) = 0 // pid plus padding
				*(*uint32)(e) = uint32(100 + i)
				*(*uint64)(unsafe.Add(e, 8)) = uint64(i+1) * mib
				if stride >= 24 {
					*(*uint64)(unsafe.Add(e, 16)) = ^uint64(0)
				}
				if stride >= 32 {
					*(*uint64)(unsafe.Add(e, 24)) = 0
				}
			}
			got := decodeProcessInfos(buf, n)
			if len(got) != n {
				t.Fatalf("stride %d n %d: %d entries", stride, n, len(got))
			}
			for i, p := range got {
				if p.PID != uint32(100+i) || p.UsedGPUMemory != uint64(i+1)*mib {
					t.Errorf("stride %d n %d entry %d: %+v", stride, n, i, p)
				}
			}
		}
	}
	if got := decodeProcessInfos(make([]uint64, 4), 0); got != nil {
		t.Errorf("n=0: %+v", got)
	}
}

// FuzzNVMLDecodeProcessInfos: whatever a library leaves in the buffer and
// whatever count it claims, decoding stays inside the buffer.
func FuzzNVMLDecodeProcessInfos(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0}, 1)
	f.Add(make([]byte, 256), 9)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		if len(data) > 4096 {
			data = data[:4096] // 128 entries: more says nothing new
		}
		buf := make([]uint64, len(data)/8+1)
		for i := range buf {
			buf[i] = procSentinel
		}
		for i, b := range data {
			buf[i/8] = buf[i/8]&^(0xff<<(8*(i%8))) | uint64(b)<<(8*(i%8))
		}
		if n < 0 || n > len(buf)*8/procInfoMaxSize+1 {
			n = len(buf) * 8 / procInfoMaxSize
		}
		got := decodeProcessInfos(buf, n)
		if len(got) > n {
			t.Fatalf("%d entries from n=%d", len(got), n)
		}
	})
}
