//go:build !linux

package host

// InodeFlags: inode flags are a Linux file system feature.
func InodeFlags(string) (uint32, error) { return 0, ErrFlagsUnsupported }
