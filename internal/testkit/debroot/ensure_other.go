//go:build !linux

package debroot

import "testing"

// Ensure skips: debootstrap trees are built on Linux only.
func Ensure(t testing.TB) string {
	t.Helper()
	t.Skip("debroot: Debian root trees are built on Linux only")
	return ""
}
