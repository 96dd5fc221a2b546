//go:build linux && nvml

package gpu

import (
	"os"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
)

// TestStructLayouts pins the C ABI of the NVML structs (nvml.h): a wrong
// size or offset would make NVML write past or beside our buffers.
func TestStructLayouts(t *testing.T) {
	want := map[string]uintptr{
		"nvmlUtilization_t":              8,
		"nvmlMemory_t":                   24,
		"nvmlProcessInfo_v2_t":           24,
		"nvmlProcessUtilizationSample_t": 32,
	}
	for name, size := range want {
		if structSizes[name] != size {
			t.Errorf("sizeof(%s) = %d, want %d", name, structSizes[name], size)
		}
	}
	var p nvmlProcessInfo
	var s nvmlProcessUtilizationSample
	offs := []struct {
		name      string
		got, want uintptr
	}{
		{"nvmlProcessInfo.usedGpuMemory", unsafe.Offsetof(p.UsedGPUMemory), 8},
		{"nvmlProcessInfo.gpuInstanceId", unsafe.Offsetof(p.GPUInstanceID), 16},
		{"nvmlProcessInfo.computeInstanceId", unsafe.Offsetof(p.ComputeInstanceID), 20},
		{"sample.timeStamp", unsafe.Offsetof(s.TimeStamp), 8},
		{"sample.smUtil", unsafe.Offsetof(s.SMUtil), 16},
		{"sample.decUtil", unsafe.Offsetof(s.DecUtil), 28},
	}
	for _, o := range offs {
		if o.got != o.want {
			t.Errorf("offsetof(%s) = %d, want %d", o.name, o.got, o.want)
		}
	}
}

func TestCString(t *testing.T) {
	b := make([]byte, 96)
	copy(b, "NVIDIA H100 80GB HBM3")
	if got := cString(b); got != "NVIDIA H100 80GB HBM3" {
		t.Fatal(got)
	}
	if got := cString([]byte("abc")); got != "abc" {
		t.Fatal(got)
	}
}

// TestSignaturesRegister checks purego accepts every NVML function type
// (it panics at registration on an unsupported one), binding them to a
// libc symbol that is never called, since no NVML is installed here.
func TestSignaturesRegister(t *testing.T) {
	h, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		t.Skipf("no glibc: %v", err)
	}
	addr, err := purego.Dlsym(h, "getpid")
	if err != nil {
		t.Fatal(err)
	}
	var l nvmlLib
	for _, f := range []any{&l.init, &l.shutdown, &l.count, &l.handle, &l.name, &l.util, &l.memory, &l.procs, &l.procUtil} {
		purego.RegisterFunc(f, addr)
	}
	// getpid takes no arguments and returns our pid: a harmless real call
	// through one of the registered types.
	if got := l.init(); int(got) != os.Getpid() {
		t.Fatalf("call through purego returned %d, want pid %d", got, os.Getpid())
	}
}
