//go:build !linux

package checks

// inodeFlags: inode flags are a Linux file system feature.
func inodeFlags(string) (uint32, error) { return 0, errFlagsUnsupported }
