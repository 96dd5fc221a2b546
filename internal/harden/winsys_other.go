//go:build !windows

package harden

// LocalWindows needs Windows.
func LocalWindows() (*Windows, error) { return nil, ErrNotWindows }

// DefaultStateDir is empty off Windows: --state-dir must be given.
func DefaultStateDir() string { return "" }
