//go:build !linux

package intel

import "testing"

// cpuMeter reports thread CPU time on Linux only.
func cpuMeter(*testing.B) func() { return func() {} }
