//go:build !linux || !nvml

package gpu

import "runtime"

// Query has no NVML binding in this build. The default build has none on
// purpose: loading libnvidia-ml needs the dynamic loader, and a dynamically
// linked scanner would load whatever /etc/ld.so.preload injects. Build with
// -tags nvml for per-process utilisation; without it, GPU holders are still
// found from /proc/PID/fd (see Holders).
func Query() ([]Device, error) {
	return nil, &NoDriverError{Reason: "this static build has no NVML binding (" + runtime.GOOS + "/" + runtime.GOARCH + "; build with -tags nvml for per-process utilisation)"}
}
