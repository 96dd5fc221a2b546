package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// interactive reports a real terminal (not /dev/null, which is also a
// character device): only then is a confirmation asked for.
func interactive(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
