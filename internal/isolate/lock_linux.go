package isolate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lock serialises isolate runs on one state directory: two at once would
// each save "the table before" and one undo would restore the other's
// isolation. The lock goes with the process, also when it crashes.
func (s Store) lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("isolate state: %w", err)
	}
	path := filepath.Join(s.Dir, "isolate.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("isolate state: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another minerguard isolate is running (lock %s)", path)
		}
		return nil, fmt.Errorf("isolate state: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
