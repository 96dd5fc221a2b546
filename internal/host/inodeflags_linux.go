package host

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// InodeFlags reads FS_IOC_GETFLAGS (immutable, append-only, ...) of a real
// path. O_NONBLOCK keeps a FIFO or a device from blocking the open,
// O_NOFOLLOW keeps a link swapped in after a Lstat from redirecting it.
func InodeFlags(real string) (uint32, error) {
	fd, err := unix.Open(real, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", real, err)
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return 0, ErrFlagsUnsupported
		}
		return 0, fmt.Errorf("%s: FS_IOC_GETFLAGS: %w", real, err)
	}
	return flags, nil
}
