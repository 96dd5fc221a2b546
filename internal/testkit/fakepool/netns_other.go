//go:build !linux

package fakepool

// InTestNetns is false where there are no network namespaces.
func InTestNetns() bool { return false }
