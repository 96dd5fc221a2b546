package fakepool

import (
	"path/filepath"
	"syscall"
)

// InTestNetns compares the calling thread's network namespace with the
// named test namespaces under /run/netns (testkit/netns names them mg-...).
func InTestNetns() bool {
	var self syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return false
	}
	names, _ := filepath.Glob("/run/netns/mg-*")
	for _, n := range names {
		var st syscall.Stat_t
		if syscall.Stat(n, &st) == nil && st.Dev == self.Dev && st.Ino == self.Ino {
			return true
		}
	}
	return false
}
