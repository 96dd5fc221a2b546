package host

import "errors"

// ErrFlagsUnsupported means the file system or platform has no inode flags.
var ErrFlagsUnsupported = errors.New("inode flags not supported")
