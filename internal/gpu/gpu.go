// Package gpu reads NVIDIA GPU load per device and per process through
// NVML (libnvidia-ml), loaded at run time so minerguard builds without cgo
// and runs on hosts without a GPU. It also says whether a driver is
// installed at all, from /proc/driver/nvidia and /dev/nvidia*.
package gpu

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/host"
)

// ErrNoDriver is matched (errors.Is) by every error saying the NVIDIA
// management library or driver is not there.
var ErrNoDriver = errors.New("no NVIDIA driver")

// NoDriverError says why GPUs cannot be queried on this host.
type NoDriverError struct {
	Reason string
}

func (e *NoDriverError) Error() string { return "gpu: no NVIDIA driver: " + e.Reason }

// Is makes errors.Is(err, ErrNoDriver) true.
func (e *NoDriverError) Is(target error) bool { return target == ErrNoDriver }

// NVMLError is an NVML call that failed with a return code.
type NVMLError struct {
	Func string
	Code int
}

func (e *NVMLError) Error() string {
	return fmt.Sprintf("gpu: %s: %s (NVML %d)", e.Func, returnName(e.Code), e.Code)
}

// NVML return codes used here (nvml.h nvmlReturn_t).
const (
	nvmlSuccess           = 0
	nvmlNotSupported      = 3
	nvmlNoPermission      = 4
	nvmlNotFound          = 6
	nvmlInsufficientSize  = 7
	nvmlDriverNotLoaded   = 9
	nvmlLibraryNotFound   = 12
	nvmlFunctionNotFound  = 13
	nvmlGPUIsLost         = 15
	nvmlLibRMVersionError = 18
)

func returnName(code int) string {
	switch code {
	case nvmlSuccess:
		return "success"
	case 1:
		return "uninitialized"
	case 2:
		return "invalid argument"
	case nvmlNotSupported:
		return "not supported"
	case nvmlNoPermission:
		return "no permission"
	case nvmlNotFound:
		return "not found"
	case nvmlInsufficientSize:
		return "insufficient size"
	case nvmlDriverNotLoaded:
		return "driver not loaded"
	case nvmlLibraryNotFound:
		return "library not found"
	case nvmlFunctionNotFound:
		return "function not found"
	case nvmlGPUIsLost:
		return "GPU is lost"
	case nvmlLibRMVersionError:
		return "driver/library version mismatch"
	}
	return "error"
}

// Driver is what the host shows of an NVIDIA kernel driver.
type Driver struct {
	// Present is true when /proc/driver/nvidia/version or a /dev/nvidia*
	// node exists.
	Present bool
	// Version is the first line of /proc/driver/nvidia/version.
	Version string
	// Nodes are the /dev/nvidia* device nodes.
	Nodes []string
}

// DetectDriver looks for the kernel driver without loading any library.
func DetectDriver(h host.Host) Driver {
	var d Driver
	if p := h.Proc(); p != nil {
		if b, err := p.ReadGlobal("driver/nvidia/version"); err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			d.Version = strings.TrimSpace(line)
			d.Present = true
		}
	}
	if ents, err := h.FS().ReadDir("/dev"); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "nvidia") {
				d.Nodes = append(d.Nodes, "/dev/"+e.Name())
			}
		}
		sort.Strings(d.Nodes)
		if len(d.Nodes) > 0 {
			d.Present = true
		}
	}
	return d
}

// Unknown marks a percentage NVML could not give.
const Unknown = -1

// Device is one GPU.
type Device struct {
	Index int
	Name  string
	// UtilGPU and UtilMemory are percentages over NVML's last sample
	// period, or Unknown.
	UtilGPU    int
	UtilMemory int
	MemTotal   uint64
	MemUsed    uint64
	Processes  []Process
}

// Process is one process's use of one GPU.
type Process struct {
	PID    int
	Device int
	// MemoryBytes is the GPU memory the process holds; MemoryKnown is
	// false where NVML cannot say (Windows WDDM, some containers).
	MemoryBytes uint64
	MemoryKnown bool
	// SMUtil and MemUtil are the process's percentages of the device in
	// NVML's most recent sample, or Unknown.
	SMUtil  int
	MemUtil int
}

// Usage is one process's use summed over every GPU.
type Usage struct {
	PID         int
	MemoryBytes uint64
	// Util is the highest SM utilisation on any device, or Unknown.
	Util    int
	Devices []string
}

// ByProcess sums per-process use over devices, ordered by pid.
func ByProcess(devs []Device) []Usage {
	m := map[int]*Usage{}
	for _, d := range devs {
		for _, p := range d.Processes {
			u := m[p.PID]
			if u == nil {
				u = &Usage{PID: p.PID, Util: Unknown}
				m[p.PID] = u
			}
			if p.MemoryKnown {
				u.MemoryBytes += p.MemoryBytes
			}
			if p.SMUtil > u.Util {
				u.Util = p.SMUtil
			}
			name := fmt.Sprintf("%d: %s", d.Index, d.Name)
			if len(u.Devices) == 0 || u.Devices[len(u.Devices)-1] != name {
				u.Devices = append(u.Devices, name)
			}
		}
	}
	out := make([]Usage, 0, len(m))
	for _, u := range m {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}
