//go:build !linux

package respond

func statMeta(p string) (FileMeta, error)       { return FileMeta{}, ErrUnsupported }
func applyMeta(p string, m FileMeta) error      { return ErrUnsupported }
func clearProtect(p string) (uint32, error)     { return 0, ErrUnsupported }
func setFlags(p string, flags uint32) error     { return ErrUnsupported }
func fsStatus(dir string) (bool, uint64, error) { return false, 0, ErrUnsupported }
