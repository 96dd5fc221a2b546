//go:build !unix

package checks

import "io/fs"

// dirID is unavailable here; walks rely on path de-duplication and the
// depth limit instead.
func dirID(fs.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }
