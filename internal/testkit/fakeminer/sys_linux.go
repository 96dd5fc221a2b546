package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setComm renames every thread, as a miner hiding as "kworker/0:2" would:
// prctl(PR_SET_NAME) only renames the calling thread, so the others are
// renamed through /proc/self/task/*/comm.
func setComm(name string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(b)), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NAME): %w", err)
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/comm")
	for _, t := range tasks {
		// The kernel cuts the name at 15 bytes either way.
		_ = os.WriteFile(t, []byte(name), 0)
	}
	return nil
}

// reexecFromMemfd copies the running binary into an anonymous memory file
// and executes that, so /proc/PID/exe reads "/memfd:... (deleted)" like
// fileless malware.
func reexecFromMemfd(args []string) error {
	fd, err := unix.MemfdCreate("", 0)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "memfd")
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer self.Close()
	if _, err := io.Copy(mf, self); err != nil {
		return fmt.Errorf("copy to memfd: %w", err)
	}
	path := fmt.Sprintf("/proc/self/fd/%d", fd)
	if err := unix.Exec(path, args, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}
