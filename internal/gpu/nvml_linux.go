//go:build linux && nvml

package gpu

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
)

// C layouts from nvml.h. Go lays these out exactly as C does on every
// 64-bit Linux ABI (uint64 fields 8-aligned, padding after a leading
// uint32), which the size assertions in the tests pin down.
type nvmlUtilization struct {
	GPU    uint32
	Memory uint32
}

type nvmlMemory struct {
	Total uint64
	Free  uint64
	Used  uint64
}

// nvmlProcessInfo is nvmlProcessInfo_v2_t, which _v2 fills and which most
// drivers' _v3 fills too. Drivers 535.43-535.86 shipped a _v3 that fills a
// 32-byte nvmlProcessInfo_t (usedGpuCcProtectedMemory appended) without a
// version bump, and some _v3 builds are reported to fill 16-byte v1
// entries; so entries are read at the stride the library actually wrote
// (see processes), never by indexing a []nvmlProcessInfo.
type nvmlProcessInfo struct {
	PID               uint32
	UsedGPUMemory     uint64
	GPUInstanceID     uint32
	ComputeInstanceID uint32
}

// procInfoMaxSize is the largest nvmlProcessInfo entry any driver writes;
// buffers are sized for it so a wider-than-declared entry cannot overrun.
const procInfoMaxSize = 32

// procSentinel fills process buffers before the call: the first word past
// the entries the library wrote still holds it, which gives the stride.
const procSentinel = 0x5a5a5a5a5a5a5a5a

type nvmlProcessUtilizationSample struct {
	PID       uint32
	TimeStamp uint64 // CPU time in microseconds
	SMUtil    uint32
	MemUtil   uint32
	EncUtil   uint32
	DecUtil   uint32
}

// nvmlValueNotAvailable is NVML_VALUE_NOT_AVAILABLE for unsigned long long.
const nvmlValueNotAvailable = ^uint64(0)

// nvmlDeviceNameBufferSize is NVML_DEVICE_NAME_V2_BUFFER_SIZE.
const nvmlDeviceNameBufferSize = 96

// libNames are tried in order: the versioned soname the driver installs,
// then the development link.
var libNames = []string{"libnvidia-ml.so.1", "libnvidia-ml.so"}

type nvmlLib struct {
	init      func() int32
	shutdown  func() int32
	count     func(count *uint32) int32
	handle    func(index uint32, dev *uintptr) int32
	name      func(dev uintptr, name *byte, length uint32) int32
	util      func(dev uintptr, u *nvmlUtilization) int32
	memory    func(dev uintptr, m *nvmlMemory) int32
	procs     func(dev uintptr, count *uint32, infos *uint64) int32 // nil if absent; infos is raw entries
	procsName string
	procUtil  func(dev uintptr, samples *nvmlProcessUtilizationSample, count *uint32, lastSeen uint64) int32 // nil if absent
}

var (
	loadOnce sync.Once
	lib      *nvmlLib
	loadErr  error
	// callMu serialises Init..Shutdown sessions: NVML is thread-safe, but
	// one session at a time keeps Shutdown from pulling the rug.
	callMu sync.Mutex
)

func load() (*nvmlLib, error) {
	loadOnce.Do(func() { lib, loadErr = open() })
	return lib, loadErr
}

func open() (*nvmlLib, error) {
	var h uintptr
	var errs []string
	for _, n := range libNames {
		var err error
		h, err = purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err == nil {
			break
		}
		errs = append(errs, err.Error())
	}
	if h == 0 {
		return nil, &NoDriverError{Reason: strings.Join(errs, "; ")}
	}
	l := &nvmlLib{}
	// Dlsym before RegisterFunc: RegisterLibFunc panics on a missing
	// symbol, and old drivers lack the newer entry points.
	bind := func(fptr any, names ...string) (string, error) {
		for _, n := range names {
			if addr, err := purego.Dlsym(h, n); err == nil && addr != 0 {
				purego.RegisterFunc(fptr, addr)
				return n, nil
			}
		}
		return "", fmt.Errorf("gpu: libnvidia-ml.so.1 lacks %s", names[0])
	}
	required := []struct {
		fptr any
		name string
	}{
		{&l.init, "nvmlInit_v2"},
		{&l.shutdown, "nvmlShutdown"},
		{&l.count, "nvmlDeviceGetCount_v2"},
		{&l.handle, "nvmlDeviceGetHandleByIndex_v2"},
		{&l.name, "nvmlDeviceGetName"},
		{&l.util, "nvmlDeviceGetUtilizationRates"},
		{&l.memory, "nvmlDeviceGetMemoryInfo"},
	}
	for _, r := range required {
		if _, err := bind(r.fptr, r.name); err != nil {
			return nil, err
		}
	}
	if n, err := bind(&l.procs, "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"); err == nil {
		l.procsName = n
	} else {
		l.procs = nil
	}
	if _, err := bind(&l.procUtil, "nvmlDeviceGetProcessUtilization"); err != nil {
		l.procUtil = nil
	}
	return l, nil
}

// Query reads every GPU and the processes using it. Without the library
// or the kernel driver the error matches ErrNoDriver.
func Query() ([]Device, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	callMu.Lock()
	defer callMu.Unlock()
	switch rc := int(l.init()); rc {
	case nvmlSuccess:
	case nvmlDriverNotLoaded, nvmlLibraryNotFound:
		return nil, &NoDriverError{Reason: "nvmlInit: " + returnName(rc)}
	default:
		return nil, &NVMLError{Func: "nvmlInit_v2", Code: rc}
	}
	defer l.shutdown()
	var n uint32
	if rc := int(l.count(&n)); rc != nvmlSuccess {
		return nil, &NVMLError{Func: "nvmlDeviceGetCount_v2", Code: rc}
	}
	var devs []Device
	var errs []error
	for i := uint32(0); i < n; i++ {
		d, err := l.device(i)
		if err != nil {
			// One lost GPU must not hide the others.
			errs = append(errs, fmt.Errorf("device %d: %w", i, err))
			continue
		}
		devs = append(devs, d)
	}
	if len(devs) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return devs, nil
}

func (l *nvmlLib) device(i uint32) (Device, error) {
	d := Device{Index: int(i), UtilGPU: Unknown, UtilMemory: Unknown}
	var h uintptr
	if rc := int(l.handle(i, &h)); rc != nvmlSuccess {
		return d, &NVMLError{Func: "nvmlDeviceGetHandleByIndex_v2", Code: rc}
	}
	var name [nvmlDeviceNameBufferSize]byte
	if rc := int(l.name(h, &name[0], uint32(len(name)))); rc == nvmlSuccess {
		d.Name = cString(name[:])
	}
	var u nvmlUtilization
	if rc := int(l.util(h, &u)); rc == nvmlSuccess {
		d.UtilGPU, d.UtilMemory = int(u.GPU), int(u.Memory)
	}
	var m nvmlMemory
	if rc := int(l.memory(h, &m)); rc == nvmlSuccess {
		d.MemTotal, d.MemUsed = m.Total, m.Used
	}
	procs, err := l.processes(h)
	if err != nil {
		return d, err
	}
	util := l.processUtil(h)
	seen := map[int]bool{}
	for _, p := range procs {
		pid := int(p.PID)
		if seen[pid] {
			continue // one entry per MIG instance; memory is per process
		}
		seen[pid] = true
		gp := Process{PID: pid, Device: int(i), SMUtil: Unknown, MemUtil: Unknown}
		if p.UsedGPUMemory != nvmlValueNotAvailable {
			gp.MemoryBytes, gp.MemoryKnown = p.UsedGPUMemory, true
		}
		if s, ok := util[pid]; ok {
			gp.SMUtil, gp.MemUtil = int(s.SMUtil), int(s.MemUtil)
		}
		d.Processes = append(d.Processes, gp)
	}
	// Processes with utilisation samples but no compute context (graphics
	// or just exited) still count.
	for pid, s := range util {
		if !seen[pid] {
			d.Processes = append(d.Processes, Process{PID: pid, Device: int(i), SMUtil: int(s.SMUtil), MemUtil: int(s.MemUtil)})
		}
	}
	return d, nil
}

func (l *nvmlLib) processes(h uintptr) ([]nvmlProcessInfo, error) {
	if l.procs == nil {
		return nil, nil
	}
	n := 32
	for try := 0; try < 4; try++ {
		buf := make([]uint64, n*procInfoMaxSize/8)
		for i := range buf {
			buf[i] = procSentinel
		}
		count := uint32(n)
		rc := int(l.procs(h, &count, &buf[0]))
		switch rc {
		case nvmlSuccess:
			return decodeProcessInfos(buf, min(int(count), n)), nil
		case nvmlInsufficientSize:
			// Processes started meanwhile: grow with headroom and retry.
			n = int(count) + 16
		case nvmlNotSupported, nvmlNoPermission:
			return nil, nil
		default:
			return nil, &NVMLError{Func: l.procsName, Code: rc}
		}
	}
	return nil, &NVMLError{Func: l.procsName, Code: nvmlInsufficientSize}
}

// decodeProcessInfos reads n entries the library wrote into buf (filled
// with procSentinel beforehand). The entry stride is the widest of 32, 24
// and 16 bytes whose last word for n entries was overwritten: a real last
// field (protected memory, instance ids, used memory) never equals the
// sentinel. pid and usedGpuMemory sit at offsets 0 and 8 in every layout.
func decodeProcessInfos(buf []uint64, n int) []nvmlProcessInfo {
	if n <= 0 {
		return nil
	}
	stride := 24
	for _, s := range []int{32, 24, 16} {
		if end := n * s / 8; end <= len(buf) && buf[end-1] != procSentinel {
			stride = s
			break
		}
	}
	out := make([]nvmlProcessInfo, 0, n)
	base := unsafe.Pointer(&buf[0])
	for i := 0; i < n; i++ {
		// Never read past buf, whatever count the library claimed.
		if i*stride+min(stride, 24) > len(buf)*8 {
			break
		}
		e := unsafe.Add(base, i*stride)
		p := nvmlProcessInfo{PID: *(*uint32)(e), UsedGPUMemory: *(*uint64)(unsafe.Add(e, 8))}
		if stride >= 24 {
			p.GPUInstanceID = *(*uint32)(unsafe.Add(e, 16))
			p.ComputeInstanceID = *(*uint32)(unsafe.Add(e, 20))
		}
		out = append(out, p)
	}
	return out
}

// utilWindow is how far back process utilisation samples are taken from:
// NVML keeps a ring of recent samples, and older ones may belong to
// processes that have gone.
const utilWindow = 20 * time.Second

// processUtil returns the newest sample per pid; nil when unsupported
// (older GPUs, vGPU) or when no process ran in the window.
func (l *nvmlLib) processUtil(h uintptr) map[int]nvmlProcessUtilizationSample {
	if l.procUtil == nil {
		return nil
	}
	since := uint64(time.Now().Add(-utilWindow).UnixMicro())
	var count uint32
	rc := int(l.procUtil(h, nil, &count, since))
	if rc != nvmlInsufficientSize && rc != nvmlSuccess || count == 0 {
		return nil
	}
	var buf []nvmlProcessUtilizationSample
	for try := 0; ; try++ {
		buf = make([]nvmlProcessUtilizationSample, count+8)
		count = uint32(len(buf))
		rc = int(l.procUtil(h, &buf[0], &count, since))
		if rc == nvmlSuccess {
			break
		}
		// More processes sampled since the size query: grow and retry,
		// rather than lose every process's utilisation for this scan.
		if rc != nvmlInsufficientSize || try == 2 {
			return nil
		}
	}
	out := map[int]nvmlProcessUtilizationSample{}
	for _, s := range buf[:min(int(count), len(buf))] {
		if prev, ok := out[int(s.PID)]; !ok || s.TimeStamp > prev.TimeStamp {
			out[int(s.PID)] = s
		}
	}
	return out
}

// cString is the bytes before the first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// Sizes the NVML ABI fixes; checked by tests.
var structSizes = map[string]uintptr{
	"nvmlUtilization_t":              unsafe.Sizeof(nvmlUtilization{}),
	"nvmlMemory_t":                   unsafe.Sizeof(nvmlMemory{}),
	"nvmlProcessInfo_v2_t":           unsafe.Sizeof(nvmlProcessInfo{}),
	"nvmlProcessUtilizationSample_t": unsafe.Sizeof(nvmlProcessUtilizationSample{}),
}
