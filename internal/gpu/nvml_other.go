//go:build !linux || nonvml

package gpu

import "runtime"

// Query has no NVML binding on this platform or build (-tags nonvml keeps
// the binary fully static): it always reports ErrNoDriver.
func Query() ([]Device, error) {
	return nil, &NoDriverError{Reason: "NVML is not supported in this build (" + runtime.GOOS + "/" + runtime.GOARCH + ")"}
}
